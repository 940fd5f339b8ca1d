// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: per-mm lazy state as runs with bitmaps (see lazy.h).  Only
 * events (mremap, munmap, madvise, fork) change the shape of the runs;
 * faults and installs only look up and clear bits.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lazy.h"

__u64 lm_find_next_bit(const unsigned long *b, __u64 n, __u64 i)
{
	unsigned long w;

	if (i >= n)
		return n;
	w = b[i / LM_BPL] & (~0UL << (i % LM_BPL));
	i -= i % LM_BPL;
	for (;;) {
		if (w) {
			i += __builtin_ctzl(w);
			return i < n ? i : n;
		}
		i += LM_BPL;
		if (i >= n)
			return n;
		w = b[i / LM_BPL];
	}
}

__u64 lm_find_next_zero_bit(const unsigned long *b, __u64 n, __u64 i)
{
	unsigned long w;

	if (i >= n)
		return n;
	w = ~b[i / LM_BPL] & (~0UL << (i % LM_BPL));
	i -= i % LM_BPL;
	for (;;) {
		if (w) {
			i += __builtin_ctzl(w);
			return i < n ? i : n;
		}
		i += LM_BPL;
		if (i >= n)
			return n;
		w = ~b[i / LM_BPL];
	}
}

__u64 lm_bitmap_weight(const unsigned long *b, __u64 n)
{
	__u64 i, w = 0;

	for (i = 0; i < n / LM_BPL; i++)
		w += __builtin_popcountl(b[i]);
	if (n % LM_BPL)
		w += __builtin_popcountl(b[i] & ((1UL << (n % LM_BPL)) - 1));
	return w;
}

static __u64 run_pages(const struct lm_run *r)
{
	return (r->end - r->start) / r->page_size;
}

static int run_alloc(struct lm_run *r, __u64 npages)
{
	size_t sz = LM_BITS_TO_LONGS(npages ? npages : 1) * sizeof(long);

	r->lazy = calloc(1, sz);
	r->req = calloc(1, sz);
	if (!r->lazy || !r->req) {
		free(r->lazy);
		free(r->req);
		return -ENOMEM;
	}
	return 0;
}

