// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: the page server (see pageserver.h).
 *
 * State: per lazy range, the pagemap's data bits and a "todo" bitmap of
 * pages not yet sent.  A fault answer sends the page and up to
 * LM_AROUND_PAGES-1 following still-unsent pages with data; the push walks
 * todo in address order in runs of up to LM_BULK_PAGES.  A page leaves
 * todo when sent either way, or when the destination drops it.  The
 * bulk socket is written without blocking, so a request arriving while
 * a 1 MiB run is half-written is still answered at once.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

struct lm_ps {
	struct lm_ps_cfg cfg;
	struct ps_space *sp;	/* sorted by (space, addr) */
	size_t nr;
	struct lm_rx req;
	char *ans;		/* fault answer buffer */
	char *out;		/* bulk message being written */
	size_t out_len, out_off;
	size_t cur_sp;		/* push cursor */
	__u64 cur_bit;
	int resumed, done, push_end;
	__u64 push_t0, push_bytes;
	char *json;
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

static int add_space(struct lm_ps *ps, const struct lm_pagemap_img *pm)
{
	struct ps_space *s = &ps->sp[ps->nr];
	size_t words = LM_BITS_TO_LONGS(pm->m.npages);

	s->space = pm->m.space;
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

int lm_ps_create(const struct lm_ps_cfg *cfg, struct lm_ps **out)
{
	const struct lm_image *img = cfg->img;
	struct lm_ps *ps = calloc(1, sizeof(*ps));
	unsigned int i;
	int err = -ENOMEM;

	if (!ps)
		return -ENOMEM;
	ps->cfg = *cfg;
	ps->sp = calloc(img->proc.nr_vmas + 1, sizeof(*ps->sp));
	ps->ans = malloc(sizeof(struct lm_msg) + LM_BULK_WINDOW / 8 +
			 LM_AROUND_PAGES * LM_PAGE_SIZE);
	ps->out = malloc(sizeof(struct lm_msg) + LM_BULK_WINDOW / 8 +
			 LM_BULK_PAGES * LM_PAGE_SIZE);
	if (!ps->sp || !ps->ans || !ps->out)
		goto fail;
	for (i = 0; i < img->proc.nr_vmas; i++) {
		const struct lm_pagemap_img *pm;

		if (!(img->vmas[i].v.flags & LM_VMA_LAZY))
			continue;
		pm = lm_lazy_vma_map(img, &img->vmas[i]);
		if (pm && pm->m.page_size <= LM_PAGE_SIZE && add_space(ps, pm))
			goto fail;
	}
	qsort(ps->sp, ps->nr, sizeof(*ps->sp), cmp_space);
	err = lm_rx_init(&ps->req, cfg->req_fd, 64 * 1024);
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
	clear_todo(ps, space, addr, npages);
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

	for (i = force ? first : lm_find_next_bit(s->todo, wend, first);
	     i < wend && n < max; i = lm_find_next_bit(s->todo, wend, i + 1)) {
		lm_set_bit(sel, i - first);
		last = i;
		n++;
	}
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
		for (; i < j; i++)
			lm_clear_bit(s->todo, first + i);
	}
	return 0;
}

/* The faulted page and unsent neighbours after it, on the request channel. */
static int answer(struct lm_ps *ps, __u32 space, __u64 addr)
{
	struct ps_space *s = find_space(ps, space, addr);
	struct lm_msg *m = (struct lm_msg *)ps->ans;
	char why[160];
	int err;

	if (!s || !lm_test_bit(s->data, (addr - s->addr) / s->page_size)) {
		snprintf(why, sizeof(why),
			 "request for page 0x%llx (space %u), which has no data at the source",
			 (unsigned long long)addr, space);
		return send_error(ps, why);
	}
	err = gather(ps, s, (addr - s->addr) / s->page_size, 1,
		     LM_AROUND_PAGES, LM_AROUND_WINDOW, m);
	if (err)
		return send_error(ps, "cannot read the source's memory");
	return lm_write_full(ps->cfg.req_fd, m, sizeof(*m) + m->len);
}

static int on_request(struct lm_ps *ps, const struct lm_msg *m,
		      const void *payload)
{
	switch (m->type) {
	case LM_MSG_REQ:
		return answer(ps, m->space, m->addr);
	case LM_MSG_DROP:
		clear_todo(ps, m->space, m->addr, m->npages);
		return 0;
	case LM_MSG_RESUMED:
		ps->resumed = 1;
		ps->push_t0 = lm_now_ns();
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

static int serve_requests(struct lm_ps *ps)
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

/* Next run of unsent pages into ps->out; 0 when none is left. */
static int next_chunk(struct lm_ps *ps)
{
	struct lm_msg *m = (struct lm_msg *)ps->out;

	for (; ps->cur_sp < ps->nr; ps->cur_sp++, ps->cur_bit = 0) {
		struct ps_space *s = &ps->sp[ps->cur_sp];
		__u64 i = lm_find_next_bit(s->todo, s->npages, ps->cur_bit);
		int err;

		if (i >= s->npages)
			continue;
		err = gather(ps, s, i, 0, LM_BULK_PAGES, LM_BULK_WINDOW, m);
		if (err)
			return err;
		ps->cur_bit = i + m->npages;
		ps->out_len = sizeof(*m) + m->len;
		ps->out_off = 0;
		return 1;
	}
	return 0;
}

static int push_step(struct lm_ps *ps)
{
	ssize_t n;
	int err;

	if (ps->out_off == ps->out_len) {
		err = next_chunk(ps);
		if (err < 0)
			return err;
		if (!err) {	/* all pushed */
			*(struct lm_msg *)ps->out = (struct lm_msg){
				.magic = LM_MSG_MAGIC, .type = LM_MSG_PUSH_END,
			};
			ps->out_len = sizeof(struct lm_msg);
			ps->out_off = 0;
			ps->push_end = 1;
		}
	}
	n = send(ps->cfg.bulk_fd, ps->out + ps->out_off,
		 ps->out_len - ps->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0) {
		LOG(ps, "bulk channel: %s", strerror(errno));
		return -errno;
	}
	ps->out_off += n;
	ps->push_bytes += n;
	return 0;
}

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

int lm_ps_run(struct lm_ps *ps)
{
	int err = 0;

	while (!ps->done && !err) {
		struct pollfd p[2] = {
			{ .fd = ps->cfg.req_fd, .events = POLLIN },
			{ .fd = ps->cfg.bulk_fd, .events = 0 },
		};
		int pushing = ps->resumed &&
			      !(ps->push_end && ps->out_off == ps->out_len);
		int timeout = -1, wait = pushing ? push_wait_ms(ps) : 0;

		if (pushing && wait)
			timeout = wait;
		else if (pushing)
			p[1].events = POLLOUT;
		if (poll(p, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[0].revents)
			err = serve_requests(ps);
		if (!err && !ps->done && (p[1].revents & POLLOUT))
			err = push_step(ps);
		if (!err && (p[1].revents & (POLLERR | POLLHUP))) {
			LOG(ps, "bulk channel closed by the destination");
			err = -ECONNRESET;
		}
	}
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
	for (i = 0; i < ps->nr; i++)
		free(ps->sp[i].todo);
	free(ps->sp);
	free(ps->ans);
	free(ps->out);
	free(ps->json);
	lm_rx_free(&ps->req);
	free(ps);
}
