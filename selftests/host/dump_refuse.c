// SPDX-License-Identifier: GPL-2.0
/*
 * What `lazymig dump` must refuse: a process holding a socket, its own
 * userfaultfd, an epoll/timerfd/signalfd/inotify/io_uring fd, seccomp
 * filters, guard regions, a process already traced or tracing another, a PID that does not exist, a caller
 * without permission.  Each time: non-zero exit, a message naming the
 * thing (and the fd), no image file left, and the process still running,
 * untraced, answering as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "inject.h"
#include "wl.h"

enum thing {
	T_TCP, T_UNIX, T_UFFD, T_EPOLL, T_TIMERFD, T_SIGNALFD, T_INOTIFY,
	T_IOURING, T_SECCOMP, T_GUARD, T_TRACER, T_NONE,
};

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* The fd of the thing (or 0 when it is not an fd), -errno if unavailable. */
static int make_thing(enum thing t)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { 1, &allow };
	char params[120] = { 0 };
	sigset_t set;
	int fd = -1, sv[2];

	switch (t) {
	case T_TCP:
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && (bind(fd, (void *)&a, sizeof(a)) || listen(fd, 1)))
			return -errno;
		break;
	case T_UNIX:
		fd = socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ? -1 : sv[0];
		break;
	case T_UFFD:
		fd = syscall(SYS_userfaultfd, O_CLOEXEC);
		break;
	case T_EPOLL:
		fd = epoll_create1(0);
		break;
	case T_TIMERFD:
		fd = timerfd_create(CLOCK_MONOTONIC, 0);
		break;
	case T_SIGNALFD:
		sigemptyset(&set);
		sigaddset(&set, SIGUSR2);
		fd = signalfd(-1, &set, 0);
		break;
	case T_INOTIFY:
		fd = inotify_init1(0);
		break;
	case T_IOURING:
		fd = syscall(SYS_io_uring_setup, 4, params);
		break;
	case T_SECCOMP:
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
			return -errno;
		return 0;
	case T_GUARD: {
		char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED || madvise(m + 4096, 4096, MADV_GUARD_INSTALL))
			return -errno;
		return 0;
	}
	case T_TRACER: {
		pid_t gc = fork();

		if (gc < 0)
			return -errno;
		if (!gc) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				pause();
		}
		if (ptrace(PTRACE_SEIZE, gc, 0, 0))
			return -errno;
		return 0;
	}
	case T_NONE:
		return 0;
	}
	return fd < 0 ? -errno : fd;
}

/* Child: set up the thing, report its fd, then echo bytes until EOF. */
static void child(enum thing t, int rep, int cmd)
{
	int fd = make_thing(t);
	char c;

	if (write(rep, &fd, sizeof(fd)) != sizeof(fd))
		_exit(3);
	while (read(cmd, &c, 1) == 1)
		if (write(rep, &c, 1) != 1)
			_exit(4);
	_exit(0);
}

FIXTURE(refuse) {
	pid_t pid;
	int fd;			/* the child's fd of the thing, or 0 */
	int rep, cmd;		/* child -> test, test -> child */
	char image[64];
};

FIXTURE_VARIANT(refuse) {
	enum thing thing;
	const char *words[2];	/* must appear in the message */
	int names_fd;
};

