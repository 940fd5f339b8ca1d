// SPDX-License-Identifier: GPL-2.0
/*
 * The lazy path's parts on their own: run/bitmap bookkeeping, message
 * framing, authentication, and the daemon + page server serving a real
 * userfaultfd region of this process through two socket pairs (the
 * "source" is a buffer here), with faults, pushes, MADV_DONTNEED and
 * mremap while pages are still arriving.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>
#include <zlib.h>
#include "kselftest_harness.h"
#include "lmtest.h"
#include "lazy.h"
#include "net.h"
#include "pageserver.h"
#include "proto.h"

#define PS 4096UL

/* ---- runs ---- */

TEST(runs_find_clear_remap_dup)
{
	unsigned long data[2] = { 0xf0f0f0f0f0f0f0f0UL, 0xffUL };
	struct lm_mm mm = { .uffd = -1 }, child;
	struct lm_run *r;
	__u64 base = 0x100000, n0, n1;
	size_t k;

	ASSERT_EQ(0, lm_mm_add_run(&mm, 0, base, base, 72, PS, data));
	ASSERT_EQ(0, lm_mm_add_run(&mm, 0, 0x10000, 0x10000, 4, PS, NULL));
	ASSERT_EQ(0, lm_mm_index(&mm));
	n0 = mm.nlazy;
	EXPECT_EQ(32 + 8 + 4, n0);
	r = lm_mm_find(&mm, base + 4 * PS);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(1, lm_test_bit(r->lazy, 4));
	EXPECT_EQ(0, lm_test_bit(r->lazy, 0));
	EXPECT_EQ(NULL, lm_mm_find(&mm, base + 72 * PS));
	EXPECT_EQ(NULL, lm_mm_find(&mm, 0x10000 - 1));
	/* MADV_DONTNEED of pages 4..7 */
	EXPECT_EQ(4, lm_mm_clear(&mm, base + 4 * PS, base + 8 * PS));
	EXPECT_EQ(n0 - 4, mm.nlazy);
	/* move pages 64..71 (8 lazy) to 0x900000 */
	ASSERT_EQ(0, lm_mm_remap(&mm, base + 64 * PS, 0x900000, 8 * PS));
	EXPECT_EQ(n0 - 4, mm.nlazy);
	EXPECT_EQ(3, mm.nr);
	r = lm_mm_find(&mm, 0x900000 + 3 * PS);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(base + 64 * PS, r->src);
	EXPECT_EQ(8, r->nlazy);
	EXPECT_EQ(NULL, lm_mm_find(&mm, base + 64 * PS));
	/* source index: the moved run is found by its source address */
	k = lm_mm_src_first(&mm, 0, base + 65 * PS);
	ASSERT_LT(k, mm.nr);
	EXPECT_EQ(0x900000, mm.runs[mm.by_src[k]].start);
	/* fork copies, then the two evolve apart */
	ASSERT_EQ(0, lm_mm_dup(&mm, &child));
	EXPECT_EQ(mm.nlazy, child.nlazy);
	EXPECT_EQ(8, lm_mm_clear(&child, 0x900000, 0x900000 + 8 * PS));
	EXPECT_EQ(n0 - 4, mm.nlazy);
	EXPECT_EQ(n0 - 12, child.nlazy);
	lm_mm_free(&child);
	/*
	 * onto a mapping that has a run of its own (a PROT_NONE area of
	 * the image, say, no page with data): pages 8..15 over 0x10000's
	 * run, whose last page is left alone
	 */
	ASSERT_EQ(0, lm_mm_add_run(&mm, 0, 0x10000 + 4 * PS, 0x10000 + 4 * PS,
				   12, PS, NULL));
	ASSERT_EQ(0, lm_mm_index(&mm));
	n1 = mm.nlazy;
	ASSERT_EQ(0, lm_mm_remap(&mm, base + 8 * PS, 0x10000 + 4 * PS, 8 * PS));
	r = lm_mm_find(&mm, 0x10000 + 4 * PS);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(base + 8 * PS, r->src);
	EXPECT_EQ(1, lm_test_bit(r->lazy, 4));	/* base page 12 */
	EXPECT_EQ(0, lm_test_bit(r->lazy, 0));	/* base page 8 */
	r = lm_mm_find(&mm, 0x10000 + 12 * PS);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(0x10000 + 12 * PS, r->src);
	EXPECT_EQ(n1 - 8, mm.nlazy);	/* the 8 pages moved onto */
	for (k = 1; k < mm.nr; k++)
		EXPECT_LE(mm.runs[k - 1].end, mm.runs[k].start);
	/* and back: nothing stays behind at the target */
	ASSERT_EQ(0, lm_mm_remap(&mm, 0x10000 + 4 * PS, base + 8 * PS, 8 * PS));
	r = lm_mm_find(&mm, 0x10000 + 4 * PS);
	EXPECT_EQ(NULL, r);
	r = lm_mm_find(&mm, base + 12 * PS);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(base + 12 * PS, r->src + ((base + 12 * PS) - r->start));
	EXPECT_EQ(1, lm_test_bit(r->lazy, (base + 12 * PS - r->start) / PS));
	lm_mm_free(&mm);
}

/*
 * mremap(MREMAP_FIXED) onto addresses that have runs (a PROT_NONE
 * placeholder dumped with no data, or a lazy range): they go, split where
 * they straddle the edges, and the moved run alone answers there.
 */
