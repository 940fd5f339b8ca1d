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

#define SRC_IP	"10.77.0.1"
#define DST_IP	"10.77.0.2"
#define SRC_IP6	"fd77::1"
#define DST_IP6	"fd77::2"

FIXTURE(mig) {
	char src[32], dst[32];
	char dir[64];
	char tool[PATH_MAX], wl[PATH_MAX], wl_mem[PATH_MAX];
	char addr[64];
	pid_t wl_pid, recv_pid, send_pid, restored;
	char wl_threads[8];	/* lazy_wl's verifying threads */
	int wl_events;		/* lazy_wl drops, moves, unmaps, forks */
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

static void paths(FIXTURE_DATA(mig) *self)
{
	char exe[PATH_MAX], *d;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = 0;
	d = dirname(exe);	/* build/selftests/host */
	snprintf(self->tool, sizeof(self->tool), "%s/../../lazymig", d);
	snprintf(self->wl, sizeof(self->wl), "%s/../workloads/lazy_wl", d);
	snprintf(self->wl_mem, sizeof(self->wl_mem), "%s/../workloads/wl_mem",
		 d);
}

/*
 * Run copies: a `make` in the same tree relinks build/lazymig while a
 * test runs, and an exec in that window fails (seen as a sender that
 * exits 127 with nothing in its log).  Copy until the copy runs.
 */
static int snapshot_binaries(FIXTURE_DATA(mig) *self)
{
	char *bins[] = { self->tool, self->wl, self->wl_mem };
	const char *names[] = { "lazymig", "lazy_wl", "wl_mem" };
	char to[PATH_MAX];
	size_t i;
	int try;

	for (i = 0; i < 3; i++) {
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

FIXTURE_SETUP(mig)
{
	int me = getpid();

	paths(self);
	strcpy(self->wl_threads, "1");
	snprintf(self->src, sizeof(self->src), "lmsrc%d", me);
	snprintf(self->dst, sizeof(self->dst), "lmdst%d", me);
	snprintf(self->addr, sizeof(self->addr), "%s:%d", DST_IP,
		 7000 + me % 20000);
	strcpy(self->dir, "/tmp/lazymig-mig.XXXXXX");
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

static int slurp(FIXTURE_DATA(mig) *self, const char *name, char *buf,
		 size_t len);

/* wl_mem lists the files it made (some outside dir, in /dev/shm). */
static void remove_wl_files(FIXTURE_DATA(mig) *self)
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

FIXTURE_TEARDOWN(mig)
{
	remove_wl_files(self);
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
static pid_t spawn(FIXTURE_DATA(mig) *self, const char *ns, const char *log,
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

static int slurp(FIXTURE_DATA(mig) *self, const char *name, char *buf,
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
static int wait_file(FIXTURE_DATA(mig) *self, const char *name,
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

static void write_token(FIXTURE_DATA(mig) *self, const char *name,
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

static char *in_dir(FIXTURE_DATA(mig) *self, const char *name)
{
	static char bufs[8][PATH_MAX];
	static int n;
	char *b = bufs[n++ % 8];

	snprintf(b, PATH_MAX, "%s/%s", self->dir, name);
	return b;
}

static void start_workload(struct __test_metadata *_metadata,
			   FIXTURE_DATA(mig) *self, const char *ns,
			   const char *mib)
{
	char *argv[] = { self->wl, (char *)mib, in_dir(self, "state"),
			 self->wl_threads, self->wl_events ? "events" : NULL,
			 NULL };
	char *argv_mem[] = { self->wl_mem, "--all", "--pages", "64",
			     in_dir(self, "state"), NULL };
	char buf[256];

	if (!strcmp(mib, "wl_mem")) {
		self->wl_pid = spawn(self, ns, "wl.log", 0, argv_mem);
		ASSERT_EQ(0, wait_file(self, "state", "ready", 30, buf,
				       sizeof(buf)));
		return;
	}
	self->wl_pid = spawn(self, ns, "wl.log", 0, argv);
	ASSERT_EQ(0, wait_file(self, "state", "ready", 30, buf, sizeof(buf)));
}

static void start_receive(struct __test_metadata *_metadata,
			  FIXTURE_DATA(mig) *self, const char *ns,
			  const char *listen, const char *token)
{
	char buf[4096];
	char *argv[] = {
		self->tool, "receive", "--listen", (char *)listen,
		"--stats", in_dir(self, "r.json"),
		"--pidfile", in_dir(self, "pid"), "--stdio", "null",
		token ? "--token-file" : NULL, token ? in_dir(self, token) : NULL,
		NULL
	};

	self->recv_pid = spawn(self, ns, "recv.log", 1, argv);
	ASSERT_EQ(0, wait_file(self, "recv.log", "listening", 10, buf,
			       sizeof(buf)));
}

static void start_send(FIXTURE_DATA(mig) *self, const char *ns,
		       const char *to, const char *token, const char *extra)
{
	char pid[16];
	char *argv[] = {
		self->tool, "send", "-t", pid, "--to", (char *)to,
		"--stats", in_dir(self, "s.json"), "--push-rate", "64",
		(char *)extra,
		NULL, NULL, NULL,
	};
	int n = extra ? 11 : 10;

	snprintf(pid, sizeof(pid), "%d", self->wl_pid);
	if (token) {
		argv[n++] = "--token-file";
		argv[n++] = in_dir(self, token);
	}
	argv[n] = NULL;
	self->send_pid = spawn(self, ns, "send.log", 1, argv);
}

/* Migrate, then let the restored workload verify itself.  Returns stats. */
static void migrate_ok(struct __test_metadata *_metadata,
		       FIXTURE_DATA(mig) *self, const char *mib,
		       const char *extra, char *json, size_t len)
{
	char buf[4096], sjson[4096];
	int st;

	write_token(self, "token", "lazymig-test-token-0123456789abcdef");
	start_receive(_metadata, self, self->dst, self->addr, "token");
	start_workload(_metadata, self, self->src, mib);
	start_send(self, self->src, self->addr, "token", extra);
	ASSERT_EQ(0, wait_file(self, "pid", "\n", 60, buf, sizeof(buf))) {
		slurp(self, "send.log", buf, sizeof(buf));
		TH_LOG("send.log: %s", buf);
		slurp(self, "recv.log", buf, sizeof(buf));
		TH_LOG("recv.log: %s", buf);
	}
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	/* right after resume: verify all memory, in random order */
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	st = wait_exit(&self->send_pid, 120);
	EXPECT_EQ(0, st) {
		slurp(self, "send.log", buf, sizeof(buf));
		TH_LOG("send.log: %s", buf);
	}
	st = wait_exit(&self->recv_pid, 120);
	EXPECT_EQ(0, st) {
		slurp(self, "recv.log", buf, sizeof(buf));
		TH_LOG("recv.log: %s", buf);
	}
	/* the source was killed once every page was in */
	st = wait_exit(&self->wl_pid, 10);
	EXPECT_TRUE(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ASSERT_EQ(0, wait_file(self, "state.result", "\n", 120, buf,
			       sizeof(buf)));
	TH_LOG("workload: %s", buf);
	ASSERT_TRUE(!strncmp(buf, "ok", 2) && (!buf[2] || buf[2] == ' ' ||
					       buf[2] == '\n'));
	ASSERT_EQ(0, slurp(self, "r.json", json, len));
	ASSERT_EQ(0, slurp(self, "s.json", sjson, sizeof(sjson)));
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
		EXPECT_LE(0, json_num(json, keys[i]));
	EXPECT_NE(NULL, strstr(json, "\"events\":{\"pagefault\":"));
	EXPECT_NE(NULL, strstr(json, "\"mechanism\":\""));
	EXPECT_EQ(json_num(json, "pages_total"),
		  json_num(json, "pages_faulted") + json_num(json, "pages_pushed") +
		  json_num(json, "pages_zero") + json_num(json, "pages_dropped"));
	if (!dropped)
		EXPECT_EQ(0, json_num(json, "pages_dropped"));
}

TEST_F_TIMEOUT(mig, lazy_256m, 300)
{
	char json[4096], res[256];
	long long first;

	migrate_ok(_metadata, self, "256", NULL, json, sizeof(json));
	check_fields(_metadata, json);
	EXPECT_NE(NULL, strstr(json, "\"mode\":\"lazy\""));
	EXPECT_LE(json_num(json, "bytes_before_resume"), 256 * 1024);
	EXPECT_LT(0, json_num(json, "pages_faulted"));
	EXPECT_LT(0, json_num(json, "pages_pushed"));
	EXPECT_LT(0, json_num(json, "downtime_ns"));
	EXPECT_LE(json_num(json, "downtime_ns"), json_num(json, "total_ns"));
	/* it ran before its memory had all arrived */
	ASSERT_EQ(0, slurp(self, "state.result", res, sizeof(res)));
	first = atoll(strstr(res, "first_touch_ns=") + 15);
	EXPECT_LT(first, json_num(json, "last_install_realtime_ns"));
	EXPECT_LT(json_num(json, "resume_realtime_ns"), first);
}

TEST_F_TIMEOUT(mig, eager_32m, 180)
{
	char json[4096];

	migrate_ok(_metadata, self, "32", "--eager", json, sizeof(json));
	check_fields(_metadata, json);
	EXPECT_NE(NULL, strstr(json, "\"mode\":\"eager\""));
	EXPECT_EQ(0, json_num(json, "pages_faulted"));
	EXPECT_LT(32LL << 20 >> 1, json_num(json, "bytes_before_resume"));
}

/* 4 threads verify every page at once: concurrent faults on each page. */
TEST_F_TIMEOUT(mig, lazy_4_threads_64m, 180)
{
	char json[4096];

	strcpy(self->wl_threads, "4");
	migrate_ok(_metadata, self, "64", NULL, json, sizeof(json));
	check_fields(_metadata, json);
	EXPECT_LT(0, json_num(json, "pages_faulted"));
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
	EXPECT_EQ(1, json_num(json, "fork"));
	EXPECT_EQ(1, json_num(json, "remap"));
	EXPECT_LE(1, json_num(json, "remove"));
	EXPECT_LE(1, json_num(json, "unmap"));
	EXPECT_LT(0, json_num(json, "pages_dropped"));
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

/* The source must be running, unfrozen and whole: it verifies itself. */
static void source_untouched(struct __test_metadata *_metadata,
			     FIXTURE_DATA(mig) *self)
{
	char buf[256];
	int st;

	ASSERT_EQ(0, kill(self->wl_pid, SIGUSR1));
	st = wait_exit(&self->wl_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ASSERT_EQ(0, wait_file(self, "state.result", "\n", 10, buf,
			       sizeof(buf)));
	EXPECT_EQ(0, strncmp(buf, "ok ", 3));
}

static void refused(struct __test_metadata *_metadata,
		    FIXTURE_DATA(mig) *self, const char *recv_says)
{
	char buf[4096];
	int st;

	st = wait_exit(&self->send_pid, 30);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0);
	slurp(self, "send.log", buf, sizeof(buf));
	TH_LOG("send.log: %s", buf);
	EXPECT_NE(NULL, strstr(buf, "refused"));
	slurp(self, "recv.log", buf, sizeof(buf));
	TH_LOG("recv.log: %s", buf);
	EXPECT_NE(NULL, strstr(buf, recv_says));
	EXPECT_EQ(NULL, strstr(buf, "restoring"));
	EXPECT_NE(0, slurp(self, "pid", buf, sizeof(buf)));
	/* receive keeps waiting for the real sender */
	EXPECT_EQ(0, waitpid(self->recv_pid, NULL, WNOHANG));
	source_untouched(_metadata, self);
}

TEST_F_TIMEOUT(mig, wrong_token, 120)
{
	write_token(self, "token", "lazymig-test-token-0123456789abcdef");
	write_token(self, "other", "lazymig-test-token-0123456789abcdeX");
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
	ASSERT_EQ(0, wait_file(self, "pid", "\n", 60, buf, sizeof(buf)));
	self->restored = atoi(buf);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	EXPECT_EQ(0, wait_exit(&self->send_pid, 120));
	EXPECT_EQ(0, wait_exit(&self->recv_pid, 120));
	ASSERT_EQ(0, wait_file(self, "state.result", "\n", 60, buf,
			       sizeof(buf)));
	EXPECT_EQ(0, strncmp(buf, "ok ", 3));
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	p = strstr(buf, "State:\t");
	return p ? p[7] : 0;
}

/* Restore fails before resume: the source runs on, untouched. */
TEST_F_TIMEOUT(mig, fail_before_resume, 120)
{
	char buf[4096];
	int st;

	write_token(self, "token", "lazymig-test-token-0123456789abcdef");
	setenv("LAZYMIG_FAULT", "receive-before-resume", 1);
	start_receive(_metadata, self, self->dst, self->addr, "token");
	unsetenv("LAZYMIG_FAULT");
	start_workload(_metadata, self, self->src, "16");
	start_send(self, self->src, self->addr, "token", NULL);
	st = wait_exit(&self->send_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	st = wait_exit(&self->recv_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	slurp(self, "send.log", buf, sizeof(buf));
	TH_LOG("send.log: %s", buf);
	EXPECT_NE(NULL, strstr(buf, "resumed here untouched"));
	EXPECT_NE(0, slurp(self, "pid", buf, sizeof(buf)));
	source_untouched(_metadata, self);
}

/*
 * The source goes away after the destination resumed: the destination
 * kills its half-filled process, the source is left stopped (not run
 * twice, not lost).
 */
TEST_F_TIMEOUT(mig, fail_after_resume, 120)
{
	char buf[4096];
	int st, i;

	write_token(self, "token", "lazymig-test-token-0123456789abcdef");
	setenv("LAZYMIG_FAULT", "receive-after-resume", 1);
	start_receive(_metadata, self, self->dst, self->addr, "token");
	unsetenv("LAZYMIG_FAULT");
	start_workload(_metadata, self, self->src, "64");
	start_send(self, self->src, self->addr, "token", NULL);
	ASSERT_EQ(0, wait_file(self, "pid", "\n", 60, buf, sizeof(buf)));
	self->restored = atoi(buf);
	st = wait_exit(&self->recv_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	st = wait_exit(&self->send_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	slurp(self, "recv.log", buf, sizeof(buf));
	TH_LOG("recv.log: %s", buf);
	EXPECT_NE(NULL, strstr(buf, "killed"));
	slurp(self, "send.log", buf, sizeof(buf));
	TH_LOG("send.log: %s", buf);
	EXPECT_NE(NULL, strstr(buf, "left stopped"));
	for (i = 0; i < 100 && proc_state(self->restored) &&
		    proc_state(self->restored) != 'Z'; i++)
		usleep(50 * 1000);
	EXPECT_TRUE(!proc_state(self->restored) ||
		    proc_state(self->restored) == 'Z');
	EXPECT_EQ('T', proc_state(self->wl_pid));
}

TEST_HARNESS_MAIN
