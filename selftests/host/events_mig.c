// SPDX-License-Identifier: GPL-2.0
/*
 * Non-cooperative events during a lazy migration, one test body per
 * event (fork, remap, remove, unmap), each run over every memory kind
 * (FIXTURE_VARIANT): events_wl sets the kind up, the migration runs with
 * the background push throttled (so the event hits pages still pending),
 * the restored process performs the event and verifies every byte, then
 * verifies again once the migration is over (nothing refilled behind its
 * back).  hugetlb variants reserve huge pages (vm.nr_hugepages, restored
 * after) and SKIP when they cannot.  Where the stats say a kind was
 * restored lazily (mechanism_by_kind: uffd-missing*), its event must
 * have been seen; eager kinds (fd-reachable memfd and tmpfs without
 * lazymig.ko, hugetlb for now) must still come out byte for byte right.
 * memfd_closed maps a memfd whose fd is closed: no fd reaches it.
 * Network namespaces as in lazy_migrate.c.
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

#define UNITS_4K	1024	/* 4 MiB */
#define UNITS_HUGE	16	/* 32 MiB */
/*
 * Source and destination copies, and the pages each of 16 forked
 * children of a MAP_PRIVATE mapping allocates when it reads a page its
 * parent never touched (a short pool makes them SIGBUS): 128 (256 MiB).
 */
#define HUGE_NEED	(8 * UNITS_HUGE)
#define NR_HUGE		"/proc/sys/vm/nr_hugepages"
#define FREE_HUGE	"/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

FIXTURE(ev) {
	struct lm_net net;
	char *src, *dst, *dir;	/* in net */
	char *tool, *wl;	/* net's copies */
	char addr[64];
	pid_t wl_pid, recv_pid, send_pid, restored;
	long huge_old;		/* nr_hugepages before, or -1 */
};

FIXTURE_VARIANT(ev) {
	const char *kind;
	int huge;
	const char *mech;	/* its name in mechanism_by_kind */
};

FIXTURE_VARIANT_ADD(ev, private_anon) { .kind = "anon", .mech = "anon-private" };
FIXTURE_VARIANT_ADD(ev, shared_anon) { .kind = "shared", .mech = "anon-shared" };
FIXTURE_VARIANT_ADD(ev, memfd) { .kind = "memfd", .mech = "memfd" };
FIXTURE_VARIANT_ADD(ev, memfd_closed) { .kind = "memfd_closed", .mech = "memfd" };
FIXTURE_VARIANT_ADD(ev, tmpfs) { .kind = "tmpfs", .mech = "tmpfs" };
FIXTURE_VARIANT_ADD(ev, hugetlb_private) {
	.kind = "huge_private", .huge = 1, .mech = "hugetlb-private"
};
FIXTURE_VARIANT_ADD(ev, hugetlb_shared) {
	.kind = "huge_shared", .huge = 1, .mech = "hugetlb-shared"
};

static long read_long(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return atol(buf);
}

static int write_long(const char *path, long v)
{
	char buf[64];
	int fd = open(path, O_WRONLY), n, ok;

	if (fd < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "%ld\n", v);
	ok = write(fd, buf, n) == n;
	close(fd);
	return ok ? 0 : -1;
}

static int reserve_huge(FIXTURE_DATA(ev) *self)
{
	int i;

	self->huge_old = read_long(NR_HUGE);
	if (self->huge_old < 0)
		return -1;
	/* pages a previous test's process still holds are not free yet */
	for (i = 0; i < 50 && read_long(FREE_HUGE) < HUGE_NEED; i++) {
		write_long(NR_HUGE, self->huge_old + HUGE_NEED);
		if (read_long(FREE_HUGE) < HUGE_NEED)
			usleep(100 * 1000);
	}
	if (read_long(FREE_HUGE) < HUGE_NEED) {
		write_long(NR_HUGE, self->huge_old);
		self->huge_old = -1;
		return -1;
	}
	return 0;
}