TEST(runs_remap_onto_runs)
{
	struct lm_mm mm = { .uffd = -1 };
	unsigned long none[1] = { 0 };
	__u64 a = 0x100000, p = 0x900000, n0;
	struct lm_run *r;
	__u64 i;

	ASSERT_EQ(0, lm_mm_add_run(&mm, 0, a, a, 16, PS, NULL));
	/* three neighbouring placeholders merged into one VMA */
	ASSERT_EQ(0, lm_mm_add_run(&mm, 0, p, p, 48, PS, none));
	ASSERT_EQ(0, lm_mm_index(&mm));
	n0 = mm.nlazy;
	EXPECT_EQ(16, n0);
	/* pages 4..11 onto the middle placeholder */
	ASSERT_EQ(0, lm_mm_remap(&mm, a + 4 * PS, p + 16 * PS, 8 * PS));
	EXPECT_EQ(n0, mm.nlazy);
	for (i = 0; i < 8; i++) {
		r = lm_mm_find(&mm, p + (16 + i) * PS);
		ASSERT_NE(NULL, r);
		EXPECT_EQ(p + 16 * PS, r->start);
		EXPECT_EQ(a + 4 * PS, r->src);
		EXPECT_EQ(1, lm_test_bit(r->lazy, i));
	}
	/* what is left of the placeholder on both sides */
	r = lm_mm_find(&mm, p + 15 * PS);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(p, r->start);
	EXPECT_EQ(p + 16 * PS, r->end);
	r = lm_mm_find(&mm, p + 24 * PS);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(p + 24 * PS, r->start);
	EXPECT_EQ(p + 48 * PS, r->end);
	EXPECT_EQ(0, r->nlazy);
	/* and back onto the hole: the placeholder pieces stay apart */
	ASSERT_EQ(0, lm_mm_remap(&mm, p + 16 * PS, a + 4 * PS, 8 * PS));
	EXPECT_EQ(NULL, lm_mm_find(&mm, p + 16 * PS));
	r = lm_mm_find(&mm, a + 4 * PS);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(8, r->nlazy);
	/* onto lazy pages: theirs are dropped, the moved ones kept */
	ASSERT_EQ(0, lm_mm_remap(&mm, a + 4 * PS, a + 12 * PS, 4 * PS));
	EXPECT_EQ(n0 - 4, mm.nlazy);
	for (i = 12; i < 16; i++) {
		r = lm_mm_find(&mm, a + i * PS);
		ASSERT_NE(NULL, r);
		EXPECT_EQ(a + 4 * PS, r->src);
		EXPECT_EQ(1, lm_test_bit(r->lazy, (a + i * PS - r->start) / PS));
	}
	EXPECT_EQ(NULL, lm_mm_find(&mm, a + 4 * PS));
	/* runs stay sorted and disjoint */
	for (i = 1; i < mm.nr; i++)
		EXPECT_LE(mm.runs[i - 1].end, mm.runs[i].start);
	lm_mm_free(&mm);
}

TEST(bit_search)
{
	unsigned long b[3] = { 0, 1UL << 63, 5 };

	EXPECT_EQ(127, lm_find_next_bit(b, 192, 0));
	EXPECT_EQ(128, lm_find_next_bit(b, 192, 128));
	EXPECT_EQ(130, lm_find_next_bit(b, 192, 129));
	EXPECT_EQ(131, lm_find_next_bit(b, 131, 131));
	EXPECT_EQ(129, lm_find_next_zero_bit(b, 192, 127));
	EXPECT_EQ(3, lm_bitmap_weight(b, 192));
	EXPECT_EQ(2, lm_bitmap_weight(b, 129));
}

/* ---- framing ---- */

TEST(framing_partial_reads)
{
	char big[3 * PS], got[3 * PS];
	const void *payload;
	struct lm_msg m;
	struct lm_rx rx;
	int sv[2], i, n = 0;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_EQ(0, lm_rx_init(&rx, sv[1], LM_MSG_MAX_PAYLOAD));
	lm_fill(big, sizeof(big), 7);
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, lm_msg_send(sv[0], LM_MSG_PAGES, 0, i * PS, 3,
					 big, sizeof(big)));
	ASSERT_EQ(0, lm_msg_send(sv[0], LM_MSG_DONE, 0, 0, 0, NULL, 0));
	while (n < 6) {
		ASSERT_LE(0, lm_rx_fill(&rx));
		while (lm_rx_next(&rx, &m, &payload) == 1) {
			if (n < 5) {
				EXPECT_EQ(LM_MSG_PAGES, m.type);
				EXPECT_EQ(n * PS, m.addr);
				memcpy(got, payload, m.len);
				EXPECT_EQ(-1, lm_check(got, sizeof(got), 7));
			} else {
				EXPECT_EQ(LM_MSG_DONE, m.type);
			}
			n++;
		}
	}
	/* garbage is refused, not trusted */
	ASSERT_EQ(8, write(sv[0], "garbage!garbage!garbage!garbage!", 8 * 4) / 4);
	usleep(1000);
	lm_rx_fill(&rx);
	EXPECT_EQ(-EBADMSG, lm_rx_next(&rx, &m, &payload));
	lm_rx_free(&rx);
	close(sv[0]);
	close(sv[1]);
}

/* ---- authentication ---- */

struct srv {
	int fd, err;
	struct lm_auth a;
};

static void *auth_srv(void *arg)
{
	struct srv *s = arg;

	s->err = lm_auth_server(s->fd, &s->a, LM_CHAN_REQ, "test-peer");
	return NULL;
}

static int auth_pair(const char *stok, const char *ctok, int *serr)
{
	struct srv s = { .a.prefix = "receive" };
	struct lm_auth c = { .prefix = "send" };
	pthread_t th;
	int sv[2], err;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -errno;
	if (stok) {
		strcpy((char *)s.a.token, stok);
		s.a.token_len = strlen(stok);
	}
	if (ctok) {
		strcpy((char *)c.token, ctok);
		c.token_len = strlen(ctok);
	}
	s.fd = sv[0];
	pthread_create(&th, NULL, auth_srv, &s);
	err = lm_auth_client(sv[1], &c, LM_CHAN_REQ);
	close(sv[1]);
	pthread_join(th, NULL);
	close(sv[0]);
	*serr = s.err;
	if (!err && !s.err && memcmp(c.session, s.a.session, LM_SESSION_LEN))
		return -EBADE;
	return err;
}

TEST(auth)
{
	int serr;

	EXPECT_EQ(0, auth_pair("0123456789abcdef0123", "0123456789abcdef0123", &serr));
	EXPECT_EQ(0, serr);
	EXPECT_EQ(-EACCES, auth_pair("0123456789abcdef0123", "0123456789abcdef0124", &serr));
	EXPECT_EQ(-EACCES, serr);
	/* token on one side only: refused both ways */
	EXPECT_NE(0, auth_pair("0123456789abcdef0123", NULL, &serr));
	EXPECT_NE(0, serr);
	EXPECT_NE(0, auth_pair(NULL, "0123456789abcdef0123", &serr));
	/* no token and not a loopback peer (AF_UNIX here): refused */
	EXPECT_EQ(-EACCES, auth_pair(NULL, NULL, &serr));
	EXPECT_EQ(-EACCES, serr);
}

/*
 * Read-ahead windows: a stream of faults each after the last window
 * doubles the next one up to the maximum; a fault elsewhere asks for one
 * page and starts its own stream; interleaved streams keep their windows.
 */
