// SPDX-License-Identifier: GPL-2.0
/*
 * Lazy migration between two network namespaces joined by a veth pair:
 * `lazymig receive` runs in one, the workload and `lazymig send` in the
 * other.  Checks the data byte for byte (lazy_wl verifies every page in
 * random order after resume), that the process really ran before its
 * memory had all arrived, the source's fate, both exit codes, the stats,
 * and the authentication refusals.  Each test makes its own namespaces
 * (named after its pid) and removes them.
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
#include "migcheck.h"

#define DST_IP6	"fd77::2"

FIXTURE(mig) {
	struct lm_net net;
	char *src, *dst, *dir;	/* in net */
	char *tool, *wl, *wl_mem;	/* net's copies */
	char addr[64];
	pid_t wl_pid, recv_pid, send_pid, restored;
	char wl_threads[8];	/* lazy_wl's verifying threads */
	int wl_events;		/* lazy_wl drops, moves, unmaps, forks */
};

FIXTURE_SETUP(mig)
{
	static const char *const bins[] = {
		"lazymig",
		"selftests/workloads/lazy_wl",
		"selftests/workloads/wl_mem"
	};
	int r;

	strcpy(self->wl_threads, "1");
	r = lm_net_setup(&self->net, "mig", 77, bins, 3);
	self->src = self->net.src;
	self->dst = self->net.dst;
	self->dir = self->net.dir;
	self->tool = self->net.bin[0];
	self->wl = self->net.bin[1];
	self->wl_mem = self->net.bin[2];
	LM_NET_SETUP_CHECK(r);
	snprintf(self->addr, sizeof(self->addr), "%s", self->net.addr);
}

FIXTURE_TEARDOWN(mig)
{
	lm_mig_reap(self->restored, &self->send_pid, &self->recv_pid,
		    &self->wl_pid);
	lm_net_teardown(&self->net);
}

static void start_workload(struct __test_metadata *_metadata,
			   FIXTURE_DATA(mig) *self, const char *ns,
			   const char *mib)
{
	char *argv[] = { self->wl, (char *)mib, lm_in_dir(self->dir, "state"),
			 self->wl_threads, self->wl_events ? "events" : NULL,
			 NULL };
	char *argv_mem[] = { self->wl_mem, "--all", "--pages", "64",
			     lm_in_dir(self->dir, "state"), NULL };
	char buf[256];

	if (!strcmp(mib, "wl_mem")) {
		self->wl_pid = lm_spawn_ns(self->dir, ns, "wl.log", 0, argv_mem);
		ASSERT_EQ(0, lm_wait_file(self->dir, "state", "ready", 30, buf,
				       sizeof(buf)));
		return;
	}
	self->wl_pid = lm_spawn_ns(self->dir, ns, "wl.log", 0, argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state", "ready", 30, buf, sizeof(buf)));
}

static void start_receive(struct __test_metadata *_metadata,
			  FIXTURE_DATA(mig) *self, const char *ns,
			  const char *listen, const char *token)
{
	char buf[4096];
	char *argv[] = {
		self->tool, "receive", "--listen", (char *)listen,
		"--stats", lm_in_dir(self->dir, "r.json"),
		"--pidfile", lm_in_dir(self->dir, "pid"), "--stdio", "null",
		token ? "--token-file" : NULL, token ? lm_in_dir(self->dir, token) : NULL,
		NULL
	};

	self->recv_pid = lm_spawn_ns(self->dir, ns, "recv.log", 1, argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", "listening", 10, buf,
			       sizeof(buf)));
}

static void start_send(FIXTURE_DATA(mig) *self, const char *ns,
		       const char *to, const char *token, const char *extra)
{
	char pid[16];
	char *argv[] = {
		self->tool, "send", "-t", pid, "--to", (char *)to,
		"--stats", lm_in_dir(self->dir, "s.json"), "--push-rate", "64",
		(char *)extra,
		NULL, NULL, NULL,
	};
	int n = extra ? 11 : 10;

	snprintf(pid, sizeof(pid), "%d", self->wl_pid);
	if (token) {
		argv[n++] = "--token-file";
		argv[n++] = lm_in_dir(self->dir, token);
	}
	argv[n] = NULL;
	self->send_pid = lm_spawn_ns(self->dir, ns, "send.log", 1, argv);
}