/* Pages still held by a process on its way out shrink later: retry. */
static void restore_huge(FIXTURE_DATA(ev) *self)
{
	int i;

	for (i = 0; self->huge_old >= 0 && i < 50; i++) {
		if (!write_long(NR_HUGE, self->huge_old) &&
		    read_long(NR_HUGE) == self->huge_old)
			break;
		usleep(100 * 1000);
	}
	self->huge_old = -1;
}

FIXTURE_SETUP(ev)
{
	static const char *const bins[] = {
		"lazymig",
		"selftests/workloads/events_wl"
	};
	int r;

	self->huge_old = -1;
	if (variant->huge && reserve_huge(self)) {
		SKIP(return, "cannot reserve %d huge pages of 2 MiB (vm.nr_hugepages)",
		     HUGE_NEED);
	}
	r = lm_net_setup(&self->net, "ev", 78, bins, 2);
	self->src = self->net.src;
	self->dst = self->net.dst;
	self->dir = self->net.dir;
	self->tool = self->net.bin[0];
	self->wl = self->net.bin[1];
	if (r) {
		restore_huge(self);
		if (r > 0)
			SKIP(return, "cannot create network namespaces");
		ASSERT_TRUE(0) TH_LOG("cannot set up the namespaces or copy the binaries");
	}
	snprintf(self->addr, sizeof(self->addr), "%s", self->net.addr);
}

FIXTURE_TEARDOWN(ev)
{
	if (self->restored > 0)
		kill(self->restored, SIGKILL);
	lm_reap(&self->send_pid);
	lm_reap(&self->recv_pid);
	lm_reap(&self->wl_pid);
	if (self->restored > 0)
		kill(self->restored, SIGKILL);
	lm_net_teardown(&self->net);
	restore_huge(self);
}

static void start_workload(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ev) *self, const char *kind,
			   const char *event, int huge)
{
	char units[16], buf[256];
	char *argv[] = { self->wl, (char *)kind, (char *)event, units,
			 lm_in_dir(self->dir, "state"), NULL };

	snprintf(units, sizeof(units), "%d", huge ? UNITS_HUGE : UNITS_4K);
	self->wl_pid = lm_spawn_ns(self->dir, self->src, "wl.log", 0, argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state", "ready", 30, buf, sizeof(buf))) {
		lm_slurp(self->dir, "wl.log", buf, sizeof(buf));
		TH_LOG("wl.log: %s", buf);
	}
}

static void start_receive(struct __test_metadata *_metadata,
			  FIXTURE_DATA(ev) *self)
{
	char buf[4096];
	char *argv[] = {
		self->tool, "receive", "--listen", self->addr,
		"--stats", lm_in_dir(self->dir, "r.json"),
		"--pidfile", lm_in_dir(self->dir, "pid"), "--stdio", "null",
		"--token-file", lm_in_dir(self->dir, "token"), NULL
	};

	self->recv_pid = lm_spawn_ns(self->dir, self->dst, "recv.log", 1, argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", "listening", 10, buf,
			       sizeof(buf)));
}

static void start_send(FIXTURE_DATA(ev) *self, const char *rate)
{
	char pid[16];
	char *argv[] = {
		self->tool, "send", "-t", pid, "--to", self->addr,
		"--stats", lm_in_dir(self->dir, "s.json"), "--push-rate", (char *)rate,
		"--token-file", lm_in_dir(self->dir, "token"), NULL,
	};

	snprintf(pid, sizeof(pid), "%d", self->wl_pid);
	self->send_pid = lm_spawn_ns(self->dir, self->src, "send.log", 1, argv);
}

static void logs(struct __test_metadata *_metadata, FIXTURE_DATA(ev) *self)
{
	char buf[8192];

	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	TH_LOG("send.log: %s", buf);
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	TH_LOG("recv.log: %s", buf);
}

