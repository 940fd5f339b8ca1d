/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: migrating a process tree (send --tree, and receive of it).
 *
 * On the wire a tree is: TREE, then every member's metadata (HEADER ..
 * PAGEMAPs) in member order, then every member's pages in member order,
 * each ended by META_END (lazy: the pages that must be in before
 * resume) or by META_END, the bulk and END (--eager).  Metadata first,
 * because the receiver needs all of it to create the stubs (parents fork
 * their children) before it can place any page.  Then, lazy, the one
 * page server and the one lazy-pages daemon serve every member, each
 * member's addresses named by LM_TREE_SPACE(member, space) (lazy.h).
 */
#ifndef LAZYMIG_TREE_MIG_H
#define LAZYMIG_TREE_MIG_H

#include <sys/types.h>
#include <linux/types.h>
#include "image.h"
#include "net.h"

struct lm_tree_send_opts {
	pid_t pid;
	const char *to, *stats;
	int eager;
	__u64 push_rate;
	struct lm_auth *auth;	/* token loaded (or none) */
};

/* send --tree: 0 when the tree runs at the destination. */
int lm_send_tree(const struct lm_tree_send_opts *o);

struct lm_tree_recv {
	int req, bulk;
	struct lm_stream *s;	/* the TREE record read */
	const char *peer, *pidfile, *stdio, *stats;
};

/* receive of a tree whose TREE record @t was just read: 0 when it runs. */
int lm_receive_tree(const struct lm_tree_recv *a, const struct lm_tree_img *t);

/*
 * cmd_send.c: the destination's LM_CAP_* (its first message), and what a
 * lazy migration moves before resume given them.
 */
int lm_send_recv_caps(int req, const char *to, __u64 *caps);
void lm_send_mark_lazy(struct lm_image *img, __u64 caps);
int lm_send_is_lazy_map(const struct lm_image *img,
			const struct lm_pagemap *m);

#endif
