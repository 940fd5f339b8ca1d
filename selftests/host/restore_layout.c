// SPDX-License-Identifier: GPL-2.0
/*
 * A restored process looks, from outside, like the one that was dumped:
 * the same /proc/PID/maps (addresses, protections, offsets, files), the
 * same PR_SET_MM_MAP fields in /proc/PID/stat, exe, cwd, root, cmdline,
 * environ and auxv, the same fds (target, offset, flags), signal
 * dispositions and masks, umask, limits, and the same threads with their
 * TIDs and names.  Each variant takes one snapshot just before the dump
 * and one just after the restore and compares them line by line; then
 * the restored process checks its own memory (wl_mem protocol).  Also:
 * a restored process whose PID was taken gets another one, and the
 * restore says so.
 */
#include <errno.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/sched.h>
#include <linux/types.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "rsttest.h"
#include "wl.h"

#define SNAP_MAX (256 * 1024)

struct snap {
	char *buf;
	size_t len;
};

__attribute__((format(printf, 2, 3)))
static void put(struct snap *s, const char *fmt, ...)
{
	va_list ap;

	if (s->len >= SNAP_MAX - 1)
		return;
	va_start(ap, fmt);
	s->len += vsnprintf(s->buf + s->len, SNAP_MAX - s->len, fmt, ap);
	va_end(ap);
	if (s->len > SNAP_MAX - 1)
		s->len = SNAP_MAX - 1;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *b = calloc(1, SNAP_MAX);
	size_t n = 0;

	if (f && b)
		n = fread(b, 1, SNAP_MAX - 1, f);
	if (f)
		fclose(f);
	if (len)
		*len = n;
	return b;
}

static unsigned long long hash(const char *p, size_t n)
{
	unsigned long long h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ (unsigned char)*p++) * 0x100000001b3ULL;
	return h;
}

static void snap_maps(struct snap *s, pid_t pid)
{
	char path[64], line[1024];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char range[64], perms[8], off[32], dev[32], name[800] = "";
		unsigned long ino;

		if (sscanf(line, "%63s %7s %31s %31s %lu %799[^\n]", range, perms,
			   off, dev, &ino, name) < 5)
			continue;
		put(s, "map %s %s %s %s\n", range, perms, off,
		    name + strspn(name, " "));
	}
	if (f)
		fclose(f);
}

static void snap_stat(struct snap *s, pid_t pid)
{
	static const int fields[] = { 26, 27, 28, 45, 46, 47, 48, 49, 50, 51 };
	char path[64], *t, *p, *save;
	unsigned int k = 0;
	int field = 3;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	t = slurp(path, NULL);
	p = t ? strrchr(t, ')') : NULL;
	for (p = p ? strtok_r(p + 2, " ", &save) : NULL;
	     p && k < sizeof(fields) / sizeof(fields[0]);
	     p = strtok_r(NULL, " ", &save), field++)
		if (field == fields[k])
			put(s, "stat %d %s\n", fields[k++], p);
	free(t);
}

static void snap_links(struct snap *s, pid_t pid)
{
	static const char *const names[] = { "exe", "cwd", "root" };
	static const char *const blobs[] = { "cmdline", "environ", "auxv" };
	char path[64], link[4096];
	unsigned int i;

	for (i = 0; i < 3; i++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/%s", pid, names[i]);
		n = readlink(path, link, sizeof(link) - 1);
		link[n < 0 ? 0 : n] = 0;
		put(s, "%s %s\n", names[i], link);
	}
	for (i = 0; i < 3; i++) {
		size_t n;
		char *b;

		snprintf(path, sizeof(path), "/proc/%d/%s", pid, blobs[i]);
		b = slurp(path, &n);
		put(s, "%s %zu bytes hash %llx\n", blobs[i], n, hash(b, n));
		free(b);
	}
}

static int num_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static int list_dir(const char *path, int *out, int max)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) && n < max)
		if (e->d_name[0] != '.')
			out[n++] = atoi(e->d_name);
	if (d)
		closedir(d);
	qsort(out, n, sizeof(int), num_cmp);
	return n;
}

/* Pipe and anon inode numbers are new after a restore: only the kind. */
static void norm_target(char *t)
{
	char *b = strchr(t, '[');

	if (b && (!strncmp(t, "pipe:", 5) || !strncmp(t, "anon_inode:", 11)))
		strcpy(b, "[*]");
}