/* Migrate, then let the restored workload verify itself.  Returns stats. */
static void migrate_ok(struct __test_metadata *_metadata,
		       FIXTURE_DATA(mig) *self, const char *mib,
		       const char *extra, char *json, size_t len)
{
	char buf[4096], sjson[4096];
	int st;

	lm_write_token(self->dir, "token", "lazymig-test-token-0123456789abcdef");
	start_receive(_metadata, self, self->dst, self->addr, "token");
	/*
	 * lazy_wl stays after reporting: an exit before the push is over
	 * would drop the pages of its other mappings (stack, libc), which
	 * it never touches, and pages_dropped must be 0 without events.
	 */
	setenv("LAZY_WL_LINGER", "1", 1);
	start_workload(_metadata, self, self->src, mib);
	unsetenv("LAZY_WL_LINGER");
	start_send(self, self->src, self->addr, "token", extra);
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 60, buf, sizeof(buf))) {
		lm_show_log(self->dir, "send.log");
		lm_show_log(self->dir, "recv.log");
	}
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	/* right after resume: verify all memory, in random order */
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	st = lm_wait_exit(&self->send_pid, 120);
	EXPECT_EQ(0, st) {
		lm_show_log(self->dir, "send.log");
	}
	st = lm_wait_exit(&self->recv_pid, 120);
	EXPECT_EQ(0, st) {
		lm_show_log(self->dir, "recv.log");
	}
	/* the source was killed once every page was in */
	st = lm_wait_exit(&self->wl_pid, 10);
	EXPECT_TRUE(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.result", "\n", 120, buf,
			       sizeof(buf)));
	TH_LOG("workload: %s", buf);
	ASSERT_TRUE(!strncmp(buf, "ok", 2) && (!buf[2] || buf[2] == ' ' ||
					       buf[2] == '\n'));
	ASSERT_EQ(0, lm_slurp(self->dir, "r.json", json, len));
	ASSERT_EQ(0, lm_slurp(self->dir, "s.json", sjson, sizeof(sjson)));
	EXPECT_STREQ(json, sjson);	/* send gets the same figures */
	TH_LOG("stats: %s", json);
}

static void check_fields_dropped(struct __test_metadata *_metadata,
				 const char *json, int dropped);

static void check_fields(struct __test_metadata *_metadata, const char *json)
{
	check_fields_dropped(_metadata, json, 0);
}