/*
 * Migrate with the push throttled, perform @event in the restored process
 * at once (its pages still arriving), let it verify, wait for the end of
 * the migration, let it verify again.  *json gets the stats.
 */
static void run_event(struct __test_metadata *_metadata,
		      FIXTURE_DATA(ev) *self, const FIXTURE_VARIANT(ev) *variant,
		      const char *event, char *json, size_t len)
{
	char buf[4096], sjson[4096];
	int st;

	lm_write_token(self->dir, "token", "lazymig-test-token-0123456789abcdef");
	start_receive(_metadata, self);
	start_workload(_metadata, self, variant->kind, event, variant->huge);
	start_send(self, variant->huge ? "16" : "4");
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 60, buf, sizeof(buf)))
		logs(_metadata, self);
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.stage", "\n", 120, buf,
			       sizeof(buf))) logs(_metadata, self);
	TH_LOG("%s on %s, right after: %s", event, variant->kind, buf);
	EXPECT_EQ(0, strncmp(buf, "ok", 2));
	st = lm_wait_exit(&self->send_pid, 120);
	EXPECT_EQ(0, st) logs(_metadata, self);
	st = lm_wait_exit(&self->recv_pid, 120);
	EXPECT_EQ(0, st) logs(_metadata, self);
	st = lm_wait_exit(&self->wl_pid, 10);
	EXPECT_TRUE(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ASSERT_EQ(0, kill(self->restored, SIGUSR2));
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.result", "\n", 60, buf,
			       sizeof(buf)));
	TH_LOG("%s on %s, after the migration: %s", event, variant->kind, buf);
	EXPECT_EQ(0, strncmp(buf, "ok", 2));
	self->restored = 0;
	ASSERT_EQ(0, lm_slurp(self->dir, "r.json", json, len));
	ASSERT_EQ(0, lm_slurp(self->dir, "s.json", sjson, sizeof(sjson)));
	EXPECT_STREQ(json, sjson);
	TH_LOG("stats: %s", json);
	EXPECT_NE(NULL, strstr(json, "\"mechanism\":"));
	EXPECT_NE(NULL, strstr(json, "\"mechanism_by_kind\":{"));
	EXPECT_NE(NULL, strstr(json, "\"eager_shm\":["));
	EXPECT_EQ(lm_json_num(json, "pages_total"),
		  lm_json_num(json, "pages_faulted") + lm_json_num(json, "pages_pushed") +
		  lm_json_num(json, "pages_zero") + lm_json_num(json, "pages_dropped"));
}

/* A lazily restored kind must have seen the event through its uffd. */
static void expect_event(struct __test_metadata *_metadata,
			 const FIXTURE_VARIANT(ev) *variant, const char *json,
			 const char *key, long long min)
{
	char want[64];

	snprintf(want, sizeof(want), "\"%s\":\"uffd-missing", variant->mech);
	if (!strstr(json, want)) {
		TH_LOG("%s is not restored lazily here: no %s events expected",
		       variant->mech, key);
		return;
	}
	EXPECT_LE(min, lm_json_num(json, key));
}

TEST_F_TIMEOUT(ev, fork, 300)
{
	char json[4096];

	run_event(_metadata, self, variant, "fork", json, sizeof(json));
	expect_event(_metadata, variant, json, "fork", 1);
}

TEST_F_TIMEOUT(ev, remap, 300)
{
	char json[4096];

	run_event(_metadata, self, variant, "remap", json, sizeof(json));
	expect_event(_metadata, variant, json, "remap", 1);
}

TEST_F_TIMEOUT(ev, remove, 300)
{
	char json[4096];

	run_event(_metadata, self, variant, "remove", json, sizeof(json));
	expect_event(_metadata, variant, json, "remove", 1);
}

TEST_F_TIMEOUT(ev, unmap, 300)
{
	char json[4096];

	run_event(_metadata, self, variant, "unmap", json, sizeof(json));
	expect_event(_metadata, variant, json, "unmap", 1);
}

TEST_HARNESS_MAIN
