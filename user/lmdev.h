/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lmdev: the daemon's side of /dev/lazymig (lazymig.ko).  Every call
 * returns 0 (or a count) on success and a negative errno on failure.
 *
 * A daemon opens the device, registers each shmem object whose pages are
 * still to come, and adds lmdev_fd() to its event loop.  For each event it
 * asks lmdev_plan() which pages to fill and which to drop, fills the
 * pending ones with lmdev_fill() (never write(2): see linux/lazymig.h),
 * drops the others with lmdev_update(), then acks.
 */
#ifndef LAZYMIG_LMDEV_H
#define LAZYMIG_LMDEV_H

#include <stdint.h>
#include <linux/lazymig.h>

struct lmdev {
	int fd;
	uint32_t abi;		/* the module's ABI version */
	uint32_t features;	/* LAZYMIG_FEAT_* */
	uint32_t timeout_ms;	/* a caller gives up after this, 0: never */
};

/*
 * Open /dev/lazymig (or @path) and hand-shake.  -ENOENT: the module is
 * not loaded; -EPROTONOSUPPORT: it speaks ABI d->abi, not ours.
 */
int lmdev_open(struct lmdev *d, const char *path, int nonblock);
void lmdev_close(struct lmdev *d);

/* @bitmap: DIV_ROUND_UP(nr_pages, 64) words, bit set = pending; NULL: all. */
int lmdev_register(struct lmdev *d, int fd, uint64_t nr_pages,
		   const uint64_t *bitmap, uint64_t cookie, uint32_t *id);
int lmdev_unregister(struct lmdev *d, uint32_t id);
/* op: LAZYMIG_UPDATE_CLEAR or _SET; *pending (if non-NULL) gets the count. */
int lmdev_update(struct lmdev *d, uint32_t id, uint32_t op, uint64_t first,
		 uint64_t count, uint64_t *pending);
/*
 * Install the pending pages among [index, index + count) from @src (count
 * pages, any count: split into LAZYMIG_FILL_MAX calls) and mark them
 * restored.  Returns how many pending pages are now restored (those that
 * already held data included), or -errno on the first hard error.
 */
int lmdev_fill(struct lmdev *d, uint32_t id, uint64_t index, uint64_t count,
	       const void *src);

/* Up to @max events; -EAGAIN when none (non-blocking). */
int lmdev_read(struct lmdev *d, struct lazymig_event *ev, int max);
/* error 0: proceed; -errno: the caller's operation fails with it. */
int lmdev_ack(struct lmdev *d, uint32_t seq, int error);

/* What an event asks of the daemon, in page indexes; end is exclusive. */
struct lmdev_plan {
	struct {
		uint64_t first, end;
	} fill[2];		/* fill the pending pages of these ranges */
	uint64_t drop_first, drop_end;	/* then mark these restored */
};	/* drop_end is UINT64_MAX for a truncate: clamp it to nr_pages */

void lmdev_plan(const struct lazymig_event *ev, uint64_t page_size,
		struct lmdev_plan *p);

#endif
