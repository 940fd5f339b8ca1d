// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig send --tree: the source side of a process-tree migration (see
 * tree_mig.h for the wire order).
 *
 *   connect + authenticate -> freeze the whole tree at once and collect
 *   every member (dump_tree.c; a refusal in any member refuses the tree,
 *   named, and every process runs on untouched) -> TREE, every member's
 *   metadata, every member's pages before resume -> one page server for
 *   every member's lazy ranges until DONE -> kill every member, BYE.
 *
 * What is lazy is decided per member as for one process (cmd_send.c),
 * except that a shm object several members map is lazy for all of them
 * or for none: its flags are made the same first.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dump.h"
#include "lazy.h"
#include "lazymig.h"
#include "net.h"
#include "pageserver.h"
#include "proto.h"
#include "tree_mig.h"

#define LM_REG_RSP	19	/* index of rsp in struct user_regs_struct */
#define RED_ZONE	128
#define RUN_BYTES	(2UL << 20)
#define PAYLOAD_MAX(nr)	(64 * 1024 + (nr) * 512)	/* DONE: stats */

struct tree_sender {
	const struct lm_tree_send_opts *o;
	int req, bulk;
	struct lm_dump *m;
	unsigned int nr;
	struct lm_tree_img t;
	int frozen, resumed;
	__u64 caps;		/* LM_CAP_* of the destination */
	struct lm_stream s;
	struct lm_ps *ps;
	char *json;
};

static int connect_channels(struct tree_sender *ts)
{
	int err;

	err = lm_net_connect(ts->o->to, &ts->req);
	if (!err)
		err = lm_auth_client(ts->req, ts->o->auth, LM_CHAN_REQ);
	if (!err)
		err = lm_net_connect(ts->o->to, &ts->bulk);
	if (!err)
		err = lm_auth_client(ts->bulk, ts->o->auth, LM_CHAN_BULK);
	return err;
}

/*
 * A shm object mapped by several members: if an fd or a path reaches it
 * in one, it does in all (lazy in none of them), so that no member reads
 * its pages past the daemon while another's mapping waits for them.
 */
static void unify_shms(struct tree_sender *ts)
{
	unsigned int i, k, j, l;

	for (i = 0; i < ts->nr; i++) {
		struct lm_image *a = &ts->m[i].img;

		for (k = 0; k < a->proc.nr_shms; k++) {
			struct lm_shm *s = &a->shms[k].s;

			for (j = 0; j < ts->nr; j++) {
				struct lm_image *b = &ts->m[j].img;

				for (l = 0; l < b->proc.nr_shms; l++)
					if (b->shms[l].s.dev == s->dev &&
					    b->shms[l].s.ino == s->ino &&
					    (b->shms[l].s.flags &
					     LM_SHM_FD_REACHABLE))
						s->flags |= LM_SHM_FD_REACHABLE;
			}
		}
	}
}

static int seen(__u64 *v, size_t *nr, __u64 a)
{
	size_t i;

	for (i = 0; i < *nr; i++)
		if (v[i] == a)
			return 1;
	v[(*nr)++] = a;
	return 0;
}

/* The lazy page under each thread's stack pointer of member @i. */
static int send_stack_pages(struct tree_sender *ts, unsigned int i,
			    void *buf)
{
	struct lm_dump *d = &ts->m[i];
	const struct lm_image *img = &d->img;
	__u64 *sent = calloc(2 * img->proc.nr_threads + 2, sizeof(*sent));
	size_t nr_sent = 0;
	unsigned int t;
	int err = 0;

	if (!sent)
		return -ENOMEM;
	for (t = 0; !err && t < img->proc.nr_threads; t++) {
		__u64 sp = img->threads[t].t.regs[LM_REG_RSP];
		__u64 a = (sp - RED_ZONE) & ~(LM_PAGE_SIZE - 1);

		for (; a <= (sp & ~(LM_PAGE_SIZE - 1)); a += LM_PAGE_SIZE) {
			const struct lm_vma_img *v = lm_image_vma_of(img, a);
			const struct lm_pagemap_img *pm;
			struct lm_pages p = { .space = 0, .addr = a,
					      .npages = 1,
					      .page_size = LM_PAGE_SIZE };
			__u64 k;

			pm = v ? lm_lazy_vma_map(img, v) : NULL;
			if (!pm || !lm_send_is_lazy_map(img, &pm->m) ||
			    pm->m.page_size != LM_PAGE_SIZE)
				continue;
			k = (a - pm->m.addr) / LM_PAGE_SIZE;
			if (k >= pm->m.npages || !lm_test_bit(pm->bitmap, k))
				continue;	/* zero page: nothing to send */
			if (seen(sent, &nr_sent, a))
				continue;	/* two threads, one page */
			err = lm_dump_read_pages(d, 0, a, buf, 1, LM_PAGE_SIZE);
			if (err) {
				fprintf(stderr, "send: pid %d: cannot read the stack page at 0x%llx: %s\n",
					d->pid, (unsigned long long)a,
					strerror(-err));
				break;
			}
			err = lm_write_pages(&ts->s, &p, buf);
			if (err)
				break;
			lm_ps_mark_sent(ts->ps, LM_TREE_SPACE(i, 0), a, 1);
		}
	}
	free(sent);
	return err;
}

