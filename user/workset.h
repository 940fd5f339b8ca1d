/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig send: the working set of the source process, so that the page
 * server pushes the pages it wrote last before the others.
 *
 * lm_ws_begin() starts a sample window while the process runs, with the
 * best tracking the kernel has:
 *  - soft-dirty (CONFIG_MEM_SOFT_DIRTY): "4" to /proc/PID/clear_refs; the
 *    bits are read after the freeze (pagemap bit 55), when the page
 *    server starts pushing;
 *  - else asynchronous userfaultfd write-protection (Linux >= 6.7): a
 *    userfaultfd is made in the process by a short ptrace injection,
 *    taken with pidfd_getfd() and at once closed in the process (it
 *    never sees it); its private anonymous writable VMAs are registered
 *    for WP_ASYNC and write-protected, so the kernel itself resolves each
 *    first write and PAGEMAP_SCAN reports the page PAGE_IS_WRITTEN.
 *    lm_ws_end() (just before the freeze, which refuses uffd-registered
 *    VMAs) reads the written pages and closes the userfaultfd, which
 *    unregisters everything.  If lazymig dies, the registration dies
 *    with its file.
 * Both see writes only: pages the process only reads are pushed in
 * address order with the rest.  Both see a transparent huge page whole:
 * one write marks its 512 pages.  Soft-dirty clearing also resets the bits
 * for any other user of them in that process (e.g. CRIU pre-dump).
 */
#ifndef LAZYMIG_WORKSET_H
#define LAZYMIG_WORKSET_H

#include <stddef.h>
#include <sys/types.h>
#include "image.h"
#include "pageserver.h"

enum lm_ws_mode {
	LM_WS_OFF,
	LM_WS_SOFTDIRTY,
	LM_WS_UFFD_WP,
};

struct lm_ws_range {
	__u64 start, end;
};

struct lm_ws {
	pid_t pid;
	enum lm_ws_mode mode;
	int uffd;
	struct lm_ws_range *reg, *hot;	/* registered; written (UFFD_WP) */
	size_t nr_reg, nr_hot;
	unsigned int untracked;		/* VMAs that could not be tracked */
	__u64 seen;			/* pages written in the window */
};

/*
 * Start the sample window.  0, or -errno with why in @why (the push is
 * then in address order).
 */
int lm_ws_begin(struct lm_ws *ws, pid_t pid, char *why, size_t len);
/* End it (running process): UFFD_WP reads the written pages here. */
void lm_ws_end(struct lm_ws *ws);
/*
 * After the freeze (SOFTDIRTY reads the bits here, of the lazy private
 * anonymous VMAs of @img): mark the written pages hot on @ps.  0 or -errno.
 */
int lm_ws_mark(struct lm_ws *ws, const struct lm_image *img,
	       struct lm_ps *ps);
const char *lm_ws_mode_name(const struct lm_ws *ws);
void lm_ws_free(struct lm_ws *ws);

#endif