static void check_fields_dropped(struct __test_metadata *_metadata,
				 const char *json, int dropped)
{
	static const char *const keys[] = {
		"downtime_ns", "total_ns", "bytes_before_resume", "pages_total",
		"pages_faulted", "pages_pushed", "pages_zero", "fault_ns_p50",
		"fault_ns_p99",
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		EXPECT_LE(0, lm_json_num(json, keys[i]));
	EXPECT_NE(NULL, strstr(json, "\"events\":{\"pagefault\":"));
	EXPECT_NE(NULL, strstr(json, "\"mechanism\":\""));
	EXPECT_EQ(lm_json_num(json, "pages_total"),
		  lm_json_num(json, "pages_faulted") + lm_json_num(json, "pages_pushed") +
		  lm_json_num(json, "pages_zero") + lm_json_num(json, "pages_dropped"));
	if (!dropped)
		EXPECT_EQ(0, lm_json_num(json, "pages_dropped"));
}

TEST_F_TIMEOUT(mig, lazy_256m, 300)
{
	char json[4096], res[256];
	long long first;

	migrate_ok(_metadata, self, "256", NULL, json, sizeof(json));
	check_fields(_metadata, json);
	EXPECT_NE(NULL, strstr(json, "\"mode\":\"lazy\""));
	EXPECT_LE(lm_json_num(json, "bytes_before_resume"), 256 * 1024);
	EXPECT_LT(0, lm_json_num(json, "pages_faulted"));
	EXPECT_LT(0, lm_json_num(json, "pages_pushed"));
	EXPECT_LT(0, lm_json_num(json, "downtime_ns"));
	EXPECT_LE(lm_json_num(json, "downtime_ns"), lm_json_num(json, "total_ns"));
	/* it ran before its memory had all arrived */
	ASSERT_EQ(0, lm_slurp(self->dir, "state.result", res, sizeof(res)));
	first = atoll(strstr(res, "first_touch_ns=") + 15);
	EXPECT_LT(first, lm_json_num(json, "last_install_realtime_ns"));
	EXPECT_LT(lm_json_num(json, "resume_realtime_ns"), first);
}

TEST_F_TIMEOUT(mig, eager_32m, 180)
{
	char json[4096];

	migrate_ok(_metadata, self, "32", "--eager", json, sizeof(json));
	check_fields(_metadata, json);
	EXPECT_NE(NULL, strstr(json, "\"mode\":\"eager\""));
	EXPECT_EQ(0, lm_json_num(json, "pages_faulted"));
	EXPECT_LT(32LL << 20 >> 1, lm_json_num(json, "bytes_before_resume"));
}

/* 4 threads verify every page at once: concurrent faults on each page. */
TEST_F_TIMEOUT(mig, lazy_4_threads_64m, 180)
{
	char json[4096];

	strcpy(self->wl_threads, "4");
	migrate_ok(_metadata, self, "64", NULL, json, sizeof(json));
	check_fields(_metadata, json);
	EXPECT_LT(0, lm_json_num(json, "pages_faulted"));
}

/*
 * While its pages are still arriving, the process drops a range
 * (MADV_DONTNEED: reads zero after, never refilled), moves one (mremap:
 * the data follows), unmaps one, and forks a child that verifies all of
 * its memory through its own userfaultfd.
 */
TEST_F_TIMEOUT(mig, lazy_events_64m, 180)
{
	char json[4096];

	self->wl_events = 1;
	strcpy(self->wl_threads, "2");
	migrate_ok(_metadata, self, "64", NULL, json, sizeof(json));
	check_fields_dropped(_metadata, json, 1);
	EXPECT_EQ(1, lm_json_num(json, "fork"));
	EXPECT_EQ(1, lm_json_num(json, "remap"));
	EXPECT_LE(1, lm_json_num(json, "remove"));
	EXPECT_LE(1, lm_json_num(json, "unmap"));
	EXPECT_LT(0, lm_json_num(json, "pages_dropped"));
}

/* Threads, signals, fds, every memory kind: private anon lazily. */
TEST_F_TIMEOUT(mig, lazy_wl_mem_all, 120)
{
	char json[4096];

	migrate_ok(_metadata, self, "wl_mem", NULL, json, sizeof(json));
	check_fields(_metadata, json);
	EXPECT_NE(NULL, strstr(json, "\"mode\":\"lazy\""));
}

TEST_F_TIMEOUT(mig, lazy_ipv6_16m, 120)
{
	char json[4096];

	snprintf(self->addr, sizeof(self->addr), "[" DST_IP6 "]:%d",
		 7000 + getpid() % 20000);
	migrate_ok(_metadata, self, "16", NULL, json, sizeof(json));
	check_fields(_metadata, json);
	EXPECT_NE(NULL, strstr(json, "\"mode\":\"lazy\""));
}

static void refused(struct __test_metadata *_metadata,
		    FIXTURE_DATA(mig) *self, const char *recv_says)
{
	char buf[4096];
	int st;

	st = lm_wait_exit(&self->send_pid, 30);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0);
	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	TH_LOG("send.log: %s", buf);
	EXPECT_NE(NULL, strstr(buf, "refused"));
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	TH_LOG("recv.log: %s", buf);
	EXPECT_NE(NULL, strstr(buf, recv_says));
	EXPECT_EQ(NULL, strstr(buf, "restoring"));
	EXPECT_NE(0, lm_slurp(self->dir, "pid", buf, sizeof(buf)));
	/* receive keeps waiting for the real sender */
	EXPECT_EQ(0, waitpid(self->recv_pid, NULL, WNOHANG));
	lm_source_verifies(_metadata, self->dir, &self->wl_pid);
}