/* Member @i's pages before resume, then META_END (lazy). */
static int send_member_lazy(struct tree_sender *ts, unsigned int i, void *buf)
{
	struct lm_dump *d = &ts->m[i];
	unsigned int k;
	long r;

	for (k = 0; k < d->img.nr_maps; k++) {
		const struct lm_pagemap_img *pm = &d->img.maps[k];

		if (lm_send_is_lazy_map(&d->img, &pm->m))
			continue;
		r = lm_dump_write_map(d, &ts->s, pm, RUN_BYTES);
		if (r < 0) {
			fprintf(stderr, "send: pid %d: %s\n", d->pid,
				d->errmsg[0] ? d->errmsg : strerror((int)-r));
			return (int)r;
		}
	}
	r = send_stack_pages(ts, i, buf);
	if (!r)
		r = lm_write_mark(&ts->s, LM_REC_META_END);
	return (int)r;
}

/* Member @i's pages, all of them (--eager). */
static int send_member_eager(struct tree_sender *ts, unsigned int i)
{
	struct lm_dump *d = &ts->m[i];
	unsigned int k;
	long r;

	if (lm_write_mark(&ts->s, LM_REC_META_END))
		return ts->s.err;
	for (k = 0; k < d->img.nr_maps; k++) {
		r = lm_dump_write_map(d, &ts->s, &d->img.maps[k], RUN_BYTES);
		if (r < 0) {
			fprintf(stderr, "send: pid %d: %s\n", d->pid,
				d->errmsg[0] ? d->errmsg : strerror((int)-r));
			return (int)r;
		}
	}
	return lm_write_mark(&ts->s, LM_REC_END);
}

/* TREE, every member's metadata, every member's pages before resume. */
static int send_stream(struct tree_sender *ts)
{
	void *buf = malloc(LM_PAGE_SIZE);
	unsigned int i;
	int err;

	if (!buf)
		return -ENOMEM;
	err = lm_write_tree(&ts->s, &ts->t);
	for (i = 0; !err && i < ts->nr; i++)
		err = lm_write_meta(&ts->s, &ts->m[i].img);
	for (i = 0; !err && i < ts->nr; i++)
		err = ts->o->eager ? send_member_eager(ts, i) :
				     send_member_lazy(ts, i, buf);
	if (!err)
		err = lm_stream_flush(&ts->s);
	if (err && ts->s.errmsg[0])
		fprintf(stderr, "send: tree of pid %d: %s\n", ts->o->pid,
			ts->s.errmsg);
	free(buf);
	return err;
}

static int read_member(void *ctx, __u32 space, __u64 addr, void *buf,
		       __u64 npages, __u64 page_size)
{
	struct tree_sender *ts = ctx;
	unsigned int i = LM_SPACE_MEMBER(space);

	if (i >= ts->nr)
		return -EINVAL;
	return lm_dump_read_pages(&ts->m[i], LM_SPACE_LOCAL(space), addr, buf,
				  npages, page_size);
}

static int run_lazy(struct tree_sender *ts)
{
	const struct lm_image **imgs = calloc(ts->nr, sizeof(*imgs));
	struct lm_ps_cfg c = {
		.req_fd = ts->req, .bulk_fd = ts->bulk, .img = &ts->m[0].img,
		.read = read_member, .ctx = ts, .push_rate = ts->o->push_rate,
		.pid = ts->o->pid, .nr_imgs = ts->nr,
	};
	unsigned int i;
	int err;

	if (!imgs)
		return -ENOMEM;
	unify_shms(ts);
	for (i = 0; i < ts->nr; i++) {
		/*
		 * The tree's daemon does not register shm objects with
		 * lazymig.ko: fd-reachable ones stay eager.
		 */
		lm_send_mark_lazy(&ts->m[i].img, ts->caps & ~LM_CAP_LMDEV);
		imgs[i] = &ts->m[i].img;
	}
	c.imgs = imgs;
	err = lm_ps_create(&c, &ts->ps);
	if (!err)
		err = send_stream(ts);
	if (!err)
		err = lm_ps_run(ts->ps);
	if (!err)
		ts->json = strdup(lm_ps_done_json(ts->ps) ?: "{}");
	free(imgs);
	return err;
}

