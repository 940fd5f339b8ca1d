/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: the lazy-pages daemon (destination side).
 *
 * Lazy state is kept per mm (the restored process, and each child it forks
 * while pages are still arriving) as an array of runs sorted by current
 * address, each with a bitmap of the pages that still wait for data from
 * the source.  A run remembers where its pages came from (space + source
 * address), so mremap moves the state and the source keeps answering in
 * its own addresses.  A fault is a binary search plus a bit test.
 *
 * A run of a lazy shm object (space = shm id + 1, src = offset) has no
 * lazy bits of its own: the object's lazy state is kept once, by offset,
 * in the daemon (lazy.c), so every mapping of it, in every mm, shares it.
 */
#ifndef LAZYMIG_LAZY_H
#define LAZYMIG_LAZY_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>
#include "image.h"
#include "stats.h"

struct lm_run {
	__u64 start, end;	/* current addresses in the mm */
	__u64 src;		/* source address (or offset) of start */
	__u32 space;
	__u64 page_size;
	unsigned long *lazy;	/* bit i: page i waits for data */
	unsigned long *req;	/* bit i: requested, answer not yet in */
	__u64 nlazy;
};

struct lm_mm {
	int uffd;
	pid_t pid;
	struct lm_run *runs;	/* sorted by start, disjoint */
	size_t nr, cap;
	size_t *by_src;		/* run indices sorted by (space, src) */
	__u64 nlazy;		/* sum of runs' nlazy */
	int dead;		/* mm gone (ESRCH) */
	unsigned int member;	/* tree member it belongs to (0: the root) */
	int top;		/* a member's own mm, not a child it forked */
};

/*
 * A process tree migrated lazily: every member's source addresses are
 * told apart on the wire and in the runs by the member index in the top
 * bits of the space (member 0, the root, and a single process: as is).
 * A shm object shared by several members is named by the first member
 * that has it (the others' pagemaps of it carry no data).
 */
#define LM_SPACE_MEMBER_SHIFT	16
#define LM_TREE_SPACE(member, space) \
	(((__u32)(member) << LM_SPACE_MEMBER_SHIFT) | (__u32)(space))
#define LM_SPACE_MEMBER(space)	((__u32)(space) >> LM_SPACE_MEMBER_SHIFT)
#define LM_SPACE_LOCAL(space) \
	((__u32)(space) & ((1U << LM_SPACE_MEMBER_SHIFT) - 1))

/* ---- run bookkeeping (lazy_runs.c) ---- */

/* Add a run; @data (npages bits) says which pages have data (NULL: all). */
int lm_mm_add_run(struct lm_mm *mm, __u32 space, __u64 start, __u64 src,
		  __u64 npages, __u64 page_size, const unsigned long *data);
/* Sort runs and rebuild the source index; after adds and moves. */
int lm_mm_index(struct lm_mm *mm);
struct lm_run *lm_mm_find(struct lm_mm *mm, __u64 addr);
/* Index into by_src of the first run that may overlap space/src. */
size_t lm_mm_src_first(const struct lm_mm *mm, __u32 space, __u64 src);
/* Forget lazy state in [start, end): returns pages that were lazy. */
__u64 lm_mm_clear(struct lm_mm *mm, __u64 start, __u64 end);
/*
 * Lazy state of [from, from+len) now lives at [to, to+len); the runs that
 * were there are gone (mremap unmaps them first).
 */
int lm_mm_remap(struct lm_mm *mm, __u64 from, __u64 to, __u64 len);
/* A forked child starts with a copy of its parent's lazy state. */
int lm_mm_dup(const struct lm_mm *mm, struct lm_mm *child);
void lm_mm_free(struct lm_mm *mm);
/* Clear bits [lo, hi) of run @r; returns how many were set. */
__u64 lm_run_clear(struct lm_run *r, __u64 lo, __u64 hi);

/* Bitmaps of unsigned long words. */
#define LM_BPL		(8 * sizeof(unsigned long))
#define LM_BITS_TO_LONGS(n)	(((n) + LM_BPL - 1) / LM_BPL)

static inline int lm_test_bit(const unsigned long *b, __u64 i)
{
	return (b[i / LM_BPL] >> (i % LM_BPL)) & 1;
}

static inline void lm_set_bit(unsigned long *b, __u64 i)
{
	b[i / LM_BPL] |= 1UL << (i % LM_BPL);
}

static inline void lm_clear_bit(unsigned long *b, __u64 i)
{
	b[i / LM_BPL] &= ~(1UL << (i % LM_BPL));
}

/* First set bit in [i, n), or n. */
__u64 lm_find_next_bit(const unsigned long *b, __u64 n, __u64 i);
/* First clear bit in [i, n), or n. */
__u64 lm_find_next_zero_bit(const unsigned long *b, __u64 n, __u64 i);
__u64 lm_bitmap_weight(const unsigned long *b, __u64 n);

/* ---- sequential read-ahead of fault requests (lazy_ra.c) ---- */

#define LM_RA_STREAMS	8

struct lm_ra {
	struct lm_ra_stream {
		__u64 start, end;	/* source range last asked for */
		__u64 used;		/* tick of the last fault in it; 0: free */
		__u32 space;
		__u32 win;		/* pages asked for last time */
	} s[LM_RA_STREAMS];
	__u64 tick;
	__u32 max;		/* largest window, pages (1: none) */
	__u32 cover;		/* pages an answer brings at least */
};

