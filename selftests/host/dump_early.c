// SPDX-License-Identifier: GPL-2.0
/*
 * smaps read before the freeze (user/vmwatch.h): it is used only while it
 * still holds.
 *  - held: a process that makes no syscall meanwhile is collected from
 *    the early smaps, and its VMAs are what it has;
 *  - flags_changed: madvise(MADV_DONTFORK) of a whole VMA between the
 *    early read and the freeze changes no line of /proc/PID/maps; the
 *    watch sees the syscall, smaps is read again, the flag is in the
 *    image;
 *  - new_thread: the same madvise from a thread created after the watch
 *    began (the events are inherited);
 *  - stack_grew: a MAP_GROWSDOWN VMA grown by a page fault (no syscall):
 *    maps differs, smaps is read again, the image has the grown range.
 */
#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lmtest.h"
#include "dump.h"

#define LEN	(16 * LM_PAGE)
#define HOLE	(4UL << 20)

struct child {
	pid_t pid;
	int cmd, ack;
	char *p;		/* the watched VMA (same address in the child) */
};

static struct child kid;

static char *thread_p;
static volatile int thread_done;
static char thread_stack[64 << 10] __attribute__((aligned(16)));

/*
 * A raw thread (clone: no stack mmap, no watched call of the creator):
 * only the inherited events see its madvise.
 */
static int dontfork_thread(void *arg)
{
	(void)arg;
	madvise(thread_p, LEN, MADV_DONTFORK);
	thread_done = 1;
	syscall(SYS_exit, 0);
	return 0;
}

