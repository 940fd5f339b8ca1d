// SPDX-License-Identifier: GPL-2.0
/*
 * send --tree between two network namespaces (veth): tree_wl's four
 * processes (R with children A and B, A with child G; a pipe, a
 * socketpair, a shared anonymous mapping, a memfd mapping, a shared file
 * offset, private and copy-on-write memory) migrated lazily, with the
 * background push throttled, and eagerly (--eager).
 *
 * The receiver runs in a PID namespace of its own (unshare), as on
 * another machine: the tree gets its dumped PIDs back even though the
 * source is still frozen, so getppid() and the PIDs the members keep in
 * memory stay right.
 *
 * Right after resume (pages still arriving), SIGUSR1 makes every member
 * check its parent, its data and its part of the shared state, then
 * (lazy, "events") perform an event on an 8 MiB private mapping of its
 * own: R moves it with mremap, A forks a child that verifies it, B drops
 * half of it with
 * MADV_DONTNEED (zeros), G unmaps half of it; each parent wait()s for its
 * children; R writes "ok" or the first failure.  (R, B and G have their
 * 8 MiB mapping at the same address, each with its own pattern: the
 * daemon keeps every member's lazy state apart.)  Then both sides must
 * exit 0, their stats agree, count every member, and show the events.
 *
 * receiver_dies_after_resume: receive is SIGKILLed while the members
 * fault (LAZYMIG_FAULT=receive-die-after-resume): its guardian kills
 * every member (and A's forked child) before their uffds close, so none
 * reads a missing page as zeros and none reports anything; the source
 * tree is left stopped, never resumed, and verifies whole once let go.
 *
 * send_tree_refuses_member: one member's unsupported state refuses the
 * whole tree, named, and the tree runs on untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "migtest.h"
#include "wl.h"

#define SRC_IP	"10.79.0.1"
#define DST_IP	"10.79.0.2"

FIXTURE(tl) {
	char src[32], dst[32], dir[64], addr[64];
	char tool[PATH_MAX], wl[PATH_MAX];
	pid_t wl_pid, recv_pid, send_pid;
	pid_t pids[4];		/* R A B G, as dumped */
};

FIXTURE_VARIANT(tl) {
	int eager;
	const char *rate;	/* --push-rate, MiB/s */
	int fail;		/* the receiver fails before resume */
	int die;		/* the receiver is killed after resume */
};

FIXTURE_VARIANT_ADD(tl, lazy) { .eager = 0, .rate = "1" };
FIXTURE_VARIANT_ADD(tl, eager) { .eager = 1, .rate = "0" };
FIXTURE_VARIANT_ADD(tl, fail_before_resume) { .rate = "1", .fail = 1 };
FIXTURE_VARIANT_ADD(tl, receiver_dies_after_resume) { .rate = "1", .die = 1 };

/* A copy: a `make` may relink the originals while the test runs. */
static int copy_bin(const char *from, const char *dir, const char *name,
		    char *to, size_t len)
{
	snprintf(to, len, "%s/%s", dir, name);
	return lm_sh("cp %s %s.tmp && mv %s.tmp %s", from, to, to, to);
}

FIXTURE_SETUP(tl)
{
	int me = getpid();

	snprintf(self->src, sizeof(self->src), "lmts%d", me);
	snprintf(self->dst, sizeof(self->dst), "lmtd%d", me);
	snprintf(self->addr, sizeof(self->addr), "%s:%d", DST_IP,
		 7000 + me % 20000);
	strcpy(self->dir, "/tmp/lazymig-tl.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, copy_bin(lm_build_path("lazymig"), self->dir, "lazymig",
			      self->tool, sizeof(self->tool)));
	ASSERT_EQ(0, copy_bin(lm_build_path("selftests/workloads/tree_wl"),
			      self->dir, "tree_wl", self->wl, sizeof(self->wl)));
	if (lm_sh("which unshare >/dev/null")) {
		lm_sh("rm -rf %s", self->dir);
		SKIP(return, "no unshare(1) for the receiver's PID namespace");
	}
	if (lm_sh("ip netns add %s && ip netns add %s", self->src, self->dst)) {
		lm_sh("ip netns del %s 2>/dev/null; rm -rf %s", self->src,
		      self->dir);
		SKIP(return, "cannot create network namespaces");
	}
	ASSERT_EQ(0, lm_sh("ip link add lmt%da type veth peer name lmt%db && "
			   "ip link set lmt%da netns %s && ip link set lmt%db netns %s && "
			   "ip -n %s addr add " SRC_IP "/24 dev lmt%da && "
			   "ip -n %s addr add " DST_IP "/24 dev lmt%db && "
			   "ip -n %s link set lmt%da up && ip -n %s link set lmt%db up && "
			   "ip -n %s link set lo up && ip -n %s link set lo up",
			   me, me, me, self->src, me, self->dst, self->src, me,
			   self->dst, me, self->src, me, self->dst, me,
			   self->src, self->dst));
}

