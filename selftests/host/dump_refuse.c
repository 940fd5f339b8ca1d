// SPDX-License-Identifier: GPL-2.0
/*
 * What `lazymig dump` must refuse: a process holding a socket, its own
 * userfaultfd, an epoll/timerfd/signalfd/inotify/io_uring fd, seccomp
 * filters, guard regions, a process already traced or tracing another, a
 * PID that does not exist, a caller without permission.  Each time:
 * non-zero exit, a message naming the thing (and the fd), no image file
 * left, and the process (wl_child) still running, untraced, answering.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "inject.h"
#include "wl.h"

FIXTURE(refuse) {
	pid_t pid;
	int fd;			/* the child's fd of the thing, or 0 */
	int rep, cmd;		/* child -> test, test -> child */
	char image[64];
};

FIXTURE_VARIANT(refuse) {
	const char *mode;	/* wl_child mode */
	const char *words[2];	/* must appear in the message */
	int names_fd;
};

FIXTURE_VARIANT_ADD(refuse, tcp_socket) {
	.mode = "tcp", .words = { "TCP socket", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, unix_socket) {
	.mode = "unix", .words = { "UNIX socket", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, userfaultfd) {
	.mode = "uffd", .words = { "userfaultfd", "cannot be dumped" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, epoll) {
	.mode = "epoll", .words = { "epoll", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, timerfd) {
	.mode = "timerfd", .words = { "timerfd", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, signalfd) {
	.mode = "signalfd", .words = { "signalfd", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, inotify) {
	.mode = "inotify", .words = { "inotify", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, io_uring) {
	.mode = "io_uring", .words = { "io_uring", "not supported" }, .names_fd = 1,
};
FIXTURE_VARIANT_ADD(refuse, seccomp) {
	.mode = "seccomp", .words = { "seccomp", "not supported" },
};
FIXTURE_VARIANT_ADD(refuse, guard_region) {
	.mode = "guard", .words = { "guard region", "not supported" },
};
FIXTURE_VARIANT_ADD(refuse, tracer) {
	.mode = "tracer", .words = { "traces PID", "ptrace relations are not supported" },
};
FIXTURE_VARIANT_ADD(refuse, sched_deadline) {
	.mode = "deadline", .words = { "SCHED_DEADLINE", "does not carry" },
};
FIXTURE_VARIANT_ADD(refuse, traced) {
	.mode = "none", .words = { "already traced", "detach it first" },
};

FIXTURE_SETUP(refuse)
{
	self->pid = lm_child_start(variant->mode, -1, &self->rep, &self->cmd,
				   &self->fd);
	ASSERT_LT(0, self->pid) TH_LOG("wl_child %s: %s", variant->mode,
				       strerror(-self->pid));
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
	if (!strcmp(variant->mode, "none")) {
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
	if (!strcmp(variant->mode, "none")) {
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
	int rep, cmdfd, st, fd;
	pid_t pid;
	FILE *p;
	size_t n;

	if (access("/usr/bin/setpriv", X_OK))
		SKIP(return, "setpriv not installed");
	pid = lm_child_start("none", -1, &rep, &cmdfd, &fd);
	ASSERT_LT(0, pid);
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
	close(rep);
	close(cmdfd);
}

TEST_HARNESS_MAIN
