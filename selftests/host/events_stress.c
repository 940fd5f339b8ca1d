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

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

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
			if (!sh("cp %s %s.tmp && mv %s.tmp %s && test -x %s",
				bins[i], to, to, to, to) &&
			    (i || !sh("%s --help >/dev/null 2>&1", to)))
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
		sh("rm -rf %s", self->dir);	/* no teardown after a failed setup */
		ASSERT_TRUE(0) TH_LOG("cannot copy the binaries to test");
	}
	if (sh("ip netns add %s && ip netns add %s", self->src, self->dst)) {
		sh("ip netns del %s 2>/dev/null; rm -rf %s", self->src, self->dir);
		SKIP(return, "cannot create network namespaces");
	}
	if (sh("ip link add lmv%da type veth peer name lmv%db && "
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
		sh("ip netns del %s; ip netns del %s; rm -rf %s", self->src,
		   self->dst, self->dir);
		ASSERT_TRUE(0) TH_LOG("cannot set up the veth pair");
	}
}

static void reap(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

static int slurp(FIXTURE_DATA(stress) *self, const char *name, char *buf,
		 size_t len);

/* wl_mem lists the files it made (some outside dir, in /dev/shm). */
static void remove_wl_files(FIXTURE_DATA(stress) *self)
{
	char buf[8192], *line, *save;

	if (slurp(self, "state", buf, sizeof(buf)))
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
	reap(&self->send_pid);
	reap(&self->recv_pid);
	reap(&self->wl_pid);
	if (self->restored > 0)
		kill(self->restored, SIGKILL);
	sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null",
	   self->src, self->dst);
	sh("rm -rf %s", self->dir);
}

/* Run argv in network namespace ns, output to dir/log. */
static pid_t spawn(FIXTURE_DATA(stress) *self, const char *ns, const char *log,
		   int pdeath, char *const argv[])
{
	char path[PATH_MAX];
	pid_t pid = fork();
	int fd;

	if (pid)
		return pid;
	if (pdeath)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		_exit(126);
	snprintf(path, sizeof(path), "%s/%s", self->dir, log);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	dup2(fd, 1);
	dup2(fd, 2);
	fd = open("/dev/null", O_RDONLY);
	dup2(fd, 0);
	execv(argv[0], argv);
	_exit(127);
}

/* Exit status of pid within secs, or -1 on timeout (pid then left). */
static int wait_exit(pid_t *pid, int secs)
{
	int st, i;

	for (i = 0; i < secs * 20; i++) {
		pid_t r = waitpid(*pid, &st, WNOHANG);

		if (r == *pid) {
			*pid = 0;
			return st;
		}
		usleep(50 * 1000);
	}
	return -1;
}

static int slurp(FIXTURE_DATA(stress) *self, const char *name, char *buf,
		 size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", self->dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n > 0 ? 0 : -1;
}

/* Wait until dir/name exists, non-empty, and contains what (if given). */
static int wait_file(FIXTURE_DATA(stress) *self, const char *name,
		     const char *what, int secs, char *buf, size_t len)
{
	int i;

	for (i = 0; i < secs * 20; i++) {
		if (!slurp(self, name, buf, len) && (!what || strstr(buf, what)))
			return 0;
		usleep(50 * 1000);
	}
	return -1;
}

static long long json_num(const char *json, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(json, k);
	return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

static void write_token(FIXTURE_DATA(stress) *self, const char *name,
			const char *tok)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", self->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, tok, strlen(tok)) < 0)
			perror("token");
		close(fd);
	}
}

static char *in_dir(FIXTURE_DATA(stress) *self, const char *name)
{
	static char bufs[8][PATH_MAX];
	static int n;
	char *b = bufs[n++ % 8];

	snprintf(b, PATH_MAX, "%s/%s", self->dir, name);
	return b;
}

static void logs(struct __test_metadata *_metadata,
		 FIXTURE_DATA(stress) *self)
{
	char buf[8192];

	slurp(self, "send.log", buf, sizeof(buf));
	TH_LOG("send.log: %s", buf);
	slurp(self, "recv.log", buf, sizeof(buf));
	TH_LOG("recv.log: %s", buf);
}

TEST_F_TIMEOUT(stress, forks_mremaps_madvises_8_threads, 600)
{
	const char *mib = getenv("LAZYMIG_STRESS_MIB") ?: DEFAULT_MIB;
	char buf[4096], json[4096], pid[16];
	char *wl_argv[] = { self->wl, (char *)mib, in_dir(self, "state"),
			    NULL };
	char *recv_argv[] = {
		self->tool, "receive", "--listen", self->addr,
		"--stats", in_dir(self, "r.json"),
		"--pidfile", in_dir(self, "pid"), "--stdio", "null",
		"--token-file", in_dir(self, "token"), NULL
	};
	char *send_argv[] = {
		self->tool, "send", "-t", pid, "--to", self->addr,
		"--stats", in_dir(self, "s.json"), "--push-rate", "32",
		"--token-file", in_dir(self, "token"), NULL,
	};
	int st;

	write_token(self, "token", "lazymig-test-token-0123456789abcdef");
	self->recv_pid = spawn(self, self->dst, "recv.log", 1, recv_argv);
	ASSERT_EQ(0, wait_file(self, "recv.log", "listening", 10, buf,
			       sizeof(buf)));
	self->wl_pid = spawn(self, self->src, "wl.log", 0, wl_argv);
	ASSERT_EQ(0, wait_file(self, "state", "ready", 120, buf, sizeof(buf)));
	snprintf(pid, sizeof(pid), "%d", self->wl_pid);
	self->send_pid = spawn(self, self->src, "send.log", 1, send_argv);
	ASSERT_EQ(0, wait_file(self, "pid", "\n", 120, buf, sizeof(buf)))
		logs(_metadata, self);
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	st = wait_exit(&self->send_pid, 300);
	EXPECT_EQ(0, st) logs(_metadata, self);
	st = wait_exit(&self->recv_pid, 300);
	EXPECT_EQ(0, st) logs(_metadata, self);
	ASSERT_EQ(0, wait_file(self, "state.result", "\n", 300, buf,
			       sizeof(buf)));
	TH_LOG("%s MiB: %s", mib, buf);
	EXPECT_EQ(0, strncmp(buf, "ok forks=32 ", 12));
	self->restored = 0;
	ASSERT_EQ(0, slurp(self, "r.json", json, sizeof(json)));
	TH_LOG("stats: %s", json);
	EXPECT_LE(1, json_num(json, "fork"));
	EXPECT_LE(1, json_num(json, "remap"));
	EXPECT_LE(1, json_num(json, "remove"));
	EXPECT_EQ(json_num(json, "pages_total"),
		  json_num(json, "pages_faulted") + json_num(json, "pages_pushed") +
		  json_num(json, "pages_zero") + json_num(json, "pages_dropped"));
}

TEST_HARNESS_MAIN
