// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: the page server (see pageserver.h).
 *
 * State: per lazy range, the pagemap's data bits and a "todo" bitmap of
 * pages not yet sent.  A fault answer sends the page and up to
 * LM_AROUND_PAGES-1 following still-unsent pages with data, within
 * LM_AROUND_WINDOW pages, or, when the request asks for a longer window
 * (the destination's read-ahead), the unsent pages with data in that
 * window (proto.h); for a hot page on a short request, the following unsent hot pages
 * within LM_BULK_WINDOW instead (the working set comes in faster than the
 * first push pass alone brings it); the push walks
 * todo in runs of up to LM_BULK_PAGES: first the pages marked hot (the
 * working set, lm_ps_mark_hot), then the rest, each pass in address
 * order.  A page leaves todo when sent either way, or when the
 * destination drops it.
 *
 * With --compress, and a destination that says (in RESUMED) it takes
 * it, each push run is deflated (zlib, fastest level) and sent as one
 * ZBULK message, unless that does not save an eighth of it; after 8 runs
 * in a row that did not, the next 56 go raw without trying (incompressible
 * memory costs the sender little CPU).  Fault answers are never
 * compressed.
 *
 * Two threads: this one (raised priority) reads requests and answers
 * them; a pusher thread (low priority) started on RESUMED reads and
 * writes the push runs.  A request never waits for a push run to be
 * read or written, nor for the CPU the push uses.  todo is shared under
 * a mutex held only to pick and clear bits, never across I/O; a page
 * picked by both (a race) is sent twice, which the destination ignores.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "faulttrace.h"
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
	unsigned long *hot;	/* working set, or NULL */
};

#define SERVER_NICE	-10	/* the request thread */
/*
 * The pusher is background work: at nice 0 it took the CPU from fault
 * answers and from the faulting threads (with both ends on one host,
 * the destination's too), and the p99 of a fault with the push running
 * was 2.5-8x the p99 without (bench/RESULTS.md, "pushp99").  At nice 10
 * a woken faulting thread still waited behind it for 1-4 ms at times
 * (its lag under EEVDF), so while faults come in it runs under
 * SCHED_IDLE: any other thread that wakes preempts it at once
 * ("pushidle"; pusher_policy).  Where no one else wants
 * the CPU it pushes as fast as before.  Nice 10 is what it runs at when
 * no fault came for 100 ms (a busy source host must not starve the
 * drain), and while the request thread waits for ps->lock (ps_lock): a
 * SCHED_IDLE thread preempted while holding it on a busy host could
 * otherwise hold up a fault answer for long.
 */