FIXTURE_TEARDOWN(tl)
{
	int i;

	lm_reap(&self->send_pid);
	lm_reap(&self->recv_pid);	/* --kill-child: its PID namespace */
	for (i = 3; i >= 0; i--)	/* the source tree, if left */
		if (self->pids[i] > 0)
			kill(self->pids[i], SIGKILL);
	lm_reap(&self->wl_pid);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	lm_sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null",
	      self->src, self->dst);
	lm_sh("rm -rf %s", self->dir);
}

static void logs(struct __test_metadata *_metadata, FIXTURE_DATA(tl) *self)
{
	char buf[8192];

	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	TH_LOG("send.log: %s", buf);
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	TH_LOG("recv.log: %s", buf);
}

/* The receiver, in a PID namespace of its own inside the dst netns. */
static void start_receive(struct __test_metadata *_metadata,
			  FIXTURE_DATA(tl) *self, const char *fault)
{
	char cmd[PATH_MAX + 1024], buf[4096];
	char *argv[] = { "/usr/bin/unshare", "--pid", "--fork", "--mount-proc",
			 "--kill-child", "--", "/bin/sh", "-c", cmd, NULL };

	snprintf(cmd, sizeof(cmd),
		 "%s%s%s%s receive --listen %s --stats %s/r.json --pidfile %s/pid --stdio null --token-file %s/token; echo \"rc=$?\" > %s/recv.rc; exec sleep 600",
		 fault ? "LAZYMIG_FAULT=" : "", fault ? fault : "",
		 fault ? " " : "", self->tool, self->addr, self->dir, self->dir, self->dir,
		 self->dir);
	self->recv_pid = lm_spawn_ns(self->dir, self->dst, "recv.log", 1, argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", "listening", 20, buf,
				  sizeof(buf))) logs(_metadata, self);
}

static void start_tree(struct __test_metadata *_metadata,
		       FIXTURE_DATA(tl) *self, int events)
{
	char buf[256];
	char *argv[] = { self->wl, self->dir, events ? "events" : NULL, NULL };

	/* no PDEATHSIG: it would be migrated too, and fire at receive's exit */
	self->wl_pid = lm_spawn_ns(self->dir, self->src, "wl.log", 0, argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "ready", "\n", 30, buf,
				  sizeof(buf)));
	ASSERT_EQ(4, sscanf(buf, "%d %d %d %d", &self->pids[0], &self->pids[1],
			    &self->pids[2], &self->pids[3]));
	ASSERT_EQ(self->wl_pid, self->pids[0]);
}

static void start_send(FIXTURE_DATA(tl) *self,
		       const FIXTURE_VARIANT(tl) *variant)
{
	char pid[16];
	char *argv[] = {
		self->tool, "send", "--tree", "-t", pid, "--to", self->addr,
		"--stats", lm_in_dir(self->dir, "s.json"),
		"--token-file", lm_in_dir(self->dir, "token"),
		variant->eager ? "--eager" : "--push-rate", (char *)variant->rate,
		NULL,
	};

	if (variant->eager)
		argv[12] = NULL;
	snprintf(pid, sizeof(pid), "%d", self->pids[0]);
	self->send_pid = lm_spawn_ns(self->dir, self->src, "send.log", 1, argv);
}

/*
 * The restored R, as this (outer) PID namespace sees it: the process
 * whose innermost PID is @pid in a namespace other than ours.
 */