TEST(readahead_windows)
{
	struct lm_ra ra;
	__u64 a = 1 << 20, b = 64 << 20, at = a;
	__u32 w, want = 1;
	int i;

	lm_ra_init(&ra, 16, 1);
	for (i = 0; i < 8; i++) {	/* a sequential reader */
		w = lm_ra_window(&ra, 0, at, PS);
		ASSERT_EQ(want, w);
		at += w * PS;
		want = want * 2 < 16 ? want * 2 : 16;
	}
	/* a second stream elsewhere starts at one page ... */
	ASSERT_EQ(1, lm_ra_window(&ra, 0, b, PS));
	ASSERT_EQ(2, lm_ra_window(&ra, 0, b + PS, PS));
	/* ... while the first keeps its window */
	ASSERT_EQ(16, lm_ra_window(&ra, 0, at, PS));
	/* same address in another space: not the same stream */
	ASSERT_EQ(1, lm_ra_window(&ra, 3, at + 16 * PS, PS));
	/* random faults far apart: one page each */
	for (i = 0; i < 3 * LM_RA_STREAMS; i++)
		ASSERT_EQ(1, lm_ra_window(&ra, 0, (__u64)(1000 + 37 * i) << 24,
					  PS));
	/* a stride of two pages still counts as sequential */
	lm_ra_init(&ra, 64, 1);
	ASSERT_EQ(1, lm_ra_window(&ra, 0, a, PS));
	ASSERT_EQ(2, lm_ra_window(&ra, 0, a + 2 * PS, PS));
	/* an answer that brings 16 pages (fault-around): the next fault
	 * after them continues the stream */
	lm_ra_init(&ra, 128, 16);
	ASSERT_EQ(1, lm_ra_window(&ra, 0, a, PS));
	ASSERT_EQ(32, lm_ra_window(&ra, 0, a + 16 * PS, PS));
	ASSERT_EQ(64, lm_ra_window(&ra, 0, a + 48 * PS, PS));
	ASSERT_EQ(128, lm_ra_window(&ra, 0, a + 112 * PS, PS));
	ASSERT_EQ(1, lm_ra_window(&ra, 0, a + 4096 * PS, PS));
	/* max 1: no read-ahead at all */
	lm_ra_init(&ra, 1, 1);
	ASSERT_EQ(1, lm_ra_window(&ra, 0, a, PS));
	ASSERT_EQ(1, lm_ra_window(&ra, 0, a + PS, PS));
}

/* ---- the daemon and the page server, in process ---- */

#define REGION	(16UL << 20)
#define NPAGES	(REGION / PS)

static char *src_mem;	/* what the "frozen source" holds */
static __u64 src_base;

static pid_t req_tid;		/* the page server's request thread */

static int read_src(void *ctx, __u32 space, __u64 addr, void *buf,
		    __u64 npages, __u64 page_size)
{
	if (space || addr < src_base || addr + npages * page_size >
	    src_base + REGION)
		return -EFAULT;
	memcpy(buf, src_mem + (addr - src_base), npages * page_size);
	return 0;
}

struct runner {
	struct lm_ps *ps;
	struct lm_lazy *lz;
	int err;
};

static void *run_ps(void *arg)
{
	struct runner *r = arg;

	req_tid = gettid();
	r->err = lm_ps_run(r->ps);
	if (!r->err)
		r->err = lm_ps_bye(r->ps);
	return NULL;
}

static void *run_lazy(void *arg)
{
	struct runner *r = arg;

	r->err = lm_lazy_run(r->lz);
	return NULL;
}

static int zero_page_idx(size_t i)
{
	return i % 7 == 3;	/* never touched at the source */
}

/* The destination region, its image, both ends and their threads. */
struct rig {
	struct lm_vma_img vma;
	struct lm_pagemap_img pm;
	struct lm_image img;
	struct lm_stats st;
	struct runner rp, rl;
	unsigned long *bits;
	pthread_t tp, tl;
	char *dst;
	int req[2], bulk[2], uffd;
};

static int rig_image(struct rig *g)
{
	size_t i;

	src_mem = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g->dst = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g->bits = calloc(LM_BITS_TO_LONGS(NPAGES), sizeof(long));
	if (src_mem == MAP_FAILED || g->dst == MAP_FAILED || !g->bits)
		return -ENOMEM;
	/*
	 * The two mappings may be neighbours merged into one VMA: under THP
	 * "always" (Debian's 6.1) a huge page filling src_mem could reach
	 * into dst and populate it with zeros before it is registered.
	 */
	if (madvise(src_mem, REGION, MADV_NOHUGEPAGE))
		return -errno;
	src_base = (unsigned long)g->dst;	/* same addresses, as in a migration */
	for (i = 0; i < NPAGES; i++) {
		if (zero_page_idx(i))
			continue;
		lm_fill(src_mem + i * PS, PS, i);
		lm_set_bit(g->bits, i);
	}
	g->vma.v = (struct lm_vma){ .start = src_base,
		.end = src_base + REGION, .kind = LM_MEM_ANON_PRIVATE,
		.flags = LM_VMA_LAZY, .prot = PROT_READ | PROT_WRITE,
		.page_size = PS, .shm_id = -1 };
	g->pm.m = (struct lm_pagemap){ .space = 0, .addr = src_base,
		.npages = NPAGES, .page_size = PS };
	g->pm.bitmap = g->bits;
	g->img.proc.nr_vmas = 1;
	g->img.vmas = &g->vma;
	g->img.maps = &g->pm;
	g->img.nr_maps = 1;
	return 0;
}

