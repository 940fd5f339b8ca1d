// SPDX-License-Identifier: GPL-2.0
/*
 * The syscall injection layer that dump and restore share: a syscall run
 * inside a seized, stopped process returns the right value, leaves every
 * register as it was, and a syscall the process was blocked in restarts
 * and completes as if nothing happened.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "inject.h"

static pid_t seize_stopped(pid_t pid)
{
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) || ptrace(PTRACE_INTERRUPT, pid, 0, 0))
		return -1;
	return lm_wait_stop(pid) > 0 ? pid : -1;
}

/* Child: sleeps 300 ms in one nanosleep, then checks it really slept. */
static void sleeper(int wfd)
{
	struct timespec a, b, d = { 0, 300 * 1000 * 1000 };
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &a);
	if (syscall(SYS_nanosleep, &d, NULL))
		_exit(3);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	_exit(ms >= 300 ? 0 : 4);
	(void)wfd;
}

TEST(getpid_in_sleeping_child)
{
	struct user_regs_struct before, after;
	struct lm_poke poke;
	pid_t pid = fork();
	long r;
	int st;

	ASSERT_GE(pid, 0);
	if (pid == 0)
		sleeper(-1);
	usleep(50 * 1000);	/* let it block in nanosleep */
	ASSERT_EQ(pid, seize_stopped(pid));
	ASSERT_EQ(0, ptrace(PTRACE_GETREGS, pid, 0, &before));
	EXPECT_EQ(SYS_nanosleep, (long)before.orig_rax);
	ASSERT_EQ(0, lm_poke_syscall(pid, &poke));
	r = lm_inject0(pid, poke.addr, SYS_getpid);
	EXPECT_EQ(pid, r);
	r = lm_inject3(pid, poke.addr, SYS_prctl, PR_GET_DUMPABLE, 0, 0);
	EXPECT_EQ(1, r);
	/* A failing syscall reports its errno, not a ptrace failure. */
	r = lm_inject3(pid, poke.addr, SYS_close, 12345, 0, 0);
	EXPECT_EQ(-EBADF, r);
	ASSERT_EQ(0, lm_unpoke(&poke));
	ASSERT_EQ(0, ptrace(PTRACE_GETREGS, pid, 0, &after));
	EXPECT_EQ(0, memcmp(&before, &after, sizeof(before)));
	ASSERT_EQ(0, ptrace(PTRACE_DETACH, pid, 0, 0));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st)) TH_LOG("nanosleep did not restart (exit %d)",
					    WEXITSTATUS(st));
}

TEST(remote_memory)
{
	static volatile char buf[64] = "before";
	char got[64];
	pid_t pid = fork();
	int st, i;

	ASSERT_GE(pid, 0);
	if (pid == 0) {
		for (i = 0; i < 500; i++) {
			if (!strcmp((char *)buf, "written by tracer"))
				_exit(0);
			usleep(10 * 1000);
		}
		_exit(5);
	}
	usleep(20 * 1000);
	ASSERT_EQ(pid, seize_stopped(pid));
	ASSERT_EQ(0, lm_remote_read(pid, (unsigned long)buf, got, sizeof(got)));
	EXPECT_STREQ("before", got);
	ASSERT_EQ(0, lm_remote_write(pid, (unsigned long)buf, "written by tracer",
				     18));
	ASSERT_EQ(0, ptrace(PTRACE_DETACH, pid, 0, 0));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st)) TH_LOG("child never saw the write");
}

TEST_HARNESS_MAIN
