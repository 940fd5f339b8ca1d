// SPDX-License-Identifier: GPL-2.0
/*
 * The background push of `lazymig send`, between two network namespaces
 * joined by a veth pair, with ws_wl (a workload that keeps rewriting a
 * hot set in the upper half of its memory, which an address-order push
 * sends last).  Every migration ends with the restored workload checking
 * every byte, hot pages holding the last pass written before the freeze.
 *
 *  - ws_first: with --ws-sample, LAZYMIG_PUSH_LOG shows every hot page
 *    of ws_wl pushed (or faulted) before any other page is pushed;
 *  - ws_off: --ws-sample 0 pushes in address order, hot pages in the
 *    second half like the rest;
 *  - compress_text / compress_random: --compress; compressible memory
 *    crosses the bulk channel in under half its size, random memory
 *    still arrives (raw runs);
 *  - progress_quiet / progress_tty: no progress line when stderr is a
 *    file; on a pty, the line with MiB sent, rate and ETA, ending at
 *    all MiB sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "migtest.h"

#define NET	76		/* 10.76.0.0/24 */
#define NPAGES	4096		/* ws_wl: 16 MiB, 256 hot pages */
#define PAGE	4096ULL

FIXTURE(push) {
	struct lm_net net;
	char *src, *dir, *tool, *wl, *addr;	/* in net */
	pid_t wl_pid, recv_pid, send_pid, restored;
	unsigned long long base;	/* ws_wl's memory */
	char tty[16384];		/* what send wrote on its pty */
};

FIXTURE_SETUP(push)
{
	static const char *const bins[] = {
		"lazymig", "selftests/workloads/ws_wl"
	};
	int err = lm_net_setup(&self->net, "push", NET, bins, 2);

	if (err > 0)
		SKIP(return, "cannot create network namespaces");
	ASSERT_EQ(0, err);
	self->src = self->net.src;
	self->dir = self->net.dir;
	self->addr = self->net.addr;
	self->tool = self->net.bin[0];
	self->wl = self->net.bin[1];
}

FIXTURE_TEARDOWN(push)
{
	lm_mig_reap(self->restored, &self->send_pid, &self->recv_pid,
		    &self->wl_pid);
	lm_net_teardown(&self->net);
}

struct tty_ns {
	const char *ns;
	int slave;
};

/* In the source's netns, stderr on the pty. */
static int tty_in_ns(void *arg)
{
	struct tty_ns *t = arg;

	if (lm_enter_netns(t->ns) || dup2(t->slave, 2) < 0)
		return -1;
	return 0;
}

/* send with stderr on a pty (master returned), stdout to send.log. */
static pid_t spawn_tty(FIXTURE_DATA(push) *self, char *const argv[],
		       int *master)
{
	struct tty_ns t = { .ns = self->src };
	pid_t pid;

	if (openpty(master, &t.slave, NULL, NULL, NULL))
		return -1;
	pid = lm_spawn(self->dir, "send.log", 1, tty_in_ns, &t, argv);
	close(t.slave);
	return pid;
}

/* Read the pty until send exits (its status) or secs pass (-1). */
static int drain_tty(FIXTURE_DATA(push) *self, int master, int secs)
{
	time_t end = time(NULL) + secs;
	size_t have = 0;
	int st = -1;

	while (time(NULL) < end) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		ssize_t n = 0;

		if (poll(&p, 1, 100) > 0) {
			n = read(master, self->tty + have,
				 sizeof(self->tty) - 1 - have);
			if (n > 0)
				have += n;
			if (have == sizeof(self->tty) - 1)
				have = 0;	/* keep the end */
			self->tty[have] = 0;
		}
		if (waitpid(self->send_pid, &st, WNOHANG) == self->send_pid) {
			self->send_pid = 0;
			break;
		}
		if (n <= 0)	/* hung up (EIO) or nothing yet */
			usleep(10 * 1000);
	}
	while ((size_t)have < sizeof(self->tty) - 1) {	/* the rest */
		ssize_t n = read(master, self->tty + have,
				 sizeof(self->tty) - 1 - have);

		if (n <= 0)
			break;
		have += n;
	}
	self->tty[have] = 0;
	close(master);
	return self->send_pid ? -1 : st;
}

/*
 * Migrate ws_wl (fill: "text" or "random") with send options @opts
 * (NULL-terminated), stderr of send on a pty if @tty; the restored
 * workload verifies itself after send is done.
 */
