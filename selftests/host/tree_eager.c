// SPDX-License-Identifier: GPL-2.0
/*
 * Eager checkpoint/restore of a process tree: tree_wl (R with children A
 * and B, A with child G; a pipe, a socketpair, a shared anonymous
 * mapping, a shared file offset, private and copy-on-write memory, a
 * second thread in A blocked in read()) is
 * dumped with `lazymig dump --tree` (which kills all four), every PID is
 * reaped, `lazymig restore` rebuilds the tree; the test checks PIDs,
 * parents, process groups and sessions from /proc, then SIGUSR1 makes every member verify its data
 * and its parent, each parent wait()s for its children, and R reports.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "wl.h"

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* Field @k (1-based, as in proc(5)) of /proc/PID/stat, or -1. */
static long stat_field(pid_t pid, int k)
{
	char path[64], *s;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	s = slurp(path);
	s = s ? strrchr(s, ')') : NULL;
	if (!s)
		return -1;
	s += 2;
	for (i = 3; i < k && s; i++) {
		s = strchr(s, ' ');
		if (s)
			s++;
	}
	return s ? strtol(s, NULL, 10) : -1;
}

/* Reap whatever of @pids is ours (or adopted) until none exists. */
static int reap_all(const pid_t *pids, int n, int ms)
{
	int i, left;

	for (; ms > 0; ms -= 10) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		left = 0;
		for (i = 0; i < n; i++)
			if (!kill(pids[i], 0) || errno != ESRCH)
				left++;
		if (!left)
			return 0;
		msleep(10);
	}
	return -1;
}

FIXTURE(tree)
{
	char dir[256], img[300], pidfile[300], log[300], result[300];
	pid_t wl;
	pid_t pids[4];		/* R A B G */
};

