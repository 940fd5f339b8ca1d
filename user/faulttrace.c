// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: per-request timestamps of the fault path (see faulttrace.h).
 * Records stay in memory while the migration runs (a stamp costs one
 * clock read) and are written out once, at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "faulttrace.h"

#define FT_MAX		(1U << 20)	/* records kept, at most */
#define FT_LOOKBACK	1024		/* records searched for an answer */

struct lm_ft {
	char *path;
	struct lm_ft_rec *v;
	size_t nr, cap;
	int cut;		/* records dropped: said at close */
};

struct lm_ft *lm_ft_open(const char *suffix)
{
	const char *prefix = getenv("LAZYMIG_FAULT_TRACE");
	struct lm_ft *t;

	if (!prefix || !*prefix)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t || asprintf(&t->path, "%s.%s", prefix, suffix) < 0) {
		fprintf(stderr, "lazymig: LAZYMIG_FAULT_TRACE: out of memory; no trace\n");
		free(t);
		return NULL;
	}
	return t;
}

struct lm_ft_rec *lm_ft_add(struct lm_ft *t, __u32 space, __u64 addr)
{
	struct lm_ft_rec *r;

	if (t->nr == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;

		r = cap <= FT_MAX ? realloc(t->v, cap * sizeof(*r)) : NULL;
		if (!r) {
			t->cut++;
			return NULL;
		}
		t->v = r;
		t->cap = cap;
	}
	r = &t->v[t->nr++];
	memset(r, 0, sizeof(*r));
	r->space = space;
	r->addr = addr;
	return r;
}

long lm_ft_find(const struct lm_ft *t, __u32 space, __u64 addr, int slot)
{
	size_t i, stop = t->nr > FT_LOOKBACK ? t->nr - FT_LOOKBACK : 0;

	for (i = t->nr; i > stop; i--) {
		const struct lm_ft_rec *r = &t->v[i - 1];

		if (r->space == space && r->addr == addr && !r->t[slot])
			return i - 1;
	}
	return -1;
}

struct lm_ft_rec *lm_ft_rec(struct lm_ft *t, long i)
{
	return i >= 0 && (size_t)i < t->nr ? &t->v[i] : NULL;
}

void lm_ft_close(struct lm_ft *t)
{
	FILE *f;
	size_t i;
	int k;

	if (!t)
		return;
	f = fopen(t->path, "we");
	if (!f) {
		fprintf(stderr, "lazymig: LAZYMIG_FAULT_TRACE: cannot write %s: %s\n",
			t->path, strerror(errno));
		goto out;
	}
	for (i = 0; i < t->nr; i++) {
		fprintf(f, "%u 0x%llx %u", t->v[i].space,
			(unsigned long long)t->v[i].addr, t->v[i].npages);
		for (k = 0; k < LM_FT_STAMPS; k++)
			fprintf(f, " %llu", (unsigned long long)t->v[i].t[k]);
		fputc('\n', f);
	}
	if (fclose(f))
		fprintf(stderr, "lazymig: LAZYMIG_FAULT_TRACE: writing %s: %s\n",
			t->path, strerror(errno));
	if (t->cut)
		fprintf(stderr, "lazymig: LAZYMIG_FAULT_TRACE: %d requests past %u not recorded in %s\n",
			t->cut, FT_MAX, t->path);
out:
	free(t->path);
	free(t->v);
	free(t);
}