static pid_t outer_pid(pid_t pid)
{
	char path[64], line[256], *p;
	pid_t found = 0;
	int i;

	for (i = 1; i < 32768 && !found; i++) {
		FILE *f;
		long a, b;

		snprintf(path, sizeof(path), "/proc/%d/status", i);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "NSpid:", 6))
				continue;
			p = line + 6;
			if (sscanf(p, "%ld %ld", &a, &b) == 2 && b == pid &&
			    a != pid)
				found = a;
			break;
		}
		fclose(f);
	}
	return found;
}

/* Field @k (1-based, proc(5)) of /proc/PID/stat, in our PID namespace. */
static long stat_field(pid_t pid, int k)
{
	char path[64], buf[1024], *s;
	size_t n;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	s = strrchr(buf, ')');
	for (i = 2; s && i < k; i++)
		s = strchr(s + 1, ' ');
	return s ? strtol(s + 1, NULL, 10) : -1;
}

/*
 * The restored tree, as dumped: parents, process groups (A in R's, B
 * leads its own) and sessions (G leads its own).  @o: outer PIDs.  R
 * leads neither, so it stays in the session of the restorer (@recv):
 * 0 when that session's leader is outside our PID namespace, as under
 * a CI runner.
 */
static void check_relations(struct __test_metadata *_metadata, const pid_t *o,
			    pid_t recv)
{
	EXPECT_EQ(o[0], stat_field(o[1], 4));
	EXPECT_EQ(o[0], stat_field(o[2], 4));
	EXPECT_EQ(o[1], stat_field(o[3], 4));
	EXPECT_LT(0, stat_field(o[0], 5));
	EXPECT_EQ(stat_field(recv, 6), stat_field(o[0], 6));
	EXPECT_NE(o[0], stat_field(o[0], 6));
	EXPECT_EQ(stat_field(o[0], 5), stat_field(o[1], 5));
	EXPECT_EQ(o[2], stat_field(o[2], 5));
	EXPECT_EQ(o[3], stat_field(o[3], 5));
	EXPECT_EQ(o[3], stat_field(o[3], 6));
	EXPECT_EQ(stat_field(o[0], 6), stat_field(o[1], 6));
	EXPECT_EQ(stat_field(o[0], 6), stat_field(o[2], 6));
}

/*
 * receive was killed while the members (@o, outer PIDs) faulted: all
 * gone, none reported (a wrong byte would write "fail: ..." at once),
 * the guardian says so; the source tree is left stopped and whole.
 */
