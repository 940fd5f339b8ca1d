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

#include <stdio.h>
#include <sys/types.h>
#include "restore.h"

#define RST_TRAMP_PAGES	16	/* page 0: code; the rest: scratch */
#define RST_TRAMP_SIZE	(RST_TRAMP_PAGES * LM_PAGE_SIZE)
#define RST_SCRATCH_OFF	LM_PAGE_SIZE

#define rst_err(fmt, ...) fprintf(stderr, "restore: " fmt "\n", ##__VA_ARGS__)

/* One fd the stub installs before it stops: dup3(carrier, fd). */
struct rst_fdplan {
	int carrier;
	int fd;
	int cloexec;
};

struct lm_restorer {
	struct lm_image *img;
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
int rst_start_stub(struct lm_restorer *r);
int rst_clean_stub(struct lm_restorer *r);
int rst_move_vdso(struct lm_restorer *r);
long rst_sys(struct lm_restorer *r, pid_t tid, long nr, long a1, long a2,
	     long a3, long a4, long a5, long a6);
int rst_put(struct lm_restorer *r, unsigned long off, const void *buf,
	    size_t len, unsigned long *addr);

/* restore_fds.c */
int rst_open_fds(struct lm_restorer *r);
int rst_open_shms(struct lm_restorer *r);
int rst_native_anon(const struct lm_restorer *r, int k);
int rst_seal_shms(struct lm_restorer *r);

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
