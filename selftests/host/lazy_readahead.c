// SPDX-License-Identifier: GPL-2.0
/*
 * Read-ahead of fault requests, end to end: a lazy migration over
 * loopback (in a network namespace of the test's own) of ra_wl, whose
 * memory is touched right after resume sequentially, randomly, or
 * sequentially while a range ahead of the reader is dropped.  The push
 * is held to 1 MiB/s so that nearly every page arrives by demand.
 * Checks every page byte for byte (ra_wl), the page accounting, and:
 *  - sequential: the requests to the source (faults not answered with a
 *    zero page) are at most 1/32 of the pages with data: windows grow
 *    (a fixed 16-page fault-around needs 1/15, one page per fault 1/1);
 *  - random: data (a random fault gets the plain 16-page fault-around);
 *  - drop while reading: the dropped pages read zero (ra_wl), never the
 *    data of a read-ahead that was in flight.
 */
#include <limits.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "migtest.h"

#define MIB	"16"
#define ADDR	"127.0.0.1:7391"

FIXTURE(ra) {
	char ns[32], dir[64];
	char tool[PATH_MAX], wl[PATH_MAX];
	pid_t wl_pid, recv_pid, send_pid, restored;
};

FIXTURE_VARIANT(ra) {
	const char *order;
};

FIXTURE_VARIANT_ADD(ra, sequential) { .order = "seq" };
FIXTURE_VARIANT_ADD(ra, random) { .order = "rand" };
FIXTURE_VARIANT_ADD(ra, sequential_drop) { .order = "seq-drop" };

FIXTURE_SETUP(ra)
{
	char exe[PATH_MAX], *d;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = 0;
	d = dirname(exe);	/* build/selftests/host */
	strcpy(self->dir, "/tmp/lazymig-ra.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	/* copies: a `make` meanwhile relinks the originals */
	snprintf(self->tool, sizeof(self->tool), "%s/lazymig", self->dir);
	snprintf(self->wl, sizeof(self->wl), "%s/ra_wl", self->dir);
	ASSERT_EQ(0, lm_sh("cp %s/../../lazymig %s && cp %s/../workloads/ra_wl %s",
			   d, self->tool, d, self->wl));
	snprintf(self->ns, sizeof(self->ns), "lmra%d", getpid());
	if (lm_sh("ip netns add %s && ip -n %s link set lo up", self->ns,
		  self->ns)) {
		lm_sh("ip netns del %s 2>/dev/null; rm -rf %s", self->ns,
		      self->dir);
		SKIP(return, "cannot create a network namespace");
	}
}

FIXTURE_TEARDOWN(ra)
{
	lm_mig_reap(self->restored, &self->send_pid, &self->recv_pid,
		    &self->wl_pid);
	lm_sh("ip netns del %s 2>/dev/null; rm -rf %s", self->ns, self->dir);
}

TEST_F_TIMEOUT(ra, touch, 180)
{
	char *wl[] = { self->wl, MIB, lm_in_dir(self->dir, "state"),
		       (char *)variant->order, NULL };
	char *recv[] = { self->tool, "receive", "--listen", ADDR,
			 "--stats", lm_in_dir(self->dir, "r.json"),
			 "--pidfile", lm_in_dir(self->dir, "pid"),
			 "--stdio", "null", NULL };
	char pid[16], buf[4096], json[4096];
	char *send[] = { self->tool, "send", "-t", pid, "--to", ADDR,
			 "--push-rate", "1", NULL };
	long long faults, reqs, faulted, data;
	int st;

	self->recv_pid = lm_spawn_ns(self->dir, self->ns, "recv.log", 1, recv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", "listening", 10, buf,
				  sizeof(buf)));
	self->wl_pid = lm_spawn_ns(self->dir, self->ns, "wl.log", 0, wl);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state", "ready", 30, buf,
				  sizeof(buf)));
	snprintf(pid, sizeof(pid), "%d", self->wl_pid);
	self->send_pid = lm_spawn_ns(self->dir, self->ns, "send.log", 1, send);
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 60, buf,
				  sizeof(buf))) {
		lm_show_log(self->dir, "send.log");
		lm_show_log(self->dir, "recv.log");
	}
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	st = lm_wait_exit(&self->recv_pid, 120);
	EXPECT_EQ(0, st) {
		lm_show_log(self->dir, "recv.log");
	}
	st = lm_wait_exit(&self->send_pid, 30);
	EXPECT_EQ(0, st) {
		lm_show_log(self->dir, "send.log");
	}
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.result", "\n", 60, buf,
				  sizeof(buf)));
	TH_LOG("workload: %s", buf);
	ASSERT_EQ(0, strncmp(buf, "ok ", 3));
	data = atoll(strstr(buf, "data_pages=") + 11);
	ASSERT_EQ(0, lm_slurp(self->dir, "r.json", json, sizeof(json)));
	TH_LOG("stats: %s", json);
	EXPECT_EQ(lm_json_num(json, "pages_total"),
		  lm_json_num(json, "pages_faulted") +
		  lm_json_num(json, "pages_pushed") +
		  lm_json_num(json, "pages_zero") +
		  lm_json_num(json, "pages_dropped"));
	faults = lm_json_num(json, "faults");
	reqs = faults - lm_json_num(json, "zero_faults");
	faulted = lm_json_num(json, "pages_faulted");
	TH_LOG("%s: %lld requests for %lld pages with data, %lld pages came by request",
	       variant->order, reqs, data, faulted);
	ASSERT_LT(0, reqs);
	/* the push (1 MiB/s) brought few: nearly every page came by request */
	EXPECT_LE(data / 2, faulted);
	if (strcmp(variant->order, "rand"))
		EXPECT_LE(reqs * 32, data);
}

TEST_HARNESS_MAIN