static void migrate(struct __test_metadata *_metadata,
		    FIXTURE_DATA(push) *self, const char *fill,
		    const char *const opts[], int tty)
{
	char buf[4096], pid[16], npages[16];
	char *wl_argv[] = { self->wl, npages, lm_in_dir(self->dir, "state"),
			    (char *)fill, NULL };
	char *recv_argv[] = {
		self->tool, "receive", "--listen", self->addr,
		"--stats", lm_in_dir(self->dir, "r.json"),
		"--pidfile", lm_in_dir(self->dir, "pid"), "--stdio", "null",
		"--token-file", lm_in_dir(self->dir, "token"), NULL
	};
	char *send_argv[32] = {
		self->tool, "send", "-t", pid, "--to", self->addr,
		"--token-file", lm_in_dir(self->dir, "token"),
	};
	int i, n = 8, st, master = -1;

	lm_write_token(self->dir, "token", "lazymig-test-token-0123456789abcdef");
	snprintf(npages, sizeof(npages), "%d", NPAGES);
	for (i = 0; opts[i]; i++)
		send_argv[n++] = (char *)opts[i];
	self->recv_pid = lm_spawn_ns(self->dir, self->net.dst, "recv.log", 1,
				     recv_argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", "listening", 10, buf,
				  sizeof(buf)));
	self->wl_pid = lm_spawn_ns(self->dir, self->src, "wl.log", 0, wl_argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state", "ready", 30, buf,
				  sizeof(buf)));
	ASSERT_EQ(1, sscanf(buf, "ready %*d %llx", &self->base));
	snprintf(pid, sizeof(pid), "%d", self->wl_pid);
	if (tty) {
		self->send_pid = spawn_tty(self, send_argv, &master);
		ASSERT_LT(0, self->send_pid);
		st = drain_tty(self, master, 120);
	} else {
		self->send_pid = lm_spawn_ns(self->dir, self->src, "send.log",
					     1, send_argv);
		st = lm_wait_exit(&self->send_pid, 120);
	}
	EXPECT_EQ(0, st) {
		lm_show_log(self->dir, "send.log");
	}
	st = lm_wait_exit(&self->recv_pid, 60);
	EXPECT_EQ(0, st) {
		lm_show_log(self->dir, "recv.log");
	}
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 5, buf, sizeof(buf)));
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	/* every page is in: the workload checks them all */
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.result", "\n", 60, buf,
				  sizeof(buf)));
	TH_LOG("workload: %s", buf);
	ASSERT_EQ(0, strncmp(buf, "ok ", 3));
	st = lm_wait_exit(&self->wl_pid, 10);	/* the source, killed */
	EXPECT_TRUE(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static int is_hot(unsigned long long k)
{
	return k >= NPAGES / 2 && k % 8 == 3;
}

struct order {
	int hot_pushed, hot_as_rest, cold_pushed, cold_as_hot;
	int bad_order;		/* a ws_wl hot page after a rest line */
	int rest_lines, unordered_rest;	/* rest lines not ascending */
	int seen[NPAGES];
};

/* Read LAZYMIG_PUSH_LOG: where each page of ws_wl went, and in what order. */
static int read_push_log(FIXTURE_DATA(push) *self, struct order *o)
{
	char line[128];
	unsigned long long a, last = 0;
	int rest_seen = 0;
	unsigned int space;
	char what[8];
	FILE *f = fopen(lm_in_dir(self->dir, "push.log"), "r");

	if (!f)
		return -1;
	memset(o, 0, sizeof(*o));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long k;
		int hot;

		if (sscanf(line, "%7s %u %llx", what, &space, &a) != 3)
			continue;
		hot = !strcmp(what, "hot");
		if (!hot) {
			rest_seen = 1;
			o->rest_lines++;
			if (a < last)
				o->unordered_rest++;
			last = a;
		}
		if (space || a < self->base ||
		    a >= self->base + NPAGES * PAGE)
			continue;	/* not ws_wl's pages (stack, libc) */
		k = (a - self->base) / PAGE;
		o->seen[k]++;
		if (is_hot(k)) {
			o->hot_pushed += hot;
			o->hot_as_rest += !hot;
			o->bad_order += rest_seen;
		} else {
			o->cold_pushed += !hot;
			o->cold_as_hot += hot;
		}
	}
	fclose(f);
	return 0;
}

static void push_log_on(FIXTURE_DATA(push) *self)
{
	setenv("LAZYMIG_PUSH_LOG", lm_in_dir(self->dir, "push.log"), 1);
}

TEST_F_TIMEOUT(push, ws_first, 240)
{
	const char *opts[] = { "--ws-sample", "300", "--push-rate", "16", NULL };
	struct order *o = calloc(1, sizeof(*o));
	char log[4096];
	int k;

	ASSERT_NE(NULL, o);
	push_log_on(self);
	migrate(_metadata, self, "text", opts, 0);
	unsetenv("LAZYMIG_PUSH_LOG");
	ASSERT_EQ(0, read_push_log(self, o));
	TH_LOG("hot pushed %d, hot as rest %d, cold pushed %d, cold as hot %d",
	       o->hot_pushed, o->hot_as_rest, o->cold_pushed, o->cold_as_hot);
	/* the hot set went first: none of it in the second pass */
	EXPECT_EQ(0, o->hot_as_rest);
	EXPECT_EQ(0, o->bad_order);
	/* most of it was pushed, not faulted (the workload stops writing) */
	EXPECT_LT(NPAGES / 16 / 2, o->hot_pushed);
	/* the cold pages were not written in the window: second pass */
	EXPECT_EQ(0, o->cold_as_hot);
	EXPECT_EQ(NPAGES - NPAGES / 16, o->cold_pushed);
	EXPECT_EQ(0, o->unordered_rest);
	for (k = 0; k < NPAGES; k++)
		EXPECT_GE(1, o->seen[k]);
	ASSERT_EQ(0, lm_slurp(self->dir, "send.log", log, sizeof(log)));
	EXPECT_NE(NULL, strstr(log, "working set (")) TH_LOG("%s", log);
	free(o);
}