static int rig_uffd(struct rig *g, __u64 features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	struct uffdio_register reg = {
		.range = { .start = src_base, .len = REGION },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	g->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (g->uffd < 0 || ioctl(g->uffd, UFFDIO_API, &api) ||
	    ioctl(g->uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	return 0;
}

/* Both ends up, one eager page installed, "resumed", threads running. */
static int rig_start(struct rig *g, __u64 features, __u64 rate)
{
	struct lm_ps_cfg pc = { .img = &g->img, .read = read_src,
				.push_rate = rate, .pid = getpid() };
	struct lm_lazy_cfg lc = { .pid = getpid(), .img = &g->img,
				  .st = &g->st };
	int err = rig_image(g);

	if (!err)
		err = rig_uffd(g, features);
	if (err)
		return err;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, g->req) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, g->bulk))
		return -errno;
	pc.req_fd = g->req[0];
	pc.bulk_fd = g->bulk[0];
	lc.uffd = g->uffd;
	lc.req_fd = g->req[1];
	lc.bulk_fd = g->bulk[1];
	err = lm_ps_create(&pc, &g->rp.ps);
	if (!err)
		err = lm_lazy_create(&lc, &g->rl.lz);
	if (!err)	/* an eager page, before "resume" */
		err = lm_lazy_install(g->rl.lz, 0, src_base, 1, src_mem);
	if (err)
		return err;
	lm_ps_mark_sent(g->rp.ps, 0, src_base, 1);
	pthread_create(&g->tp, NULL, run_ps, &g->rp);
	pthread_create(&g->tl, NULL, run_lazy, &g->rl);
	g->st.resume_ns = lm_realtime_ns();
	g->st.freeze_ns = g->st.resume_ns - 1;
	lm_lazy_resumed(g->rl.lz, getpid());
	return 0;
}

static void rig_stop(struct rig *g)
{
	char json[2048];

	pthread_join(g->tl, NULL);
	pthread_join(g->tp, NULL);
	g->st.pages_total = NPAGES;
	g->st.pages_zero = NPAGES - lm_bitmap_weight(g->bits, NPAGES);
	lm_stats_json(&g->st, json, sizeof(json));
	fprintf(stderr, "# stats: %s\n", json);
}

static void rig_free(struct rig *g)
{
	lm_lazy_destroy(g->rl.lz);
	lm_ps_destroy(g->rp.ps);
	lm_stats_free(&g->st);
	free(g->bits);
	munmap(src_mem, REGION);
}

/* Nothing is left lazy, and every page is counted once in the stats. */
static void rig_all_in(struct __test_metadata *_metadata, struct rig *g)
{
	EXPECT_EQ(0, lm_lazy_pending(g->rl.lz));
	EXPECT_EQ(g->st.pages_total, g->st.pages_faulted + g->st.pages_pushed +
		  g->st.pages_zero + g->st.pages_dropped);
}