/* --eager: everything before resume; then RESUMED and DONE. */
static int run_eager(struct tree_sender *ts)
{
	char *payload = malloc(PAYLOAD_MAX(ts->nr));
	struct lm_msg m;
	int err;

	if (!payload)
		return -ENOMEM;
	err = send_stream(ts);
	while (!err) {
		err = lm_msg_recv(ts->req, &m, payload,
				  PAYLOAD_MAX(ts->nr) - 1);
		if (err)
			break;
		if (m.type == LM_MSG_RESUMED) {
			ts->resumed = 1;
		} else if (m.type == LM_MSG_DONE) {
			payload[m.len] = 0;
			ts->json = strdup(payload);
			break;
		} else {
			fprintf(stderr, "send: tree of pid %d: unexpected %s from the destination\n",
				ts->o->pid, lm_msg_name(m.type));
			err = -EPROTO;
		}
	}
	free(payload);
	return err;
}

static void finish_ok(struct tree_sender *ts)
{
	unsigned int nr = ts->nr;

	lm_dump_tree_release(ts->m, nr, &ts->t, 1);
	ts->m = NULL;
	ts->nr = 0;
	if (ts->ps)
		lm_ps_bye(ts->ps);
	else
		lm_msg_send(ts->req, LM_MSG_BYE, 0, 0, 0, NULL, 0);
	if (ts->o->stats && ts->json)
		lm_stats_write_file(ts->o->stats, ts->json);
	fprintf(stderr, "send: tree of pid %d (%u processes): migrated to %s; source killed\n",
		ts->o->pid, nr, ts->o->to);
}

static void finish_fail(struct tree_sender *ts, int err)
{
	unsigned int i;

	if (ts->ps)
		ts->resumed = lm_ps_resumed(ts->ps);
	if (!ts->resumed) {
		lm_dump_tree_release(ts->m, ts->nr, &ts->t, 0);
		fprintf(stderr, "send: tree of pid %d: migration failed (%s); its %u processes were resumed here untouched\n",
			ts->o->pid, strerror(-err), ts->nr);
	} else {
		for (i = 0; i < ts->nr; i++)
			kill(ts->m[i].pid, SIGSTOP);
		fprintf(stderr, "send: tree of pid %d: migration failed (%s) after the destination resumed it; its processes are left stopped here:",
			ts->o->pid, strerror(-err));
		for (i = 0; i < ts->nr; i++)
			fprintf(stderr, " %d", ts->m[i].pid);
		fprintf(stderr, " (`kill -CONT` them to run them here, or `kill -9`)\n");
		lm_dump_tree_release(ts->m, ts->nr, &ts->t, 0);
	}
	ts->m = NULL;
	ts->nr = 0;
}

int lm_send_tree(const struct lm_tree_send_opts *o)
{
	struct tree_sender ts = { .o = o, .req = -1, .bulk = -1 };
	char errmsg[1024];
	int err;

	err = connect_channels(&ts);
	if (!err)
		err = lm_send_recv_caps(ts.req, o->to, &ts.caps);
	if (err)
		goto out;
	err = lm_dump_tree(o->pid, &ts.m, &ts.nr, &ts.t, errmsg,
			   sizeof(errmsg));
	if (err) {
		fprintf(stderr, "send: %s; the tree is left running here, untouched\n",
			errmsg[0] ? errmsg + 6 : strerror(-err));
		goto out;
	}
	ts.frozen = 1;
	fprintf(stderr, "send: tree of pid %d: %u processes frozen\n", o->pid,
		ts.nr);
	err = lm_stream_open(&ts.s, ts.req, 1, "request channel");
	if (!err)
		err = o->eager ? run_eager(&ts) : run_lazy(&ts);
	if (!err)
		finish_ok(&ts);
	else
		finish_fail(&ts, err);
	lm_stream_close(&ts.s);
out:
	lm_ps_destroy(ts.ps);
	free(ts.json);
	lm_net_close(ts.req);
	lm_net_close(ts.bulk);
	return err;
}
