// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon with lazymig.ko: a lazy migration over loopback in the guest
 * of shm_wl, which holds a memfd and a tmpfs file by fd (and maps both),
 * with the background push throttled so that the pages it touches are
 * still pending.  The restored process preads a pending page, pwrites
 * part of one, punches whole and partial ranges, MADV_DONTNEEDs and
 * MADV_REMOVEs through its mapping, hands the fd to a child over a unix
 * socket (pread + a mapping of its own), truncates into a page and
 * regrows, and verifies every byte of both objects against its model
 * right after and again once the migration is over (shm_wl.c).
 *
 * The receiver runs in a mount namespace of its own with a fresh tmpfs
 * at the workload's directory: the restored tmpfs file is a new inode,
 * as on another machine, not the source's own file.
 *
 *   with_module     lazymig.ko loaded: both objects are restored lazily;
 *                   the stats name the module (and, on a kernel with
 *                   UFFD_FEATURE_EVENT_SHMEM_REMOVE, the native REMOVE)
 *                   and count their events; no shm object stays eager.
 *   without_module  lazymig.ko unloaded: the source keeps both objects
 *                   eager, the stats say why, the data is as right.
 *   mapped_only     lazymig.ko unloaded, only the memfd, its fd closed
 *                   (shm_wl nofd): lazy without the module; MADV_REMOVE
 *                   (zeros) and MADV_DONTNEED (data) on its mapping are
 *                   told apart by the native REMOVE where the kernel has
 *                   it (the stats name and count it), else as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lmdev_test.h"
#include "lmtest.h"
#include "migtest.h"

#define NPAGES		"2048"	/* 8 MiB per object */
#define PUSH_RATE	"1"	/* MiB/s: 16 MiB of shm take 16 s or more */
#define SLOW		600	/* seconds, under TCG */

FIXTURE(ml) {
	char dir[64], mnt[64];
	char tool[PATH_MAX], wl[PATH_MAX];
	char addr[64];
	pid_t wl_pid, recv_pid, send_pid, restored;
	int mounted, loaded_here, unloaded_here;
};

FIXTURE_VARIANT(ml) {
	int module;
	int nofd;
};

FIXTURE_VARIANT_ADD(ml, with_module) { .module = 1 };
FIXTURE_VARIANT_ADD(ml, without_module) { .module = 0 };
FIXTURE_VARIANT_ADD(ml, mapped_only) { .module = 0, .nofd = 1 };

static void paths(FIXTURE_DATA(ml) *self)
{
	char exe[PATH_MAX - 64], *d;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = 0;
	d = strrchr(exe, '/');
	if (d)
		*d = 0;		/* build/selftests/vm */
	snprintf(self->tool, sizeof(self->tool), "%s/../../lazymig", exe);
	snprintf(self->wl, sizeof(self->wl), "%s/../workloads/shm_wl", exe);
}