static size_t *shuffled(unsigned int seed)
{
	size_t *order = malloc(NPAGES * sizeof(*order)), i;

	for (i = 0; i < NPAGES; i++)
		order[i] = i;
	srand(seed);
	for (i = NPAGES - 1; i > 0; i--) {
		size_t j = rand() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	return order;
}

/* Page k of the region at p: pattern k, or zero. -1 if right. */
static long page_bad(const char *p, size_t k)
{
	return zero_page_idx(k) ? lm_check_zero(p, PS) : lm_check(p, PS, k);
}

TEST(daemon_serves_region)
{
	__u64 feat = lm_lazy_uffd_features();
	struct rig g = { 0 };
	size_t i, *order;
	char *moved;

	if (!(feat & UFFD_FEATURE_EVENT_REMOVE))
		SKIP(return, "userfaultfd without EVENT_REMOVE");
	moved = mmap(NULL, 100 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	ASSERT_NE(MAP_FAILED, moved);
	/* the harness forked us: no FORK event needed here */
	ASSERT_EQ(0, rig_start(&g, feat & ~UFFD_FEATURE_EVENT_FORK,
			       32UL << 20));
	/* drop pages 100..199 and move 200..299 away before they arrive */
	ASSERT_EQ(0, madvise(g.dst + 100 * PS, 100 * PS, MADV_DONTNEED));
	ASSERT_EQ(moved, mremap(g.dst + 200 * PS, 100 * PS, 100 * PS,
				MREMAP_MAYMOVE | MREMAP_FIXED, moved));
	/* touch half in random order while the push runs at 32 MiB/s */
	order = shuffled(42);
	for (i = 0; i < NPAGES / 2; i++) {
		size_t k = order[i];

		if (k >= 100 && k < 300)
			continue;
		ASSERT_EQ(-1, page_bad(g.dst + k * PS, k));
	}
	rig_stop(&g);
	EXPECT_EQ(0, g.rl.err);
	EXPECT_EQ(0, g.rp.err);
	for (i = 0; i < NPAGES; i++) {
		if (i >= 100 && i < 300)
			continue;
		ASSERT_EQ(-1, page_bad(g.dst + i * PS, i));
	}
	EXPECT_EQ(-1, lm_check_zero(g.dst + 100 * PS, 100 * PS));
	for (i = 200; i < 300; i++)
		ASSERT_EQ(-1, page_bad(moved + (i - 200) * PS, i));
	EXPECT_EQ(1, g.st.events[LM_EV_REMAP]);
	EXPECT_EQ(1, g.st.events[LM_EV_REMOVE]);
	EXPECT_LT(0, g.st.pages_faulted);
	EXPECT_LT(0, g.st.pages_pushed);
	rig_all_in(_metadata, &g);
	free(order);
	rig_free(&g);
}

/*
 * mremap of lazy pages onto another lazy range of the same mapping (an
 * existing VMA with a run of its own), touched at once, before the push
 * brings them: each must be served its data, not a zero page.
 */
TEST(daemon_remap_onto_lazy_range)
{
	__u64 feat = lm_lazy_uffd_features();
	struct rig g = { 0 };
	char *to;
	size_t i;

	if (!(feat & UFFD_FEATURE_EVENT_REMAP))
		SKIP(return, "userfaultfd without EVENT_REMAP");
	ASSERT_EQ(0, rig_start(&g, feat & ~UFFD_FEATURE_EVENT_FORK,
			       1UL << 20));
	to = g.dst + 1000 * PS;
	ASSERT_EQ(to, mremap(g.dst + 200 * PS, 100 * PS, 100 * PS,
			     MREMAP_MAYMOVE | MREMAP_FIXED, to));
	for (i = 200; i < 300; i++)
		ASSERT_EQ(-1, page_bad(to + (i - 200) * PS, i));
	for (i = 0; i < NPAGES; i++)
		if ((i < 200 || i >= 300) && (i < 1000 || i >= 1100))
			ASSERT_EQ(-1, page_bad(g.dst + i * PS, i));
	rig_stop(&g);
	EXPECT_EQ(0, g.rl.err);
	EXPECT_EQ(0, g.rp.err);
	for (i = 200; i < 300; i++)
		ASSERT_EQ(-1, page_bad(to + (i - 200) * PS, i));
	EXPECT_EQ(1, g.st.events[LM_EV_REMAP]);
	rig_all_in(_metadata, &g);
	rig_free(&g);
}

/*
 * munmap of lazy pages with no UNMAP event asked for: each copy there
 * fails with ENOENT, also when asked once more (no event pending), so the
 * daemon drops them and still finishes; every other page has its data.
 */
TEST(daemon_unmap_without_event)
{
	__u64 feat = lm_lazy_uffd_features();
	size_t i, gone = NPAGES - 256, lazy = 0;
	struct rig g = { 0 };

	ASSERT_EQ(0, rig_start(&g, feat & ~(UFFD_FEATURE_EVENT_FORK |
					     UFFD_FEATURE_EVENT_UNMAP),
			       16UL << 20));
	ASSERT_EQ(0, munmap(g.dst + gone * PS, (NPAGES - gone) * PS));
	for (i = gone; i < NPAGES; i++)
		lazy += !!lm_test_bit(g.bits, i);
	for (i = 0; i < gone; i += 7)
		ASSERT_EQ(-1, page_bad(g.dst + i * PS, i));
	rig_stop(&g);
	EXPECT_EQ(0, g.rl.err);
	EXPECT_EQ(0, g.rp.err);
	for (i = 0; i < gone; i++)
		ASSERT_EQ(-1, page_bad(g.dst + i * PS, i));
	EXPECT_EQ(0, g.st.events[LM_EV_UNMAP]);
	EXPECT_LT(0, g.st.pages_dropped);
	EXPECT_GE(lazy, g.st.pages_dropped);
	rig_all_in(_metadata, &g);
	rig_free(&g);
}

/*
 * A lazy range moved back and forth by mremap while the push installs
 * into it: a copy racing with a move may miss the VMA (ENOENT) before
 * the REMAP is read; no page may be dropped for that.  Every page must
 * hold its data where the range ends up, none dropped.  The push runs at
 * 1 GiB/s so that copies are in flight at each move: on 6.18 that hit
 * the race about 20 times a run, and without the second ask in
 * copy_seg() the moved range read zeros in 2 runs of 10, then in 28 of
 * 30 (it depends on the load).
 */
TEST(daemon_remap_during_push)
{
	__u64 feat = lm_lazy_uffd_features();
	char *home, *away, *at;
	struct rig g = { 0 };
	size_t i;
	int n;

	if (!(feat & UFFD_FEATURE_EVENT_REMAP))
		SKIP(return, "userfaultfd without EVENT_REMAP");
	away = mmap(NULL, 1024 * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	ASSERT_NE(MAP_FAILED, away);
	ASSERT_EQ(0, rig_start(&g, feat & ~UFFD_FEATURE_EVENT_FORK,
			       1UL << 30));
	home = g.dst + 1024 * PS;
	at = home;
	for (n = 0; n < 400; n++) {
		char *to = at == home ? away : home;

		ASSERT_EQ(to, mremap(at, 1024 * PS, 1024 * PS,
				     MREMAP_MAYMOVE | MREMAP_FIXED, to));
		at = to;
	}
	rig_stop(&g);
	EXPECT_EQ(0, g.rl.err);
	EXPECT_EQ(0, g.rp.err);
	for (i = 0; i < NPAGES; i++) {
		char *p = i >= 1024 && i < 2048 ? at + (i - 1024) * PS :
			  g.dst + i * PS;

		ASSERT_EQ(-1, page_bad(p, i));
	}
	EXPECT_EQ(400, g.st.events[LM_EV_REMAP]);
	EXPECT_EQ(0, g.st.pages_dropped);
	rig_all_in(_metadata, &g);
	rig_free(&g);
}

/* A thread of this process under SCHED_IDLE (the pusher), or 0. */
static pid_t idle_thread(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	pid_t tid = 0;

	while (d && (e = readdir(d)))
		if (atoi(e->d_name) > 0 &&
		    sched_getscheduler(atoi(e->d_name)) == SCHED_IDLE)
			tid = atoi(e->d_name);
	if (d)
		closedir(d);
	return tid;
}

/* A thread of this process under SCHED_OTHER at nice 10, or 0. */
static pid_t nice10_thread(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	pid_t tid = 0;

	while (d && (e = readdir(d)))
		if (atoi(e->d_name) > 0 &&
		    sched_getscheduler(atoi(e->d_name)) == SCHED_OTHER &&
		    getpriority(PRIO_PROCESS, atoi(e->d_name)) == 10)
			tid = atoi(e->d_name);
	if (d)
		closedir(d);
	return tid;
}

/*
 * The pusher runs under SCHED_IDLE while faults come in (a woken
 * faulting thread preempts it at once), and at nice 10 under SCHED_OTHER
 * when none came for 100 ms (pageserver.c pusher_policy: a busy source
 * host must not starve the drain); no other thread of the page server
 * is idle.  The push at 1 MiB/s keeps it alive while it is looked for;
 * the pages all come in, by faults, with their data.
 */
struct ft_line {
	unsigned int space, npages;
	unsigned long long addr, t[6];
};

/* The records of one side's trace file; their number, or -1. */
static int ft_load(const char *prefix, const char *side,
		   struct ft_line *v, int max)
{
	char path[256];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s.%s", prefix, side);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (n < max && fscanf(f, "%u %llx %u %llu %llu %llu %llu %llu %llu",
				 &v[n].space, &v[n].addr, &v[n].npages,
				 &v[n].t[0], &v[n].t[1], &v[n].t[2],
				 &v[n].t[3], &v[n].t[4], &v[n].t[5]) == 9)
		n++;
	fclose(f);
	unlink(path);
	return n;
}

/*
 * LAZYMIG_FAULT_TRACE=PREFIX (bench/hops.sh): the daemon and the page
 * server each write one record per fault request, PREFIX.dst and
 * PREFIX.src, for the same pages in the same order here (one stream, no
 * shm objects), each side's stamps in time order, and across the two
 * (one clock): the source parses a REQ after the daemon read its fault,
 * the daemon parses the answer after the source read its pages.
 */
TEST(fault_trace)
{
	__u64 feat = lm_lazy_uffd_features();
	char dir[] = "/tmp/lazymig-ft.XXXXXX", prefix[64];
	static struct ft_line d[4096], sv[4096];
	struct rig g = { 0 };
	size_t i, *order;
	int nd, ns, k, j;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(prefix, sizeof(prefix), "%s/t", dir);
	setenv("LAZYMIG_FAULT_TRACE", prefix, 1);
	ASSERT_EQ(0, rig_start(&g, feat & ~UFFD_FEATURE_EVENT_FORK,
			       1UL << 20));
	unsetenv("LAZYMIG_FAULT_TRACE");
	order = shuffled(5);
	for (i = 0; i < 300; i++)
		ASSERT_EQ(-1, page_bad(g.dst + order[i] * PS, order[i]));
	for (i = 0; i < NPAGES; i++)
		ASSERT_EQ(-1, page_bad(g.dst + i * PS, i));
	rig_stop(&g);
	EXPECT_EQ(0, g.rl.err);
	EXPECT_EQ(0, g.rp.err);
	rig_free(&g);	/* writes the two files */
	nd = ft_load(prefix, "dst", d, 4096);
	ns = ft_load(prefix, "src", sv, 4096);
	rmdir(dir);
	ASSERT_LT(0, nd);
	ASSERT_EQ(nd, ns);
	for (k = 0; k < nd; k++) {
		ASSERT_EQ(d[k].space, sv[k].space);
		ASSERT_EQ(d[k].addr, sv[k].addr);
		ASSERT_LE(1, sv[k].npages);		/* pages sent */
		ASSERT_LE(sv[k].npages, d[k].npages);	/* pages spanned */
		for (j = 2; j < 6; j++)
			ASSERT_LE(d[k].t[j - 1], d[k].t[j]);
		ASSERT_LE(d[k].t[0], d[k].t[1]);
		for (j = 1; j < 4; j++)
			ASSERT_LE(sv[k].t[j - 1], sv[k].t[j]);
		ASSERT_LT(0, sv[k].t[0]);
		ASSERT_LE(d[k].t[1], sv[k].t[1]);
		ASSERT_LE(sv[k].t[2], d[k].t[4]);
	}
	free(order);
}

TEST(page_server_pusher_idle)
{
	__u64 feat = lm_lazy_uffd_features();
	struct rig g = { 0 };
	pid_t tid = 0, idle = 0;
	size_t i, *order;
	int n;

	ASSERT_EQ(0, rig_start(&g, feat & ~UFFD_FEATURE_EVENT_FORK,
			       1UL << 20));
	/* no fault yet: back to nice 10 after the first 100 ms */
	for (n = 0; n < 3000 && !tid; n++) {
		usleep(1000);
		tid = nice10_thread();
	}
	ASSERT_NE(0, tid);
	ASSERT_NE(gettid(), tid);
	EXPECT_NE(req_tid, tid);
	EXPECT_EQ(0, idle_thread());
	/* faults, one every 2 ms: idle while they come */
	order = shuffled(11);
	for (i = 0; i < NPAGES && !idle; i++) {
		ASSERT_EQ(-1, page_bad(g.dst + order[i] * PS, order[i]));
		usleep(2000);
		idle = idle_thread();
	}
	EXPECT_EQ(tid, idle);
	EXPECT_EQ(10, getpriority(PRIO_PROCESS, idle));
	for (i = 0; i < NPAGES; i++)
		ASSERT_EQ(-1, page_bad(g.dst + i * PS, i));
	free(order);
	rig_stop(&g);
	EXPECT_EQ(0, g.rl.err);
	EXPECT_EQ(0, g.rp.err);
	/* gone with the push (a joined thread may linger a moment in /proc) */
	for (n = 0; n < 1000 && idle_thread(); n++)
		usleep(1000);
	EXPECT_EQ(0, idle_thread());
	rig_all_in(_metadata, &g);
	rig_free(&g);
}

/*
 * A child forked while pages are still lazy gets its own uffd; the daemon
 * serves it from the same source, and a page the parent drops after the
 * fork still reaches the child.
 */
TEST(daemon_serves_forked_child)
{
	__u64 feat = lm_lazy_uffd_features();
	struct rig g = { 0 };
	size_t i, *order;
	int st;
	pid_t pid;

	if (!(feat & UFFD_FEATURE_EVENT_FORK))
		SKIP(return, "userfaultfd without EVENT_FORK");
	ASSERT_EQ(0, rig_start(&g, feat, 8UL << 20));
	order = shuffled(7);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		for (i = 0; i < NPAGES; i++)
			if (page_bad(g.dst + order[i] * PS, order[i]) != -1)
				_exit(10);
		_exit(0);
	}
	ASSERT_EQ(0, madvise(g.dst + 10 * PS, 10 * PS, MADV_DONTNEED));
	for (i = 0; i < NPAGES; i++) {
		size_t k = NPAGES - 1 - order[i];

		if (k >= 10 && k < 20) {
			ASSERT_EQ(-1, lm_check_zero(g.dst + k * PS, PS));
		} else {
			ASSERT_EQ(-1, page_bad(g.dst + k * PS, k));
		}
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	rig_stop(&g);
	EXPECT_EQ(0, g.rl.err);
	EXPECT_EQ(0, g.rp.err);
	EXPECT_EQ(1, g.st.events[LM_EV_FORK]);
	free(order);
	rig_free(&g);
}

/* Read one message from a blocking socket into buf (payload after). */
static int recv_msg(int fd, struct lm_msg *m, char *buf, size_t cap)
{
	return lm_msg_recv(fd, m, buf, cap);
}

/*
 * Pages of a PAGES/SPARSE message: each must hold its pattern and none
 * be a zero page; counted in seen[].  Returns how many, or -1.
 */
static long count_pages(const struct lm_msg *m, const char *buf,
			unsigned char *seen, int sparse_only)
{
	unsigned long all[LM_BITS_TO_LONGS(LM_BULK_WINDOW)];
	const unsigned long *sel = all;
	__u64 first = (m->addr - src_base) / PS, i;
	const char *d = buf;
	long n = 0;

	if (m->type == LM_MSG_SPARSE) {
		sel = (const unsigned long *)buf;
		d += LM_BITS_TO_LONGS(m->npages) * sizeof(long);
	} else if (sparse_only || m->npages > LM_BULK_WINDOW) {
		return -1;
	} else {
		memset(all, 0xff, sizeof(all));
	}
	for (i = 0; i < m->npages; i++) {
		if (!lm_test_bit(sel, i))
			continue;
		if (zero_page_idx(first + i) || lm_check(d, PS, first + i) != -1)
			return -1;
		seen[first + i]++;
		d += PS;
		n++;
	}
	return n;
}

/*
 * The page server alone, driven by hand: a fault answer carries the page
 * and unsent neighbours with data only (SPARSE over the zero pages); the
 * push never repeats answered or dropped pages, never sends zero pages,
 * and every other page with data comes exactly once.
 */
TEST(page_server_protocol)
{
	struct rig g = { 0 };
	struct lm_ps_cfg pc = { 0 };
	struct lm_msg m;
	unsigned char *seen = calloc(NPAGES, 1);
	char *buf = malloc(LM_MSG_MAX_PAYLOAD);
	__u64 i, fault = 100, drop0 = 1000, ndrop = 50;
	long n;
	int done = 0;

	ASSERT_EQ(0, rig_image(&g));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, g.req));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, g.bulk));
	pc = (struct lm_ps_cfg){ .req_fd = g.req[0], .bulk_fd = g.bulk[0],
		.img = &g.img, .read = read_src, .pid = getpid() };
	ASSERT_EQ(0, lm_ps_create(&pc, &g.rp.ps));
	pthread_create(&g.tp, NULL, run_ps, &g.rp);

	/* a fault at page 100 asking for 1 page: 16 pages with data from 100
	 * on within 64, holes skipped (the fault-around) */
	ASSERT_EQ(0, lm_msg_send(g.req[1], LM_MSG_REQ, 0,
				 src_base + fault * PS, 1, NULL, 0));
	ASSERT_EQ(0, recv_msg(g.req[1], &m, buf, LM_MSG_MAX_PAYLOAD));
	ASSERT_EQ(LM_MSG_SPARSE, m.type);
	ASSERT_EQ(src_base + fault * PS, m.addr);
	ASSERT_GE(LM_AROUND_WINDOW, m.npages);
	ASSERT_EQ(LM_AROUND_PAGES, count_pages(&m, buf, seen, 1));
	/* read-ahead of 32 from page 200: its pages with data, holes skipped */
	ASSERT_EQ(0, lm_msg_send(g.req[1], LM_MSG_REQ, 0,
				 src_base + 200 * PS, 32, NULL, 0));
	ASSERT_EQ(0, recv_msg(g.req[1], &m, buf, LM_MSG_MAX_PAYLOAD));
	ASSERT_EQ(LM_MSG_SPARSE, m.type);
	ASSERT_EQ(src_base + 200 * PS, m.addr);
	ASSERT_GE(32, m.npages);
	for (i = 200, n = 0; i < 232; i++)
		n += !zero_page_idx(i);
	ASSERT_EQ(n, count_pages(&m, buf, seen, 1));
	/* asking for more than LM_AROUND_MAX gets LM_AROUND_MAX at most */
	ASSERT_EQ(0, lm_msg_send(g.req[1], LM_MSG_REQ, 0,
				 src_base + 400 * PS, 100000, NULL, 0));
	ASSERT_EQ(0, recv_msg(g.req[1], &m, buf, LM_MSG_MAX_PAYLOAD));
	ASSERT_GE(LM_AROUND_MAX, m.npages);
	for (i = 400, n = 0; i < 400 + LM_AROUND_MAX; i++)
		n += !zero_page_idx(i);
	ASSERT_EQ(n, count_pages(&m, buf, seen, 1));
	/* drop 1000..1049, then let the push run */
	ASSERT_EQ(0, lm_msg_send(g.req[1], LM_MSG_DROP, 0,
				 src_base + drop0 * PS, ndrop, NULL, 0));
	ASSERT_EQ(0, lm_msg_send(g.req[1], LM_MSG_RESUMED, 0, 0, 0, NULL, 0));
	while (!done) {
		ASSERT_EQ(0, recv_msg(g.bulk[1], &m, buf, LM_MSG_MAX_PAYLOAD));
		if (m.type == LM_MSG_PUSH_END) {
			done = 1;
			continue;
		}
		ASSERT_TRUE(m.type == LM_MSG_PAGES || m.type == LM_MSG_SPARSE);
		ASSERT_LE(m.len, LM_BITS_TO_LONGS(LM_BULK_WINDOW) * 8 +
				 LM_BULK_PAGES * PS);
		ASSERT_LT(0, count_pages(&m, buf, seen, 0));
	}
	for (i = 1; i < NPAGES; i++) {	/* page 0 is no different here */
		int want = !zero_page_idx(i) &&
			   !(i >= drop0 && i < drop0 + ndrop);

		ASSERT_EQ(want, seen[i]);
	}
	ASSERT_EQ(0, lm_msg_send(g.req[1], LM_MSG_DONE, 0, 0, 2, "{}", 2));
	pthread_join(g.tp, NULL);
	EXPECT_EQ(0, g.rp.err);
	EXPECT_STREQ("{}", lm_ps_done_json(g.rp.ps));
	ASSERT_EQ(0, recv_msg(g.req[1], &m, buf, LM_MSG_MAX_PAYLOAD));
	EXPECT_EQ(LM_MSG_BYE, m.type);
	free(seen);
	free(buf);
	rig_free(&g);
}

