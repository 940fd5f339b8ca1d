// SPDX-License-Identifier: GPL-2.0
/*
 * The image stream as hostile input.  A small valid image is built record
 * by record, then one field is made wrong (with a correct checksum, so the
 * field check itself must catch it): each is refused with a message naming
 * the problem.  A real dump is damaged (bit flips, truncation, another
 * version, not an image at all): the reader and `lazymig info` refuse it
 * with a message naming the problem.  A good image reads back unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <zlib.h>
#include "kselftest_harness.h"
#include "lmtest.h"
#include "wl.h"
#include "imgtest.h"

struct buf {
	uint8_t *p;
	size_t len;
};

static void put(struct buf *b, const void *p, size_t len)
{
	if (!len)
		return;
	b->p = realloc(b->p, b->len + len);
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

static void rec(struct buf *b, uint32_t type, const void *a, size_t alen,
		const void *c, size_t clen)
{
	struct lm_rec_hdr h = { LM_MAGIC, type, alen + clen };
	uLong crc = crc32(0L, (const Bytef *)&h, sizeof(h));
	uint32_t c32;

	if (alen)	/* crc32(crc, NULL, 0) would restart the crc */
		crc = crc32(crc, a, alen);
	if (clen)
		crc = crc32(crc, c, clen);
	c32 = crc;
	put(b, &h, sizeof(h));
	put(b, a, alen);
	if (clen)
		put(b, c, clen);
	put(b, &c32, 4);
}

enum bad {
	GOOD, BAD_THREADS0, BAD_OVERLAP, BAD_VMA_ALIGN, BAD_KIND, BAD_MAP_SIZE,
	BAD_MAP_ADDR, BAD_BITMAP_TAIL, BAD_PAGES_UNMARKED, BAD_PAGES_PAST,
	BAD_STR_NUL, BAD_FD_ORDER, BAD_SHM_ID, BAD_REC_LEN, BAD_ORDER,
	BAD_NO_END, BAD_XSTATE_LEN,
};

#define EXE "/bin/true"