#define PUSHER_NICE	10
#define MAX(a, b)	((a) > (b) ? (a) : (b))
#define PUSH_POLL_MS	100	/* request thread checks the pusher */
#define PROGRESS_MS	250	/* a progress line on a terminal */
#define Z_MISS_MAX	8	/* runs that did not compress, then ... */
#define Z_SKIP		56	/* ... this many go raw untried */

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
	pid_t pusher_tid;	/* atomic: set while it runs under SCHED_IDLE */
	__u64 last_answer_ns;	/* atomic: when a fault was last answered */
	int stop, push_err;	/* atomic */
	char *out;		/* push run being written */
	int phase;		/* push cursor: 0 hot pages, 1 the rest */
	size_t cur_sp;
	__u64 cur_bit;
	__u64 push_t0, push_bytes;
	__u32 peer_feat;	/* LM_FEAT_* from RESUMED */
	/* --compress */
	int zon, z_miss, z_skip;
	char *zout;
	__u64 z_raw, z_wire;
	/* working set; pages counted under lock */
	__u64 hot_total, hot_pushed;
	int hot_scanned;
	FILE *push_log;		/* LAZYMIG_PUSH_LOG */
	/* progress */
	__u64 pages_total, pages_sent;	/* pages_sent: atomic */
	__u64 tick;
	struct lm_ft *ft;	/* LAZYMIG_FAULT_TRACE, or NULL */
	__u64 ft_wake;		/* ... when poll last returned */
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
		if (pm && pm->m.page_size <= LM_HUGE_PAGE_MAX &&
		    add_space(ps, member, pm))
			return -ENOMEM;
	}
	for (i = 0; i < img->proc.nr_shms; i++) {
		const struct lm_pagemap_img *pm;

		if (!(img->shms[i].s.flags & LM_SHM_LAZY))
			continue;
		pm = lm_image_pagemap((struct lm_image *)img, i + 1, 0);
		if (pm && pm->m.page_size <= LM_HUGE_PAGE_MAX &&
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
	ps->ft = lm_ft_open("src");
	pthread_mutex_init(&ps->lock, NULL);
	for (i = 0; i < nr; i++) {
		const struct lm_image *img = cfg->nr_imgs ? cfg->imgs[i] :
					     cfg->img;

		n += img->proc.nr_vmas + img->proc.nr_shms;
	}
	ps->sp = calloc(n, sizeof(*ps->sp));
	/* room for a run of small pages, or one huge page */
	ps->ans = malloc(sizeof(struct lm_msg) + LM_BULK_WINDOW / 8 +
			 MAX(LM_AROUND_MAX * LM_PAGE_SIZE, LM_HUGE_PAGE_MAX));
	ps->out = malloc(sizeof(struct lm_msg) + LM_BULK_WINDOW / 8 +
			 MAX(LM_BULK_PAGES * LM_PAGE_SIZE, LM_HUGE_PAGE_MAX));
	if (cfg->compress)
		ps->zout = malloc(sizeof(struct lm_msg) +
				  compressBound(sizeof(struct lm_msg) +
						LM_BULK_WINDOW / 8 +
						MAX(LM_BULK_PAGES * LM_PAGE_SIZE,
						    LM_HUGE_PAGE_MAX)));
	if (!ps->sp || !ps->ans || !ps->out || (cfg->compress && !ps->zout))
		goto fail;
	if (getenv("LAZYMIG_PUSH_LOG")) {
		ps->push_log = fopen(getenv("LAZYMIG_PUSH_LOG"), "we");
		if (!ps->push_log) {
			err = -errno;
			LOG(ps, "cannot open LAZYMIG_PUSH_LOG %s: %s",
			    getenv("LAZYMIG_PUSH_LOG"), strerror(errno));
			goto fail;
		}
	}
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

/*
 * Pages of @space wholly inside [addr, addr + npages 4 KiB pages) leave
 * todo: a huge page only when all of it is covered.
 */
static void clear_todo(struct lm_ps *ps, __u32 space, __u64 addr,
		       __u64 npages)
{
	__u64 end = addr + npages * LM_PAGE_SIZE;
	struct ps_space *s = find_space(ps, space, addr);

	if (npages > (~0ULL - addr) / LM_PAGE_SIZE)
		end = ~0ULL;
	if (!s)		/* not lazy here: from the next lazy range on */
		s = next_space(ps, space, addr);
	for (; s && s < ps->sp + ps->nr && s->space == space && s->addr < end;
	     s++) {
		__u64 ps_ = s->page_size, lo = 0, hi, i;

		if (addr > s->addr)
			lo = (addr - s->addr + ps_ - 1) / ps_;
		hi = (end - s->addr) / ps_;
		if (hi > s->npages)
			hi = s->npages;
		for (i = lo; i < hi; i++)
			lm_clear_bit(s->todo, i);
	}
}

/*
 * ps->lock, from any thread but the pusher: if the pusher holds it while
 * under SCHED_IDLE, it is lifted to SCHED_OTHER (nice PUSHER_NICE) until
 * the lock is ours, then put back.  Needs CAP_SYS_NICE (else: waits).
 */
static void ps_lock(struct lm_ps *ps)
{
	struct sched_param sp = { 0 };
	pid_t tid;

	if (!pthread_mutex_trylock(&ps->lock))
		return;
	tid = __atomic_load_n(&ps->pusher_tid, __ATOMIC_ACQUIRE);
	if (tid && tid != gettid() &&
	    !sched_setscheduler(tid, SCHED_OTHER, &sp)) {
		pthread_mutex_lock(&ps->lock);
		sched_setscheduler(tid, SCHED_IDLE, &sp);
		return;
	}
	pthread_mutex_lock(&ps->lock);
}

void lm_ps_mark_sent(struct lm_ps *ps, __u32 space, __u64 addr, __u64 npages)
{
	ps_lock(ps);
	clear_todo(ps, space, addr, npages);
	pthread_mutex_unlock(&ps->lock);
}

void lm_ps_mark_hot(struct lm_ps *ps, __u32 space, __u64 addr, __u64 npages)
{
	ps_lock(ps);
	while (npages) {
		struct ps_space *s = find_space(ps, space, addr);
		__u64 i, n;

		if (!s) {
			s = next_space(ps, space, addr);
			if (!s || s->addr >= addr + npages * LM_PAGE_SIZE)
				break;
			npages -= (s->addr - addr) / LM_PAGE_SIZE;
			addr = s->addr;
			continue;
		}
		if (!s->hot)
			s->hot = calloc(LM_BITS_TO_LONGS(s->npages) ?: 1,
					sizeof(long));
		if (!s->hot)
			break;	/* no working set: address order */
		i = (addr - s->addr) / s->page_size;
		n = s->npages - i < npages ? s->npages - i : npages;
		npages -= n;
		addr += n * s->page_size;
		for (; n; n--, i++) {
			/* only pages with data still to send */
			if (lm_test_bit(s->todo, i) && !lm_test_bit(s->hot, i)) {
				lm_set_bit(s->hot, i);
				ps->hot_total++;
			}
		}
	}
	pthread_mutex_unlock(&ps->lock);
}

static int send_error(struct lm_ps *ps, const char *what)
{
	LOG(ps, "%s", what);
	lm_msg_send(ps->cfg.req_fd, LM_MSG_ERROR, 0, 0, 0, what, strlen(what));
	return -EPROTO;
}

/* The selected runs of a SPARSE in one cfg.readv call: 0 or -errno. */
static int read_runs(struct lm_ps *ps, const struct ps_space *s, __u64 first,
		     const unsigned long *sel, __u64 span, char *data)
{
	struct iovec r[LM_BULK_PAGES];
	__u64 i, j, len = 0;
	int nr = 0;

	for (i = lm_find_next_bit(sel, span, 0); i < span;
	     i = lm_find_next_bit(sel, span, j)) {
		j = lm_find_next_zero_bit(sel, span, i);
		if (nr == LM_BULK_PAGES)
			return -E2BIG;
		r[nr].iov_base = (void *)(unsigned long)(s->addr +
							 (first + i) * s->page_size);
		r[nr++].iov_len = (j - i) * s->page_size;
		len += (j - i) * s->page_size;
	}
	return ps->cfg.readv(ps->cfg.ctx, s->space, r, nr, data, len);
}

/*
 * Gather into buf (after *m) page @first (sent even if already sent: it
 * was asked for) when @force, and the unsent pages after it, at most @max
 * 4 KiB pages within @window pages: PAGES if they are contiguous, else
 * SPARSE with its bitmap.  A huge page goes whole and alone, as PAGES.
 * With @only, only pages set there too.  They leave todo.  *span: how
 * many pages of @s from @first the message spans.  Returns how many it
 * carries (0: none was left) or -errno.
 */
static int gather(struct lm_ps *ps, struct ps_space *s, __u64 first,
		  int force, __u64 max, __u64 window, struct lm_msg *m,
		  __u64 *span, const unsigned long *only)
{
	unsigned long sel[LM_BITS_TO_LONGS(LM_BULK_WINDOW)] = { 0 };
	__u64 ps_ = s->page_size, i, j, n = 0, last = first, bm = 0, wend;
	char *data;
	int err;

	if (ps_ > LM_PAGE_SIZE) {
		max = 1;
		window = 1;
	}
	wend = first + window < s->npages ? first + window : s->npages;
	ps_lock(ps);
	for (i = force ? first : lm_find_next_bit(s->todo, wend, first);
	     i < wend && n < max; i = lm_find_next_bit(s->todo, wend, i + 1)) {
		if (only && !(force && i == first) && !lm_test_bit(only, i))
			continue;
		lm_set_bit(sel, i - first);
		lm_clear_bit(s->todo, i);
		last = i;
		n++;
	}
	pthread_mutex_unlock(&ps->lock);
	*span = last - first + 1;
	if (!n)
		return 0;
	*m = (struct lm_msg){ .magic = LM_MSG_MAGIC, .type = LM_MSG_PAGES,
			      .space = s->space, .addr = s->addr + first * ps_,
			      .npages = *span * (ps_ / LM_PAGE_SIZE) };
	if (n != *span) {	/* small pages only: a huge page is alone */
		m->type = LM_MSG_SPARSE;
		bm = LM_BITS_TO_LONGS(m->npages) * sizeof(long);
		memcpy(m + 1, sel, bm);
	}
	m->len = bm + n * ps_;
	data = (char *)(m + 1) + bm;
	if (ps->cfg.readv && n != *span &&
	    !read_runs(ps, s, first, sel, *span, data))
		goto done;
	for (i = lm_find_next_bit(sel, *span, 0); i < *span;
	     i = lm_find_next_bit(sel, *span, j)) {
		j = lm_find_next_zero_bit(sel, *span, i);
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
done:
	__atomic_add_fetch(&ps->pages_sent, n * (ps_ / LM_PAGE_SIZE),
			   __ATOMIC_RELAXED);
	return n;
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
	const unsigned long *hot = NULL;
	__u64 max, window;
	char why[160];
	struct lm_ft_rec *t = ps->ft ? lm_ft_add(ps->ft, space, addr) : NULL;
	__u64 span, i, now = lm_now_ns();
	int err;

	__atomic_store_n(&ps->last_answer_ns, now, __ATOMIC_RELAXED);
	if (t) {
		t->t[0] = ps->ft_wake;
		t->t[1] = now;
	}
	if (!s || !lm_test_bit(s->data, (addr - s->addr) / s->page_size)) {
		snprintf(why, sizeof(why),
			 "request for page 0x%llx (space %u), which has no data at the source",
			 (unsigned long long)addr, space);
		return send_error(ps, why);
	}
	i = (addr - s->addr) / s->page_size;
	max = npages < LM_AROUND_MAX ? npages : LM_AROUND_MAX;
	window = max;
	if (max <= LM_AROUND_PAGES) {
		max = LM_AROUND_PAGES;
		window = LM_AROUND_WINDOW;
		ps_lock(ps);
		hot = s->hot && lm_test_bit(s->hot, i) ? s->hot : NULL;
		pthread_mutex_unlock(&ps->lock);
		/* a hot page brings unsent hot pages after it, from further */
		if (hot)
			window = LM_BULK_WINDOW;
	}
	/* gather() sends a huge page whole and alone */
	err = gather(ps, s, i, 1, max, window, m, &span, hot);
	if (err < 0)
		return send_error(ps, "cannot read the source's memory");
	if (t) {
		t->npages = err;
		t->t[2] = lm_now_ns();
	}
	err = lm_write_full(ps->cfg.req_fd, m, sizeof(*m) + m->len);
	if (t)
		t->t[3] = lm_now_ns();
	return err;
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
		if (!ps->resumed && ps->cfg.resumed)
			ps->cfg.resumed(ps->cfg.ctx);
		ps->resumed = 1;
		ps->peer_feat = m->space;
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

/* The first hot page at or after @i still to send, or s->npages. */
static __u64 next_hot(const struct ps_space *s, __u64 i)
{
	for (i = lm_find_next_bit(s->hot, s->npages, i); i < s->npages;
	     i = lm_find_next_bit(s->hot, s->npages, i + 1))
		if (lm_test_bit(s->todo, i))
			break;
	return i;
}

/*
 * Next run of unsent pages into ps->out: hot ones first, then the rest.
 * Returns 1 (*hot says which pass), 0 when none is left, or -errno.
 */
static int next_chunk(struct lm_ps *ps, int *hot)
{
	struct lm_msg *m = (struct lm_msg *)ps->out;

	for (; ps->phase < 2; ps->phase++, ps->cur_sp = 0, ps->cur_bit = 0) {
		*hot = !ps->phase;
		while (ps->cur_sp < ps->nr) {
			struct ps_space *s = &ps->sp[ps->cur_sp];
			__u64 i, span;
			int n;

			if (*hot && !s->hot) {
				ps->cur_sp++;
				ps->cur_bit = 0;
				continue;
			}
			ps_lock(ps);
			i = *hot ? next_hot(s, ps->cur_bit) :
			    lm_find_next_bit(s->todo, s->npages, ps->cur_bit);
			pthread_mutex_unlock(&ps->lock);
			if (i >= s->npages) {
				ps->cur_sp++;
				ps->cur_bit = 0;
				continue;
			}
			n = gather(ps, s, i, 0, LM_BULK_PAGES, LM_BULK_WINDOW,
				   m, &span, *hot ? s->hot : NULL);
			if (n < 0)
				return n;
			ps->cur_bit = i + span;
			if (*hot)
				ps->hot_pushed += n;
			if (n)	/* else an answer took them meanwhile */
				return 1;
		}
	}
	return 0;
}

/*
 * LAZYMIG_PUSH_LOG: one line per pushed page, "hot|rest SPACE ADDR US"
 * (US: microseconds since the pusher started).
 */
static void log_push(struct lm_ps *ps, const struct lm_msg *m, int hot)
{
	const unsigned long *sel = (const unsigned long *)(m + 1);
	__u64 i, us = (lm_now_ns() - ps->push_t0) / 1000;

	for (i = 0; i < m->npages; i++)
		if (m->type == LM_MSG_PAGES || lm_test_bit(sel, i))
			fprintf(ps->push_log, "%s %u 0x%llx %llu\n",
				hot ? "hot" : "rest", m->space,
				(unsigned long long)(m->addr + i * LM_PAGE_SIZE),
				(unsigned long long)us);
}

/* Write one push run, deflated into a ZBULK message when that pays. */
static int write_run(struct lm_ps *ps, const struct lm_msg *m)
{
	size_t raw = sizeof(*m) + m->len;
	struct lm_msg *z = (struct lm_msg *)ps->zout;
	uLongf zlen;
	int err;

	ps->z_raw += raw;
	if (!ps->zon || ps->z_skip) {
		ps->z_skip -= !!ps->z_skip;
		goto raw;
	}
	zlen = compressBound(raw);
	if (compress2((Bytef *)(z + 1), &zlen, (const Bytef *)m, raw,
		      Z_BEST_SPEED) != Z_OK || zlen >= raw - raw / 8) {
		if (++ps->z_miss >= Z_MISS_MAX) {
			ps->z_miss = 0;
			ps->z_skip = Z_SKIP;
		}
		goto raw;
	}
	ps->z_miss = 0;
	*z = (struct lm_msg){ .magic = LM_MSG_MAGIC, .type = LM_MSG_ZBULK,
			      .len = zlen, .npages = raw };
	err = lm_write_full(ps->cfg.bulk_fd, z, sizeof(*z) + zlen);
	if (!err) {
		ps->z_wire += sizeof(*z) + zlen;
		ps->push_bytes += sizeof(*z) + zlen;
	}
	return err;
raw:
	err = lm_write_full(ps->cfg.bulk_fd, m, raw);
	if (!err) {
		ps->z_wire += raw;
		ps->push_bytes += raw;
	}
	return err;
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

/*
 * SCHED_IDLE only while faults come in (within IDLE_AFTER_FAULT_NS of the
 * last answer): then any thread that wakes preempts the pusher.  Else
 * SCHED_OTHER at nice PUSHER_NICE, so that a busy source host cannot
 * starve the drain of a process that is not faulting.  Re-read each
 * round: ps_lock may have changed it meanwhile.
 */
#define IDLE_AFTER_FAULT_NS	(100 * 1000000ULL)

static void pusher_policy(struct lm_ps *ps)
{
	__u64 last = __atomic_load_n(&ps->last_answer_ns, __ATOMIC_RELAXED);
	int want = lm_now_ns() - last < IDLE_AFTER_FAULT_NS ? SCHED_IDLE :
		   SCHED_OTHER;

	if (sched_getscheduler(0) == want)
		return;
	if (sched_setscheduler(0, want, &(struct sched_param){ 0 }))
		return;		/* best effort */
	__atomic_store_n(&ps->pusher_tid, want == SCHED_IDLE ? gettid() : 0,
			 __ATOMIC_RELEASE);
}

static int push_all(struct lm_ps *ps)
{
	struct lm_msg *m = (struct lm_msg *)ps->out;
	int err = 0, wait, hot;

	while (!stopping(ps)) {
		pusher_policy(ps);
		wait = push_wait_ms(ps);
		if (wait) {
			usleep((wait < 50 ? wait : 50) * 1000);
			continue;
		}
		err = next_chunk(ps, &hot);
		if (err < 0)
			return err;
		if (!err)	/* all pushed */
			return lm_msg_send(ps->cfg.bulk_fd, LM_MSG_PUSH_END, 0,
					   0, 0, NULL, 0);
		if (ps->push_log)
			log_push(ps, m, hot);
		err = write_run(ps, m);
		if (err)
			return err;
	}
	return 0;
}

static void *pusher_main(void *arg)
{
	struct lm_ps *ps = arg;
	int err;

	/* best effort: nice is kept under SCHED_IDLE, for ps_lock */
	setpriority(PRIO_PROCESS, gettid(), PUSHER_NICE);
	/* just resumed: the process is about to fault */
	__atomic_store_n(&ps->last_answer_ns, lm_now_ns(), __ATOMIC_RELAXED);
	/* the source is frozen: what it touched last cannot change now */
	if (ps->cfg.hot_scan && !ps->hot_scanned) {
		ps->hot_scanned = 1;
		err = ps->cfg.hot_scan(ps->cfg.hot_ctx, ps);
		if (err)
			LOG(ps, "working set: %s; pushing in address order",
			    strerror(-err));
	}
	err = push_all(ps);
	if (err && !stopping(ps)) {
		LOG(ps, "bulk channel: %s", strerror(-err));
		__atomic_store_n(&ps->push_err, err, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&ps->pusher_tid, 0, __ATOMIC_RELEASE);
	return NULL;
}

static int start_pusher(struct lm_ps *ps)
{
	int err;

	ps->push_t0 = lm_now_ns();
	ps->zon = ps->cfg.compress && (ps->peer_feat & LM_FEAT_ZBULK);
	if (ps->cfg.compress && !ps->zon)
		LOG(ps, "the destination does not take --compress (an older lazymig?); pushing uncompressed");
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

/*
 * New channels from cfg.rejoin.  What was in flight is lost both ways:
 * the destination re-sends its requests (and RESUMED); every page with
 * data goes into the push again, and it ignores pages it already has.
 */
static int rejoin(struct lm_ps *ps, int why)
{
	size_t i;
	int err;

	if (!ps->cfg.rejoin || !lm_net_lost(why))
		return why;
	stop_pusher(ps);
	err = ps->cfg.rejoin(ps->cfg.ctx, &ps->cfg.req_fd, &ps->cfg.bulk_fd);
	if (err)
		return err;
	ps_lock(ps);
	for (i = 0; i < ps->nr; i++) {
		struct ps_space *s = &ps->sp[i];
		size_t words = LM_BITS_TO_LONGS(s->npages);

		memcpy(s->todo, s->data, words * sizeof(long));
		if (s->npages % LM_BPL)
			s->todo[words - 1] &= (1UL << (s->npages % LM_BPL)) - 1;
	}
	pthread_mutex_unlock(&ps->lock);
	ps->phase = 0;
	ps->cur_sp = 0;
	ps->cur_bit = 0;
	ps->req.fd = ps->cfg.req_fd;
	ps->req.head = ps->req.tail = 0;
	__atomic_store_n(&ps->stop, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&ps->push_err, 0, __ATOMIC_RELEASE);
	ps->push_t0 = lm_now_ns();
	ps->push_bytes = 0;
	return 0;
}

/* On a terminal only: pages sent, rate, ETA, every PROGRESS_MS. */
static void progress(struct lm_ps *ps, int last)
{
	__u64 now = lm_now_ns(), sent, el;
	double rate, left;

	if (!ps->cfg.progress || !ps->pusher_on || (now < ps->tick && !last))
		return;
	sent = __atomic_load_n(&ps->pages_sent, __ATOMIC_RELAXED);
	if (sent > ps->pages_total)	/* a page sent twice (a race) */
		sent = ps->pages_total;
	el = now - ps->push_t0;
	rate = el ? sent * (double)LM_PAGE_SIZE / (1 << 20) / (el / 1e9) : 0;
	left = (ps->pages_total - sent) * (double)LM_PAGE_SIZE / (1 << 20);
	fprintf(stderr, "\rsend: pid %d: %llu/%llu MiB sent, %.0f MiB/s, ETA %.1f s   %s",
		ps->cfg.pid, (unsigned long long)(sent * LM_PAGE_SIZE >> 20),
		(unsigned long long)(ps->pages_total * LM_PAGE_SIZE >> 20),
		rate, rate > 0 ? left / rate : 0.0, last ? "\n" : "");
	ps->tick = now + PROGRESS_MS * 1000000ULL;
}

int lm_ps_run(struct lm_ps *ps)
{
	int err = 0;
	size_t i;

	ps_lock(ps);
	for (i = 0; i < ps->nr; i++)
		ps->pages_total += lm_bitmap_weight(ps->sp[i].todo,
						    ps->sp[i].npages) *
				   (ps->sp[i].page_size / LM_PAGE_SIZE);
	pthread_mutex_unlock(&ps->lock);
	setpriority(PRIO_PROCESS, gettid(), SERVER_NICE);	/* best effort */
	while (!ps->done && !err) {
		struct pollfd p = { .fd = ps->cfg.req_fd, .events = POLLIN };
		int n = poll(&p, 1, PUSH_POLL_MS);

		if (ps->ft)
			ps->ft_wake = lm_now_ns();
		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n > 0)
			err = serve_requests(ps);
		if (!err && ps->resumed && !ps->pusher_on)
			err = start_pusher(ps);
		if (!err)
			err = __atomic_load_n(&ps->push_err, __ATOMIC_ACQUIRE);
		if (err && !ps->done)
			err = rejoin(ps, err);
		progress(ps, 0);
	}
	if (ps->done)
		progress(ps, 1);
	stop_pusher(ps);
	return err;
}

void lm_ps_figures(const struct lm_ps *ps, struct lm_ps_figures *f)
{
	f->hot = ps->hot_total;
	f->hot_pushed = ps->hot_pushed;
	f->z_raw = ps->z_raw;
	f->z_wire = ps->z_wire;
	f->compressed = ps->zon;
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
	for (i = 0; i < ps->nr; i++) {
		free(ps->sp[i].todo);
		free(ps->sp[i].hot);
	}
	if (ps->push_log)
		fclose(ps->push_log);
	free(ps->zout);
	free(ps->sp);
	free(ps->ans);
	free(ps->out);
	free(ps->json);
	lm_rx_free(&ps->req);
	lm_ft_close(ps->ft);
	free(ps);
}