static void receiver_died(struct __test_metadata *_metadata,
			  FIXTURE_DATA(tl) *self, const pid_t *o)
{
	char buf[4096];
	int st, i;

	ASSERT_EQ(0, kill(o[0], SIGUSR1));	/* verify: faults */
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.rc", "\n", 60, buf,
				  sizeof(buf))) logs(_metadata, self);
	EXPECT_EQ(0, strncmp(buf, "rc=137", 6)) TH_LOG("receive: %s", buf);
	for (i = 0; i < 4; i++) {
		pid_t p = o[i];

		EXPECT_EQ(0, lm_wait_gone(p, 10))
			TH_LOG("restored member %d (PID %d) still runs", i, p);
	}
	EXPECT_NE(0, lm_slurp(self->dir, "result", buf, sizeof(buf)))
		TH_LOG("the restored tree reported: %s", buf);
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "guardian: receive is gone while pages of the tree"))
		logs(_metadata, self);
	EXPECT_NE(NULL, strstr(buf, "(4 members)")) logs(_metadata, self);
	if (strstr(buf, "guardian:"))
		TH_LOG("%s", strstr(buf, "guardian:"));
	st = lm_wait_exit(&self->send_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1)
		logs(_metadata, self);
	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "left stopped")) TH_LOG("send.log: %s", buf);
	/* never resumed: stopped, and it has not verified (no result) */
	for (i = 0; i < 4; i++) {
		pid_t p = self->pids[i];

		EXPECT_EQ('T', lm_proc_state_wait(p, 'T', 2000))
			TH_LOG("source member %d (PID %d) is not stopped", i, p);
	}
	EXPECT_NE(0, lm_slurp(self->dir, "result", buf, sizeof(buf)));
	/* let go, the source tree is whole: every member verifies */
	unlink(lm_in_dir(self->dir, "result"));	/* only its own counts */
	for (i = 0; i < 4; i++)
		kill(self->pids[i], SIGCONT);
	ASSERT_EQ(0, kill(self->pids[0], SIGUSR1));
	ASSERT_EQ(0, lm_wait_file(self->dir, "result", NULL, 120, buf,
				  sizeof(buf))) logs(_metadata, self);
	TH_LOG("source tree after receive died: %s", buf);
	EXPECT_EQ(0, strncmp(buf, "ok", 2));
	st = lm_wait_exit(&self->wl_pid, 30);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST_F_TIMEOUT(tl, migrate_verify, 300)
{
	char buf[4096], json[16384], sjson[16384], want[64];
	pid_t r, p[4], o[4];
	int st, i;

	lm_write_token(self->dir, "token", "lazymig-test-token-0123456789abcdef");
	start_receive(_metadata, self,
		      variant->fail ? "receive-before-resume" :
		      variant->die ? "receive-die-after-resume" : NULL);
	start_tree(_metadata, self, !variant->eager);
	start_send(self, variant);
	if (variant->fail) {
		/* The whole tree runs on at the source, whole: it verifies. */
		st = lm_wait_exit(&self->send_pid, 120);
		EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1)
			logs(_metadata, self);
		ASSERT_EQ(0, lm_wait_file(self->dir, "recv.rc", "\n", 60, buf,
					  sizeof(buf))) logs(_metadata, self);
		EXPECT_EQ(0, strncmp(buf, "rc=1", 4));
		lm_slurp(self->dir, "send.log", buf, sizeof(buf));
		EXPECT_NE(NULL, strstr(buf, "resumed here untouched"))
			TH_LOG("send.log: %s", buf);
		EXPECT_NE(0, lm_slurp(self->dir, "pid", buf, sizeof(buf)));
		ASSERT_EQ(0, kill(self->pids[0], SIGUSR1));
		ASSERT_EQ(0, lm_wait_file(self->dir, "result", NULL, 120, buf,
					  sizeof(buf))) logs(_metadata, self);
		TH_LOG("source tree after the failed migration: %s", buf);
		EXPECT_EQ(0, strncmp(buf, "ok", 2));
		st = lm_wait_exit(&self->wl_pid, 30);
		EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
		return;
	}
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 60, buf, sizeof(buf)))
		logs(_metadata, self);
	ASSERT_EQ(self->pids[0], atoi(buf)) logs(_metadata, self);
	for (i = 0; i < 4; i++) {
		o[i] = outer_pid(self->pids[i]);
		ASSERT_LT(0, o[i]) TH_LOG("restored member %d (PID %d inside) is not found",
					  i, self->pids[i]);
	}
	r = o[0];
	check_relations(_metadata, o, self->recv_pid);
	if (variant->die) {
		receiver_died(_metadata, self, o);
		return;
	}
	/* At once: with the push throttled, most pages are still pending. */
	ASSERT_EQ(0, kill(r, SIGUSR1));
	ASSERT_EQ(0, lm_wait_file(self->dir, "result", NULL, 120, buf,
				  sizeof(buf))) logs(_metadata, self);
	TH_LOG("restored tree: %s", buf);
	EXPECT_EQ(0, strncmp(buf, "ok", 2)) logs(_metadata, self);
	if (!variant->eager)
		EXPECT_NE(NULL, strstr(buf, "mremap, fork, MADV_DONTNEED, munmap"));
	st = lm_wait_exit(&self->send_pid, 120);
	EXPECT_EQ(0, st) logs(_metadata, self);
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.rc", "\n", 120, buf,
				  sizeof(buf))) logs(_metadata, self);
	EXPECT_EQ(0, strncmp(buf, "rc=0", 4)) logs(_metadata, self);
	/* The source tree was killed by send once every page was in. */
	st = lm_wait_exit(&self->wl_pid, 10);
	EXPECT_TRUE(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	for (i = 1; i < 4; i++) {
		for (st = 0; st < 100 && lm_pid_alive(self->pids[i]); st++)
			usleep(50 * 1000);
		EXPECT_FALSE(lm_pid_alive(self->pids[i]));
	}
	memcpy(p, self->pids, sizeof(p));
	memset(self->pids, 0, sizeof(self->pids));

	ASSERT_EQ(0, lm_slurp(self->dir, "r.json", json, sizeof(json)));
	ASSERT_EQ(0, lm_slurp(self->dir, "s.json", sjson, sizeof(sjson)));
	EXPECT_STREQ(json, sjson);
	TH_LOG("stats: %s", json);
	EXPECT_NE(NULL, strstr(json, variant->eager ? "\"mode\":\"eager\"" :
			       "\"mode\":\"lazy\""));
	EXPECT_EQ(lm_json_num(json, "pages_total"),
		  lm_json_num(json, "pages_faulted") +
		  lm_json_num(json, "pages_pushed") +
		  lm_json_num(json, "pages_zero") +
		  lm_json_num(json, "pages_dropped"));
	for (i = 0; i < 4; i++) {
		snprintf(want, sizeof(want),
			 "{\"member\":%d,\"pid\":%d,\"restored_pid\":%d,", i,
			 p[i], p[i]);
		EXPECT_NE(NULL, strstr(json, want)) TH_LOG("no stats of member %d", i);
	}
	if (variant->eager) {
		EXPECT_EQ(0, lm_json_num(json, "pages_faulted"));
		return;
	}
	/* R's shared anon mapping, in all four, lazy and one object */
	EXPECT_NE(NULL, strstr(json, "\"anon-shared\":\"uffd-missing-shmem\""));
	EXPECT_NE(NULL, strstr(json, "\"anon-private\":\"uffd-missing\""));
	/* The members' 32 MiB came on demand mostly: the push was slow. */
	EXPECT_LT(1000, lm_json_num(json, "pages_faulted"));
	EXPECT_LE(1, lm_json_num(json, "fork"));
	EXPECT_LE(1, lm_json_num(json, "remap"));
	EXPECT_LE(1, lm_json_num(json, "remove"));
	EXPECT_LE(1, lm_json_num(json, "unmap"));
	EXPECT_LT(0, lm_json_num(json, "pages_dropped"));
}

