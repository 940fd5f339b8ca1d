/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Selftest helpers around the workload programs (selftests/workloads/):
 * start one, read its STATEFILE manifest (see wl_mem.c for the protocol),
 * ask it to verify itself, and clean up after it; run the lazymig tool.
 */
#ifndef LMTEST_WL_H
#define LMTEST_WL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LM_WL_MAX 64

struct lm_wl_region {
	char name[32], kind[32];
	uint64_t addr, len, seed;	/* seed 0: the range must read zero */
};

struct lm_wl_named {
	char name[32];
	long val;			/* tid or fd */
};

struct lm_wl {
	pid_t pid;			/* the workload (our child) */
	int reaped;
	char dir[256];			/* private temporary directory */
	char state[PATH_MAX];		/* dir/state */
	struct lm_wl_region regions[LM_WL_MAX];
	int nr_regions;
	struct lm_wl_named threads[LM_WL_MAX], fds[LM_WL_MAX];
	int nr_threads, nr_fds;
	char files[LM_WL_MAX][PATH_MAX];	/* removed by lm_wl_stop */
	int nr_files;
	char skips[512];		/* "skip" lines, joined */
};

/* Path of build/NAME (e.g. "lazymig", "selftests/workloads/wl_mem"). */
const char *lm_build_path(const char *name);

/*
 * build/lazymig, seen from this test's build/selftests/DIR/TEST, if it is
 * executable; else "lazymig" (a guest has it on PATH).
 */
void lm_lazymig_path(char *buf, size_t len);

/*
 * Fill @argv (room for @max) with `lazymig @cmd @args...` (@args
 * NULL-terminated, cut to fit), NULL at the end; @lm holds the path.
 */
void lm_lazymig_argv(const char **argv, int max, char *lm, size_t len,
		     const char *cmd, const char *const *args);

/*
 * Start build/selftests/workloads/@prog with space-separated @opts and its
 * STATEFILE in a fresh temporary directory; wait (up to 10 s) for "ready"
 * and parse the manifest.  Returns 0 or -errno.
 */
int lm_wl_start(struct lm_wl *w, const char *prog, const char *opts);

const struct lm_wl_region *lm_wl_region(const struct lm_wl *w,
					const char *name);
long lm_wl_thread(const struct lm_wl *w, const char *name);	/* -1 */
long lm_wl_fd(const struct lm_wl *w, const char *name);	/* -1 */

/*
 * SIGUSR1 to @pid (the workload, or its restored self) and wait up to
 * @timeout_ms for STATEFILE.result; copies it to @msg.  Returns 0 if it
 * says "ok", 1 if "fail: ...", -ETIMEDOUT or -errno.
 */
int lm_wl_verify(struct lm_wl *w, pid_t pid, char *msg, size_t len,
		 int timeout_ms);

/* Is @pid alive (and not a zombie)? */
int lm_pid_alive(pid_t pid);

/* Reap the workload if it exited: returns its wait status or -1. */
int lm_wl_reap(struct lm_wl *w, int timeout_ms);

/* SIGKILL and reap the workload if still there, remove its files. */
void lm_wl_stop(struct lm_wl *w);

/*
 * Start build/selftests/workloads/wl_child MODE (see wl_child.c), its
 * report pipe in *rep and command pipe in *cmd; @shm_fd (or -1) is passed
 * on.  *thing gets the int it reports first.  Returns the pid or -errno.
 */
pid_t lm_child_start(const char *mode, int shm_fd, int *rep, int *cmd,
		     int *thing);

/*
 * Run "build/lazymig ARGS" (ARGS printf-formatted, split by the shell),
 * capture stdout+stderr into @out.  Returns the exit status, or -1.
 */
__attribute__((format(printf, 3, 4)))
int lm_run_tool(char *out, size_t len, const char *fmt, ...);

#endif
