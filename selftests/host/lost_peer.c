// SPDX-License-Identifier: GPL-2.0
/*
 * Lost peers: each side of a lazy migration dies, or the network between
 * them goes away, at several points, between two network namespaces
 * joined by a veth pair.  The promises checked, data byte for byte:
 *
 *  - before resume, whoever dies, the source runs on untouched;
 *  - the sender dies after resume: the destination waits --peer-timeout,
 *    then kills its process, which never read a missing page; the source
 *    stays stopped (never two copies running) and whole;
 *  - an outage shorter than the timeout: both sides reconnect, the
 *    migration completes, the data is right; a longer one: as if the
 *    sender had died (the destination kills, the source stays stopped);
 *  - the receiver dies after resume: the source is not resumed.
 *
 * The kills are real SIGKILLs, placed by LAZYMIG_FAULT=send-die-* and
 * receive-die-* in the tool.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "migtest.h"
#include "migcheck.h"

#define NET	78	/* 10.78.0.1 -> 10.78.0.2 */
#define TOKEN	"lazymig-lost-peer-token-0123456789abcdef"

FIXTURE(lp) {
	struct lm_net net;
	char *src, *dst, *veth, *dir, *addr;	/* in net */
	char *tool, *wl;			/* copies in net.dir */
	pid_t wl_pid, recv_pid, send_pid, restored;
	int events;	/* lazy_wl forks a verifying child (and more) */
};

FIXTURE_SETUP(lp)
{
	static const char *const bins[] = {
		"lazymig",
		"selftests/workloads/lazy_wl"
	};
	int r;

	/* orphans of a dying receiver come to us: see live_descendants() */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	r = lm_net_setup(&self->net, "lp", NET, bins, 2);
	self->src = self->net.src;
	self->dst = self->net.dst;
	self->veth = self->net.veth;
	self->dir = self->net.dir;
	self->addr = self->net.addr;
	self->tool = self->net.bin[0];
	self->wl = self->net.bin[1];
	LM_NET_SETUP_CHECK(r);
	lm_write_token(self->dir, "token", TOKEN);
}

FIXTURE_TEARDOWN(lp)
{
	lm_mig_reap(self->restored, &self->send_pid, &self->recv_pid,
		    &self->wl_pid);
	lm_net_teardown(&self->net);
}

static void with_fault(const char *fault)
{
	if (fault)
		setenv("LAZYMIG_FAULT", fault, 1);
	else
		unsetenv("LAZYMIG_FAULT");
}

static void start_receive(struct __test_metadata *_metadata,
			  FIXTURE_DATA(lp) *self, const char *fault,
			  const char *peer_timeout)
{
	char buf[4096];
	char *argv[] = {
		self->tool, "receive", "--listen", self->addr,
		"--pidfile", lm_in_dir(self->dir, "pid"), "--stdio", "null",
		"--token-file", lm_in_dir(self->dir, "token"),
		"--peer-timeout", (char *)peer_timeout, NULL
	};

	with_fault(fault);
	self->recv_pid = lm_spawn_ns(self->dir, self->dst, "recv.log", 1, argv);
	with_fault(NULL);
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", "listening", 10, buf,
				  sizeof(buf)));
}

static void start_workload(struct __test_metadata *_metadata,
			   FIXTURE_DATA(lp) *self, const char *mib)
{
	char *argv[] = { self->wl, (char *)mib, lm_in_dir(self->dir, "state"),
			 "1", self->events ? "events" : NULL, NULL };
	char buf[256];

	self->wl_pid = lm_spawn_ns(self->dir, self->src, "wl.log", 0, argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state", "ready", 30, buf,
				  sizeof(buf)));
}

static void start_send(FIXTURE_DATA(lp) *self, const char *fault,
		       const char *peer_timeout, const char *rate)
{
	char pid[16];
	char *argv[] = {
		self->tool, "send", "-t", pid, "--to", self->addr,
		"--token-file", lm_in_dir(self->dir, "token"),
		"--push-rate", (char *)rate, "--peer-timeout",
		(char *)peer_timeout, NULL
	};

	snprintf(pid, sizeof(pid), "%d", self->wl_pid);
	with_fault(fault);
	self->send_pid = lm_spawn_ns(self->dir, self->src, "send.log", 1, argv);
	with_fault(NULL);
}

