/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: the page server (source side of a lazy migration).  Serves
 * the destination's fault requests from the frozen source, and pushes
 * every other page of the lazy ranges in address order on the bulk
 * channel.  Requests always go first: they are read and answered before
 * each push step, and on their own connection.
 */
#ifndef LAZYMIG_PAGESERVER_H
#define LAZYMIG_PAGESERVER_H

#include <linux/types.h>
#include "image.h"

/* Read pages of the frozen process (lm_dump_read_pages' signature). */
typedef int (*lm_ps_read_fn)(void *ctx, __u32 space, __u64 addr, void *buf,
			     __u64 npages, __u64 page_size);

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
	void *ctx;
	__u64 push_rate;	/* bytes/s on the bulk channel, 0: no limit */
	pid_t pid;		/* for messages */
};

struct lm_ps;

int lm_ps_create(const struct lm_ps_cfg *cfg, struct lm_ps **out);
/* Pages already sent before resume (eager): never pushed again. */
void lm_ps_mark_sent(struct lm_ps *ps, __u32 space, __u64 addr, __u64 npages);
/*
 * Serve until the destination says DONE (returns 0) or a failure
 * (-errno).  Then lm_ps_resumed() tells whether the destination process
 * ever ran, and lm_ps_done_json() is the destination's stats.
 */
int lm_ps_run(struct lm_ps *ps);
int lm_ps_resumed(const struct lm_ps *ps);
const char *lm_ps_done_json(const struct lm_ps *ps);
/* After the source process is killed: say goodbye on the request channel. */
int lm_ps_bye(struct lm_ps *ps);
void lm_ps_destroy(struct lm_ps *ps);

#endif
