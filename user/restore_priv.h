/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig restorer internals, shared by the restore_*.c stages only.
 *
 * How the stub is built (see restore_stub.c): every object the restored
 * process needs an fd for (its own fds, shm objects, files to mmap, the
 * exe) is opened in the restorer and moved to an fd number >= base, a
 * "carrier".  The stub is a clone3 child of the restorer, so it inherits
 * the carriers at the same numbers: injected mmap() and prctl() use them
 * directly, and the stub's own C code dup3()s them onto the image fd
 * numbers before it stops.  The carriers are closed in the stub by one
 * injected close_range(base, ~0U) before it resumes.
 */
#ifndef LAZYMIG_RESTORE_PRIV_H
#define LAZYMIG_RESTORE_PRIV_H

#include <errno.h>
#include <stdio.h>
#include <sys/types.h>
#include "restore.h"

#define RST_TRAMP_PAGES	16	/* page 0: code; the rest: scratch */
#define RST_TRAMP_SIZE	(RST_TRAMP_PAGES * LM_PAGE_SIZE)
#define RST_SCRATCH_OFF	LM_PAGE_SIZE
#define RST_BATCH_CODE_OFF 16	/* rst_batch_code in the code page */

#define rst_err(fmt, ...) fprintf(stderr, "restore: " fmt "\n", ##__VA_ARGS__)

/* One fd the stub installs before it stops: dup3(carrier, fd). */
struct rst_fdplan {
	int carrier;
	int fd;
	int cloexec;
};

/*
 * A process tree (restore_tree.c): one restorer per member, in the
 * TREE record's order.  Objects shared between fds or members (an open
 * file description, a pipe, a socketpair, a shm object) are opened once
 * and kept in shares[] until every stub has been created: each member's
 * carrier is a dup of it.
 */
enum rst_share_kind {
	RST_SH_FILE = 1,	/* key: file_id */
	RST_SH_PIPE,		/* key: pipe inode; fd[0] read, fd[1] write */
	RST_SH_SOCK,		/* key: lower inode of the pair; fd[0] is
				 * that end, fd[1] the other */
	RST_SH_SHM,		/* key, key2: dev, ino */
};

struct rst_share {
	int kind;
	__u64 key, key2;
	int fd[2];
	int filled;		/* bit n: data queued into end n */
};

struct rst_tree {
	const struct lm_tree_img *t;
	unsigned int nr;
	struct lm_restorer **rs;	/* [nr] */
	struct rst_share *shares;
	int nr_shares;
};

struct lm_restorer {
	struct lm_image *img;
	struct rst_tree *tree;		/* NULL: a single process */
	unsigned int member;		/* index in the tree */
	struct lm_restore_opts opts;
	pid_t pid;			/* the stub, then the restored process */
	int pidfd;
	int mem_fd;			/* /proc/PID/mem */
	int seized;			/* the leader is seized and stopped */
	unsigned long tramp;		/* trampoline in the stub (0: gone) */
	int base;			/* first carrier fd number */

	int *shm_fd;			/* [nr_shms]: carrier per shm object */
	int *shm_native;		/* [nr_shms]: shared anon made by mmap in
					 * the stub: 1 + index of its VMA, else 0 */
	void **shm_map;			/* [nr_shms]: restorer mapping (hugetlb) */
	int *vma_fd;			/* [nr_vmas]: carrier to mmap, or -1 */
	int exe_fd;			/* carrier of the exe, or -1 */
	struct rst_fdplan *plan;	/* [nr_plan] */
	int nr_plan;
	int *carriers;			/* every carrier, sorted */
	int nr_carriers;
	int status_rd, status_wr;	/* stub -> restorer start report */

	int uffd;			/* restorer's uffd, or -1 */
	int uffd_taken;			/* the caller owns a dup of it */
	unsigned char *registered;	/* [nr_vmas]: registered with uffd */

	pid_t *tids;			/* [nr_threads]: restored TIDs */
	int *thr_seized;		/* [nr_threads] */
};