static void show(struct __test_metadata *_metadata, FIXTURE_DATA(lp) *self,
		 const char *log, char *buf, size_t len)
{
	lm_slurp(self->dir, log, buf, len);
	TH_LOG("%s: %s", log, buf);
}

static int exited(int st, int code)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static int killed(int st)
{
	return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/*
 * Live (not zombie) processes below @pid other than @skip1, @skip2 and
 * theirs.  Zombies that came to us (we are a subreaper) are reaped on
 * the way, except @skip1, @skip2 and @keep, which the test waits for.
 */
static int live_below(pid_t pid, pid_t skip1, pid_t skip2, pid_t keep)
{
	char path[64], buf[4096], *p, *save;
	int n = 0, fd;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[len > 0 ? len : 0] = 0;
	for (p = strtok_r(buf, " \n", &save); p;
	     p = strtok_r(NULL, " \n", &save)) {
		pid_t c = atoi(p);
		char st = lm_proc_state(c);

		if (c == skip1 || c == skip2)
			continue;
		if (st && st != 'Z')
			n += 1 + live_below(c, skip1, skip2, keep);
		else if (st == 'Z' && pid == getpid() && c != keep)
			waitpid(c, NULL, WNOHANG);
	}
	return n;
}

/*
 * Every restored process (the root and the children it forked) is gone
 * within 5 s: nothing below us lives but the source and the sender.
 */
static int restored_tree_gone(FIXTURE_DATA(lp) *self)
{
	int i, n = 0;

	for (i = 0; i < 100; i++) {
		n = live_below(getpid(), self->wl_pid, self->send_pid,
			       self->recv_pid);
		if (!n)
			return 1;
		usleep(50 * 1000);
	}
	return 0;
}

/* Nothing was restored on the destination, and the source runs on. */
static void failed_before_resume(struct __test_metadata *_metadata,
				 FIXTURE_DATA(lp) *self)
{
	char buf[4096];

	EXPECT_NE(0, lm_slurp(self->dir, "pid", buf, sizeof(buf)));
	/* running (or sleeping), not frozen: the tracer let it go */
	EXPECT_TRUE(lm_proc_state(self->wl_pid) == 'S' ||
		    lm_proc_state(self->wl_pid) == 'R');
	lm_source_verifies(_metadata, self->dir, &self->wl_pid);
}

TEST_F_TIMEOUT(lp, sender_dies_before_meta, 60)
{
	char buf[4096];

	start_receive(_metadata, self, NULL, "5");
	start_workload(_metadata, self, "16");
	start_send(self, "send-die-before-meta", "5", "64");
	EXPECT_TRUE(killed(lm_wait_exit(&self->send_pid, 30)));
	EXPECT_TRUE(exited(lm_wait_exit(&self->recv_pid, 30), 1));
	show(_metadata, self, "recv.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "before sending any metadata"));
	failed_before_resume(_metadata, self);
}

TEST_F_TIMEOUT(lp, sender_dies_during_stream, 60)
{
	char buf[4096];

	start_receive(_metadata, self, NULL, "5");
	start_workload(_metadata, self, "16");
	start_send(self, "send-die-during-stream", "5", "64");
	EXPECT_TRUE(killed(lm_wait_exit(&self->send_pid, 30)));
	EXPECT_TRUE(exited(lm_wait_exit(&self->recv_pid, 30), 1));
	show(_metadata, self, "recv.log", buf, sizeof(buf));
	EXPECT_EQ(NULL, strstr(buf, "running here"));
	failed_before_resume(_metadata, self);
}

/*
 * The sender dies as soon as the destination resumed: the process there
 * faults on pages that will never come.  It must wait, then be killed
 * (--peer-timeout 2), with every child it forked, never having read a
 * missing page: lazy_wl writes "fail: ..." at its first wrong byte, so
 * no result file may appear.
 */
static void sender_dies_after_resume(struct __test_metadata *_metadata,
				     FIXTURE_DATA(lp) *self)
{
	char buf[4096];

	int i;

	start_receive(_metadata, self, NULL, "2");
	start_workload(_metadata, self, "32");
	/* without a fork to wait for, it dies on RESUMED, from inside */
	start_send(self, self->events ? NULL : "send-die-after-resume", "5",
		   "4");
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 30, buf, sizeof(buf)))
		show(_metadata, self, "recv.log", buf, sizeof(buf));
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));	/* verify: faults */
	for (i = 0; self->events && i < 2000 &&
		    !live_below(self->restored, 0, 0, 0); i++)
		usleep(5 * 1000);
	if (self->events) {	/* its child verifies too: kill the sender */
		ASSERT_LT(0, live_below(self->restored, 0, 0, 0));
		kill(self->send_pid, SIGKILL);
	}
	EXPECT_TRUE(killed(lm_wait_exit(&self->send_pid, 30)));
	EXPECT_TRUE(exited(lm_wait_exit(&self->recv_pid, 30), 1));
	show(_metadata, self, "recv.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "did not come back within 2 s"));
	EXPECT_NE(NULL, strstr(buf, self->events ?
			       "killed the process and its children (2 in all)" :
			       "killed the process (1 in all)"));
	EXPECT_TRUE(restored_tree_gone(self));
	EXPECT_NE(0, lm_slurp(self->dir, "state.result", buf, sizeof(buf)))
		TH_LOG("the destination process reported: %s", buf);
	/* the source was stopped, not resumed: one copy at most runs */
	/* SIGSTOP may land just after send exits */
	EXPECT_EQ('T', lm_proc_state_wait(self->wl_pid, 'T', 2000));
	lm_source_verifies(_metadata, self->dir, &self->wl_pid);
}

