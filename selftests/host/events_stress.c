// SPDX-License-Identifier: GPL-2.0
/*
 * Stress: during a lazy migration (push throttled), 8 threads of the
 * restored process fork 32 children in all, mremap and MADV_DONTNEED in a
 * loop, every child and thread verifying its memory against its model
 * (events_stress).  512 MiB, the push at 32 MiB/s so that the events
 * meet pending pages (about 10 s here); LAZYMIG_STRESS_MIB=N for another
 * size.  Network namespaces as in lazy_migrate.c.
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

#define SRC_IP	"10.79.0.1"
#define DST_IP	"10.79.0.2"
#define SRC_IP6	"fd79::1"
#define DST_IP6	"fd79::2"
#define DEFAULT_MIB	"512"

FIXTURE(stress) {
	char src[32], dst[32];
	char dir[64];
	char tool[PATH_MAX], wl[PATH_MAX];
	char addr[64];
	pid_t wl_pid, recv_pid, send_pid, restored;
};

static void paths(FIXTURE_DATA(stress) *self)
{
	char exe[PATH_MAX], *d;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = 0;
	d = dirname(exe);	/* build/selftests/host */
	snprintf(self->tool, sizeof(self->tool), "%s/../../lazymig", d);
	snprintf(self->wl, sizeof(self->wl), "%s/../workloads/events_stress", d);
}

/*
 * Run copies: a `make` in the same tree relinks build/lazymig while a
 * test runs, and an exec in that window fails (seen as a sender that
 * exits 127 with nothing in its log).  Copy until the copy runs.
 */
static int snapshot_binaries(FIXTURE_DATA(stress) *self)
{
	char *bins[] = { self->tool, self->wl };
	const char *names[] = { "lazymig", "events_stress" };
	char to[PATH_MAX];
	size_t i;
	int try;

	for (i = 0; i < 2; i++) {
		snprintf(to, sizeof(to), "%s/%s", self->dir, names[i]);
		for (try = 0; try < 20; try++) {
			if (!lm_sh("cp %s %s.tmp && mv %s.tmp %s && test -x %s",
				bins[i], to, to, to, to) &&
			    (i || !lm_sh("%s --help >/dev/null 2>&1", to)))
				break;
			usleep(500 * 1000);
		}
		if (try == 20)
			return -1;
		snprintf(bins[i], PATH_MAX, "%s", to);
	}
	return 0;
}

FIXTURE_SETUP(stress)
{
	int me = getpid();

	paths(self);
	snprintf(self->src, sizeof(self->src), "lmsrc%d", me);
	snprintf(self->dst, sizeof(self->dst), "lmdst%d", me);
	snprintf(self->addr, sizeof(self->addr), "%s:%d", DST_IP,
		 7000 + me % 20000);
	strcpy(self->dir, "/tmp/lazymig-stress.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	if (snapshot_binaries(self)) {
		lm_sh("rm -rf %s", self->dir);	/* no teardown after a failed setup */
		ASSERT_TRUE(0) TH_LOG("cannot copy the binaries to test");
	}
	if (lm_sh("ip netns add %s && ip netns add %s", self->src, self->dst)) {
		lm_sh("ip netns del %s 2>/dev/null; rm -rf %s", self->src, self->dir);
		SKIP(return, "cannot create network namespaces");
	}
	if (lm_sh("ip link add lmv%da type veth peer name lmv%db && "
			"ip link set lmv%da netns %s && ip link set lmv%db netns %s && "
			"ip -n %s addr add " SRC_IP "/24 dev lmv%da && "
			"ip -n %s addr add " DST_IP "/24 dev lmv%db && "
			"ip -n %s link set lmv%da up && ip -n %s link set lmv%db up && "
			"ip -n %s link set lo up && ip -n %s link set lo up && "
			"ip -n %s addr add " SRC_IP6 "/64 dev lmv%da nodad && "
			"ip -n %s addr add " DST_IP6 "/64 dev lmv%db nodad",
			me, me, me, self->src, me, self->dst, self->src, me,
			self->dst, me, self->src, me, self->dst, me,
			self->src, self->dst, self->src, me, self->dst, me)) {
		lm_sh("ip netns del %s; ip netns del %s; rm -rf %s", self->src,
		   self->dst, self->dir);
		ASSERT_TRUE(0) TH_LOG("cannot set up the veth pair");
	}
}

/* wl_mem lists the files it made (some outside dir, in /dev/shm). */
static void remove_wl_files(FIXTURE_DATA(stress) *self)
{
	char buf[8192], *line, *save;

	if (lm_slurp(self->dir, "state", buf, sizeof(buf)))
		return;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[256], path[PATH_MAX];

		if (sscanf(line, "file %255s %4095s", name, path) == 2)
			unlink(path);
	}
}

FIXTURE_TEARDOWN(stress)
{
	remove_wl_files(self);
	if (self->restored > 0)
		kill(self->restored, SIGKILL);
	lm_reap(&self->send_pid);
	lm_reap(&self->recv_pid);
	lm_reap(&self->wl_pid);
	if (self->restored > 0)
		kill(self->restored, SIGKILL);
	lm_sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null",
	   self->src, self->dst);
	lm_sh("rm -rf %s", self->dir);
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

TEST_F_TIMEOUT(stress, forks_mremaps_madvises_8_threads, 600)
{
	const char *mib = getenv("LAZYMIG_STRESS_MIB") ?: DEFAULT_MIB;
	char buf[4096], json[4096], pid[16];
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
		"--stats", lm_in_dir(self->dir, "s.json"), "--push-rate", "32",
		"--token-file", lm_in_dir(self->dir, "token"), NULL,
	};
	int st;

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
	EXPECT_EQ(0, strncmp(buf, "ok forks=32 ", 12));
	self->restored = 0;
	ASSERT_EQ(0, lm_slurp(self->dir, "r.json", json, sizeof(json)));
	TH_LOG("stats: %s", json);
	EXPECT_LE(1, lm_json_num(json, "fork"));
	EXPECT_LE(1, lm_json_num(json, "remap"));
	EXPECT_LE(1, lm_json_num(json, "remove"));
	EXPECT_EQ(lm_json_num(json, "pages_total"),
		  lm_json_num(json, "pages_faulted") + lm_json_num(json, "pages_pushed") +
		  lm_json_num(json, "pages_zero") + lm_json_num(json, "pages_dropped"));
}

TEST_HARNESS_MAIN