TEST_F_TIMEOUT(push, ws_off, 240)
{
	const char *opts[] = { "--ws-sample", "0", "--push-rate", "16", NULL };
	struct order *o = calloc(1, sizeof(*o));
	char log[4096];

	ASSERT_NE(NULL, o);
	push_log_on(self);
	migrate(_metadata, self, "text", opts, 0);
	unsetenv("LAZYMIG_PUSH_LOG");
	ASSERT_EQ(0, read_push_log(self, o));
	EXPECT_EQ(0, o->hot_pushed);
	EXPECT_EQ(0, o->cold_as_hot);
	EXPECT_LT(0, o->hot_as_rest);
	EXPECT_EQ(0, o->unordered_rest);	/* address order */
	ASSERT_EQ(0, lm_slurp(self->dir, "send.log", log, sizeof(log)));
	EXPECT_EQ(NULL, strstr(log, "working set ("));
	free(o);
}

/* "--compress: X MiB pushed as Y MiB" from send.log: X and Y. */
static int z_figures(FIXTURE_DATA(push) *self, double *raw, double *wire)
{
	char log[4096], *p;

	if (lm_slurp(self->dir, "send.log", log, sizeof(log)))
		return -1;
	p = strstr(log, "--compress: ");
	if (!p || sscanf(p, "--compress: %lf MiB pushed as %lf MiB", raw,
			 wire) != 2)
		return -1;
	return 0;
}

TEST_F_TIMEOUT(push, compress_text, 240)
{
	const char *opts[] = { "--compress", NULL };
	double raw, wire;

	migrate(_metadata, self, "text", opts, 0);
	ASSERT_EQ(0, z_figures(self, &raw, &wire));
	TH_LOG("pushed %.1f MiB as %.1f MiB", raw, wire);
	EXPECT_LT(8.0, raw);
	EXPECT_LT(wire * 2, raw);
}

TEST_F_TIMEOUT(push, compress_random, 240)
{
	const char *opts[] = { "--compress", NULL };
	double raw, wire;

	migrate(_metadata, self, "random", opts, 0);
	ASSERT_EQ(0, z_figures(self, &raw, &wire));
	TH_LOG("pushed %.1f MiB as %.1f MiB", raw, wire);
	EXPECT_LT(8.0, raw);
	EXPECT_LE(raw * 0.99, wire);	/* raw runs: nothing to gain */
}

TEST_F_TIMEOUT(push, progress_quiet, 240)
{
	const char *opts[] = { "--push-rate", "16", NULL };
	char log[4096];

	migrate(_metadata, self, "random", opts, 0);
	ASSERT_EQ(0, lm_slurp(self->dir, "send.log", log, sizeof(log)));
	EXPECT_EQ(NULL, strchr(log, '\r')) TH_LOG("%s", log);
	EXPECT_EQ(NULL, strstr(log, "MiB sent")) TH_LOG("%s", log);
	EXPECT_NE(NULL, strstr(log, "migrated to")) TH_LOG("%s", log);
}

TEST_F_TIMEOUT(push, progress_tty, 240)
{
	const char *opts[] = { "--push-rate", "16", NULL };
	unsigned long long sent, total;
	int lines = 0;
	char *p;

	migrate(_metadata, self, "random", opts, 1);
	TH_LOG("pty: %.300s", self->tty);
	for (p = strstr(self->tty, "MiB sent"); p; p = strstr(p + 1, "MiB sent"))
		lines++;
	/* 16 MiB at 16 MiB/s: several lines, a carriage return before each */
	EXPECT_LE(2, lines);
	p = strrchr(self->tty, '\r');
	while (p && p > self->tty && !strstr(p, "MiB sent"))
		for (p--; p > self->tty && *p != '\r'; p--)
			;
	ASSERT_NE(NULL, p);
	ASSERT_EQ(2, sscanf(p, "\rsend: pid %*d: %llu/%llu MiB sent", &sent,
			    &total)) TH_LOG("%s", p);
	EXPECT_EQ(total, sent);
	EXPECT_LE(15ULL, total);	/* the 16 MiB of ws_wl and a little */
	EXPECT_NE(NULL, strstr(self->tty, "MiB/s, ETA ")) TH_LOG("%s", self->tty);
}

TEST_HARNESS_MAIN