FIXTURE_SETUP(tree)
{
	char ready[300], *s;
	int i;

	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	memset(self->pids, 0, sizeof(self->pids));
	snprintf(self->dir, sizeof(self->dir), "/tmp/lazymig-tree.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->img, sizeof(self->img), "%s/img", self->dir);
	snprintf(self->pidfile, sizeof(self->pidfile), "%s/pid", self->dir);
	snprintf(self->log, sizeof(self->log), "%s/restored.log", self->dir);
	snprintf(self->result, sizeof(self->result), "%s/result", self->dir);
	snprintf(ready, sizeof(ready), "%s/ready", self->dir);
	self->wl = fork();
	ASSERT_GE(self->wl, 0);
	if (!self->wl) {
		const char *prog = lm_build_path("selftests/workloads/tree_wl");

		execl(prog, prog, self->dir, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 1000 && !(s = slurp(ready)); i++)
		msleep(10);
	ASSERT_NE(NULL, s) TH_LOG("tree_wl did not get ready");
	ASSERT_EQ(4, sscanf(s, "%d %d %d %d", &self->pids[0], &self->pids[1],
			    &self->pids[2], &self->pids[3]));
	ASSERT_EQ(self->wl, self->pids[0]);
}

FIXTURE_TEARDOWN(tree)
{
	char cmd[400];
	int i;

	for (i = 3; i >= 0; i--)
		if (self->pids[i] > 0)
			kill(self->pids[i], SIGKILL);
	reap_all(self->pids, 4, 5000);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		return;
}

TEST_F_TIMEOUT(tree, dump_restore_verify, 120)
{
	char out[8192], *res;
	pid_t p[4];
	int rc, i, st;

	memcpy(p, self->pids, sizeof(p));
	rc = lm_run_tool(out, sizeof(out), "dump --tree -t %d -o %s", p[0],
			 self->img);
	ASSERT_EQ(0, rc) TH_LOG("dump: %s", out);
	ASSERT_NE(NULL, strstr(out, "4 processes")) TH_LOG("dump: %s", out);
	ASSERT_NE(NULL, strstr(out, "2 threads")) TH_LOG("A's thread: %s", out);
	/* The dump killed all four: reap them so that their PIDs are free. */
	ASSERT_EQ(0, reap_all(p, 4, 5000));
	rc = lm_run_tool(out, sizeof(out), "info %s", self->img);
	ASSERT_EQ(0, rc) TH_LOG("info: %s", out);
	ASSERT_NE(NULL, strstr(out, "member 3")) TH_LOG("info: %s", out);
	rc = lm_run_tool(out, sizeof(out), "restore -i %s --pidfile %s --stdio %s",
			 self->img, self->pidfile, self->log);
	ASSERT_EQ(0, rc) TH_LOG("restore: %s", out);
	for (i = 0; i < 4 && lm_pid_alive(p[i]); i++)
		;
	ASSERT_EQ(4, i) TH_LOG("a member is not there (PIDs %d %d %d %d): %s",
			       p[0], p[1], p[2], p[3], out);
	/* Parents (field 4), groups (5) and sessions (6) as dumped. */
	EXPECT_EQ(p[0], stat_field(p[1], 4));
	EXPECT_EQ(p[0], stat_field(p[2], 4));
	EXPECT_EQ(p[1], stat_field(p[3], 4));
	/* A in R's group; B leads its group; G leads its session. */
	EXPECT_EQ(stat_field(p[0], 5), stat_field(p[1], 5));
	EXPECT_EQ(p[2], stat_field(p[2], 5));
	EXPECT_EQ(p[3], stat_field(p[3], 5));
	EXPECT_EQ(p[3], stat_field(p[3], 6));
	for (i = 1; i < 3; i++)
		EXPECT_EQ(stat_field(p[0], 6), stat_field(p[i], 6));
	ASSERT_EQ(0, kill(p[0], SIGUSR1));
	for (i = 0; i < 2000 && !(res = slurp(self->result)); i++)
		msleep(10);
	ASSERT_NE(NULL, res) TH_LOG("no result from the restored tree");
	EXPECT_EQ(0, strncmp(res, "ok", 2)) TH_LOG("restored tree: %s", res);
	ksft_print_msg("%s\n", res);
	fflush(stdout);
	rc = waitpid(p[0], &st, 0);
	ASSERT_EQ(p[0], rc);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("R: status %#x", st);
	memset(self->pids, 0, sizeof(self->pids));
}

/*
 * A socket whose peer is outside the tree, or a TCP socket, is refused by
 * name and the tree runs on.
 */
static void refuse_one(struct __test_metadata *_metadata, int tcp)
{
	char out[8192], img[] = "/tmp/lazymig-tree-refuse.XXXXXX";
	int sv[2], fd;
	pid_t child;

	fd = mkstemp(img);
	ASSERT_GE(fd, 0);
	close(fd);
	if (tcp) {
		sv[0] = socket(AF_INET, SOCK_STREAM, 0);
		sv[1] = -1;
	} else {
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	}
	ASSERT_GE(sv[0], 0);
	child = fork();
	ASSERT_GE(child, 0);
	if (!child) {
		setpgid(0, 0);
		if (sv[1] >= 0)
			close(sv[0]);	/* keeps sv[1]; its peer stays with us */
		if (fork() == 0)	/* a grandchild, so that it is a tree */
			pause();
		pause();
		_exit(0);
	}
	if (sv[1] >= 0)
		close(sv[1]);	/* the child's peer is sv[0], ours */
	msleep(100);
	EXPECT_EQ(1, lm_run_tool(out, sizeof(out), "dump --tree -t %d -o %s",
				 child, img));
	EXPECT_NE(NULL, strstr(out, tcp ? "socket; sockets are not supported" :
			       "peer is outside the tree")) TH_LOG("dump: %s", out);
	EXPECT_NE(NULL, strstr(out, "left running")) TH_LOG("dump: %s", out);
	EXPECT_TRUE(lm_pid_alive(child));
	kill(-child, SIGKILL);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(sv[0]);
	unlink(img);
}

TEST(tree_refuses_outside_peer)
{
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	refuse_one(_metadata, 0);
	refuse_one(_metadata, 1);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

TEST_HARNESS_MAIN
