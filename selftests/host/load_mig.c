// SPDX-License-Identifier: GPL-2.0
/*
 * Load: lazy migrations between two network namespaces under stress.
 *
 *  - threads64_children32: right after resume, 64 threads verify every
 *    page of the lazy memory at once, each in its own random order,
 *    while the process forks 32 children that each verify everything
 *    too (each through its own userfaultfd on the destination).
 *  - keep_listening: migrations in a row (8, or LAZYMIG_LOAD_ROUNDS)
 *    through one `receive --keep-listening`, plus one whose sender dies
 *    midway (the listener must go on); every process verifies all of its
 *    memory.  The receiver's open fds are counted after each migration
 *    and must not grow; its RSS is logged (figures, not a threshold).
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "migtest.h"

#define NET	81	/* 10.81.0.1 -> 10.81.0.2 */
#define TOKEN	"lazymig-load-token-0123456789abcdef"
#define MAX_ROUNDS	256
#define REAP_WAIT_MS	1500	/* receive reaps exited processes every 1 s */

FIXTURE(ld) {
	struct lm_net net;
	char *src, *dst, *dir, *addr;	/* in net */
	char *tool, *lazy_wl, *load_wl;	/* copies in net.dir */
	pid_t wl_pid, recv_pid, send_pid, restored;
};

FIXTURE_SETUP(ld)
{
	static const char *const bins[] = {
		"lazymig",
		"selftests/workloads/lazy_wl",
		"selftests/workloads/load_wl"
	};
	int r = lm_net_setup(&self->net, "ld", NET, bins, 3);

	self->src = self->net.src;
	self->dst = self->net.dst;
	self->dir = self->net.dir;
	self->addr = self->net.addr;
	self->tool = self->net.bin[0];
	self->lazy_wl = self->net.bin[1];
	self->load_wl = self->net.bin[2];
	LM_NET_SETUP_CHECK(r);
	lm_write_token(self->dir, "token", TOKEN);
}

FIXTURE_TEARDOWN(ld)
{
	lm_mig_reap(self->restored, &self->send_pid, &self->recv_pid,
		    &self->wl_pid);
	lm_net_teardown(&self->net);
}

static void start_receive(struct __test_metadata *_metadata,
			  FIXTURE_DATA(ld) *self, int keep)
{
	char buf[4096];
	char *argv[] = {
		self->tool, "receive", "--listen", self->addr,
		"--pidfile", lm_in_dir(self->dir, "pid"), "--stdio", "null",
		"--token-file", lm_in_dir(self->dir, "token"),
		"--stats", lm_in_dir(self->dir, "r.json"),
		keep ? "--keep-listening" : NULL, NULL
	};

	self->recv_pid = lm_spawn_ns(self->dir, self->dst, "recv.log", 1, argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", "listening", 10, buf,
				  sizeof(buf)));
}

static void start_send(FIXTURE_DATA(ld) *self, const char *rate,
		       const char *fault)
{
	char pid[16];
	char *argv[] = {
		self->tool, "send", "-t", pid, "--to", self->addr,
		"--token-file", lm_in_dir(self->dir, "token"),
		"--push-rate", (char *)rate, NULL
	};

	snprintf(pid, sizeof(pid), "%d", self->wl_pid);
	if (fault)
		setenv("LAZYMIG_FAULT", fault, 1);
	self->send_pid = lm_spawn_ns(self->dir, self->src, "send.log", 1, argv);
	unsetenv("LAZYMIG_FAULT");
}

static void show(struct __test_metadata *_metadata, FIXTURE_DATA(ld) *self,
		 const char *log)
{
	char buf[8192];

	lm_slurp(self->dir, log, buf, sizeof(buf));
	TH_LOG("%s: %s", log, buf);
}

static int exited(int st, int code)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

TEST_F_TIMEOUT(ld, threads64_children32, 180)
{
	char *argv[] = { self->load_wl, "16", lm_in_dir(self->dir, "state"),
			 "64", "32", NULL };
	char buf[4096];
	int st;

	start_receive(_metadata, self, 0);
	self->wl_pid = lm_spawn_ns(self->dir, self->src, "wl.log", 0, argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state", "ready", 30, buf,
				  sizeof(buf)));
	start_send(self, "2", NULL);
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 60, buf, sizeof(buf)))
		show(_metadata, self, "recv.log");
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	st = lm_wait_exit(&self->send_pid, 120);
	EXPECT_TRUE(exited(st, 0)) show(_metadata, self, "send.log");
	st = lm_wait_exit(&self->recv_pid, 120);
	EXPECT_TRUE(exited(st, 0)) show(_metadata, self, "recv.log");
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.result", "\n", 120, buf,
				  sizeof(buf)));
	TH_LOG("workload: %s", buf);
	EXPECT_EQ(0, strncmp(buf, "ok threads=64 children=32 ", 26));
	ASSERT_EQ(0, lm_slurp(self->dir, "r.json", buf, sizeof(buf)));
	TH_LOG("stats: %s", buf);
	/* it really faulted, and forked while pages were lazy */
	EXPECT_LT(0, lm_json_num(buf, "pages_faulted"));
	EXPECT_LE(1, lm_json_num(buf, "fork"));
	TH_LOG("%lld of the 32 forks came while pages were still lazy",
	       lm_json_num(buf, "fork"));
}

