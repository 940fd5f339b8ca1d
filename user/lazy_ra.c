// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: sequential read-ahead of fault requests (see lazy.h).
 *
 * A few streams, each the source range last asked for.  A fault inside a
 * stream's range or within one window (two pages at least: a stride of
 * two is sequential too) after it continues that stream: the next
 * request covers twice as many pages as the last, at least twice
 * "cover" (what the source's fault-around brings anyway), up to the
 * maximum.  A fault anywhere else starts a new stream of one page in the
 * least recently used slot: a random fault gets the plain fault-around.
 * Keyed by source address (space + src), so it holds across mremap and
 * for every mm of the process.
 */
#include "lazy.h"

void lm_ra_init(struct lm_ra *ra, __u32 max, __u32 cover)
{
	unsigned int i;

	ra->tick = 0;
	ra->max = max ? max : 1;
	ra->cover = cover ? cover : 1;
	for (i = 0; i < LM_RA_STREAMS; i++)
		ra->s[i] = (struct lm_ra_stream){ 0 };
}

__u32 lm_ra_window(struct lm_ra *ra, __u32 space, __u64 src, __u64 ps)
{
	struct lm_ra_stream *s, *lru = &ra->s[0];
	unsigned int i;
	__u32 win, slack;

	ra->tick++;
	for (i = 0; i < LM_RA_STREAMS; i++) {
		s = &ra->s[i];
		if (s->used < lru->used)
			lru = s;
		slack = s->win < 2 ? 2 : s->win;
		if (!s->used || s->space != space || src < s->start ||
		    src >= s->end + (__u64)slack * ps)
			continue;
		win = s->win * 2 > ra->cover * 2 ? s->win * 2 : ra->cover * 2;
		if (win > ra->max)
			win = ra->max;
		*s = (struct lm_ra_stream){ .start = src,
					    .end = src + (__u64)(win > ra->cover ?
							win : ra->cover) * ps,
					    .used = ra->tick, .space = space,
					    .win = win };
		return win;
	}
	*lru = (struct lm_ra_stream){ .start = src,
				      .end = src + (__u64)ra->cover * ps,
				      .used = ra->tick, .space = space,
				      .win = 1 };
	return 1;
}
