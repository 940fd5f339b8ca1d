// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the image/stream reader: the bytes of an image file, or of the
 * metadata and pages `receive` reads from the request channel.  Every
 * input goes through lm_read_meta() and lm_read_next() until END or an
 * error, exactly as `lazymig restore` and `info` read a file.  An image
 * that is accepted must be written back by lm_write_meta() and read
 * again to the same counts (the writer and the reader agree), and is
 * printed by `lazymig info` (cmd_info) itself, which must agree with the
 * reader on whether the whole stream is good.
 *
 * The checksum of every whole record is made right before the reader
 * sees it: a random change would otherwise almost always stop at the
 * checksum, and what is behind it (the checks of each field, which an
 * attacker reaches by computing the crc) would go unfuzzed.  Damage the
 * checksum catches is the job of selftests/host/hostile_image.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <sys/mman.h>
#include "image.h"
#include "lazymig.h"

static int in_fd = -1, out_fd = -1;
static volatile unsigned char sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	in_fd = memfd_create("fuzz-image-in", MFD_CLOEXEC);
	out_fd = memfd_create("fuzz-image-out", MFD_CLOEXEC);
	if (in_fd < 0 || out_fd < 0)
		abort();
	if (!getenv("LM_FUZZ_VERBOSE")) {
		stderr = fopen("/dev/null", "w");
		if (!freopen("/dev/null", "w", stdout))
			abort();
	}
	return 0;
}

/* lazymig info on the same bytes: 0 exactly when the reader took all. */
static void info(int whole)
{
	char path[64], *argv[3] = { "info", path, NULL };
	int rc;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", in_fd);
	rc = cmd_info(2, argv);
	fflush(stdout);
	if (rc != (whole ? 0 : 1)) {
		dprintf(2, "info exits %d on a stream the reader %s\n", rc,
			whole ? "accepts" : "refuses");
		abort();
	}
}

/* Right crcs for the whole records at the start of buf. */
static void fix_crcs(unsigned char *buf, size_t size)
{
	size_t off = 0;

	while (size - off >= sizeof(struct lm_rec_hdr) + 4) {
		struct lm_rec_hdr h;
		uint32_t c;

		memcpy(&h, buf + off, sizeof(h));
		if (h.magic != LM_MAGIC ||
		    h.len > size - off - sizeof(h) - 4)
			break;
		c = crc32(0L, buf + off, sizeof(h) + h.len);
		memcpy(buf + off + sizeof(h) + h.len, &c, 4);
		off += sizeof(h) + h.len + 4;
	}
}

static void load(int fd, const void *data, size_t size)
{
	static unsigned char *buf;
	static size_t cap;

	if (size > cap) {
		free(buf);
		cap = size;
		buf = malloc(cap);
		if (!buf)
			abort();
	}
	if (size)
		memcpy(buf, data, size);
	fix_crcs(buf, size);
	if (ftruncate(fd, 0) || pwrite(fd, buf, size, 0) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET))
		abort();
}

/* Pages after the metadata; the number of PAGES records, or -errno. */
static long read_rest(struct lm_stream *s, struct lm_image *img)
{
	long runs = 0;

	for (;;) {
		struct lm_pages p;
		void *data;
		int t = lm_read_next(s, &p, &data);

		if (t < 0) {
			if (!s->errmsg[0])
				abort();	/* refusals always say why */
			return t;
		}
		if (t == LM_REC_END)
			return runs;
		if (t != LM_REC_PAGES)
			continue;
		/* what a restorer would touch: every byte of the run */
		sink = ((unsigned char *)data)[p.npages * p.page_size - 1];
		if (!lm_image_pagemap(img, p.space, p.addr))
			abort();	/* check_pages said it was covered */
		runs++;
	}
}

static void roundtrip(const struct lm_image *img)
{
	struct lm_stream w, r;
	struct lm_image again;

	if (ftruncate(out_fd, 0) || lseek(out_fd, 0, SEEK_SET))
		abort();
	if (lm_stream_open(&w, out_fd, 1, "fuzz out"))
		return;
	if (lm_write_meta(&w, img) || lm_write_mark(&w, LM_REC_META_END) ||
	    lm_write_mark(&w, LM_REC_END)) {
		fprintf(stderr, "rewrite failed: %s\n", w.errmsg);
		abort();
	}
	lm_stream_close(&w);
	if (lseek(out_fd, 0, SEEK_SET) || lm_stream_open(&r, out_fd, 0, "again"))
		abort();
	if (lm_read_meta(&r, &again)) {
		fprintf(stderr, "rewritten image refused: %s\n", r.errmsg);
		abort();
	}
	if (again.proc.nr_threads != img->proc.nr_threads ||
	    again.proc.nr_vmas != img->proc.nr_vmas ||
	    again.proc.nr_fds != img->proc.nr_fds ||
	    again.proc.nr_shms != img->proc.nr_shms ||
	    again.nr_maps != img->nr_maps)
		abort();
	lm_image_free(&again);
	lm_stream_close(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lm_image img;
	struct lm_stream s;
	int err;

	load(in_fd, data, size);
	if (lm_stream_open(&s, in_fd, 0, "fuzz image"))
		return 0;
	err = lm_read_meta(&s, &img);
	if (err) {
		if (!s.errmsg[0])
			abort();
		lm_stream_close(&s);
		return 0;
	}
	info(read_rest(&s, &img) >= 0);
	roundtrip(&img);
	lm_image_free(&img);
	lm_stream_close(&s);
	return 0;
}