TEST_F_TIMEOUT(lp, sender_dies_after_resume, 60)
{
	sender_dies_after_resume(_metadata, self);
}

/* The same with a child forked (and mremap, madvise, munmap) meanwhile. */
TEST_F_TIMEOUT(lp, sender_dies_after_resume_forked, 60)
{
	self->events = 1;
	sender_dies_after_resume(_metadata, self);
}

/*
 * The link goes down under a running lazy migration, longer than it takes
 * both sides to call the connection lost (--peer-timeout 10: 2 s), while
 * the process faults; it comes back within the timeout.  The sender dials
 * again, the daemon re-sends its requests, the migration completes.
 */
TEST_F_TIMEOUT(lp, network_outage, 90)
{
	char buf[4096];

	start_receive(_metadata, self, NULL, "10");
	start_workload(_metadata, self, "32");
	start_send(self, NULL, "10", "4");
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 30, buf, sizeof(buf)))
		show(_metadata, self, "recv.log", buf, sizeof(buf));
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	usleep(300 * 1000);
	ASSERT_EQ(0, lm_sh("ip -n %s link set %sa down", self->src, self->veth));
	usleep(100 * 1000);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));	/* faults, blocked */
	usleep(4500 * 1000);
	ASSERT_EQ(0, lm_sh("ip -n %s link set %sa up", self->src, self->veth));
	EXPECT_TRUE(exited(lm_wait_exit(&self->send_pid, 60), 0))
		show(_metadata, self, "send.log", buf, sizeof(buf));
	EXPECT_TRUE(exited(lm_wait_exit(&self->recv_pid, 60), 0))
		show(_metadata, self, "recv.log", buf, sizeof(buf));
	show(_metadata, self, "send.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "reconnected"));
	show(_metadata, self, "recv.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "the source reconnected"));
	/* the fault that waited through the outage was asked for again */
	EXPECT_EQ(NULL, strstr(buf, "re-sending 0 pending"));
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.result", "\n", 60, buf,
				  sizeof(buf)));
	EXPECT_EQ(0, strncmp(buf, "ok ", 3)) TH_LOG("restored: %s", buf);
	EXPECT_TRUE(killed(lm_wait_exit(&self->wl_pid, 10)));
}

/*
 * The link goes down for good (no FIN, no RST: only keepalive and
 * TCP_USER_TIMEOUT can tell) while the process faults.  Destination:
 * lost within about a second (--peer-timeout 4), then 4 s of waiting,
 * then the process is killed, having read no missing page.  Source:
 * not resumed, left stopped after its own 4 s.
 */
