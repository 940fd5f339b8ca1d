// SPDX-License-Identifier: GPL-2.0
/*
 * Non-cooperative events during a lazy migration, one test body per
 * event (fork, remap, remove, unmap), each run over every memory kind
 * (FIXTURE_VARIANT): events_wl sets the kind up, the migration runs with
 * the background push throttled (so the event hits pages still pending),
 * the restored process performs the event and verifies every byte, then
 * verifies again once the migration is over (nothing refilled behind its
 * back).  hugetlb variants reserve huge pages on top of what the system
 * has (vm.nr_hugepages, restored after) and SKIP when they cannot.  Where
 * the stats say a kind was restored lazily (mechanism_by_kind:
 * uffd-missing*), its event must have been seen; eager kinds
 * (fd-reachable memfd and tmpfs without lazymig.ko) must still come out
 * byte for byte right.  memfd_closed maps a memfd whose fd is closed: no
 * fd reaches it; hugetlb_memfd likewise with an MFD_HUGETLB memfd.  The
 * "lazy" body performs no event: it checks that a lazy kind's data
 * really came after resume (hugetlb: whole huge pages on faults and
 * pushes).
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
#define HUGE_BYTES	(2LL << 20)
/*
 * Source and destination copies, and the pages each of 17 forked
 * children of a MAP_PRIVATE mapping allocates when it reads a page its
 * parent never touched, or that was still lazy when it forked (each
 * child gets its own copy then; a short pool fails the migration):
 * 320 (640 MiB).
 */
#define HUGE_NEED	(20 * UNITS_HUGE)
#define NR_HUGE		"/proc/sys/vm/nr_hugepages"

FIXTURE(ev) {
	struct lm_net net;
	char *src, *dst, *dir;	/* in net */
	char *tool, *wl;	/* net's copies */
	char addr[64];
	pid_t wl_pid, recv_pid, send_pid, restored;
	long huge_added;	/* what we added to nr_hugepages, or -1 */
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
FIXTURE_VARIANT_ADD(ev, hugetlb_memfd) {
	.kind = "huge_memfd", .huge = 1, .mech = "hugetlb-shared"
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

/* "HugePages_KEY:" of /proc/meminfo (the default 2 MiB size), or -1. */
static long huge_info(const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "HugePages_", 10) &&
		    !strncmp(line + 10, key, n) && line[10 + n] == ':')
			v = atol(line + 11 + n);
	if (f)
		fclose(f);
	return v;
}

static void restore_huge(FIXTURE_DATA(ev) *self);

/*
 * Huge pages in the pool may all be reserved by others (even surplus
 * ones: Total 65, Free 65, Rsvd 65 is 0 usable): raise the pool by what
 * we need on top of its current total, then check that Free - Rsvd
 * covers it.  A pool that shrinks late (pages of a process on its way
 * out) is waited for a little.
 */
static int reserve_huge(FIXTURE_DATA(ev) *self, char *why, size_t len)
{
	long total = huge_info("Total"), old = read_long(NR_HUGE);
	long usable = -1;
	int i;

	if (old < 0 || total < 0) {
		snprintf(why, len, "no hugetlb pool here (%s)", NR_HUGE);
		return -1;
	}
	if (write_long(NR_HUGE, total + HUGE_NEED)) {
		snprintf(why, len, "cannot write %s: %s", NR_HUGE,
			 strerror(errno));
		return -1;
	}
	self->huge_added = total + HUGE_NEED - old;
	for (i = 0; i < 50; i++) {
		usable = huge_info("Free") - huge_info("Rsvd");
		if (usable >= HUGE_NEED)
			return 0;
		usleep(100 * 1000);
	}
	snprintf(why, len,
		 "only %ld of %d huge pages of 2 MiB usable after raising vm.nr_hugepages to %ld (Total %ld, Free %ld, Rsvd %ld)",
		 usable, HUGE_NEED, total + HUGE_NEED, huge_info("Total"),
		 huge_info("Free"), huge_info("Rsvd"));
	restore_huge(self);
	return -1;
}

/*
 * Take back what we added, relative to the pool as it is now: another
 * test raising it meanwhile keeps its own pages.  Pages still held by a
 * process on its way out shrink later: retry.
 */
static void restore_huge(FIXTURE_DATA(ev) *self)
{
	long cur;
	int i;

	for (i = 0; self->huge_added > 0 && i < 50; i++) {
		cur = read_long(NR_HUGE);
		if (cur >= 0 && !write_long(NR_HUGE, cur > self->huge_added ?
					    cur - self->huge_added : 0))
			break;
		usleep(100 * 1000);
	}
	self->huge_added = -1;
}

FIXTURE_SETUP(ev)
{
	static const char *const bins[] = {
		"lazymig",
		"selftests/workloads/events_wl"
	};
	char why[256];
	int r;

	self->huge_added = -1;
	if (variant->huge && reserve_huge(self, why, sizeof(why)))
		SKIP(return, "%s", why);
	r = lm_net_setup(&self->net, "ev", 78, bins, 2);
	self->src = self->net.src;
	self->dst = self->net.dst;
	self->dir = self->net.dir;
	self->tool = self->net.bin[0];
	self->wl = self->net.bin[1];
	if (r)
		restore_huge(self);
	LM_NET_SETUP_CHECK(r);
	snprintf(self->addr, sizeof(self->addr), "%s", self->net.addr);
}

FIXTURE_TEARDOWN(ev)
{
	lm_mig_reap(self->restored, &self->send_pid, &self->recv_pid,
		    &self->wl_pid);
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
		lm_show_log(self->dir, "wl.log");
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

/*
 * No event: a lazy kind's data comes after resume.  hugetlb must be lazy
 * (uffd-missing-hugetlb), its huge pages installed whole (each counts as
 * one page in the stats).  Fewer bytes than a quarter of the region's
 * data move before resume (eager, all of it would).
 */
TEST_F_TIMEOUT(ev, lazy, 300)
{
	long long unit = variant->huge ? HUGE_BYTES : 4096;
	long long units = variant->huge ? UNITS_HUGE : UNITS_4K;
	long long data = units - units / 8;	/* i % 8 == 3: zeros */
	char json[4096], want[96];

	run_event(_metadata, self, variant, "none", json, sizeof(json));
	snprintf(want, sizeof(want), "\"%s\":\"uffd-missing%s",
		 variant->mech, variant->huge ? "-hugetlb\"" : "");
	if (!variant->huge && !strstr(json, want))
		SKIP(return, "%s is restored eagerly here (see eager_shm)",
		     variant->mech);
	ASSERT_NE(NULL, strstr(json, want)) TH_LOG("want %s", want);
	EXPECT_GT(data * unit / 4, lm_json_num(json, "bytes_before_resume"));
	EXPECT_LE(1, lm_json_num(json, "pages_faulted"));
	EXPECT_LE(data, lm_json_num(json, "pages_faulted") +
		  lm_json_num(json, "pages_pushed") -
		  lm_json_num(json, "pages_eager"));
}

TEST_HARNESS_MAIN