FIXTURE_SETUP(ml)
{
	const char *why = lmt_skip_reason();

	paths(self);
	if (access(self->tool, X_OK) || access(self->wl, X_OK))
		SKIP(return, "lazymig or shm_wl missing next to this test");
	if (variant->module) {
		if (why)
			SKIP(return, "%s", why);
		if (!lmt_module_loaded()) {
			ASSERT_EQ(0, lmt_module_load());
			self->loaded_here = 1;
		}
	} else if (lmt_module_loaded()) {
		if (lmt_module_unload())
			SKIP(return, "lazymig.ko is loaded and in use: cannot test without it");
		self->unloaded_here = 1;
	}
	snprintf(self->addr, sizeof(self->addr), "127.0.0.1:%d",
		 21000 + getpid() % 20000);
	strcpy(self->dir, "/tmp/lm-ml.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->mnt, sizeof(self->mnt), "%s.mnt", self->dir);
	ASSERT_EQ(0, mkdir(self->mnt, 0700));
	ASSERT_EQ(0, mount("lmsrc", self->mnt, "tmpfs", 0, "size=64m"));
	self->mounted = 1;
}

FIXTURE_TEARDOWN(ml)
{
	if (self->restored > 0)
		kill(self->restored, SIGKILL);
	lm_reap(&self->send_pid);
	lm_reap(&self->recv_pid);
	lm_reap(&self->wl_pid);
	if (self->mounted)
		umount2(self->mnt, MNT_DETACH);
	if (self->mnt[0])
		rmdir(self->mnt);
	if (self->dir[0])
		lm_sh("rm -rf %s", self->dir);
	if (self->loaded_here)
		lmt_module_unload();
	if (self->unloaded_here)
		lmt_module_load();
}

/* In a mount namespace of its own where a new tmpfs hides @mnt. */
static int hide_mnt(void *mnt)
{
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("lmdst", mnt, "tmpfs", 0, "size=64m")) {
		fprintf(stderr, "cannot set up the receiver's mount namespace: %s\n",
			strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Fork argv with stdout+stderr to dir/log; with @mnt, in a mount
 * namespace of its own where a new tmpfs hides the source's at @mnt.
 * @pdeath: die with the test (not the workload: a restored process gets
 * its parent-death signal back, and its parent is the receiver).
 */
static pid_t spawn(const char *dir, const char *log, const char *mnt,
		   int pdeath, char *const argv[])
{
	return lm_spawn(dir, log, pdeath, mnt ? hide_mnt : NULL, (void *)mnt,
			argv);
}

static void logs(struct __test_metadata *_metadata, FIXTURE_DATA(ml) *self)
{
	char buf[8192];

	if (!lm_slurp(self->dir, "send.log", buf, sizeof(buf)))
		TH_LOG("send.log: %s", buf);
	if (!lm_slurp(self->dir, "recv.log", buf, sizeof(buf)))
		TH_LOG("recv.log: %s", buf);
	if (!lm_slurp(self->dir, "wl.log", buf, sizeof(buf)))
		TH_LOG("wl.log: %s", buf);
}

/* Migrate shm_wl, run its two stages; *json gets the receiver's stats. */
static void migrate(struct __test_metadata *_metadata, FIXTURE_DATA(ml) *self,
		    int nofd, char *json, size_t len)
{
	char buf[4096], sjson[4096], pid[16];
	char *wl_argv[] = { self->wl, lm_in_dir(self->dir, "state"), self->mnt,
			    NPAGES, nofd ? "nofd" : NULL, NULL };
	char *recv_argv[] = {
		self->tool, "receive", "--listen", self->addr,
		"--stats", lm_in_dir(self->dir, "r.json"),
		"--pidfile", lm_in_dir(self->dir, "pid"), "--stdio", "null",
		NULL
	};
	char *send_argv[] = {
		self->tool, "send", "-t", pid, "--to", self->addr,
		"--stats", lm_in_dir(self->dir, "s.json"),
		"--push-rate", PUSH_RATE, NULL,
	};
	int st;

	self->wl_pid = spawn(self->dir, "wl.log", NULL, 0, wl_argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state", "ready", 120, buf,
				  sizeof(buf))) logs(_metadata, self);
	self->recv_pid = spawn(self->dir, "recv.log", self->mnt, 1, recv_argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", "listening", 120, buf,
				  sizeof(buf))) logs(_metadata, self);
	snprintf(pid, sizeof(pid), "%d", self->wl_pid);
	self->send_pid = spawn(self->dir, "send.log", NULL, 1, send_argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", SLOW, buf,
				  sizeof(buf))) logs(_metadata, self);
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.stage", "\n", SLOW, buf,
				  sizeof(buf))) logs(_metadata, self);
	TH_LOG("right after the operations: %s", buf);
	EXPECT_EQ(0, strncmp(buf, "ok", 2)) logs(_metadata, self);
	st = lm_wait_exit(&self->send_pid, SLOW);
	EXPECT_EQ(0, st) logs(_metadata, self);
	st = lm_wait_exit(&self->recv_pid, SLOW);
	EXPECT_EQ(0, st) logs(_metadata, self);
	st = lm_wait_exit(&self->wl_pid, 30);
	EXPECT_TRUE(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ASSERT_EQ(0, kill(self->restored, SIGUSR2));
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.result", "\n", SLOW, buf,
				  sizeof(buf)));
	TH_LOG("after the migration: %s", buf);
	EXPECT_EQ(0, strncmp(buf, "ok", 2));
	self->restored = 0;
	ASSERT_EQ(0, lm_slurp(self->dir, "r.json", json, len));
	ASSERT_EQ(0, lm_slurp(self->dir, "s.json", sjson, sizeof(sjson)));
	EXPECT_STREQ(json, sjson);
	TH_LOG("stats: %s", json);
	EXPECT_EQ(lm_json_num(json, "pages_total"),
		  lm_json_num(json, "pages_faulted") +
		  lm_json_num(json, "pages_pushed") +
		  lm_json_num(json, "pages_zero") +
		  lm_json_num(json, "pages_dropped"));
}

