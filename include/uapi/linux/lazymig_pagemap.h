/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * PAGEMAP_SCAN (Linux >= 6.7, fs/proc/task_mmu.c), defined here under
 * lazymig's own names for the 6.1 headers that lack it.  Whether the
 * running kernel has it is probed at run time.
 */
#ifndef _UAPI_LINUX_LAZYMIG_PAGEMAP_H
#define _UAPI_LINUX_LAZYMIG_PAGEMAP_H

#include <linux/const.h>
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
#define LM_PM_SCAN_WP_MATCHING	_BITULL(0)
#define LM_PAGE_IS_WPALLOWED	_BITULL(0)
#define LM_PAGE_IS_WRITTEN	_BITULL(1)
#define LM_PAGE_IS_FILE		_BITULL(2)
#define LM_PAGE_IS_PRESENT	_BITULL(3)
#define LM_PAGE_IS_SWAPPED	_BITULL(4)
#define LM_PAGE_IS_PFNZERO	_BITULL(5)
#define LM_PAGE_IS_HUGE		_BITULL(6)
#define LM_PAGE_IS_SOFT_DIRTY	_BITULL(7)
#define LM_PAGE_IS_GUARD	_BITULL(8)	/* Linux >= 6.15 */

#endif
