/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for selftests that run a migration between two network
 * namespaces: processes started inside a netns with their output in a
 * per-test directory, files polled there, stats JSON read.
 */
#ifndef MIGTEST_H
#define MIGTEST_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* system() of a formatted command line. */
int lm_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* SIGKILL and reap *pid if set; clears it. */
void lm_reap(pid_t *pid);
/*
 * Fork argv with stdout+stderr to dir/log, stdin null; in the child,
 * @setup(@ctx) (if set) runs just before the exec: nonzero exits 126.
 * @pdeath: the child dies with the test.
 */
pid_t lm_spawn(const char *dir, const char *log, int pdeath,
	       int (*setup)(void *ctx), void *ctx, char *const argv[]);
/* setns() into network namespace ns (/run/netns/ns); 0 or -1. */
int lm_enter_netns(const char *ns);
/* Fork argv in network namespace ns, stdout+stderr to dir/log, stdin null. */
pid_t lm_spawn_ns(const char *dir, const char *ns, const char *log,
		  int pdeath, char *const argv[]);
/* Exit status of *pid within secs (then *pid = 0), or -1 on timeout. */
int lm_wait_exit(pid_t *pid, int secs);
/* Read dir/name into buf (NUL-terminated); 0 if it held anything. */
int lm_slurp(const char *dir, const char *name, char *buf, size_t len);
/* Print dir/name (its first 8 KiB) on stderr as "# name: ...". */
void lm_show_log(const char *dir, const char *name);
/* Wait until dir/name is non-empty and contains what (if given). */
int lm_wait_file(const char *dir, const char *name, const char *what,
		 int secs, char *buf, size_t len);
/* The number after "key": in json, or -1. */
long long lm_json_num(const char *json, const char *key);
/* Write tok to dir/name, mode 0600. */
void lm_write_token(const char *dir, const char *name, const char *tok);
/* "dir/name" in one of 8 rotating static buffers. */
char *lm_in_dir(const char *dir, const char *name);

/*
 * Two network namespaces lmsrcPID and lmdstPID joined by a veth pair
 * (10.NET.0.1 / 10.NET.0.2 and fdNET::1 / fdNET::2), and a per-test
 * directory holding copies of the binaries the test runs.
 */
struct lm_net {
	char src[32], dst[32];	/* namespace names */
	char dir[64];		/* /tmp/lazymig-TAG.XXXXXX */
	char addr[64];		/* the destination's "10.NET.0.2:PORT" */
	char veth[16];		/* <veth>a in src, <veth>b in dst */
	char bin[4][PATH_MAX];	/* copies of the binaries asked for */
};

/*
 * Make the directory, copy build/<rel[i]> (e.g. "lazymig",
 * "selftests/workloads/lazy_wl") for each of the nbins (at most 4) into it, and
 * set up the namespaces.  Namespaces left behind by test processes that
 * no longer exist are removed first.  0: ready; 1: no namespaces here
 * (skip); -1: failure, said on stderr.  On non-zero nothing is left.
 */
int lm_net_setup(struct lm_net *n, const char *tag, int net,
		 const char *const rel[], int nbins);
/* Remove the workload files listed in dir/state, namespaces, dir. */
void lm_net_teardown(struct lm_net *n);

/*
 * In a FIXTURE_SETUP, after r = lm_net_setup(): skip the test where there
 * are no namespaces (r > 0), fail it where the rest failed (r < 0).
 */
#define LM_NET_SETUP_CHECK(r)						\
	do {								\
		if ((r) > 0)						\
			SKIP(return, "cannot create network namespaces"); \
		if ((r) < 0)						\
			ASSERT_TRUE(0)					\
				TH_LOG("cannot set up the namespaces or copy the binaries"); \
	} while (0)

/*
 * Kill and reap what a migration test started: the restored process
 * (killed first and last), the sender, the receiver, the source workload
 * (woken first if stopped).  The pids are cleared.
 */
void lm_mig_reap(pid_t restored, pid_t *send, pid_t *recv, pid_t *wl);

/*
 * Network namespaces src and dst joined by veth pair <veth>a (in src,
 * src_ip/24) and <veth>b (in dst, dst_ip/24), both up with lo.  0, or -1
 * with nothing left behind.
 */
int lm_netns_pair(const char *src, const char *dst, const char *veth,
		  const char *src_ip, const char *dst_ip);
/* ip netns del both (the veth pair goes with them). */
void lm_netns_del(const char *src, const char *dst);
/* Copy bins[i] into dir/names[i] (until the copy runs), bins[i] = copy. */
int lm_snapshot_bins(const char *dir, char **bins, const char *const *names,
		     int n, size_t len);
/* Open fds of pid (entries of /proc/PID/fd), or -1. */
int lm_count_fds(pid_t pid);
/* VmRSS of pid in KiB, or -1. */
long lm_rss_kib(pid_t pid);
/* State letter of pid from /proc/PID/status (R, S, T, Z...), 0 if gone. */
char lm_proc_state(pid_t pid);
/* lm_proc_state() once it is @want, or as it is after @ms milliseconds. */
char lm_proc_state_wait(pid_t pid, char want, int ms);
/* 0 once pid is gone or a zombie (polled every 50 ms), -1 after secs. */
int lm_wait_gone(pid_t pid, int secs);

#endif