static void snap_fds(struct snap *s, pid_t pid)
{
	char path[128], link[4096], *info, *l, *save;
	int fds[1024], n, i;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	n = list_dir(path, fds, 1024);
	for (i = 0; i < n; i++) {
		ssize_t k;

		if (fds[i] <= 2)
			continue;	/* they follow --stdio, by design */
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fds[i]);
		k = readlink(path, link, sizeof(link) - 1);
		link[k < 0 ? 0 : k] = 0;
		norm_target(link);
		put(s, "fd %d %s", fds[i], link);
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fds[i]);
		info = slurp(path, NULL);
		for (l = info ? strtok_r(info, "\n", &save) : NULL; l;
		     l = strtok_r(NULL, "\n", &save))
			if (!strncmp(l, "pos:", 4) || !strncmp(l, "flags:", 6) ||
			    !strncmp(l, "eventfd-count:", 14) ||
			    !strncmp(l, "seals:", 6))
				put(s, " | %s", l);
		put(s, "\n");
		free(info);
	}
}

static void snap_status(struct snap *s, const char *path, const char *who)
{
	static const char *const keep[] = { "Umask:", "SigBlk:", "SigIgn:",
		"SigCgt:", "ShdPnd:", "SigPnd:", "NoNewPrivs:", "Name:" };
	char *t = slurp(path, NULL), *l, *save;
	unsigned int k;

	for (l = t ? strtok_r(t, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save))
		for (k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
			if (!strncmp(l, keep[k], strlen(keep[k])))
				put(s, "%s %s\n", who, l);
	free(t);
}

#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif

struct rseq_conf {
	__u64 ptr;
	__u32 size, sig, flags, pad;
};

/*
 * What only the thread itself or a tracer sees: the rseq registration
 * (seize + interrupt: a blocked syscall restarts as the kernel would),
 * the robust list, nice, real-time priority and policy.
 */
static void snap_thread(struct snap *s, pid_t pid, pid_t tid)
{
	struct rseq_conf c;
	char path[128], *t, *p, *save;
	size_t len = 0;
	void *head = NULL;
	int field = 3, st;

	memset(&c, 0, sizeof(c));
	if (!ptrace(PTRACE_SEIZE, tid, 0, 0)) {
		if (!ptrace(PTRACE_INTERRUPT, tid, 0, 0) &&
		    waitpid(tid, &st, __WALL) == tid)
			ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(c), &c);
		ptrace(PTRACE_DETACH, tid, 0, 0);
	}
	syscall(SYS_get_robust_list, tid, &head, &len);
	put(s, "task %d rseq %llx/%u sig %x robust %p/%zu", tid,
	    (unsigned long long)c.ptr, c.size, c.sig, head, len);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	t = slurp(path, NULL);
	p = t ? strrchr(t, ')') : NULL;
	for (p = p ? strtok_r(p + 2, " ", &save) : NULL; p;
	     p = strtok_r(NULL, " ", &save), field++)
		if (field == 19 || field == 40 || field == 41)
			put(s, " %s %s", field == 19 ? "nice" :
			    field == 40 ? "rt_priority" : "policy", p);
	put(s, "\n");
	free(t);
}

static void snap_tasks(struct snap *s, pid_t pid)
{
	char path[128], who[64], *lim;
	int tids[256], n, i;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	n = list_dir(path, tids, 256);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid,
			 tids[i]);
		snprintf(who, sizeof(who), "task %d", tids[i]);
		snap_status(s, path, who);
		snap_thread(s, pid, tids[i]);
	}
	snprintf(path, sizeof(path), "/proc/%d/limits", pid);
	lim = slurp(path, NULL);
	put(s, "%s", lim ? lim : "");
	free(lim);
}

static void snapshot(struct snap *s, pid_t pid)
{
	s->buf = calloc(1, SNAP_MAX);
	s->len = 0;
	snap_maps(s, pid);
	snap_stat(s, pid);
	snap_links(s, pid);
	snap_fds(s, pid);
	snap_tasks(s, pid);
}

/* Returns the number of differing lines, each logged. */
static int compare(struct __test_metadata *_metadata, struct snap *a,
		   struct snap *b)
{
	char *sa, *sb, *la, *lb;
	int bad = 0;

	la = strtok_r(a->buf, "\n", &sa);
	lb = strtok_r(b->buf, "\n", &sb);
	while (la || lb) {
		if (!la || !lb || strcmp(la, lb)) {
			TH_LOG("before: %s", la ? la : "(none)");
			TH_LOG("after:  %s", lb ? lb : "(none)");
			if (++bad > 20)
				break;
		}
		la = la ? strtok_r(NULL, "\n", &sa) : NULL;
		lb = lb ? strtok_r(NULL, "\n", &sb) : NULL;
	}
	return bad;
}

FIXTURE(layout)
{
	struct lm_wl w;
	char img[PATH_MAX + 16], pidfile[PATH_MAX + 16], log[PATH_MAX + 16];
	pid_t restored, holder;
};