/* A two-VMA, one-thread image; @bad spoils one thing in it. */
static void build(struct buf *b, enum bad bad)
{
	struct lm_header h = { .version = LM_STREAM_VERSION,
			       .page_size = LM_PAGE_SIZE };
	struct lm_proc p = { .pid = 100, .nr_threads = 1, .nr_vmas = 2,
			     .nr_fds = 2, .exe_len = sizeof(EXE),
			     .cwd_len = 2, .root_len = 2 };
	struct lm_thread t = { .tid = 100, .xstate_len = 8 };
	struct lm_vma v[2] = {
		{ .start = 0x10000, .end = 0x12000, .kind = LM_MEM_ANON_PRIVATE,
		  .prot = 3, .shm_id = -1, .page_size = LM_PAGE_SIZE },
		{ .start = 0x20000, .end = 0x21000, .kind = LM_MEM_ANON_PRIVATE,
		  .prot = 1, .shm_id = -1, .page_size = LM_PAGE_SIZE },
	};
	struct lm_fd f[2] = {
		{ .fd = 0, .type = LM_FD_CHR, .shm_id = -1, .path_len = 10 },
		{ .fd = 3, .type = LM_FD_EVENTFD, .shm_id = -1 },
	};
	struct lm_pagemap m = { .space = 0, .addr = 0x10000, .npages = 2,
				.page_size = LM_PAGE_SIZE };
	struct lm_pages pg = { .space = 0, .addr = 0x10000, .npages = 1,
			       .page_size = LM_PAGE_SIZE };
	struct lm_sigact sa = { 0 };
	uint8_t bitmap = 0x1, page[3 * LM_PAGE], xs[8] = { 1 };
	char strs[sizeof(EXE) + 4] = EXE "\0/\0/";
	struct lm_rec_hdr big = { LM_MAGIC, LM_REC_PAGES, LM_REC_MAX + 1 };

	snprintf(h.kernel, sizeof(h.kernel), "test");
	lm_fill(page, sizeof(page), 7);
	switch (bad) {
	case BAD_THREADS0: p.nr_threads = 0; break;
	case BAD_OVERLAP: v[1].start = 0x11000; break;
	case BAD_VMA_ALIGN: v[0].end = 0x12001; break;
	case BAD_KIND: v[1].kind = 99; break;
	case BAD_MAP_SIZE: m.npages = 3; break;
	case BAD_MAP_ADDR: m.addr = 0x11000; break;
	case BAD_BITMAP_TAIL: bitmap = 0x5; break;
	case BAD_PAGES_UNMARKED: pg.addr = 0x11000; break;
	case BAD_PAGES_PAST: pg.npages = 3; break;
	case BAD_STR_NUL: strs[sizeof(EXE) - 1] = 'X'; break;
	case BAD_FD_ORDER: f[1].fd = 0; break;
	case BAD_SHM_ID: v[1].shm_id = 0; break;
	case BAD_XSTATE_LEN: t.xstate_len = 9; break;
	default: break;
	}
	rec(b, LM_REC_HEADER, &h, sizeof(h), NULL, 0);
	rec(b, LM_REC_PROC, &p, sizeof(p), strs, sizeof(strs));
	if (bad == BAD_ORDER)
		rec(b, LM_REC_SIGACT, &sa, sizeof(sa), NULL, 0);
	if (p.nr_threads)
		rec(b, LM_REC_THREAD, &t, sizeof(t), xs, sizeof(xs));
	rec(b, LM_REC_SIGACT, &sa, sizeof(sa), NULL, 0);
	rec(b, LM_REC_VMA, &v[0], sizeof(v[0]), NULL, 0);
	rec(b, LM_REC_VMA, &v[1], sizeof(v[1]), NULL, 0);
	rec(b, LM_REC_FD, &f[0], sizeof(f[0]), "/dev/null", 10);
	rec(b, LM_REC_FD, &f[1], sizeof(f[1]), NULL, 0);
	rec(b, LM_REC_PAGEMAP, &m, sizeof(m), &bitmap,
	    bad == BAD_MAP_SIZE ? 1 : (m.npages + 7) / 8);
	rec(b, LM_REC_META_END, NULL, 0, NULL, 0);
	if (bad == BAD_REC_LEN)
		put(b, &big, sizeof(big));
	rec(b, LM_REC_PAGES, &pg, sizeof(pg), page,
	    bad == BAD_PAGES_PAST ? 3 * LM_PAGE : LM_PAGE);
	if (bad != BAD_NO_END)
		rec(b, LM_REC_END, NULL, 0, NULL, 0);
}

