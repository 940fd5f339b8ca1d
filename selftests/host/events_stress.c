// SPDX-License-Identifier: GPL-2.0
/*
 * Stress: during a lazy migration (push throttled), 8 threads of the
 * restored process fork 32 children in all, mremap and MADV_DONTNEED in a
 * loop, every child and thread verifying its memory against its model
 * (events_stress).  512 MiB, the push at 32 MiB/s so that the events
 * meet pending pages (about 10 s here); LAZYMIG_STRESS_MIB=N for another
 * size.  Network namespaces as in lazy_migrate.c.
 *
 * The same at 512 MiB with the push unthrottled: events and faults meet
 * push messages being installed in pieces (lazy.c, bulk_yield).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "migtest.h"

#define DEFAULT_MIB	"512"

FIXTURE(stress) {
	struct lm_net net;
	char *src, *dst, *dir;	/* in net */
	char *tool, *wl;	/* net's copies */
	char addr[64];
	pid_t wl_pid, recv_pid, send_pid, restored;
};

FIXTURE_SETUP(stress)
{
	static const char *const bins[] = {
		"lazymig",
		"selftests/workloads/events_stress"
	};
	int r;

	r = lm_net_setup(&self->net, "stress", 79, bins, 2);
	self->src = self->net.src;
	self->dst = self->net.dst;
	self->dir = self->net.dir;
	self->tool = self->net.bin[0];
	self->wl = self->net.bin[1];
	LM_NET_SETUP_CHECK(r);
	snprintf(self->addr, sizeof(self->addr), "%s", self->net.addr);
}

FIXTURE_TEARDOWN(stress)
{
	lm_mig_reap(self->restored, &self->send_pid, &self->recv_pid,
		    &self->wl_pid);
	lm_net_teardown(&self->net);
}

static void logs(struct __test_metadata *_metadata,
		 FIXTURE_DATA(stress) *self)
{
	char buf[8192];

	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	TH_LOG("send.log: %s", buf);
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	TH_LOG("recv.log: %s", buf);
}

/*
 * One migration of events_stress, send with @send_opts (NULL-ended, at
 * most 2); receive's stats JSON into @json.
 */
static void run(struct __test_metadata *_metadata, FIXTURE_DATA(stress) *self,
		const char *mib, const char *const *send_opts, char *json,
		size_t len)
{
	char buf[4096], pid[16];
	char *wl_argv[] = { self->wl, (char *)mib, lm_in_dir(self->dir, "state"),
			    NULL };
	char *recv_argv[] = {
		self->tool, "receive", "--listen", self->addr,
		"--stats", lm_in_dir(self->dir, "r.json"),
		"--pidfile", lm_in_dir(self->dir, "pid"), "--stdio", "null",
		"--token-file", lm_in_dir(self->dir, "token"), NULL
	};
	char *send_argv[] = {
		self->tool, "send", "-t", pid, "--to", self->addr,
		"--stats", lm_in_dir(self->dir, "s.json"),
		"--token-file", lm_in_dir(self->dir, "token"),
		NULL, NULL, NULL,
	};
	int st, i;

	for (i = 0; send_opts[i]; i++)
		send_argv[10 + i] = (char *)send_opts[i];
	lm_write_token(self->dir, "token", "lazymig-test-token-0123456789abcdef");
	self->recv_pid = lm_spawn_ns(self->dir, self->dst, "recv.log", 1, recv_argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", "listening", 10, buf,
			       sizeof(buf)));
	self->wl_pid = lm_spawn_ns(self->dir, self->src, "wl.log", 0, wl_argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state", "ready", 120, buf, sizeof(buf)));
	snprintf(pid, sizeof(pid), "%d", self->wl_pid);
	self->send_pid = lm_spawn_ns(self->dir, self->src, "send.log", 1, send_argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 120, buf, sizeof(buf)))
		logs(_metadata, self);
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	st = lm_wait_exit(&self->send_pid, 300);
	EXPECT_EQ(0, st) logs(_metadata, self);
	st = lm_wait_exit(&self->recv_pid, 300);
	EXPECT_EQ(0, st) logs(_metadata, self);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.result", "\n", 300, buf,
			       sizeof(buf)));
	TH_LOG("%s MiB: %s", mib, buf);
	EXPECT_EQ(0, strncmp(buf, "ok forks=32 ", 12)) logs(_metadata, self);
	self->restored = 0;
	ASSERT_EQ(0, lm_slurp(self->dir, "r.json", json, len));
	TH_LOG("stats: %s", json);
	EXPECT_LE(1, lm_json_num(json, "fork"));
	EXPECT_LE(1, lm_json_num(json, "remap"));
	EXPECT_LE(1, lm_json_num(json, "remove"));
	EXPECT_EQ(lm_json_num(json, "pages_total"),
		  lm_json_num(json, "pages_faulted") + lm_json_num(json, "pages_pushed") +
		  lm_json_num(json, "pages_zero") + lm_json_num(json, "pages_dropped"));
}

TEST_F_TIMEOUT(stress, forks_mremaps_madvises_8_threads, 600)
{
	static const char *const opts[] = { "--push-rate", "32", NULL };
	const char *mib = getenv("LAZYMIG_STRESS_MIB") ?: DEFAULT_MIB;
	char json[4096];

	run(_metadata, self, mib, opts, json, sizeof(json));
}

/*
 * The push unthrottled: the daemon installs push messages in pieces
 * while the 8 threads fault, fork, mremap and MADV_DONTNEED; faults and
 * events read between two pieces (push_yields) must leave every page as
 * the threads' models say (a REMOVE between two pieces: the rest of the
 * message is not installed there).
 */
TEST_F_TIMEOUT(stress, events_between_push_pieces, 600)
{
	static const char *const opts[] = { NULL };
	char json[4096];

	run(_metadata, self, "512", opts, json, sizeof(json));
	EXPECT_LE(1, lm_json_num(json, "push_yields"));
	/* 4 to 20 in the runs seen here */
	EXPECT_LE(1, lm_json_num(json, "push_yield_events"));
}

TEST_HARNESS_MAIN