TEST_F_TIMEOUT(lp, network_outage_too_long, 90)
{
	char buf[4096];

	start_receive(_metadata, self, NULL, "4");
	start_workload(_metadata, self, "32");
	start_send(self, NULL, "4", "4");
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 30, buf, sizeof(buf)))
		show(_metadata, self, "recv.log", buf, sizeof(buf));
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	usleep(300 * 1000);
	ASSERT_EQ(0, lm_sh("ip -n %s link set %sa down", self->src, self->veth));
	usleep(100 * 1000);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));	/* faults, blocked */
	EXPECT_TRUE(exited(lm_wait_exit(&self->recv_pid, 30), 1));
	show(_metadata, self, "recv.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "lost the source"));
	EXPECT_NE(NULL, strstr(buf, "did not come back within 4 s"));
	EXPECT_TRUE(restored_tree_gone(self));
	EXPECT_NE(0, lm_slurp(self->dir, "state.result", buf, sizeof(buf)))
		TH_LOG("the destination process reported: %s", buf);
	EXPECT_TRUE(exited(lm_wait_exit(&self->send_pid, 30), 1));
	show(_metadata, self, "send.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "did not take us back within 4 s"));
	EXPECT_NE(NULL, strstr(buf, "left stopped"));
	/* SIGSTOP may land just after send exits */
	EXPECT_EQ('T', lm_proc_state_wait(self->wl_pid, 'T', 2000));
	lm_source_verifies(_metadata, self->dir, &self->wl_pid);
}

TEST_F_TIMEOUT(lp, receiver_dies_before_resume, 60)
{
	char buf[4096];

	start_receive(_metadata, self, "receive-die-before-resume", "5");
	start_workload(_metadata, self, "16");
	start_send(self, NULL, "30", "64");
	EXPECT_TRUE(killed(lm_wait_exit(&self->recv_pid, 30)));
	/* refused at once: no waiting out --peer-timeout 30 */
	EXPECT_TRUE(exited(lm_wait_exit(&self->send_pid, 15), 1));
	show(_metadata, self, "send.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "resumed here untouched"));
	failed_before_resume(_metadata, self);
}

/*
 * The receiver dies after resume, its process faulting: that process
 * (and every child it forked) dies too, having read no missing page; the
 * source must not be resumed (the destination's copy ran): after its
 * --peer-timeout it is left stopped, whole.
 */
static void receiver_dies_after_resume(struct __test_metadata *_metadata,
				       FIXTURE_DATA(lp) *self)
{
	char buf[4096];

	start_receive(_metadata, self, "receive-die-after-resume", "5");
	start_workload(_metadata, self, "64");
	start_send(self, NULL, "2", "4");
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 30, buf, sizeof(buf)));
	self->restored = atoi(buf);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));	/* verify: faults */
	EXPECT_TRUE(killed(lm_wait_exit(&self->recv_pid, 30)));
	/*
	 * Its daemon is gone: the process must die with it, never reading
	 * a missing page (lazy_wl would write "fail: ..." at once).
	 */
	EXPECT_TRUE(restored_tree_gone(self));
	EXPECT_NE(0, lm_slurp(self->dir, "state.result", buf, sizeof(buf)))
		TH_LOG("the destination process reported: %s", buf);
	show(_metadata, self, "recv.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "guardian: receive is gone"));
	if (self->events)
		EXPECT_NE(NULL, strstr(buf, "and its children (2 processes)"));
	EXPECT_TRUE(exited(lm_wait_exit(&self->send_pid, 30), 1));
	show(_metadata, self, "send.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "did not take us back within 2 s"));
	EXPECT_NE(NULL, strstr(buf, "left stopped"));
	/* SIGSTOP may land just after send exits */
	EXPECT_EQ('T', lm_proc_state_wait(self->wl_pid, 'T', 2000));
	lm_source_verifies(_metadata, self->dir, &self->wl_pid);
}

TEST_F_TIMEOUT(lp, receiver_dies_after_resume, 60)
{
	receiver_dies_after_resume(_metadata, self);
}

TEST_F_TIMEOUT(lp, receiver_dies_after_resume_forked, 60)
{
	self->events = 1;
	receiver_dies_after_resume(_metadata, self);
}

TEST_HARNESS_MAIN