/* One migration through the listening receiver; 0 if verified. */
static int one_round(struct __test_metadata *_metadata,
		     FIXTURE_DATA(ld) *self, int round, const char *fault)
{
	char state[32], res[48], buf[4096];
	char *argv[] = { self->lazy_wl, "8", NULL, "2", NULL };
	int st;

	snprintf(state, sizeof(state), "state%d", round);
	snprintf(res, sizeof(res), "state%d.result", round);
	argv[2] = lm_in_dir(self->dir, state);
	unlink(lm_in_dir(self->dir, "pid"));
	self->wl_pid = lm_spawn_ns(self->dir, self->src, "wl.log", 0, argv);
	if (lm_wait_file(self->dir, state, "ready", 30, buf, sizeof(buf)))
		return -1;
	start_send(self, "16", fault);
	if (fault) {
		/* it dies: the source runs on, whole */
		st = lm_wait_exit(&self->send_pid, 30);
		EXPECT_TRUE(st != -1 && WIFSIGNALED(st));
		kill(self->wl_pid, SIGUSR1);
		st = lm_wait_exit(&self->wl_pid, 60);
		EXPECT_TRUE(exited(st, 0));
		if (lm_wait_file(self->dir, res, "\n", 10, buf, sizeof(buf)))
			return -1;
		return strncmp(buf, "ok ", 3);
	}
	if (lm_wait_file(self->dir, "pid", "\n", 60, buf, sizeof(buf))) {
		show(_metadata, self, "recv.log");
		return -1;
	}
	self->restored = atoi(buf);
	kill(self->restored, SIGUSR1);
	st = lm_wait_exit(&self->send_pid, 120);
	EXPECT_TRUE(exited(st, 0)) show(_metadata, self, "send.log");
	st = lm_wait_exit(&self->wl_pid, 10);	/* the source, killed */
	EXPECT_TRUE(st != -1 && WIFSIGNALED(st));
	if (lm_wait_file(self->dir, res, "\n", 120, buf, sizeof(buf)))
		return -1;
	if (strncmp(buf, "ok ", 3)) {
		TH_LOG("round %d: %s", round, buf);
		return -1;
	}
	self->restored = 0;
	return 0;
}

TEST_F_TIMEOUT(ld, keep_listening, 3600)
{
	const char *env = getenv("LAZYMIG_LOAD_ROUNDS");
	int rounds = env ? atoi(env) : 8, i, done = 0, fail_at;
	int fds[MAX_ROUNDS];
	long rss[MAX_ROUNDS];
	size_t blen = 1 << 20;	/* recv.log grows by ~300 bytes a round */
	char what[64], *buf = malloc(blen);

	ASSERT_NE(NULL, buf);
	if (rounds < 2 || rounds > MAX_ROUNDS)
		rounds = 8;
	fail_at = rounds / 2;
	start_receive(_metadata, self, 1);
	for (i = 0; i < rounds; i++) {
		if (i == fail_at) {	/* a failed one in the middle */
			EXPECT_EQ(0, one_round(_metadata, self, 1000,
					       "send-die-during-stream"));
			snprintf(what, sizeof(what), "migration %d failed",
				 ++done);
			ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", what,
						  30, buf, blen))
				show(_metadata, self, "recv.log");
		}
		ASSERT_EQ(0, one_round(_metadata, self, i, NULL))
			show(_metadata, self, "recv.log");
		snprintf(what, sizeof(what), "migration %d done", ++done);
		ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", what, 60, buf,
					  blen))
			show(_metadata, self, "recv.log");
		/* the restored process exits after verifying: reaped */
		usleep(REAP_WAIT_MS * 1000);
		fds[i] = lm_count_fds(self->recv_pid);
		rss[i] = lm_rss_kib(self->recv_pid);
		TH_LOG("after migration %d: receiver fds %d, rss %ld KiB", i + 1,
		       fds[i], rss[i]);
	}
	for (i = 1; i < rounds; i++)
		EXPECT_EQ(fds[0], fds[i]) TH_LOG("fd growth at migration %d",
						 i + 1);
	TH_LOG("receiver rss: %ld KiB after the first, %ld KiB after the last of %d migrations (%+ld KiB)",
	       rss[0], rss[rounds - 1], rounds, rss[rounds - 1] - rss[0]);
	/* still listening, still one process */
	EXPECT_EQ(0, waitpid(self->recv_pid, NULL, WNOHANG));
	free(buf);
}

TEST_HARNESS_MAIN
