/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: the page server (source side of a lazy migration).  Serves
 * the destination's fault requests from the frozen source, and pushes
 * every other page of the lazy ranges on the bulk channel: the working
 * set (pages marked hot) first, then the rest, each in address order.
 * Requests always go first: they are read and answered before each push
 * step, and on their own connection.
 *
 * Debugging: with LAZYMIG_PUSH_LOG=FILE in the environment, every pushed
 * page is logged there in push order, one line "hot|rest SPACE 0xADDR US"
 * (microseconds since the push started).
 */
#ifndef LAZYMIG_PAGESERVER_H
#define LAZYMIG_PAGESERVER_H

#include <linux/types.h>
#include <sys/uio.h>
#include "image.h"

/* Read pages of the frozen process (lm_dump_read_pages' signature). */
typedef int (*lm_ps_read_fn)(void *ctx, __u32 space, __u64 addr, void *buf,
			     __u64 npages, __u64 page_size);

/*
 * Optional: the @nr runs at source addresses @remote of @space into @buf
 * (@len bytes, in order), in one go.  0, or -errno (then read is used).
 */
typedef int (*lm_ps_readv_fn)(void *ctx, __u32 space,
			      const struct iovec *remote, int nr, void *buf,
			      __u64 len);

struct lm_ps;

struct lm_ps_cfg {
	int req_fd, bulk_fd;
	const struct lm_image *img;	/* VMAs flagged LM_VMA_LAZY are served */
	/*
	 * A process tree: member i's image is imgs[i] (img is unused), its
	 * ranges served as LM_TREE_SPACE(i, space) (lazy.h), which is also
	 * the space @read gets.
	 */
	const struct lm_image *const *imgs;
	unsigned int nr_imgs;
	lm_ps_read_fn read;
	lm_ps_readv_fn readv;
	void *ctx;
	__u64 push_rate;	/* bytes/s on the bulk channel, 0: no limit */
	pid_t pid;		/* for messages */
	/*
	 * The channels broke (reset, timeout, unreachable): get new ones to
	 * the same destination session into req_fd and bulk_fd and return 0,
	 * or give up (-errno).  NULL: a lost channel ends the migration.
	 * The server then re-pushes every page the destination may not
	 * have (it ignores what it has) and answers its re-sent requests.
	 */
	int (*rejoin)(void *ctx, int *req_fd, int *bulk_fd);
	/* Called once, when the destination first says RESUMED. */
	void (*resumed)(void *ctx);
	int compress;		/* deflate push runs if the destination can */
	int progress;		/* a progress line on stderr */
	/*
	 * Called once after resume, before the first push (on the pusher
	 * thread): marks the working set with lm_ps_mark_hot.  May be NULL.
	 */
	int (*hot_scan)(void *ctx, struct lm_ps *ps);
	void *hot_ctx;
};

struct lm_ps_figures {
	__u64 hot, hot_pushed;	/* working set; pushed in the first pass */
	__u64 z_raw, z_wire;	/* push bytes before/after --compress */
	int compressed;		/* --compress was taken */
};

int lm_ps_create(const struct lm_ps_cfg *cfg, struct lm_ps **out);
/* Pages already sent before resume (eager): never pushed again. */
void lm_ps_mark_sent(struct lm_ps *ps, __u32 space, __u64 addr, __u64 npages);
/* Pages of the working set: pushed before the others (if still unsent). */
void lm_ps_mark_hot(struct lm_ps *ps, __u32 space, __u64 addr, __u64 npages);
/*
 * Serve until the destination says DONE (returns 0) or a failure
 * (-errno).  Then lm_ps_resumed() tells whether the destination process
 * ever ran, and lm_ps_done_json() is the destination's stats.
 */
int lm_ps_run(struct lm_ps *ps);
int lm_ps_resumed(const struct lm_ps *ps);
const char *lm_ps_done_json(const struct lm_ps *ps);
/* After lm_ps_run: what the push did. */
void lm_ps_figures(const struct lm_ps *ps, struct lm_ps_figures *f);
/* After the source process is killed: say goodbye on the request channel. */
int lm_ps_bye(struct lm_ps *ps);
void lm_ps_destroy(struct lm_ps *ps);

#endif