static int to_file(const struct buf *b, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "/tmp/lm-imgtest.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, b->p, b->len) != (ssize_t)b->len) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

TEST(good_image_reads_back)
{
	struct buf b = { 0 };
	struct lm_loaded l;
	char path[64];

	build(&b, GOOD);
	ASSERT_EQ(0, to_file(&b, path, sizeof(path)));
	ASSERT_EQ(0, lm_load_image(path, &l)) TH_LOG("%s", l.err);
	EXPECT_STREQ(EXE, l.img.exe);
	EXPECT_EQ(100, l.img.threads[0].t.tid);
	EXPECT_EQ(1, ((uint8_t *)l.img.threads[0].xstate)[0]);
	EXPECT_EQ(2, l.img.proc.nr_vmas);
	EXPECT_STREQ("/dev/null", l.img.fds[0].path);
	ASSERT_EQ(1, l.nr_runs);
	EXPECT_EQ(-1, lm_check(l.runs[0].data, LM_PAGE, 7));
	EXPECT_EQ(0, l.runs[0].eager);
	EXPECT_TRUE(l.saw_end);
	EXPECT_NE(NULL, lm_image_pagemap(&l.img, 0, 0x11000));
	EXPECT_EQ(NULL, lm_image_pagemap(&l.img, 0, 0x20000));
	EXPECT_EQ(NULL, lm_image_pagemap(&l.img, 0, 0x12000));
	lm_loaded_free(&l);
	unlink(path);
	free(b.p);
}

FIXTURE(hostile) {
	char path[64];
	struct buf b;
	struct lm_loaded l;
};

FIXTURE_VARIANT(hostile) {
	enum bad bad;
	const char *msg;
};

#define HOSTILE(name, b, m) \
	FIXTURE_VARIANT_ADD(hostile, name) { .bad = b, .msg = m }

HOSTILE(no_threads, BAD_THREADS0, "0 threads");
HOSTILE(overlapping_vmas, BAD_OVERLAP, "overlaps");
HOSTILE(unaligned_vma, BAD_VMA_ALIGN, "bad range");
HOSTILE(unknown_kind, BAD_KIND, "unknown kind 99");
HOSTILE(bitmap_size, BAD_MAP_SIZE, "3 pages of 4096 bytes, the range has 2");
HOSTILE(pagemap_not_at_vma, BAD_MAP_ADDR, "not the start of a VMA");
HOSTILE(bitmap_tail, BAD_BITMAP_TAIL, "bits set past");
HOSTILE(pages_not_marked, BAD_PAGES_UNMARKED, "not marked as having data");
HOSTILE(pages_past_vma, BAD_PAGES_PAST, "run past the end");
HOSTILE(string_without_nul, BAD_STR_NUL, "PROC exe is not a valid string");
HOSTILE(fd_order, BAD_FD_ORDER, "repeated or out of order");
HOSTILE(shm_id, BAD_SHM_ID, "shm id 0 does not fit");
HOSTILE(record_too_big, BAD_REC_LEN, "claims");
HOSTILE(record_order, BAD_ORDER, "expected a THREAD record, found SIGACT");
HOSTILE(missing_end, BAD_NO_END, "truncated");
HOSTILE(xstate_len, BAD_XSTATE_LEN, "xstate length 9");

FIXTURE_SETUP(hostile)
{
	memset(&self->b, 0, sizeof(self->b));
	build(&self->b, variant->bad);
	ASSERT_EQ(0, to_file(&self->b, self->path, sizeof(self->path)));
}

FIXTURE_TEARDOWN(hostile)
{
	unlink(self->path);
	free(self->b.p);
}

TEST_F(hostile, refused_with_reason)
{
	char out[8192];
	int r = lm_load_image(self->path, &self->l);

	EXPECT_NE(0, r);
	EXPECT_NE(NULL, strstr(self->l.err, variant->msg))
		TH_LOG("expected '%s', got '%s'", variant->msg, self->l.err);
	lm_loaded_free(&self->l);
	EXPECT_EQ(1, lm_run_tool(out, sizeof(out), "info %s", self->path));
	EXPECT_NE(NULL, strstr(out, variant->msg)) TH_LOG("info said: %s", out);
}

/* ---- a real dump, damaged ---- */

FIXTURE(damaged) {
	struct lm_wl wl;
	char image[300], bad[320];
	uint8_t *data;
	size_t len;
	size_t meta_end;	/* offset of the META_END record */
	size_t recs[4096];	/* offset of each record */
	int nr_recs;
};

static uint8_t *slurp_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	uint8_t *p;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	p = malloc(n);
	if (p && fread(p, 1, n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = n;
	return p;
}

FIXTURE_SETUP(damaged)
{
	char out[4096];
	size_t off = 0;
	int r;

	r = lm_wl_start(&self->wl, "wl_mem", "--anon --memfd --pages 8");
	ASSERT_EQ(0, r) TH_LOG("wl_mem did not start: %s", strerror(-r));
	snprintf(self->image, sizeof(self->image), "%s/img", self->wl.dir);
	snprintf(self->bad, sizeof(self->bad), "%s/bad", self->wl.dir);
	r = lm_run_tool(out, sizeof(out), "dump -t %d -o %s", self->wl.pid,
			self->image);
	ASSERT_EQ(0, r) TH_LOG("%s", out);
	self->data = slurp_file(self->image, &self->len);
	ASSERT_NE(NULL, self->data);
	/* walk the records to find META_END */
	while (off + sizeof(struct lm_rec_hdr) <= self->len) {
		struct lm_rec_hdr h;

		memcpy(&h, self->data + off, sizeof(h));
		if (h.type == LM_REC_META_END)
			self->meta_end = off;
		if (self->nr_recs < 4096)
			self->recs[self->nr_recs++] = off;
		off += sizeof(h) + h.len + 4;
	}
	ASSERT_EQ(self->len, off);
	ASSERT_LT(0, self->meta_end);
	ASSERT_LT(5, self->nr_recs);
}

FIXTURE_TEARDOWN(damaged)
{
	free(self->data);
	unlink(self->image);
	unlink(self->bad);
	lm_wl_stop(&self->wl);
}

/* Write the image with @len bytes, byte @flip (if < len) xor 0x10. */
static void write_bad(FIXTURE_DATA(damaged) *self, size_t len, size_t flip)
{
	FILE *f = fopen(self->bad, "w");

	if (flip < len)
		self->data[flip] ^= 0x10;
	fwrite(self->data, 1, len, f);
	fclose(f);
	if (flip < len)
		self->data[flip] ^= 0x10;
}

static void expect_refused(struct __test_metadata *_metadata,
			   FIXTURE_DATA(damaged) *self, const char *word)
{
	struct lm_loaded l;
	char out[8192];

	EXPECT_NE(0, lm_load_image(self->bad, &l));
	EXPECT_NE(NULL, strstr(l.err, word)) TH_LOG("expected '%s', got '%s'",
						    word, l.err);
	lm_loaded_free(&l);
	EXPECT_EQ(1, lm_run_tool(out, sizeof(out), "info %s", self->bad));
	EXPECT_NE(NULL, strstr(out, word)) TH_LOG("info said: %s", out);
}

TEST_F(damaged, intact_image_passes)
{
	char out[65536];

	write_bad(self, self->len, ~0UL);
	EXPECT_EQ(0, lm_run_tool(out, sizeof(out), "info %s", self->bad))
		TH_LOG("%s", out);
}

TEST_F(damaged, bit_flips)
{
	/* in the HEADER and PROC payloads, a record in the middle, page
	 * data, the checksum of the last PAGES record */
	size_t hdr = sizeof(struct lm_rec_hdr);
	size_t at[] = { hdr + 8, self->recs[1] + hdr + 30,
			self->recs[self->nr_recs / 2] + hdr,
			self->meta_end + 20 + hdr + 100,
			self->len - 20 - 2 };
	size_t i;

	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		write_bad(self, self->len, at[i]);
		expect_refused(_metadata, self, "checksum mismatch");
	}
}

TEST_F(damaged, truncations)
{
	size_t at[] = { 0, 10, self->meta_end / 2, self->meta_end,
			self->len - LM_PAGE, self->len - 1 };
	size_t i;

	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		write_bad(self, at[i], ~0UL);
		expect_refused(_metadata, self, "truncated");
	}
}

TEST_F(damaged, wrong_version)
{
	struct lm_rec_hdr h;
	uint32_t v = LM_STREAM_VERSION + 1, c32;
	size_t pay = sizeof(h);
	uLong crc;

	memcpy(&h, self->data, sizeof(h));
	ASSERT_EQ(LM_REC_HEADER, h.type);
	memcpy(self->data + pay, &v, 4);	/* lm_header.version */
	crc = crc32(0L, self->data, sizeof(h) + h.len);
	c32 = crc;
	memcpy(self->data + pay + h.len, &c32, 4);
	write_bad(self, self->len, ~0UL);
	expect_refused(_metadata, self, "image version 2, this lazymig reads version 1");
}

TEST_F(damaged, not_an_image)
{
	memcpy(self->data, "#!/bin/sh\n", 10);
	write_bad(self, self->len, ~0UL);
	expect_refused(_metadata, self, "bad record magic");
}

TEST_HARNESS_MAIN