static int mm_grow(struct lm_mm *mm)
{
	size_t cap = mm->cap ? 2 * mm->cap : 16;
	struct lm_run *n;

	if (mm->nr < mm->cap)
		return 0;
	n = realloc(mm->runs, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	mm->runs = n;
	mm->cap = cap;
	return 0;
}

int lm_mm_add_run(struct lm_mm *mm, __u32 space, __u64 start, __u64 src,
		  __u64 npages, __u64 page_size, const unsigned long *data)
{
	struct lm_run *r;
	__u64 i;

	if (!npages || !page_size || mm_grow(mm))
		return npages ? -ENOMEM : -EINVAL;
	r = &mm->runs[mm->nr];
	memset(r, 0, sizeof(*r));
	if (run_alloc(r, npages))
		return -ENOMEM;
	r->start = start;
	r->end = start + npages * page_size;
	r->src = src;
	r->space = space;
	r->page_size = page_size;
	for (i = 0; i < npages; i++)
		if (!data || lm_test_bit(data, i))
			lm_set_bit(r->lazy, i);
	r->nlazy = lm_bitmap_weight(r->lazy, npages);
	mm->nlazy += r->nlazy;
	mm->nr++;
	return 0;
}

static int cmp_start(const void *a, const void *b)
{
	const struct lm_run *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static const struct lm_mm *sort_mm;	/* qsort has no context argument */

static int cmp_src(const void *a, const void *b)
{
	const struct lm_run *x = &sort_mm->runs[*(const size_t *)a];
	const struct lm_run *y = &sort_mm->runs[*(const size_t *)b];

	if (x->space != y->space)
		return x->space < y->space ? -1 : 1;
	return x->src < y->src ? -1 : x->src > y->src;
}

int lm_mm_index(struct lm_mm *mm)
{
	size_t i, *n;

	qsort(mm->runs, mm->nr, sizeof(*mm->runs), cmp_start);
	n = realloc(mm->by_src, (mm->nr ? mm->nr : 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	mm->by_src = n;
	for (i = 0; i < mm->nr; i++)
		n[i] = i;
	sort_mm = mm;
	qsort(n, mm->nr, sizeof(*n), cmp_src);
	sort_mm = NULL;
	return 0;
}

struct lm_run *lm_mm_find(struct lm_mm *mm, __u64 addr)
{
	size_t lo = 0, hi = mm->nr;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct lm_run *r = &mm->runs[mid];

		if (addr < r->start)
			hi = mid;
		else if (addr >= r->end)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

size_t lm_mm_src_first(const struct lm_mm *mm, __u32 space, __u64 src)
{
	size_t lo = 0, hi = mm->nr;

	/* first run with (space, src_end) > (space, src) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct lm_run *r = &mm->runs[mm->by_src[mid]];

		if (r->space < space ||
		    (r->space == space && r->src + (r->end - r->start) <= src))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

__u64 lm_run_clear(struct lm_run *r, __u64 lo, __u64 hi)
{
	__u64 i, n = 0;

	for (i = lm_find_next_bit(r->lazy, hi, lo); i < hi;
	     i = lm_find_next_bit(r->lazy, hi, i + 1)) {
		lm_clear_bit(r->lazy, i);
		n++;
	}
	for (i = lo; i < hi; i++)
		lm_clear_bit(r->req, i);
	r->nlazy -= n;
	return n;
}

__u64 lm_mm_clear(struct lm_mm *mm, __u64 start, __u64 end)
{
	__u64 n = 0;
	size_t i;

	for (i = 0; i < mm->nr; i++) {
		struct lm_run *r = &mm->runs[i];
		__u64 s = start > r->start ? start : r->start;
		__u64 e = end < r->end ? end : r->end;

		if (s >= e)
			continue;
		s = (s - r->start) / r->page_size;
		e = (e - r->start + r->page_size - 1) / r->page_size;
		n += lm_run_clear(r, s, e);
	}
	mm->nlazy -= n;
	return n;
}

static void copy_bits(unsigned long *dst, const unsigned long *src,
		      __u64 from, __u64 n)
{
	__u64 i;

	for (i = 0; i < n; i++)
		if (lm_test_bit(src, from + i))
			lm_set_bit(dst, i);
}

/* Split the run holding @addr so that a run starts at @addr. */
static int mm_split(struct lm_mm *mm, __u64 addr)
{
	struct lm_run *r = lm_mm_find(mm, addr), *n;
	__u64 at, total;
	size_t idx;

	if (!r || r->start == addr)
		return 0;
	if ((addr - r->start) % r->page_size)
		return -EINVAL;
	idx = (size_t)((uintptr_t)r - (uintptr_t)mm->runs) / sizeof(*r);
	r = NULL;
	if (mm_grow(mm))
		return -ENOMEM;
	r = &mm->runs[idx];
	n = &mm->runs[mm->nr];
	*n = *r;
	total = run_pages(r);
	at = (addr - r->start) / r->page_size;
	if (run_alloc(n, total - at))
		return -ENOMEM;
	copy_bits(n->lazy, r->lazy, at, total - at);
	copy_bits(n->req, r->req, at, total - at);
	n->start = addr;
	n->src = r->src + (addr - r->start);
	n->nlazy = lm_bitmap_weight(n->lazy, total - at);
	/* the old run keeps [start, addr); its bits past at are unused */
	lm_run_clear(r, at, total);
	r->nlazy = lm_bitmap_weight(r->lazy, at);
	r->end = addr;
	mm->nr++;
	return 0;
}

/*
 * Forget the runs of [start, end): the caller has cleared their lazy
 * bits.  A run left there would overlap one moved in (runs must stay
 * disjoint: lm_mm_find would find the stale one and its clear bits).
 */
static int mm_forget(struct lm_mm *mm, __u64 start, __u64 end)
{
	size_t i, k = 0;
	int err;

	err = lm_mm_index(mm);
	if (!err)
		err = mm_split(mm, start);
	if (!err)
		err = lm_mm_index(mm);
	if (!err)
		err = mm_split(mm, end);
	if (err)
		return err;
	for (i = 0; i < mm->nr; i++) {
		struct lm_run *r = &mm->runs[i];

		if (r->start >= start && r->end <= end) {
			mm->nlazy -= r->nlazy;
			free(r->lazy);
			free(r->req);
			continue;
		}
		mm->runs[k++] = *r;
	}
	mm->nr = k;
	return 0;
}

int lm_mm_remap(struct lm_mm *mm, __u64 from, __u64 to, __u64 len)
{
	__u64 end = from + len;
	size_t i;
	int err;

	lm_mm_clear(mm, to, to + len);
	err = mm_forget(mm, to, to + len);
	if (!err)
		err = lm_mm_index(mm);
	if (!err)
		err = mm_split(mm, from);
	if (!err)
		err = lm_mm_index(mm);
	if (!err)
		err = mm_split(mm, end);
	if (err)
		return err;
	for (i = 0; i < mm->nr; i++) {
		struct lm_run *r = &mm->runs[i];

		if (r->start >= from && r->end <= end) {
			r->start = r->start - from + to;
			r->end = r->end - from + to;
		}
	}
	return lm_mm_index(mm);
}

int lm_mm_dup(const struct lm_mm *mm, struct lm_mm *child)
{
	size_t i;

	memset(child, 0, sizeof(*child));
	child->uffd = -1;
	for (i = 0; i < mm->nr; i++) {
		const struct lm_run *r = &mm->runs[i];
		__u64 n = run_pages(r);

		if (lm_mm_add_run(child, r->space, r->start, r->src, n,
				  r->page_size, r->lazy))
			goto fail;
		child->runs[child->nr - 1].nlazy = r->nlazy;
	}
	child->nlazy = mm->nlazy;
	if (lm_mm_index(child))
		goto fail;
	return 0;
fail:
	lm_mm_free(child);
	return -ENOMEM;
}

void lm_mm_free(struct lm_mm *mm)
{
	size_t i;

	for (i = 0; i < mm->nr; i++) {
		free(mm->runs[i].lazy);
		free(mm->runs[i].req);
	}
	free(mm->runs);
	free(mm->by_src);
	mm->runs = NULL;
	mm->by_src = NULL;
	mm->nr = mm->cap = 0;
	mm->nlazy = 0;
}

const struct lm_pagemap_img *lm_lazy_vma_map(const struct lm_image *img,
					     const struct lm_vma_img *v)
{
	unsigned int i;

	for (i = 0; i < img->nr_maps; i++) {
		const struct lm_pagemap *m = &img->maps[i].m;

		if (m->space == 0 && m->addr == v->v.start)
			return &img->maps[i];
	}
	return NULL;
}