/* Does this kernel report shmem punch/truncate to a uffd (patched)? */
static int native_remove(void)
{
	uint64_t have = 0;
	int fd = lm_uffd_api(UFFD_FEATURE_EVENT_SHMEM_REMOVE, &have);

	if (fd >= 0)
		close(fd);
	return fd >= 0 && (have & UFFD_FEATURE_EVENT_SHMEM_REMOVE);
}

TEST_F_TIMEOUT(ml, shm_by_fd, 1800)
{
	char json[4096];
	const char *lazy_memfd = "\"memfd\":\"uffd-missing-shmem + lazymig.ko fd-access";
	const char *lazy_tmpfs = "\"tmpfs\":\"uffd-missing-shmem + lazymig.ko fd-access";
	int rm = native_remove();

	if (_metadata->skip)
		return;
	migrate(_metadata, self, variant->nofd, json, sizeof(json));
	if (variant->nofd) {
		EXPECT_NE(NULL, strstr(json, "\"memfd\":\"uffd-missing-shmem"));
		EXPECT_NE(NULL, strstr(json, "\"eager_shm\":[]"));
		EXPECT_EQ(0, lm_json_num(json, "lazymig_ko"));
		EXPECT_LE(1, lm_json_num(json, "remove"));
		/* the MADV_REMOVEd pages were pending: forgotten, not filled */
		EXPECT_LE(2, lm_json_num(json, "pages_dropped"));
		if (rm) {
			EXPECT_LE(1, lm_json_num(json, "shmem_remove"));
		} else {
			EXPECT_EQ(0, lm_json_num(json, "shmem_remove"));
		}
		return;
	}
	if (!variant->module) {
		EXPECT_NE(NULL, strstr(json, "\"memfd\":\"eager (see eager_shm)\""));
		EXPECT_NE(NULL, strstr(json, "\"tmpfs\":\"eager (see eager_shm)\""));
		EXPECT_NE(NULL, strstr(json, "fd-reachable, no lazymig.ko"));
		EXPECT_EQ(0, lm_json_num(json, "lazymig_ko"));
		EXPECT_EQ(NULL, strstr(json, "lazymig.ko fd-access"));
		return;
	}
	EXPECT_NE(NULL, strstr(json, lazy_memfd));
	EXPECT_NE(NULL, strstr(json, lazy_tmpfs));
	EXPECT_NE(NULL, strstr(json, "\"eager_shm\":[]"));
	/*
	 * Per object: pread, pwrite, two punches, MADV_REMOVE's punch, the
	 * child's pread and fault, truncate, then the whole-object pread;
	 * at least half of them on pages still pending.
	 */
	EXPECT_LE(8, lm_json_num(json, "lazymig_ko"));
	/* whole punched and MADV_REMOVEd pages, and those past the cut */
	EXPECT_LE(8, lm_json_num(json, "pages_dropped"));
	if (rm) {
		EXPECT_NE(NULL, strstr(json, "uffd-native-shmem-remove"));
		/* punches, MADV_REMOVE and truncate, of both objects */
		EXPECT_LE(2, lm_json_num(json, "shmem_remove"));
	} else {
		EXPECT_EQ(NULL, strstr(json, "uffd-native-shmem-remove"));
		EXPECT_EQ(0, lm_json_num(json, "shmem_remove"));
	}
}

TEST_HARNESS_MAIN