/* The child: waits for one command byte, obeys, acks, then sleeps. */
static void child_main(int cmd, int ack, char *p, char *low)
{
	char c = 0;

	memset(p, 1, LEN);
	if (write(ack, &c, 1) != 1)
		_exit(1);
	if (read(cmd, &c, 1) != 1)
		_exit(1);
	if (c == 'd')
		madvise(p, LEN, MADV_DONTFORK);
	else if (c == 'g')
		*(volatile char *)(low - LM_PAGE) = 2;	/* grows down */
	else if (c == 't') {	/* a thread born after the watch began */
		thread_p = p;
		if (clone(dontfork_thread, thread_stack + sizeof(thread_stack),
			  CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			  CLONE_THREAD | CLONE_SYSVSEM, NULL) < 0)
			_exit(1);
		while (!thread_done)
			sched_yield();
	}
	if (write(ack, &c, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

static int start_child(struct __test_metadata *_metadata, int growsdown)
{
	int cmd[2], ack[2];
	char c, *p;

	ASSERT_EQ(0, pipe(cmd));
	ASSERT_EQ(0, pipe(ack));
	/*
	 * A hole below, so that a MAP_GROWSDOWN VMA may grow: the kernel
	 * keeps stack_guard_gap (1 MiB by default) free below it.
	 */
	p = mmap(NULL, LEN + HOLE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	munmap(p, LEN + HOLE);
	p += HOLE;
	p = mmap(p, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED_NOREPLACE | (growsdown ? MAP_GROWSDOWN : 0), -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	kid.pid = fork();
	ASSERT_LE(0, kid.pid);
	if (!kid.pid)
		child_main(cmd[0], ack[1], p, p);
	close(cmd[0]);
	close(ack[1]);
	kid.cmd = cmd[1];
	kid.ack = ack[0];
	kid.p = p;
	ASSERT_EQ(1, read(kid.ack, &c, 1));
	return 0;
}

static void stop_child(void)
{
	if (kid.pid <= 0)
		return;
	kill(kid.pid, SIGKILL);
	waitpid(kid.pid, NULL, 0);
	close(kid.cmd);
	close(kid.ack);
	munmap(kid.p, LEN);
	kid.pid = 0;
}

FIXTURE(early) {
	int unused;
};

FIXTURE_SETUP(early)
{
	struct lm_vmwatch w;
	int st = 0;
	pid_t pid;

	kid.pid = 0;
	lm_dump_early_hook = NULL;
	/*
	 * Where perf events are refused (a seccomp filter, no tracefs).
	 * Probed in a child: its events must not reach the children the
	 * tests fork (a dump refuses a perf event fd).
	 */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(-lm_vmwatch_start(&w, getpid()));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	if (WEXITSTATUS(st))
		SKIP(return, "no counting perf events on raw_syscalls here (%s): the dump reads smaps in the freeze",
		     strerror(WEXITSTATUS(st)));
}

/* Also after a failed ASSERT: no child left sleeping. */
FIXTURE_TEARDOWN(early)
{
	lm_dump_early_hook = NULL;
	stop_child();
}

static char hook_cmd;

/* Between the early read and the freeze: the child does hook_cmd. */
static void hook(pid_t pid)
{
	char c;

	(void)pid;
	if (write(kid.cmd, &hook_cmd, 1) != 1 || read(kid.ack, &c, 1) != 1) {
		fprintf(stderr, "# the child did not do '%c' (it died?)\n",
			hook_cmd);
		abort();
	}
}

static const struct lm_vma *vma_of(const struct lm_dump *d, const char *p)
{
	unsigned int i;

	for (i = 0; i < d->img.proc.nr_vmas; i++)
		if ((unsigned long)p >= d->img.vmas[i].v.start &&
		    (unsigned long)p < d->img.vmas[i].v.end)
			return &d->img.vmas[i].v;
	return NULL;
}

TEST_F(early, held)
{
	const struct lm_vma *v;
	struct lm_dump d;
	int tries, held = 0;

	/*
	 * The child sleeps in pause(): no syscall of the watched kinds.
	 * Still, a few tries: the first freeze ever may meet it before
	 * it reached pause().
	 */
	start_child(_metadata, 0);
	for (tries = 0; tries < 5 && !held; tries++) {
		ASSERT_EQ(0, lm_dump_freeze_collect(kid.pid, &d))
			TH_LOG("%s", d.errmsg);
		held = d.smaps_early == 1;
		v = vma_of(&d, kid.p);
		ASSERT_NE(NULL, v);
		EXPECT_EQ((unsigned long)kid.p, v->start);
		EXPECT_EQ((unsigned long)kid.p + LEN, v->end);
		EXPECT_EQ(0, v->flags & LM_VMA_DONTFORK);
		lm_dump_release(&d, 0);
	}
	EXPECT_TRUE(held) TH_LOG("the smaps read before the freeze never held (watch: perf tracepoints on raw_syscalls)");
	stop_child();
}

/* The child does @cmd between the early read and the freeze: DONTFORK. */
static void dontfork_in_window(struct __test_metadata *_metadata, char cmd)
{
	const struct lm_vma *v;
	struct lm_dump d;

	start_child(_metadata, 0);
	hook_cmd = cmd;
	lm_dump_early_hook = hook;
	ASSERT_EQ(0, lm_dump_freeze_collect(kid.pid, &d)) TH_LOG("%s", d.errmsg);
	lm_dump_early_hook = NULL;
	EXPECT_EQ(-1, d.smaps_early);
	v = vma_of(&d, kid.p);
	ASSERT_NE(NULL, v);
	EXPECT_EQ(LM_VMA_DONTFORK, v->flags & LM_VMA_DONTFORK);
	lm_dump_release(&d, 0);
}

TEST_F(early, flags_changed)
{
	dontfork_in_window(_metadata, 'd');
}

TEST_F(early, new_thread)
{
	dontfork_in_window(_metadata, 't');
}

TEST_F(early, stack_grew)
{
	const struct lm_vma *v;
	struct lm_dump d;

	start_child(_metadata, 1);
	hook_cmd = 'g';
	lm_dump_early_hook = hook;
	ASSERT_EQ(0, lm_dump_freeze_collect(kid.pid, &d)) TH_LOG("%s", d.errmsg);
	lm_dump_early_hook = NULL;
	EXPECT_EQ(-1, d.smaps_early);
	v = vma_of(&d, kid.p - LM_PAGE);
	ASSERT_NE(NULL, v) TH_LOG("the grown page is in no VMA of the image");
	EXPECT_EQ((unsigned long)kid.p + LEN, v->end);
	EXPECT_EQ(LM_VMA_GROWSDOWN, v->flags & LM_VMA_GROWSDOWN);
	lm_dump_release(&d, 0);
}

TEST_HARNESS_MAIN