/* restore_stub.c */
int rst_find_gap(const struct lm_image *img, pid_t pid, unsigned long len,
		 unsigned long avoid_start, unsigned long avoid_end,
		 unsigned long *out);
int rst_add_carrier(struct lm_restorer *r, int fd);
/*
 * Make the next process this thread creates (the stub) start in a new
 * time namespace whose CLOCK_MONOTONIC and CLOCK_BOOTTIME continue from
 * the dumped values (timens.c); returns what rst_leave_timens() takes
 * once the stub exists.  Never fails: says why when it cannot.
 */
int rst_enter_timens(const struct lm_image *img);
void rst_leave_timens(int own);
int rst_start_stub(struct lm_restorer *r);
int rst_start_tree(struct rst_tree *tr);
int rst_clean_stub(struct lm_restorer *r);
int rst_move_vdso(struct lm_restorer *r);
long rst_sys(struct lm_restorer *r, pid_t tid, long nr, long a1, long a2,
	     long a3, long a4, long a5, long a6);
int rst_put(struct lm_restorer *r, unsigned long off, const void *buf,
	    size_t len, unsigned long *addr);

/* restore_batch.c: many injected syscalls in one ptrace round trip */
struct rst_call {		/* read by rst_batch_code: 64 bytes */
	long nr;
	long a[6];
	long ret;
};

#define RST_NOT_RUN	(-ECANCELED)	/* after a failed call */
#define RST_FAILED(ret)	((unsigned long)(ret) >= -4095UL)

struct rst_batch {
	struct rst_call *c;		/* [n] */
	unsigned int *tag;		/* [n]: the caller's */
	unsigned int n, cap;
	unsigned int next;		/* the first call not run */
	char *data;			/* strings the calls point to */
	size_t data_len;
};

extern const unsigned char rst_batch_code[];
extern const size_t rst_batch_code_len;
void rst_batch_init(struct rst_batch *b);
void rst_batch_reset(struct rst_batch *b);
void rst_batch_free(struct rst_batch *b);
int rst_batch_add(struct rst_batch *b, unsigned int tag, long nr, long a1,
		  long a2, long a3, long a4, long a5, long a6);
/* Copy @buf (@s) where the calls can point to it: -ENOSPC when full. */
int rst_batch_data(struct lm_restorer *r, struct rst_batch *b,
		   const void *buf, size_t len, unsigned long *addr);
int rst_batch_str(struct lm_restorer *r, struct rst_batch *b, const char *s,
		  unsigned long *addr);
/*
 * Run calls @from.. in order in the stub, stopping after the first that
 * fails; each one's result lands in ->ret and ->next is the first call
 * not run (a caller may ignore a failure and run again from there).
 * Returns 0, or -errno (and says so) if the injection failed.
 */
int rst_batch_run(struct lm_restorer *r, struct rst_batch *b,
		  unsigned int from);
/* The same in thread @tid of the stub (seized and stopped). */
int rst_batch_run_tid(struct lm_restorer *r, pid_t tid, struct rst_batch *b,
		      unsigned int from);

/* restore_fds.c */
int rst_open_fds(struct lm_restorer *r);
int rst_open_shms(struct lm_restorer *r);
int rst_native_anon(const struct lm_restorer *r, int k);
int rst_seal_shms(struct lm_restorer *r);

/* restore_tree.c */
struct rst_share *rst_share_find(struct rst_tree *tr, int kind, __u64 key,
				 __u64 key2);
struct rst_share *rst_share_add(struct rst_tree *tr, int kind, __u64 key,
				__u64 key2, int fd0, int fd1);
void rst_share_close(struct rst_tree *tr);

/* restore_mem.c */
int rst_open_vma_files(struct lm_restorer *r);
int rst_map_vmas(struct lm_restorer *r);
int rst_lock_vmas(struct lm_restorer *r);
int rst_uffd_create(struct lm_restorer *r);

/* restore_threads.c */
int rst_threads(struct lm_restorer *r);
int rst_mm_map(struct lm_restorer *r);
int rst_finish(struct lm_restorer *r);

const char *rst_vma_name(const struct lm_vma_img *v);

#endif