FIXTURE_VARIANT_ADD(refuse, tcp_socket) {
	.thing = T_TCP, .words = { "TCP socket", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, unix_socket) {
	.thing = T_UNIX, .words = { "UNIX socket", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, userfaultfd) {
	.thing = T_UFFD, .words = { "userfaultfd", "cannot be dumped" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, epoll) {
	.thing = T_EPOLL, .words = { "epoll", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, timerfd) {
	.thing = T_TIMERFD, .words = { "timerfd", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, signalfd) {
	.thing = T_SIGNALFD, .words = { "signalfd", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, inotify) {
	.thing = T_INOTIFY, .words = { "inotify", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, io_uring) {
	.thing = T_IOURING, .words = { "io_uring", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, seccomp) {
	.thing = T_SECCOMP, .words = { "seccomp", "not supported" },
};
FIXTURE_VARIANT_ADD(refuse, guard_region) {
	.thing = T_GUARD, .words = { "guard region", "not supported" },
};
FIXTURE_VARIANT_ADD(refuse, tracer) {
	.thing = T_TRACER, .words = { "traces PID", "ptrace relations are not supported" },
};
FIXTURE_VARIANT_ADD(refuse, traced) {
	.thing = T_NONE, .words = { "already traced", "detach it first" },
};

FIXTURE_SETUP(refuse)
{
	int rep[2], cmd[2];

	ASSERT_EQ(0, pipe2(rep, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(cmd, O_CLOEXEC));
	self->pid = fork();
	ASSERT_GE(self->pid, 0);
	if (!self->pid) {
		close(rep[0]);
		close(cmd[1]);
		child(variant->thing, rep[1], cmd[0]);
	}
	close(rep[1]);
	close(cmd[0]);
	self->rep = rep[0];
	self->cmd = cmd[1];
	ASSERT_EQ(sizeof(int), read(self->rep, &self->fd, sizeof(int)));
	snprintf(self->image, sizeof(self->image), "/tmp/lm-refuse.%d.img",
		 self->pid);
}

FIXTURE_TEARDOWN(refuse)
{
	close(self->cmd);
	kill(self->pid, SIGKILL);
	waitpid(self->pid, NULL, 0);
	close(self->rep);
	unlink(self->image);
}

static int tracer_of(pid_t pid)
{
	char path[64], buf[4096], *p;
	int fd, n, tracer = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "TracerPid:");
	if (p)
		tracer = atoi(p + 10);
	p = strstr(buf, "State:");
	if (p && (p[7] == 't' || p[7] == 'T'))
		return -2;	/* stopped */
	return tracer;
}

/* The child still answers, untraced and running. */
static int still_running(struct __test_metadata *_metadata,
			 FIXTURE_DATA(refuse) *self)
{
	char c = 'x';

	EXPECT_TRUE(lm_pid_alive(self->pid));
	EXPECT_EQ(0, tracer_of(self->pid)) TH_LOG("traced or stopped");
	EXPECT_EQ(1, write(self->cmd, "p", 1));
	EXPECT_EQ(1, read(self->rep, &c, 1));
	return c == 'p';
}

TEST_F(refuse, message_names_it_and_process_runs_on)
{
	char out[4096], want[32];
	int rc, i;

	if (self->fd < 0)
		SKIP(return, "cannot create it here: %s", strerror(-self->fd));
	if (variant->thing == T_NONE) {
		ASSERT_EQ(0, ptrace(PTRACE_SEIZE, self->pid, 0, 0));
	}
	rc = lm_run_tool(out, sizeof(out), "dump -t %d -o %s", self->pid,
			 self->image);
	EXPECT_EQ(1, rc) TH_LOG("exit %d: %s", rc, out);
	for (i = 0; i < 2; i++) {
		const char *w = variant->words[i];

		EXPECT_NE(NULL, strstr(out, w)) TH_LOG("no '%s' in: %s", w, out);
	}
	if (variant->names_fd) {
		snprintf(want, sizeof(want), "fd %d ", self->fd);
		EXPECT_NE(NULL, strstr(out, want)) TH_LOG("no '%s' in: %s", want, out);
	}
	EXPECT_NE(NULL, strstr(out, "left running"));
	EXPECT_NE(0, access(self->image, F_OK)) TH_LOG("image file left behind");
	if (variant->thing == T_NONE) {
		/* detaching needs a ptrace stop */
		ASSERT_EQ(0, ptrace(PTRACE_INTERRUPT, self->pid, 0, 0));
		ASSERT_LT(0, lm_wait_stop(self->pid));
		ASSERT_EQ(0, ptrace(PTRACE_DETACH, self->pid, 0, 0));
	}
	EXPECT_TRUE(still_running(_metadata, self));
}

TEST(no_such_pid)
{
	char out[4096], want[64];
	pid_t pid = fork();
	int rc;

	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(0);
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	rc = lm_run_tool(out, sizeof(out), "dump -t %d -o /tmp/lm-nopid.img",
			 pid);
	EXPECT_EQ(1, rc) TH_LOG("%s", out);
	snprintf(want, sizeof(want), "no process with PID %d", pid);
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("no '%s' in: %s", want, out);
	EXPECT_NE(0, access("/tmp/lm-nopid.img", F_OK));
}

TEST(usage_errors)
{
	char out[4096];

	EXPECT_EQ(2, lm_run_tool(out, sizeof(out), "dump -t 1"));
	EXPECT_NE(NULL, strstr(out, "usage"));
	EXPECT_EQ(2, lm_run_tool(out, sizeof(out), "dump -t abc -o /tmp/x"));
	EXPECT_NE(NULL, strstr(out, "not a PID"));
}

TEST(no_permission)
{
	char cmd[4096], out[4096];
	int rep[2], cmdp[2], st, fd;
	pid_t pid;
	FILE *p;
	size_t n;

	if (access("/usr/bin/setpriv", X_OK))
		SKIP(return, "setpriv not installed");
	ASSERT_EQ(0, pipe2(rep, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(cmdp, O_CLOEXEC));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		close(rep[0]);
		close(cmdp[1]);
		child(T_NONE, rep[1], cmdp[0]);
	}
	close(rep[1]);
	close(cmdp[0]);
	ASSERT_EQ(sizeof(int), read(rep[0], &fd, sizeof(fd)));
	snprintf(cmd, sizeof(cmd),
		 "setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all %s dump -t %d -o /tmp/lm-noperm.%d.img 2>&1",
		 lm_build_path("lazymig"), pid, pid);
	p = popen(cmd, "r");
	ASSERT_NE(NULL, p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	st = pclose(p);
	if (strstr(out, "Permission denied") && !strstr(out, "dump:")) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		SKIP(return, "nobody cannot run %s", lm_build_path("lazymig"));
	}
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "cannot trace PID")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "left running")) TH_LOG("%s", out);
	EXPECT_TRUE(lm_pid_alive(pid));
	EXPECT_EQ(0, tracer_of(pid));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(rep[0]);
	close(cmdp[1]);
}

TEST_HARNESS_MAIN