void lm_ra_init(struct lm_ra *ra, __u32 max, __u32 cover);
/*
 * A fault at source page space/src (page size ps) is about to be asked
 * for: how many pages from src to ask for.  1 for a fault out of every
 * stream, doubling (up to max) while faults follow each other.
 */
__u32 lm_ra_window(struct lm_ra *ra, __u32 space, __u64 src, __u64 ps);

/*
 * The pagemap of a VMA restored lazily (LM_VMA_LAZY, space 0), or NULL
 * when it has none (then all its pages are zero).
 */
const struct lm_pagemap_img *lm_lazy_vma_map(const struct lm_image *img,
					     const struct lm_vma_img *v);

/* ---- the daemon (lazy.c) ---- */

struct lm_lazy_cfg {
	int uffd;		/* lazy ranges of @pid registered on it */
	pid_t pid;
	int req_fd, bulk_fd;	/* authenticated channels to the source */
	const struct lm_image *img;
	struct lm_stats *st;
	/*
	 * An fd on shm object @shm_id as restored (LM_SHM_LAZY objects: the
	 * daemon maps it, registers its mapping on a uffd of its own and
	 * installs pages there, by offset, for every mapping of the object).
	 */
	int (*shm_fd)(void *ctx, int shm_id);
	void *shm_ctx;
	/*
	 * Lost source after resume: take its reconnect on listening socket
	 * @lfd (LM_CHAN_REJOIN then LM_CHAN_BULK, authenticated with @auth,
	 * same session) for up to @peer_timeout seconds, re-send what was in
	 * flight, and carry on.  Faulting threads stay blocked meanwhile.
	 * Past the timeout, the process and every child it forked are
	 * killed (SIGKILL) before a uffd closes: none reads a missing page.
	 * lfd < 0 or peer_timeout 0: a lost channel is fatal at once.
	 */
	int lfd;
	struct lm_auth *auth;
	int peer_timeout;
	/*
	 * The guardian (guard.h): told of each forked child's uffd, and let
	 * go before the daemon closes the uffds (every page in).  NULL: none.
	 */
	void (*uffd_forked)(void *ctx, int ufd);
	void (*uffds_closing)(void *ctx);
	void *guard_ctx;
	/*
	 * lazymig.ko, opened (NULL: not there).  Every lazy shm object is
	 * then registered with it: fd access, punch and truncate of its
	 * pending pages come as events, pages go in with LAZYMIG_IOC_FILL.
	 */
	struct lmdev *dev;
	/* UFFD_FEATURE_EVENT_SHMEM_REMOVE works (patched kernel) */
	int shmem_remove;
};

struct lm_lazy;

/*
 * Build lazy state from the image: every LM_VMA_LAZY VMA, with its
 * pagemap.  Counts pages_total/pages_zero of those VMAs into st.
 */
int lm_lazy_create(const struct lm_lazy_cfg *cfg, struct lm_lazy **out);
/*
 * A process tree: member @member (1, 2, ... in order; the root is the
 * one lm_lazy_create made) with its own uffd (taken), image and shm_fd
 * context.  Before lm_lazy_run.
 */
int lm_lazy_add_member(struct lm_lazy *l, unsigned int member, int uffd,
		       const struct lm_image *img, void *shm_ctx);
/* Safe from another thread, before lm_lazy_resumed: member's PID. */
void lm_lazy_member_pid(struct lm_lazy *l, unsigned int member, pid_t pid);
/*
 * Install pages (eager ones, before resume); space as on the wire
 * (LM_TREE_SPACE for a tree member); @npages counts 4 KiB pages, as on
 * the wire (a huge page: all of its 4 KiB).
 */
int lm_lazy_install(struct lm_lazy *l, __u32 space, __u64 addr,
		    __u64 npages, const void *data);
/* Safe from another thread: process @pid now runs; start the push. */
void lm_lazy_resumed(struct lm_lazy *l, pid_t pid);
/* Safe from another thread: give up (resume failed); run returns -ECANCELED. */
void lm_lazy_abort(struct lm_lazy *l);
/*
 * The event loop: until every page is in (then DONE to the source, wait
 * for its BYE) or a fatal error.  0 or -errno.
 */
int lm_lazy_run(struct lm_lazy *l);
/* Pages of the root mm still waiting for data. */
__u64 lm_lazy_pending(const struct lm_lazy *l);
void lm_lazy_destroy(struct lm_lazy *l);

/*
 * SIGKILL @pid and every descendant (found through the children files
 * of /proc/PID/task, each stopped first so that none forks meanwhile).
 * Returns how many processes were signalled.
 */
int lm_kill_tree(pid_t pid);

/* UFFD_FEATURE_* the daemon asks for, limited to what the kernel has. */
__u64 lm_lazy_uffd_features(void);
/* 1 if this kernel reports shmem punch/truncate (UFFD bit 30) to us. */
int lm_lazy_shmem_remove(void);

/* ---- hugetlb (lazy_hugetlb.c) ---- */

/*
 * Why a private hugetlb VMA, or a hugetlb shm object, is restored
 * eagerly with @features (UFFD_FEATURE_*); NULL: it can be lazy.
 */
const char *lm_huge_vma_eager_why(const struct lm_vma_img *v, __u64 features);
const char *lm_huge_shm_eager_why(const struct lm_shm *s, __u64 features);

#endif