FIXTURE_VARIANT(layout)
{
	const char *opts;
};

FIXTURE_VARIANT_ADD(layout, memory) {
	.opts = "--anon --heap --bss --stack --shared --memfd --fpriv --fshared --tmpfs",
};
FIXTURE_VARIANT_ADD(layout, threads_signals) {
	.opts = "--threads --signals",
};
FIXTURE_VARIANT_ADD(layout, sched) {
	.opts = "--threads --sched",
};
FIXTURE_VARIANT_ADD(layout, spin) {
	.opts = "--spin --threads",
};
FIXTURE_VARIANT_ADD(layout, fds_cwd_rlimits) {
	.opts = "--fds --cwd --rlimits",
};

FIXTURE_SETUP(layout)
{
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	self->restored = self->holder = -1;
	ASSERT_EQ(0, lm_wl_start(&self->w, "wl_mem", variant->opts));
	snprintf(self->img, sizeof(self->img), "%s/img", self->w.dir);
	snprintf(self->pidfile, sizeof(self->pidfile), "%s/pid", self->w.dir);
	snprintf(self->log, sizeof(self->log), "%s/restored.log", self->w.dir);
}

FIXTURE_TEARDOWN(layout)
{
	lm_kill_unreaped(self->restored);
	if (self->holder > 0) {
		kill(self->holder, SIGKILL);
		lm_reap_pid(self->holder, 5000);
	}
	lm_wl_stop(&self->w);
	unlink(self->img);
	unlink(self->pidfile);
	unlink(self->log);
	rmdir(self->w.dir);
}

/* Dump the workload and reap it; returns its PID. */
static pid_t dump_it(struct __test_metadata *_metadata, FIXTURE_DATA(layout) *self)
{
	char out[8192];
	int rc;

	rc = lm_run_tool(out, sizeof(out), "dump -t %d -o %s", self->w.pid,
			 self->img);
	EXPECT_EQ(0, rc) TH_LOG("dump: %s", out);
	EXPECT_GE(lm_wl_reap(&self->w, 5000), 0);
	return rc ? -1 : self->w.pid;
}

static void verify_and_reap(struct __test_metadata *_metadata,
			    FIXTURE_DATA(layout) *self)
{
	char msg[600];
	int rc, st;

	rc = lm_wl_verify(&self->w, self->restored, msg, sizeof(msg), 20000);
	EXPECT_EQ(0, rc) TH_LOG("restored wl_mem: %s", msg);
	st = lm_reap_pid(self->restored, 10000);
	EXPECT_NE(-1, st);
	if (st != -1)
		self->restored = -1;
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && !WEXITSTATUS(st));
}

TEST_F_TIMEOUT(layout, same_from_outside, 120)
{
	struct snap before, after;
	char out[8192];
	pid_t pid = self->w.pid;
	int rc, bad;

	lm_msleep(100);	/* every thread in its blocking syscall */
	snapshot(&before, pid);
	/*
	 * The snapshot interrupted each thread (ptrace): the sleeper now
	 * finishes its nap in restart_syscall, whose number the restorer
	 * only recovers from glibc-style code (see restore_threads.c);
	 * wl_mem's raw syscall is not that: dump it in its next nap.
	 */
	lm_msleep(300);
	ASSERT_EQ(pid, dump_it(_metadata, self));
	rc = lm_run_tool(out, sizeof(out), "restore -i %s --pidfile %s --stdio %s",
			 self->img, self->pidfile, self->log);
	ASSERT_EQ(0, rc) TH_LOG("restore: %s", out);
	self->restored = lm_read_pidfile(self->pidfile, "");
	ASSERT_EQ(pid, self->restored);
	snapshot(&after, pid);
	bad = compare(_metadata, &before, &after);
	EXPECT_EQ(0, bad) TH_LOG("%d lines differ", bad);
	if (!bad) {
		ksft_print_msg("%s: %zu bytes of /proc state identical after restore\n",
			       variant->opts, before.len);
		fflush(stdout);
	}
	free(before.buf);
	free(after.buf);
	verify_and_reap(_metadata, self);
}

