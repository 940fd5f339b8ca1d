/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: per-request timestamps of the fault path (LAZYMIG_FAULT_TRACE).
 *
 * With LAZYMIG_FAULT_TRACE=PREFIX, the lazy-pages daemon and the page
 * server each keep one record per fault request, with CLOCK_MONOTONIC
 * stamps of the hops they see, and write them to PREFIX.dst and
 * PREFIX.src when they end.  Both ends on one host share the clock, so
 * bench/hops.sh joins the two files by (space, address, occurrence) and
 * prints the distribution of each hop.  Unset: nothing is recorded.
 */
#ifndef LAZYMIG_FAULTTRACE_H
#define LAZYMIG_FAULTTRACE_H

#include <linux/types.h>

#define LM_FT_STAMPS	6

struct lm_ft_rec {
	__u32 space;
	__u32 npages;		/* pages in the answer (0: not known here) */
	__u64 addr;		/* source address of the faulted page */
	__u64 t[LM_FT_STAMPS];	/* CLOCK_MONOTONIC ns, 0: not reached */
};

struct lm_ft;

/* NULL when LAZYMIG_FAULT_TRACE is unset or on error (said on stderr). */
struct lm_ft *lm_ft_open(const char *suffix);
/*
 * A new record (NULL: out of memory, the trace is cut short).  The
 * pointer is good until the next lm_ft_add(): keep an index across.
 */
struct lm_ft_rec *lm_ft_add(struct lm_ft *t, __u32 space, __u64 addr);
/* The index of the newest record of space/addr whose stamp @slot is 0. */
long lm_ft_find(const struct lm_ft *t, __u32 space, __u64 addr, int slot);
/* Record @i (from lm_ft_find), or NULL if @i < 0. */
struct lm_ft_rec *lm_ft_rec(struct lm_ft *t, long i);
/* Writes PREFIX.suffix and frees; NULL is fine. */
void lm_ft_close(struct lm_ft *t);

#endif