/*
 * A TCP socket in a grandchild refuses the whole tree, with a message
 * naming that process, before anything is sent; every process of the
 * tree runs on, untouched (not stopped, not traced).
 */
TEST(send_tree_refuses_member)
{
	char dir[] = "/tmp/lazymig-tlr.XXXXXX", addr[64], out[8192], buf[256];
	char want[96];
	int rep[2], st;
	pid_t child, g = 0, recv;

	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, pipe(rep));
	child = fork();
	ASSERT_GE(child, 0);
	if (!child) {
		pid_t gc;

		setpgid(0, 0);
		gc = fork();
		if (gc == 0) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			pid_t me = getpid();

			if (fd < 0 || write(rep[1], &me, sizeof(me)) != sizeof(me))
				_exit(1);
			for (;;)
				pause();
		}
		for (;;)
			pause();
	}
	ASSERT_EQ(sizeof(g), read(rep[0], &g, sizeof(g)));
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", 30000 + getpid() % 20000);
	recv = fork();
	ASSERT_GE(recv, 0);
	if (!recv) {
		char log[128];
		int fd;

		snprintf(log, sizeof(log), "%s/recv.log", dir);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(lm_build_path("lazymig"), "lazymig", "receive", "--listen",
		      addr, (char *)NULL);
		_exit(127);
	}
	EXPECT_EQ(0, lm_wait_file(dir, "recv.log", "listening", 20, buf,
				  sizeof(buf)));
	EXPECT_EQ(1, lm_run_tool(out, sizeof(out), "send --tree -t %d --to %s",
				 child, addr));
	snprintf(want, sizeof(want), "PID %d (member 1 of the tree of PID %d)",
		 g, child);
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("send: %s", out);
	EXPECT_NE(NULL, strstr(out, "sockets are not supported")) TH_LOG("send: %s", out);
	EXPECT_NE(NULL, strstr(out, "left running here, untouched")) TH_LOG("send: %s", out);
	/* the receiver got nothing and says so */
	st = lm_wait_exit(&recv, 20);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	lm_slurp(dir, "recv.log", out, sizeof(out));
	EXPECT_NE(NULL, strstr(out, "before sending any metadata")) TH_LOG("receive: %s", out);
	usleep(100 * 1000);
	EXPECT_EQ('S', lm_proc_state(child));
	EXPECT_EQ('S', lm_proc_state(g));
	kill(-child, SIGKILL);
	lm_reap(&recv);
	waitpid(child, NULL, 0);
	close(rep[0]);
	close(rep[1]);
	lm_sh("rm -rf %s", dir);
}

TEST_HARNESS_MAIN