/*
 * Receive the push until PUSH_END: PAGES/SPARSE, or ZBULK inflated (then
 * *zbulk counts them); every page checked and counted in seen[].  The
 * order of first pages goes to order[] (when given).  0 or -1.
 */
static int drain_push(int fd, char *buf, unsigned char *seen, int *zbulk,
		      __u64 *order, size_t *nr_order)
{
	char *in = malloc(sizeof(struct lm_msg) + LM_MSG_MAX_PAYLOAD);
	struct lm_msg m, inner;
	int err = -1;

	if (!in)
		return -1;
	for (;;) {
		const char *payload = buf;
		uLongf n;

		if (recv_msg(fd, &m, buf, LM_MSG_MAX_PAYLOAD))
			break;
		if (m.type == LM_MSG_PUSH_END) {
			err = 0;
			break;
		}
		if (m.type == LM_MSG_ZBULK) {
			n = m.npages;
			if (n > sizeof(inner) + LM_MSG_MAX_PAYLOAD ||
			    uncompress((Bytef *)in, &n, (const Bytef *)buf,
				       m.len) != Z_OK || n != m.npages)
				break;
			memcpy(&inner, in, sizeof(inner));
			if (inner.magic != LM_MSG_MAGIC ||
			    sizeof(inner) + inner.len != n)
				break;
			m = inner;
			payload = in + sizeof(inner);
			(*zbulk)++;
		}
		if (m.type != LM_MSG_PAGES && m.type != LM_MSG_SPARSE)
			break;
		if (order && *nr_order < NPAGES)
			order[(*nr_order)++] = (m.addr - src_base) / PS;
		if (count_pages(&m, payload, seen, 0) <= 0)
			break;
	}
	free(in);
	return err;
}

