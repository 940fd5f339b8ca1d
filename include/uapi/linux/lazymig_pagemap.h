/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * PAGEMAP_SCAN (Linux >= 6.7, fs/proc/task_mmu.c), defined here under
 * lazymig's own names for the 6.1 headers that lack it.  Whether the
 * running kernel has it is probed at run time.
 */
#ifndef _UAPI_LINUX_LAZYMIG_PAGEMAP_H
#define _UAPI_LINUX_LAZYMIG_PAGEMAP_H

#include <linux/ioctl.h>
#include <linux/types.h>

struct lm_page_region {
	__u64 start, end, categories;
};

struct lm_pm_scan_arg {
	__u64 size, flags, start, end, walk_end, vec, vec_len, max_pages;
	__u64 category_inverted, category_mask, category_anyof_mask;
	__u64 return_mask;
};

#define LM_PAGEMAP_SCAN		_IOWR('f', 16, struct lm_pm_scan_arg)
#define LM_PM_SCAN_WP_MATCHING	(1ULL << 0)
#define LM_PAGE_IS_WPALLOWED	(1ULL << 0)
#define LM_PAGE_IS_WRITTEN	(1ULL << 1)
#define LM_PAGE_IS_FILE		(1ULL << 2)
#define LM_PAGE_IS_PRESENT	(1ULL << 3)
#define LM_PAGE_IS_SWAPPED	(1ULL << 4)
#define LM_PAGE_IS_PFNZERO	(1ULL << 5)
#define LM_PAGE_IS_HUGE		(1ULL << 6)
#define LM_PAGE_IS_SOFT_DIRTY	(1ULL << 7)
#define LM_PAGE_IS_GUARD	(1ULL << 8)	/* Linux >= 6.15 */

#endif
