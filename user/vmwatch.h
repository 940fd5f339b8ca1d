/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig dump: smaps read before the freeze, and a watch that tells
 * whether it still holds in the freeze.
 *
 * smaps walks every page table entry to count Rss and the like, which is
 * most of the freeze for a big process; its VmFlags exist nowhere else.
 * So send reads smaps while the process still runs, under a watch on the
 * process's own syscalls that can change a VMA or its flags (vmwatch.c).
 * In the freeze, /proc/PID/maps (no page walk) must show the same lines
 * and the watch must have counted nothing; otherwise smaps is read again
 * there.  VmFlags change only through such syscalls of the process (or
 * an execve); a VMA's range may also change by a page fault (a stack
 * growing), which the comparison with maps sees.
 */
#ifndef LAZYMIG_VMWATCH_H
#define LAZYMIG_VMWATCH_H

#include <sys/types.h>
#include <linux/types.h>

struct lm_vmwatch {
	int on;			/* every thread watched since start */
	int *fds;		/* perf events, two per thread */
	__u64 *base;		/* their counts when the watch began */
	unsigned int nr, cap;
	pid_t *tids;
	unsigned int nr_tids;
};

/* Watch every thread of @pid (and those they create).  0 or -errno. */
int lm_vmwatch_start(struct lm_vmwatch *w, pid_t pid);

/* 1 if no watched syscall ran since lm_vmwatch_start(), else 0. */
int lm_vmwatch_quiet(const struct lm_vmwatch *w);

void lm_vmwatch_stop(struct lm_vmwatch *w);

#endif