/*
 * --compress, both ends of the negotiation: with LM_FEAT_ZBULK in
 * RESUMED the push comes as ZBULK (this pattern compresses: each page is
 * its predecessor shifted by a word), without it as plain messages; the
 * same pages, right, exactly once either way.
 */
static void compress_run(struct __test_metadata *_metadata, __u32 feat,
			 int *zbulk)
{
	struct rig g = { 0 };
	struct lm_ps_cfg pc = { 0 };
	struct lm_ps_figures f;
	unsigned char *seen = calloc(NPAGES, 1);
	char *buf = malloc(LM_MSG_MAX_PAYLOAD);
	struct lm_msg m;
	__u64 i;

	ASSERT_EQ(0, rig_image(&g));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, g.req));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, g.bulk));
	pc = (struct lm_ps_cfg){ .req_fd = g.req[0], .bulk_fd = g.bulk[0],
		.img = &g.img, .read = read_src, .pid = getpid(),
		.compress = 1 };
	ASSERT_EQ(0, lm_ps_create(&pc, &g.rp.ps));
	pthread_create(&g.tp, NULL, run_ps, &g.rp);
	ASSERT_EQ(0, lm_msg_send(g.req[1], LM_MSG_RESUMED, feat, 0, 0, NULL, 0));
	*zbulk = 0;
	ASSERT_EQ(0, drain_push(g.bulk[1], buf, seen, zbulk, NULL, NULL));
	for (i = 1; i < NPAGES; i++)
		ASSERT_EQ(!zero_page_idx(i), seen[i]);
	ASSERT_EQ(0, lm_msg_send(g.req[1], LM_MSG_DONE, 0, 0, 2, "{}", 2));
	pthread_join(g.tp, NULL);
	EXPECT_EQ(0, g.rp.err);
	lm_ps_figures(g.rp.ps, &f);
	EXPECT_EQ(!!feat, f.compressed);
	if (feat) {
		EXPECT_LT(f.z_wire * 2, f.z_raw);
	} else {
		EXPECT_EQ(f.z_wire, f.z_raw);
	}
	ASSERT_EQ(0, recv_msg(g.req[1], &m, buf, LM_MSG_MAX_PAYLOAD));
	EXPECT_EQ(LM_MSG_BYE, m.type);
	free(seen);
	free(buf);
	rig_free(&g);
}