/* A restored process can be dumped and restored again, unchanged. */
TEST_F_TIMEOUT(layout, twice, 180)
{
	struct snap before, after;
	char out[8192];
	pid_t pid = self->w.pid;
	int rc, round, bad;

	lm_msleep(100);
	snapshot(&before, pid);
	lm_msleep(300);	/* as in same_from_outside */
	ASSERT_EQ(pid, dump_it(_metadata, self));
	for (round = 1; round <= 2; round++) {
		rc = lm_run_tool(out, sizeof(out),
				 "restore -i %s --pidfile %s --stdio %s",
				 self->img, self->pidfile, self->log);
		ASSERT_EQ(0, rc) TH_LOG("restore %d: %s", round, out);
		self->restored = lm_read_pidfile(self->pidfile, "");
		ASSERT_EQ(pid, self->restored);
		if (round == 2)
			break;
		lm_msleep(100);
		rc = lm_run_tool(out, sizeof(out), "dump -t %d -o %s", pid,
				 self->img);
		ASSERT_EQ(0, rc) TH_LOG("dump of the restored process: %s", out);
		ASSERT_NE(-1, lm_reap_pid(pid, 5000));
		self->restored = -1;
	}
	snapshot(&after, pid);
	bad = compare(_metadata, &before, &after);
	EXPECT_EQ(0, bad) TH_LOG("%d lines differ after two rounds", bad);
	if (!bad) {
		ksft_print_msg("%s: identical after dump/restore/dump/restore\n",
			       variant->opts);
		fflush(stdout);
	}
	free(before.buf);
	free(after.buf);
	verify_and_reap(_metadata, self);
}

static void holder_main(void)
{
	for (;;)
		pause();
}

/* A process that holds @pid (clone3 set_tid); -errno if it cannot. */
static pid_t hold_pid(pid_t pid)
{
	struct clone_args ca;
	long r;

	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (unsigned long)&pid;
	ca.set_tid_size = 1;
	r = syscall(SYS_clone3, &ca, sizeof(ca));
	if (r == 0)
		holder_main();
	return r < 0 ? -errno : r;
}

TEST_F_TIMEOUT(layout, taken_pid_is_said, 120)
{
	char out[8192], want[64];
	pid_t pid = self->w.pid;
	int rc;

	if (strcmp(variant->opts, "--threads --signals"))
		SKIP(return, "one variant is enough");
	ASSERT_EQ(pid, dump_it(_metadata, self));
	self->holder = hold_pid(pid);
	ASSERT_EQ(pid, self->holder) TH_LOG("cannot take PID %d: %s", pid,
					    strerror(-self->holder));
	rc = lm_run_tool(out, sizeof(out), "restore -i %s --pidfile %s --stdio %s",
			 self->img, self->pidfile, self->log);
	ASSERT_EQ(0, rc) TH_LOG("restore: %s", out);
	self->restored = lm_read_pidfile(self->pidfile, "");
	ASSERT_GT(self->restored, 0);
	EXPECT_NE(pid, self->restored);
	snprintf(want, sizeof(want), "PID %d is in use: the process gets PID %d",
		 pid, self->restored);
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("restore said: %s", out);
	ksft_print_msg("PID %d taken; restore said: %s", pid, out);
	fflush(stdout);
	verify_and_reap(_metadata, self);
}

/* Fields 5 and 6 of /proc/PID/stat: process group and session. */
static int pgrp_sid(pid_t pid, int *pgrp, int *sid)
{
	char path[64], *t, *p;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	t = slurp(path, NULL);
	p = t ? strrchr(t, ')') : NULL;
	ok = p && sscanf(p + 2, "%*c %*d %d %d", pgrp, sid) == 2;
	free(t);
	return ok ? 0 : -1;
}

/* A session leader (a daemon) leads its own session again. */
TEST(session_leader_leads_again)
{
	char dir[] = "/tmp/lmsid.XXXXXX", img[64], pf[64], out[8192];
	int pgrp = 0, sid = 0, rc;
	pid_t pid, restored;

	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(pf, sizeof(pf), "%s/pid", dir);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		setsid();
		for (;;)
			pause();
	}
	lm_msleep(100);
	ASSERT_EQ(0, pgrp_sid(pid, &pgrp, &sid));
	ASSERT_EQ(pid, sid);
	rc = lm_run_tool(out, sizeof(out), "dump -t %d -o %s", pid, img);
	ASSERT_EQ(0, rc) TH_LOG("dump: %s", out);
	ASSERT_NE(-1, lm_reap_pid(pid, 5000));
	rc = lm_run_tool(out, sizeof(out), "restore -i %s --pidfile %s --stdio null",
			 img, pf);
	ASSERT_EQ(0, rc) TH_LOG("restore: %s", out);
	restored = lm_read_pidfile(pf, "");
	ASSERT_EQ(pid, restored);
	EXPECT_EQ(0, pgrp_sid(restored, &pgrp, &sid));
	EXPECT_EQ(restored, sid);
	EXPECT_EQ(restored, pgrp);
	kill(restored, SIGKILL);
	lm_reap_pid(restored, 5000);
	unlink(img);
	unlink(pf);
	rmdir(dir);
}

TEST_HARNESS_MAIN
