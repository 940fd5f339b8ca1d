// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: the page server (see pageserver.h).
 *
 * State: per lazy range, the pagemap's data bits and a "todo" bitmap of
 * pages not yet sent.  A fault answer sends the page and up to
 * LM_AROUND_PAGES-1 following still-unsent pages with data, or, when the
 * request asks for a longer window (the destination's read-ahead), the
 * unsent pages with data in that window (proto.h).
 * The push walks todo in address order in runs of up to LM_BULK_PAGES.
 * A page leaves todo when sent either way, or when the destination
 * drops it.
 *
 * Two threads: this one (raised priority) reads requests and answers
 * them; a pusher thread (normal priority) started on RESUMED reads and
 * writes the push runs.  A request never waits for a push run to be
 * read or written, nor for the CPU the push uses.  todo is shared under
 * a mutex held only to pick and clear bits, never across I/O; a page
 * picked by both (a race) is sent twice, which the destination ignores.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "lazy.h"
#include "net.h"
#include "pageserver.h"
#include "proto.h"

#define LOG(ps, fmt, ...) \
	fprintf(stderr, "send: pid %d: " fmt "\n", (ps)->cfg.pid, ##__VA_ARGS__)

struct ps_space {
	__u32 space;
	__u64 addr, npages, page_size;
	const unsigned long *data;
	unsigned long *todo;
};

#define SERVER_NICE	-10	/* the request thread */
#define PUSH_POLL_MS	100	/* request thread checks the pusher */

struct lm_ps {
	struct lm_ps_cfg cfg;
	struct ps_space *sp;	/* sorted by (space, addr) */
	size_t nr;
	pthread_mutex_t lock;	/* todo bits of every space */
	struct lm_rx req;
	char *ans;		/* fault answer buffer */
	int resumed, done;
	char *json;
	/* pusher thread */
	pthread_t pusher;
	int pusher_on;
	int stop, push_err;	/* atomic */
	char *out;		/* push run being written */
	size_t cur_sp;		/* push cursor */
	__u64 cur_bit;
	__u64 push_t0, push_bytes;
};

static int cmp_space(const void *a, const void *b)
{
	const struct ps_space *x = a, *y = b;

	if (x->space != y->space)
		return x->space < y->space ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static struct ps_space *find_space(struct lm_ps *ps, __u32 space, __u64 addr)
{
	size_t lo = 0, hi = ps->nr;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct ps_space *s = &ps->sp[mid];

		if (space < s->space || (space == s->space && addr < s->addr))
			hi = mid;
		else if (space > s->space ||
			 addr >= s->addr + s->npages * s->page_size)
			lo = mid + 1;
		else
			return s;
	}
	return NULL;
}

static int add_space(struct lm_ps *ps, unsigned int member,
		     const struct lm_pagemap_img *pm)
{
	struct ps_space *s = &ps->sp[ps->nr];
	size_t words = LM_BITS_TO_LONGS(pm->m.npages);

	s->space = LM_TREE_SPACE(member, pm->m.space);
	s->addr = pm->m.addr;
	s->npages = pm->m.npages;
	s->page_size = pm->m.page_size ? pm->m.page_size : LM_PAGE_SIZE;
	s->data = pm->bitmap;
	s->todo = calloc(words ? words : 1, sizeof(long));
	if (!s->todo)
		return -ENOMEM;
	memcpy(s->todo, pm->bitmap, words * sizeof(long));
	if (pm->m.npages % LM_BPL)	/* no stray bits past the end */
		s->todo[words - 1] &= (1UL << (pm->m.npages % LM_BPL)) - 1;
	ps->nr++;
	return 0;
}

/* The lazy ranges of one image (member @member of a tree, or 0). */
static int add_image(struct lm_ps *ps, unsigned int member,
		     const struct lm_image *img)
{
	unsigned int i;

	for (i = 0; i < img->proc.nr_vmas; i++) {
		const struct lm_pagemap_img *pm;

		if (!(img->vmas[i].v.flags & LM_VMA_LAZY))
			continue;
		pm = lm_lazy_vma_map(img, &img->vmas[i]);
		if (pm && pm->m.page_size <= LM_PAGE_SIZE &&
		    add_space(ps, member, pm))
			return -ENOMEM;
	}
	for (i = 0; i < img->proc.nr_shms; i++) {
		const struct lm_pagemap_img *pm;

		if (!(img->shms[i].s.flags & LM_SHM_LAZY))
			continue;
		pm = lm_image_pagemap((struct lm_image *)img, i + 1, 0);
		if (pm && pm->m.page_size <= LM_PAGE_SIZE &&
		    add_space(ps, member, pm))
			return -ENOMEM;
	}
	return 0;
}

int lm_ps_create(const struct lm_ps_cfg *cfg, struct lm_ps **out)
{
	unsigned int i, nr = cfg->nr_imgs ? cfg->nr_imgs : 1;
	struct lm_ps *ps = calloc(1, sizeof(*ps));
	size_t n = 1;
	int err = -ENOMEM;

	if (!ps)
		return -ENOMEM;
	ps->cfg = *cfg;
	pthread_mutex_init(&ps->lock, NULL);
	for (i = 0; i < nr; i++) {
		const struct lm_image *img = cfg->nr_imgs ? cfg->imgs[i] :
					     cfg->img;

		n += img->proc.nr_vmas + img->proc.nr_shms;
	}
	ps->sp = calloc(n, sizeof(*ps->sp));
	ps->ans = malloc(sizeof(struct lm_msg) + LM_BULK_WINDOW / 8 +
			 LM_AROUND_MAX * LM_PAGE_SIZE);
	ps->out = malloc(sizeof(struct lm_msg) + LM_BULK_WINDOW / 8 +
			 LM_BULK_PAGES * LM_PAGE_SIZE);
	if (!ps->sp || !ps->ans || !ps->out)
		goto fail;
	for (i = 0; i < nr; i++) {
		err = add_image(ps, i, cfg->nr_imgs ? cfg->imgs[i] : cfg->img);
		if (err)
			goto fail;
	}
	err = -ENOMEM;
	qsort(ps->sp, ps->nr, sizeof(*ps->sp), cmp_space);
	/* DONE carries the stats, per member for a tree */
	err = lm_rx_init(&ps->req, cfg->req_fd, 64 * 1024 + nr * 512);
	if (err)
		goto fail;
	*out = ps;
	return 0;
fail:
	lm_ps_destroy(ps);
	return err;
}

/* The first range of @space that starts after @addr, or NULL. */
static struct ps_space *next_space(struct lm_ps *ps, __u32 space, __u64 addr)
{
	size_t lo = 0, hi = ps->nr;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct ps_space *s = &ps->sp[mid];

		if (s->space < space || (s->space == space && s->addr <= addr))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ps->nr && ps->sp[lo].space == space ? &ps->sp[lo] : NULL;
}

static void clear_todo(struct lm_ps *ps, __u32 space, __u64 addr,
		       __u64 npages)
{
	while (npages) {
		struct ps_space *s = find_space(ps, space, addr);
		__u64 i, n;

		if (!s) {	/* not lazy here: skip to the next lazy range */
			__u64 gap;

			s = next_space(ps, space, addr);
			if (!s)
				return;
			gap = (s->addr - addr + LM_PAGE_SIZE - 1) / LM_PAGE_SIZE;
			if (gap >= npages)
				return;
			addr += gap * LM_PAGE_SIZE;
			npages -= gap;
			continue;
		}
		i = (addr - s->addr) / s->page_size;
		n = s->npages - i < npages ? s->npages - i : npages;
		npages -= n;
		addr += n * s->page_size;
		for (; n; n--, i++)
			lm_clear_bit(s->todo, i);
	}
}

void lm_ps_mark_sent(struct lm_ps *ps, __u32 space, __u64 addr, __u64 npages)
{
	pthread_mutex_lock(&ps->lock);
	clear_todo(ps, space, addr, npages);
	pthread_mutex_unlock(&ps->lock);
}

static int send_error(struct lm_ps *ps, const char *what)
{
	LOG(ps, "%s", what);
	lm_msg_send(ps->cfg.req_fd, LM_MSG_ERROR, 0, 0, 0, what, strlen(what));
	return -EPROTO;
}

/*
 * Gather into buf (after *m) page @first (sent even if already sent: it
 * was asked for) when @force, and the unsent pages after it, at most @max
 * pages within @window pages: PAGES if they are contiguous, else SPARSE
 * with its bitmap.  They leave todo.  0 or -errno.
 */
static int gather(struct lm_ps *ps, struct ps_space *s, __u64 first,
		  int force, __u64 max, __u64 window, struct lm_msg *m)
{
	unsigned long sel[LM_BITS_TO_LONGS(LM_BULK_WINDOW)] = { 0 };
	__u64 wend = first + window < s->npages ? first + window : s->npages;
	__u64 ps_ = s->page_size, i, j, n = 0, last = first, bm = 0;
	char *data;
	int err;

	pthread_mutex_lock(&ps->lock);
	for (i = force ? first : lm_find_next_bit(s->todo, wend, first);
	     i < wend && n < max; i = lm_find_next_bit(s->todo, wend, i + 1)) {
		lm_set_bit(sel, i - first);
		lm_clear_bit(s->todo, i);
		last = i;
		n++;
	}
	pthread_mutex_unlock(&ps->lock);
	*m = (struct lm_msg){ .magic = LM_MSG_MAGIC, .type = LM_MSG_PAGES,
			      .space = s->space, .addr = s->addr + first * ps_,
			      .npages = last - first + 1 };
	if (n != m->npages) {
		m->type = LM_MSG_SPARSE;
		bm = LM_BITS_TO_LONGS(m->npages) * sizeof(long);
		memcpy(m + 1, sel, bm);
	}
	m->len = bm + n * ps_;
	data = (char *)(m + 1) + bm;
	for (i = lm_find_next_bit(sel, m->npages, 0); i < m->npages;
	     i = lm_find_next_bit(sel, m->npages, j)) {
		j = lm_find_next_zero_bit(sel, m->npages, i);
		err = ps->cfg.read(ps->cfg.ctx, s->space,
				   s->addr + (first + i) * ps_, data, j - i, ps_);
		if (err) {
			LOG(ps, "cannot read %llu pages at 0x%llx: %s",
			    (unsigned long long)(j - i),
			    (unsigned long long)(s->addr + (first + i) * ps_),
			    strerror(-err));
			return err;
		}
		data += (j - i) * ps_;
	}
	return 0;
}

/*
 * The faulted page and unsent neighbours after it, on the request channel:
 * for a window of up to LM_AROUND_PAGES, the fault-around (up to that many
 * pages found within LM_AROUND_WINDOW); for a longer one (read-ahead), the
 * unsent pages with data among the @npages (at most LM_AROUND_MAX).
 */
static int answer(struct lm_ps *ps, __u32 space, __u64 addr, __u64 npages)
{
	struct ps_space *s = find_space(ps, space, addr);
	struct lm_msg *m = (struct lm_msg *)ps->ans;
	__u64 max, window;
	char why[160];
	int err;

	if (!s || !lm_test_bit(s->data, (addr - s->addr) / s->page_size)) {
		snprintf(why, sizeof(why),
			 "request for page 0x%llx (space %u), which has no data at the source",
			 (unsigned long long)addr, space);
		return send_error(ps, why);
	}
	max = LM_AROUND_MAX * LM_PAGE_SIZE / s->page_size;
	if (!max)	/* a page bigger than the answer buffer */
		return send_error(ps, "request for a page larger than an answer");
	if (npages < max)
		max = npages;
	window = max;
	if (max <= LM_AROUND_PAGES) {
		max = LM_AROUND_PAGES;
		window = LM_AROUND_WINDOW;
	}
	err = gather(ps, s, (addr - s->addr) / s->page_size, 1, max, window,
		     m);
	if (err)
		return send_error(ps, "cannot read the source's memory");
	return lm_write_full(ps->cfg.req_fd, m, sizeof(*m) + m->len);
}

static int on_request(struct lm_ps *ps, const struct lm_msg *m,
		      const void *payload)
{
	switch (m->type) {
	case LM_MSG_REQ:
		return answer(ps, m->space, m->addr, m->npages);
	case LM_MSG_DROP:
		lm_ps_mark_sent(ps, m->space, m->addr, m->npages);
		return 0;
	case LM_MSG_RESUMED:
		ps->resumed = 1;
		return 0;
	case LM_MSG_DONE:
		free(ps->json);
		ps->json = strndup(payload, m->len);
		ps->done = 1;
		return 0;
	case LM_MSG_ERROR:
		LOG(ps, "destination reports: %.*s", (int)m->len,
		    (const char *)payload);
		return -EPROTO;
	default:
		LOG(ps, "unexpected %s on the request channel",
		    lm_msg_name(m->type));
		return -EPROTO;
	}
}

static int serve_once(struct lm_ps *ps)
{
	const void *payload;
	struct lm_msg m;
	long n = lm_rx_fill(&ps->req);
	int err;

	if (n < 0) {
		LOG(ps, "request channel: %s; the destination is gone",
		    strerror(-n));
		return n;
	}
	while ((err = lm_rx_next(&ps->req, &m, &payload)) == 1 && !ps->done) {
		err = on_request(ps, &m, payload);
		if (err)
			return err;
	}
	return err < 0 ? err : 0;
}

/* Until TLS holds nothing more that poll would not report. */
static int serve_requests(struct lm_ps *ps)
{
	int err;

	do {
		err = serve_once(ps);
	} while (!err && !ps->done && lm_rx_pending(&ps->req));
	return err;
}

/* Next run of unsent pages into ps->out; 0 when none is left. */
static int next_chunk(struct lm_ps *ps)
{
	struct lm_msg *m = (struct lm_msg *)ps->out;

	for (; ps->cur_sp < ps->nr; ps->cur_sp++, ps->cur_bit = 0) {
		struct ps_space *s = &ps->sp[ps->cur_sp];
		__u64 i;
		int err;

		pthread_mutex_lock(&ps->lock);
		i = lm_find_next_bit(s->todo, s->npages, ps->cur_bit);
		pthread_mutex_unlock(&ps->lock);
		if (i >= s->npages)
			continue;
		err = gather(ps, s, i, 0, LM_BULK_PAGES, LM_BULK_WINDOW, m);
		if (err)
			return err;
		ps->cur_bit = i + m->npages;
		return 1;
	}
	return 0;
}

/* With --push-rate: how long to wait before the next run. */
static int push_wait_ms(const struct lm_ps *ps)
{
	__u64 el, allowed;

	if (!ps->cfg.push_rate)
		return 0;
	el = lm_now_ns() - ps->push_t0;
	allowed = (__u64)((double)ps->cfg.push_rate * el / 1e9);
	if (ps->push_bytes <= allowed)
		return 0;
	return (int)((ps->push_bytes - allowed) * 1000 / ps->cfg.push_rate) + 1;
}

static int stopping(struct lm_ps *ps)
{
	return __atomic_load_n(&ps->stop, __ATOMIC_ACQUIRE);
}

static int push_all(struct lm_ps *ps)
{
	struct lm_msg *m = (struct lm_msg *)ps->out;
	int err = 0, wait;

	while (!stopping(ps)) {
		wait = push_wait_ms(ps);
		if (wait) {
			usleep((wait < 50 ? wait : 50) * 1000);
			continue;
		}
		err = next_chunk(ps);
		if (err < 0)
			return err;
		if (!err)	/* all pushed */
			return lm_msg_send(ps->cfg.bulk_fd, LM_MSG_PUSH_END, 0,
					   0, 0, NULL, 0);
		err = lm_write_full(ps->cfg.bulk_fd, m, sizeof(*m) + m->len);
		if (err)
			return err;
		ps->push_bytes += sizeof(*m) + m->len;
	}
	return 0;
}

static void *pusher_main(void *arg)
{
	struct lm_ps *ps = arg;
	int err;

	setpriority(PRIO_PROCESS, gettid(), 0);
	err = push_all(ps);
	if (err && !stopping(ps)) {
		LOG(ps, "bulk channel: %s", strerror(-err));
		__atomic_store_n(&ps->push_err, err, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int start_pusher(struct lm_ps *ps)
{
	int err;

	ps->push_t0 = lm_now_ns();
	err = pthread_create(&ps->pusher, NULL, pusher_main, ps);
	if (err)
		return -err;
	ps->pusher_on = 1;
	return 0;
}

static void stop_pusher(struct lm_ps *ps)
{
	if (!ps->pusher_on)
		return;
	__atomic_store_n(&ps->stop, 1, __ATOMIC_RELEASE);
	/* a write blocked on a full socket returns */
	shutdown(ps->cfg.bulk_fd, SHUT_RDWR);
	pthread_join(ps->pusher, NULL);
	ps->pusher_on = 0;
}

int lm_ps_run(struct lm_ps *ps)
{
	int err = 0;

	setpriority(PRIO_PROCESS, gettid(), SERVER_NICE);	/* best effort */
	while (!ps->done && !err) {
		struct pollfd p = { .fd = ps->cfg.req_fd, .events = POLLIN };
		int n = poll(&p, 1, PUSH_POLL_MS);

		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n > 0)
			err = serve_requests(ps);
		if (!err && ps->resumed && !ps->pusher_on)
			err = start_pusher(ps);
		if (!err)
			err = __atomic_load_n(&ps->push_err, __ATOMIC_ACQUIRE);
	}
	stop_pusher(ps);
	return err;
}

int lm_ps_resumed(const struct lm_ps *ps)
{
	return ps->resumed;
}

const char *lm_ps_done_json(const struct lm_ps *ps)
{
	return ps->json;
}

int lm_ps_bye(struct lm_ps *ps)
{
	return lm_msg_send(ps->cfg.req_fd, LM_MSG_BYE, 0, 0, 0, NULL, 0);
}

void lm_ps_destroy(struct lm_ps *ps)
{
	size_t i;

	if (!ps)
		return;
	stop_pusher(ps);
	pthread_mutex_destroy(&ps->lock);
	for (i = 0; i < ps->nr; i++)
		free(ps->sp[i].todo);
	free(ps->sp);
	free(ps->ans);
	free(ps->out);
	free(ps->json);
	lm_rx_free(&ps->req);
	free(ps);
}