TEST_F_TIMEOUT(mig, wrong_token, 120)
{
	lm_write_token(self->dir, "token", "lazymig-test-token-0123456789abcdef");
	lm_write_token(self->dir, "other", "lazymig-test-token-0123456789abcdeX");
	start_receive(_metadata, self, self->dst, self->addr, "token");
	start_workload(_metadata, self, self->src, "16");
	start_send(self, self->src, self->addr, "other", NULL);
	refused(_metadata, self, "wrong token");
}

TEST_F_TIMEOUT(mig, no_token_remote_refused, 120)
{
	start_receive(_metadata, self, self->dst, self->addr, NULL);
	start_workload(_metadata, self, self->src, "16");
	start_send(self, self->src, self->addr, NULL, NULL);
	refused(_metadata, self, "loopback peers only");
}

TEST_F_TIMEOUT(mig, no_token_loopback_ok, 120)
{
	char buf[4096];
	char lo[64];

	snprintf(lo, sizeof(lo), "127.0.0.1:%d", 7000 + getpid() % 20000);
	start_receive(_metadata, self, self->dst, lo, NULL);
	start_workload(_metadata, self, self->dst, "16");
	start_send(self, self->dst, lo, NULL, NULL);
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 60, buf, sizeof(buf)));
	self->restored = atoi(buf);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	EXPECT_EQ(0, lm_wait_exit(&self->send_pid, 120));
	EXPECT_EQ(0, lm_wait_exit(&self->recv_pid, 120));
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.result", "\n", 60, buf,
			       sizeof(buf)));
	EXPECT_EQ(0, strncmp(buf, "ok ", 3));
}

/* Restore fails before resume: the source runs on, untouched. */
TEST_F_TIMEOUT(mig, fail_before_resume, 120)
{
	char buf[4096];
	int st;

	lm_write_token(self->dir, "token", "lazymig-test-token-0123456789abcdef");
	setenv("LAZYMIG_FAULT", "receive-before-resume", 1);
	start_receive(_metadata, self, self->dst, self->addr, "token");
	unsetenv("LAZYMIG_FAULT");
	start_workload(_metadata, self, self->src, "16");
	start_send(self, self->src, self->addr, "token", NULL);
	st = lm_wait_exit(&self->send_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	st = lm_wait_exit(&self->recv_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	TH_LOG("send.log: %s", buf);
	EXPECT_NE(NULL, strstr(buf, "resumed here untouched"));
	EXPECT_NE(0, lm_slurp(self->dir, "pid", buf, sizeof(buf)));
	lm_source_verifies(_metadata, self->dir, &self->wl_pid);
}

/*
 * The source goes away after the destination resumed: the destination
 * kills its half-filled process, the source is left stopped (not run
 * twice, not lost).
 */
TEST_F_TIMEOUT(mig, fail_after_resume, 120)
{
	char buf[4096];
	int st;

	lm_write_token(self->dir, "token", "lazymig-test-token-0123456789abcdef");
	setenv("LAZYMIG_FAULT", "receive-after-resume", 1);
	start_receive(_metadata, self, self->dst, self->addr, "token");
	unsetenv("LAZYMIG_FAULT");
	start_workload(_metadata, self, self->src, "64");
	/* it dials again in vain for 3 s, then gives up */
	start_send(self, self->src, self->addr, "token", "--peer-timeout=3");
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 60, buf, sizeof(buf)));
	self->restored = atoi(buf);
	st = lm_wait_exit(&self->recv_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	st = lm_wait_exit(&self->send_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	TH_LOG("recv.log: %s", buf);
	EXPECT_NE(NULL, strstr(buf, "killed"));
	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	TH_LOG("send.log: %s", buf);
	EXPECT_NE(NULL, strstr(buf, "left stopped"));
	EXPECT_EQ(0, lm_wait_gone(self->restored, 5));
	EXPECT_EQ('T', lm_proc_state(self->wl_pid));
}

TEST_HARNESS_MAIN