TEST(page_server_compress)
{
	int zbulk;

	compress_run(_metadata, LM_FEAT_ZBULK, &zbulk);
	EXPECT_LT(0, zbulk);
	compress_run(_metadata, 0, &zbulk);	/* an older destination */
	EXPECT_EQ(0, zbulk);
}

/*
 * The working set: pages marked hot go in the first push pass, before
 * every other page, and a fault on a hot page is answered with the hot
 * pages after it, not its cold neighbours.
 */
TEST(page_server_hot_first)
{
	struct rig g = { 0 };
	struct lm_ps_cfg pc = { 0 };
	unsigned char *seen = calloc(NPAGES, 1), *hot = calloc(NPAGES, 1);
	__u64 *order = calloc(NPAGES, sizeof(*order));
	char *buf = malloc(LM_MSG_MAX_PAYLOAD);
	size_t nr = 0, k, nhot = 0;
	struct lm_msg m;
	int zbulk = 0, cold_seen = 0;
	__u64 i;

	ASSERT_EQ(0, rig_image(&g));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, g.req));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, g.bulk));
	pc = (struct lm_ps_cfg){ .req_fd = g.req[0], .bulk_fd = g.bulk[0],
		.img = &g.img, .read = read_src, .pid = getpid() };
	ASSERT_EQ(0, lm_ps_create(&pc, &g.rp.ps));
	/* every 5th page of the second half, zero pages among them */
	for (i = NPAGES / 2; i < NPAGES; i += 5) {
		lm_ps_mark_hot(g.rp.ps, 0, src_base + i * PS, 1);
		hot[i] = !zero_page_idx(i);	/* no data: never hot */
		nhot += hot[i];
	}
	pthread_create(&g.tp, NULL, run_ps, &g.rp);
	/* a fault on hot page NPAGES/2: it and the next 15 hot pages */
	ASSERT_EQ(0, lm_msg_send(g.req[1], LM_MSG_REQ, 0,
				 src_base + NPAGES / 2 * PS, 1, NULL, 0));
	ASSERT_EQ(0, recv_msg(g.req[1], &m, buf, LM_MSG_MAX_PAYLOAD));
	ASSERT_EQ(LM_MSG_SPARSE, m.type);
	ASSERT_EQ(LM_AROUND_PAGES, count_pages(&m, buf, seen, 1));
	for (i = 0; i < NPAGES; i++)
		if (seen[i])
			ASSERT_TRUE(hot[i]) TH_LOG("page %llu", i);
	ASSERT_EQ(0, lm_msg_send(g.req[1], LM_MSG_RESUMED, 0, 0, 0, NULL, 0));
	ASSERT_EQ(0, drain_push(g.bulk[1], buf, seen, &zbulk, order, &nr));
	for (i = 1; i < NPAGES; i++)
		ASSERT_EQ(!zero_page_idx(i), seen[i]);
	/* first pages of the messages: all hot ones, then none */
	for (k = 0; k < nr; k++) {
		if (!hot[order[k]]) {
			cold_seen = 1;
			continue;
		}
		ASSERT_FALSE(cold_seen) TH_LOG("hot page %llu after a cold one",
					       order[k]);
	}
	EXPECT_LT(LM_AROUND_PAGES, nhot);
	ASSERT_EQ(0, lm_msg_send(g.req[1], LM_MSG_DONE, 0, 0, 2, "{}", 2));
	pthread_join(g.tp, NULL);
	EXPECT_EQ(0, g.rp.err);
	ASSERT_EQ(0, recv_msg(g.req[1], &m, buf, LM_MSG_MAX_PAYLOAD));
	EXPECT_EQ(LM_MSG_BYE, m.type);
	free(seen);
	free(hot);
	free(order);
	free(buf);
	rig_free(&g);
}

TEST_HARNESS_MAIN
