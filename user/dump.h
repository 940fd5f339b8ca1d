/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: freezing a process and collecting its image (source side).
 * Used by `dump` (to a file) and by `send` (to the wire + page server).
 */
#ifndef LAZYMIG_DUMP_H
#define LAZYMIG_DUMP_H

#include <signal.h>
#include "image.h"
#include "vmwatch.h"

/* The stages of a freeze, timed for `LAZYMIG_PHASES=1 lazymig send`. */
enum lm_dump_phase {
	LM_DUMP_START, LM_DUMP_EARLY, LM_DUMP_FROZEN, LM_DUMP_PROC, LM_DUMP_FDS, LM_DUMP_VMAS,
	LM_DUMP_PAGEMAP, LM_DUMP_THREADS, LM_DUMP_NR_PHASES
};

struct lm_dump {
	pid_t pid;
	int pidfd;
	int mem_fd;		/* /proc/PID/mem, for pages (or -1) */
	int frozen;		/* all threads seized and stopped */
	struct lm_image img;
	char errmsg[512];	/* why a dump was refused or failed */
	pid_t *tids;		/* seized threads, leader first */
	unsigned int nr_tids;
	unsigned long scratch;	/* tracee stack bytes used by injection */
	unsigned long insn;	/* a `syscall` instruction poked in */
	char *early_smaps;	/* smaps read before the freeze (vmwatch.h) */
	struct lm_vmwatch watch;
	int smaps_early;	/* 1: the VMAs came from early_smaps;
				 * -1: it did not hold, read again */
	unsigned char *vma_smaps;	/* [nr_vmas]: SMAPS_* (collect_mm.c):
					 * what smaps already tells of the
					 * pages, sparing a pagemap scan */
	int tree;		/* a member of dump --tree: AF_UNIX
				 * socketpairs are kept (their peers are
				 * checked against the tree) */
	__u64 phase_ns[LM_DUMP_NR_PHASES];	/* CLOCK_MONOTONIC at the end
						 * of each phase (dump_phase) */
};


/*
 * Seize and stop every thread of @pid (looping until no new thread
 * appears), then collect the whole image (no page data: pagemaps only).
 * Refuses unsupported state with a message naming it in d->errmsg; on any
 * failure the process is left running, untouched.  Returns 0 or -errno.
 */
/*
 * Dying in the middle of an injection would leave a poked syscall
 * instruction and a blocked signal mask in the process: hold SIGINT,
 * SIGTERM, SIGHUP and SIGQUIT (the old mask in @old) until it is over.
 */
void lm_dump_hold_signals(sigset_t *old);

int lm_dump_freeze_collect(pid_t pid, struct lm_dump *d);

/* "frozen 0.4 ms, /proc 0.1 ms, ..." into @buf: the time of each stage. */
void lm_dump_phases(const struct lm_dump *d, char *buf, size_t len);

/*
 * Read @npages pages of @space at @addr from the frozen process (space 0:
 * virtual addresses) or the shm object (space = id + 1, addr = offset).
 * Safe to call from several threads.  Returns 0 or -errno.
 */
int lm_dump_read_pages(struct lm_dump *d, __u32 space, __u64 addr,
		       void *buf, __u64 npages, __u64 page_size);

/* Write the eager stream (all metadata, all pages, END) of a frozen dump. */
int lm_dump_write_all(struct lm_dump *d, struct lm_stream *s);

/*
 * Detach: resume the process (kill == 0) or SIGKILL it and collect the
 * exit of every traced thread (a process that is the caller's own child is
 * thereby reaped too); frees the image.  Harmless after a failed
 * lm_dump_freeze_collect.
 */
void lm_dump_release(struct lm_dump *d, int kill);

/*
 * Write PAGES records for every page with data of one pagemap, in runs of
 * contiguous pages (at most @max_run_bytes each, 0 = default 4 MiB).
 * Returns the number of pages written or -errno.
 */
long lm_dump_write_map(struct lm_dump *d, struct lm_stream *s,
		       const struct lm_pagemap_img *m, __u64 max_run_bytes);

/*
 * dump --tree: seize every process of the tree rooted at @pid (children
 * from /proc/PID/task/TID/children, every thread, looping until nothing
 * new appears) before collecting any, then collect each member.  On
 * success *members is an array of *nr dumps, the root first, parents
 * before children, and @t says who is whose parent and which fds share an
 * open file description (kcmp).  On failure every process runs on,
 * untouched, and @errmsg says why.
 */
int lm_dump_tree(pid_t pid, struct lm_dump **members, unsigned int *nr,
		 struct lm_tree_img *t, char *errmsg, size_t errlen);
/* TREE record, then each member's eager stream. */
int lm_dump_tree_write(struct lm_dump *members, unsigned int nr,
		       const struct lm_tree_img *t, struct lm_stream *s,
		       char *errmsg, size_t errlen);
/* lm_dump_release of every member (children first), frees the array. */
void lm_dump_tree_release(struct lm_dump *members, unsigned int nr,
			  struct lm_tree_img *t, int kill);

/* Pages with data in the whole image (sum over the pagemaps). */
__u64 lm_image_data_pages(const struct lm_image *img);

/* ---- internal to the dump stage (dump*.c and collect_*.c only) ---- */

/* Record the first reason in d->errmsg ("dump: ..." added); returns err. */
__attribute__((format(printf, 3, 4)))
int lm_dump_fail(struct lm_dump *d, int err, const char *fmt, ...);
/* The whole of a /proc file, NUL-terminated (malloc'd), or NULL + errno. */
char *lm_dump_slurp(const char *path, size_t *len);
/* Value after "Key:" in a status-like text, or NULL. */
const char *lm_dump_field(const char *text, const char *key);
/* The shm object with this identity, created on first use; id or -errno. */
int lm_dump_shm_get(struct lm_dump *d, const char *open_path,
		    const char *name, int kind_hint);
int lm_collect_fds(struct lm_dump *d);
int lm_collect_mm_early(struct lm_dump *d);
int lm_collect_mm(struct lm_dump *d);

/*
 * Called, if set, between the early smaps read and the freeze (tests
 * change the process there).
 */
extern void (*lm_dump_early_hook)(pid_t pid);
int lm_collect_shm_maps(struct lm_dump *d);
int lm_collect_threads(struct lm_dump *d);
/* dump.c, for dump_tree.c: the stages of lm_dump_freeze_collect. */
int lm_dump_check(struct lm_dump *d);
int lm_dump_freeze(struct lm_dump *d);
int lm_dump_freeze_more(struct lm_dump *d);	/* >0: new threads seized */
int lm_dump_collect(struct lm_dump *d);

#endif
