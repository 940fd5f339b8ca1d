// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: which hugetlb memory can be restored lazily, and why not.
 *
 * A hugetlb page is served whole: one fault asks for the whole huge page,
 * the source sends it in one message, the daemon installs it with one
 * UFFDIO_COPY (zeros: a copy from a zero buffer; UFFDIO_ZEROPAGE does not
 * serve hugetlb).  That needs UFFD_FEATURE_MISSING_HUGETLBFS and pages
 * that fit one message (LM_HUGE_PAGE_MAX): 1 GiB pages stay eager.  The
 * sender decides (mark_lazy), the receiver says why in its stats; both
 * ask these functions so that the two agree.
 *
 * What lazy costs: a child forked while private hugetlb pages are still
 * lazy gets its own copy of each one it touches, or that is pushed while
 * it lives (eagerly, it would share the parent's until a write).  The
 * pool must hold them; when it cannot, the daemon fails the migration
 * with a message saying so (lazy.c huge_eexist()), never zeros.  The
 * stats count a huge page as one page.
 */
#include <string.h>
#include <linux/userfaultfd.h>
#include "lazy.h"
#include "proto.h"

static const char *huge_why(__u64 page_size, __u64 features)
{
	if (!(features & UFFD_FEATURE_MISSING_HUGETLBFS))
		return "no UFFD_FEATURE_MISSING_HUGETLBFS in this kernel's userfaultfd";
	if (page_size <= LM_PAGE_SIZE)
		return "no huge page size recorded";
	if (page_size > LM_HUGE_PAGE_MAX)
		return "huge pages over 2 MiB (1 GiB) are not restored lazily (and send refuses them with data)";
	return NULL;
}

const char *lm_huge_vma_eager_why(const struct lm_vma_img *v, __u64 features)
{
	const char *p = v->path;

	if (v->v.kind != LM_MEM_HUGETLB_PRIVATE)
		return "not a private hugetlb mapping";
	/* restore_mem.c maps a live hugetlbfs file, not anonymous memory */
	if (p && p[0] == '/' && !strstr(p, " (deleted)"))
		return "private mapping of a hugetlbfs file: its page cache would answer faults";
	return huge_why(v->v.page_size, features);
}

const char *lm_huge_shm_eager_why(const struct lm_shm *s, __u64 features)
{
	if (s->kind != LM_MEM_HUGETLB_SHARED)
		return "not a hugetlb object";
	if (s->flags & LM_SHM_FD_REACHABLE)
		return "fd-reachable: read()/write() on its fd would bypass userfaultfd";
	if (s->seals)
		return "sealed: a write seal cannot be added while the daemon maps it writable";
	return huge_why(s->page_size, features);
}
