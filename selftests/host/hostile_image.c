// SPDX-License-Identifier: GPL-2.0
/*
 * Damaged and hostile image files: a real dump of a small wl_mem is
 * truncated at many offsets, bit-flipped in every part of its records
 * (header, type, length, payload, checksum), given a wrong version,
 * impossible counts and lengths near and past LM_REC_MAX (with the
 * checksum made right again, as an attacker would).  Each time both
 * `lazymig info` and `lazymig restore` must refuse it: exit status 1, a
 * message naming what is wrong, within HOSTILE_LIMIT_S, no pidfile, and
 * no process left behind (the test is a child subreaper, so a restored
 * process whose lazymig went away would be its child).
 */
#include <stddef.h>
#include <time.h>
#include "kselftest_harness.h"
#include "hostile.h"

static pid_t base_owner;

__attribute__((constructor)) static void make_base(void)
{
	base_owner = getpid();
	hostile_make_base();
}

__attribute__((destructor)) static void drop_base(void)
{
	if (getpid() == base_owner)
		hostile_drop_base();
}

FIXTURE(img)
{
	char dir[64], path[128], pidfile[128];
	int runs;
};

FIXTURE_SETUP(img)
{
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	if (!base.buf)
		SKIP(return, "no base image: %s", base.err);
	snprintf(self->dir, sizeof(self->dir), "/tmp/lm-hostile-t.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/bad.img", self->dir);
	snprintf(self->pidfile, sizeof(self->pidfile), "%s/pid", self->dir);
}

FIXTURE_TEARDOWN(img)
{
	unlink(self->path);
	unlink(self->pidfile);
	rmdir(self->dir);
}

/* Does @out contain one of the '|'-separated words of @any? */
static int says(const char *out, const char *any)
{
	char w[256], *p, *save = NULL;

	snprintf(w, sizeof(w), "%s", any);
	for (p = strtok_r(w, "|", &save); p; p = strtok_r(NULL, "|", &save))
		if (strstr(out, p))
			return 1;
	return 0;
}

/*
 * info and restore both refuse self->path, naming @any; leave nothing.
 * Returns 1 if all held (callers stop a loop at the first failure).
 */
static int refused_by(struct __test_metadata *_metadata,
		      FIXTURE_DATA(img) *self, const char *what,
		      const char *any, int info_too)
{
	char out[8192], left[512];
	int rc, ok = 1;

	rc = hostile_run(out, sizeof(out), "info %s", self->path);
	if (!info_too && rc) {
		TH_LOG("%s: info exit %d, want 0: %s", what, rc, out);
		ok = 0;
	} else if (info_too && (rc != 1 || !says(out, any))) {
		TH_LOG("%s: info exit %d, want 1 and '%s': %s", what, rc, any,
		       out);
		ok = 0;
	}
	rc = hostile_run(out, sizeof(out),
			 "restore -i %s --pidfile %s --stdio null", self->path,
			 self->pidfile);
	if (rc != 1 || !says(out, any)) {
		TH_LOG("%s: restore exit %d, want 1 and '%s': %s", what, rc,
		       any, out);
		ok = 0;
	}
	if (!access(self->pidfile, F_OK)) {
		TH_LOG("%s: restore wrote a pidfile", what);
		unlink(self->pidfile);
		ok = 0;
	}
	if (hostile_leftovers(left, sizeof(left))) {
		TH_LOG("%s: processes left behind (killed): %s", what, left);
		ok = 0;
	}
	self->runs++;
	EXPECT_TRUE(ok);
	return ok;
}

static int refused(struct __test_metadata *_metadata, FIXTURE_DATA(img) *self,
		   const char *what, const char *any)
{
	return refused_by(_metadata, self, what, any, 1);
}

static int put_bad(FIXTURE_DATA(img) *self, const void *buf, size_t len)
{
	return hostile_write_file(self->path, buf, len);
}

TEST_F(img, base_image_is_accepted)
{
	char out[8192];

	ASSERT_GT(base.nr, 6);
	EXPECT_EQ(0, hostile_run(out, sizeof(out), "info %s", base.path))
		TH_LOG("%s", out);
	ksft_print_msg("base image: %zu bytes, %d records\n", base.len,
		       base.nr);
	fflush(stdout);
}

/* Cut at every record boundary, just after it, inside and before crc. */
TEST_F_TIMEOUT(img, truncated_anywhere, 600)
{
	size_t offs[4 * HOSTILE_MAX_RECS + 64];
	int n = 0, i, k;

	for (i = 0; i < base.nr && n < 4 * HOSTILE_MAX_RECS; i++) {
		const struct hostile_rec *r = &base.rec[i];

		offs[n++] = r->off;
		offs[n++] = r->off + 7;
		offs[n++] = r->off + sizeof(struct lm_rec_hdr) + r->len / 2;
		offs[n++] = r->off + sizeof(struct lm_rec_hdr) + r->len + 2;
	}
	for (k = 1; k <= 32; k++)
		offs[n++] = base.len * k / 33;
	offs[n++] = base.len - 1;
	for (i = 0; i < n; i++) {
		char what[64];

		if (offs[i] >= base.len || (i && offs[i] == offs[i - 1]))
			continue;
		snprintf(what, sizeof(what), "cut at %zu of %zu", offs[i],
			 base.len);
		ASSERT_EQ(0, put_bad(self, base.buf, offs[i]));
		if (!refused(_metadata, self, what, "truncated"))
			break;
	}
	ksft_print_msg("%d truncated images refused by info and restore\n",
		       self->runs);
	fflush(stdout);
}

struct flip {
	const char *name;
	size_t at;		/* offset in the record, or: */
	int where;		/* 0: at, 1: payload middle, 2: crc */
	unsigned char mask;
	const char *says;
};

static const struct flip flips[] = {
	{ "magic", 1, 0, 0x10, "bad record magic" },
	{ "type", 4, 0, 0x20, "unknown record type|checksum mismatch" },
	{ "length low bit", 8, 0, 0x01,
	  "checksum mismatch|truncated|bad record magic|unknown record type" },
	{ "length high bit", 15, 0, 0x80, "claims" },
	{ "payload first byte", 16, 0, 0x04, "checksum mismatch" },
	{ "payload middle", 0, 1, 0x40, "checksum mismatch" },
	{ "checksum", 0, 2, 0x01, "checksum mismatch" },
};

/* One bit in each part of each record (the first 40 and the last 4). */
TEST_F_TIMEOUT(img, bit_flipped_records, 600)
{
	unsigned char *c = hostile_copy();
	int i, f, stop = 0;

	ASSERT_NE(NULL, c);
	for (i = 0; i < base.nr && !stop; i++) {
		const struct hostile_rec *r = &base.rec[i];

		if (i >= 40 && i < base.nr - 4)
			continue;
		for (f = 0; f < (int)(sizeof(flips) / sizeof(flips[0])); f++) {
			const struct flip *fl = &flips[f];
			size_t at = r->off + fl->at;
			char what[128];

			if (fl->where == 1)
				at = r->off + sizeof(struct lm_rec_hdr) + r->len / 2;
			else if (fl->where == 2)
				at = r->off + sizeof(struct lm_rec_hdr) + r->len + 1;
			if (!r->len && (fl->where == 1 || fl->at == 16))
				continue;
			snprintf(what, sizeof(what), "record %d (type %u, %llu bytes): %s flipped",
				 i, r->type, (unsigned long long)r->len,
				 fl->name);
			c[at] ^= fl->mask;
			ASSERT_EQ(0, put_bad(self, c, base.len));
			c[at] ^= fl->mask;
			if (!refused(_metadata, self, what, fl->says)) {
				stop = 1;
				break;
			}
		}
	}
	free(c);
	ksft_print_msg("%d bit-flipped images refused by info and restore\n",
		       self->runs);
	fflush(stdout);
}

/* Set @size bytes at @field of the payload of record @idx, fix its crc. */
static void set_field(unsigned char *c, int idx, size_t field, __u64 v,
		      size_t size)
{
	size_t at = base.rec[idx].off + sizeof(struct lm_rec_hdr) + field;

	if (size > sizeof(v))		/* a string: fill it */
		memset(c + at, (int)v, size);
	else
		memcpy(c + at, &v, size);
	hostile_fix_crc(c, base.rec[idx].off);
}

#define FIELD(s, f)	offsetof(s, f), sizeof(((s *)0)->f)

struct forged {
	const char *name;
	__u32 type;		/* record to change (first of its type) */
	size_t field, size;
	__u64 value;		/* LM_FORGE_* for relative values */
	const char *says;
};

#define LM_FORGE_PLUS1	(~0ULL - 1)	/* the field's value + 1 */

static const struct forged forgeries[] = {
	{ "version 2", LM_REC_HEADER, FIELD(struct lm_header, version), 2,
	  "image version 2, this lazymig reads version 1" },
	{ "version 0", LM_REC_HEADER, FIELD(struct lm_header, version), 0,
	  "image version 0" },
	{ "page size 8192", LM_REC_HEADER, FIELD(struct lm_header, page_size),
	  8192, "page size 8192 is not supported" },
	{ "kernel not terminated", LM_REC_HEADER,
	  FIELD(struct lm_header, kernel), 'A',
	  "HEADER kernel is not NUL-terminated" },
	{ "no threads", LM_REC_PROC, FIELD(struct lm_proc, nr_threads), 0,
	  "PROC: 0 threads" },
	{ "2^32-1 threads", LM_REC_PROC, FIELD(struct lm_proc, nr_threads),
	  0xffffffffULL, "PROC: 4294967295 threads" },
	{ "one thread more", LM_REC_PROC, FIELD(struct lm_proc, nr_threads),
	  LM_FORGE_PLUS1, "expected a THREAD record" },
	{ "2^32-1 VMAs", LM_REC_PROC, FIELD(struct lm_proc, nr_vmas),
	  0xffffffffULL, "VMAs (max" },
	{ "one VMA more", LM_REC_PROC, FIELD(struct lm_proc, nr_vmas),
	  LM_FORGE_PLUS1, "expected a VMA record" },
	{ "2^32-1 fds", LM_REC_PROC, FIELD(struct lm_proc, nr_fds),
	  0xffffffffULL, "fds (max" },
	{ "2^32-1 shm objects", LM_REC_PROC, FIELD(struct lm_proc, nr_shms),
	  0xffffffffULL, "shm objects (max" },
	{ "auxv too long", LM_REC_PROC, FIELD(struct lm_proc, auxv_len), 130,
	  "auxv length 130" },
	{ "exe length off by one", LM_REC_PROC, FIELD(struct lm_proc, exe_len),
	  LM_FORGE_PLUS1, "its strings say" },
	{ "pid 0", LM_REC_PROC, FIELD(struct lm_proc, pid), 0, "PROC: pid 0" },
	{ "xstate 4 GiB", LM_REC_THREAD, FIELD(struct lm_thread, xstate_len),
	  0xffffffffULL, "xstate length 4294967295" },
	{ "thread tid -1", LM_REC_THREAD, FIELD(struct lm_thread, tid),
	  0xffffffffULL, "tid -1" },
	{ "VMA ends before it starts", LM_REC_VMA, FIELD(struct lm_vma, end),
	  0x1000, "bad range" },
	{ "VMA kind 99", LM_REC_VMA, FIELD(struct lm_vma, kind), 99,
	  "unknown kind 99" },
	{ "VMA path length 2^32-1", LM_REC_VMA, FIELD(struct lm_vma, path_len),
	  0xffffffffULL, "path length 4294967295 does not fit" },
	{ "fd type 77", LM_REC_FD, FIELD(struct lm_fd, type), 77,
	  "unknown type 77" },
	{ "fd data 4 GiB", LM_REC_FD, FIELD(struct lm_fd, data_len),
	  0xffffffffULL, "path/data lengths do not fit" },
	{ "pagemap one page more", LM_REC_PAGEMAP,
	  FIELD(struct lm_pagemap, npages), LM_FORGE_PLUS1, "PAGEMAP of space" },
	{ "pagemap of no VMA", LM_REC_PAGEMAP, FIELD(struct lm_pagemap, addr),
	  0x1000, "PAGEMAP at 1000 is not the start of a VMA" },
	{ "pages 2^60", LM_REC_PAGES, FIELD(struct lm_pages, npages),
	  1ULL << 60, "do not fit the record" },
	{ "pages of no VMA", LM_REC_PAGES, FIELD(struct lm_pages, addr),
	  0x1000, "no PAGEMAP covers it" },
	{ "pages page size 2 MiB", LM_REC_PAGES,
	  FIELD(struct lm_pages, page_size), 2 << 20, "do not fit the record" },
};

/* Values that pass the checksum: the reader's checks must catch them. */
TEST_F_TIMEOUT(img, forged_counts_and_fields, 300)
{
	int i;

	for (i = 0; i < (int)(sizeof(forgeries) / sizeof(forgeries[0])); i++) {
		const struct forged *fg = &forgeries[i];
		int idx = hostile_find(fg->type, 0);
		unsigned char *c;
		__u64 v = fg->value;

		if (idx < 0) {
			TH_LOG("%s: the base image has no such record", fg->name);
			continue;
		}
		c = hostile_copy();
		ASSERT_NE(NULL, c);
		if (v == LM_FORGE_PLUS1) {
			v = 0;
			ASSERT_GE(sizeof(v), fg->size);
			memcpy(&v, c + base.rec[idx].off +
			       sizeof(struct lm_rec_hdr) + fg->field, fg->size);
			v++;
		}
		set_field(c, idx, fg->field, v, fg->size);
		ASSERT_EQ(0, put_bad(self, c, base.len));
		free(c);
		refused(_metadata, self, fg->name, fg->says);
	}
}

/* Record lengths at, just over and far over LM_REC_MAX. */
TEST_F_TIMEOUT(img, oversized_records, 300)
{
	static const struct { const char *name; __u64 len; const char *says; } o[] = {
		{ "LM_REC_MAX + 1", LM_REC_MAX + 1, "claims 67108865 bytes (limit 67108864)" },
		{ "2^64 - 1", ~0ULL, "claims 18446744073709551615 bytes" },
		{ "2^63", 1ULL << 63, "claims 9223372036854775808 bytes" },
		{ "LM_REC_MAX, stream ends", LM_REC_MAX, "truncated" },
		{ "LM_REC_MAX - 1, stream ends", LM_REC_MAX - 1, "truncated" },
	};
	int i, p = hostile_find(LM_REC_PROC, 0);

	ASSERT_LT(0, p);
	for (i = 0; i < (int)(sizeof(o) / sizeof(o[0])); i++) {
		unsigned char *c = hostile_copy();
		size_t len = base.len;

		ASSERT_NE(NULL, c);
		/* the PROC record claims the length; what follows is short */
		memcpy(c + base.rec[p].off + offsetof(struct lm_rec_hdr, len),
		       &o[i].len, sizeof(o[i].len));
		if (len > base.rec[p].off + 4096)
			len = base.rec[p].off + 4096;
		ASSERT_EQ(0, put_bad(self, c, len));
		free(c);
		refused(_metadata, self, o[i].name, o[i].says);
	}
}

/* Each PAGES record left out, and one sent twice: the records are fine. */
TEST_F_TIMEOUT(img, page_record_missing_or_twice, 300)
{
	unsigned char *c = malloc(2 * base.len);
	size_t hdr = sizeof(struct lm_rec_hdr);
	int i, n = 0;

	ASSERT_NE(NULL, c);
	for (i = 0; i < base.nr; i++) {
		const struct hostile_rec *r = &base.rec[i];
		size_t sz = hdr + r->len + 4;
		char what[64];

		if (r->type != LM_REC_PAGES)
			continue;
		memcpy(c, base.buf, r->off);
		memcpy(c + r->off, base.buf + r->off + sz,
		       base.len - r->off - sz);
		ASSERT_EQ(0, put_bad(self, c, base.len - sz));
		snprintf(what, sizeof(what), "record %d left out", i);
		if (!refused(_metadata, self, what, "PAGES records are missing"))
			break;
		memcpy(c, base.buf, r->off + sz);
		memcpy(c + r->off + sz, base.buf + r->off, base.len - r->off);
		ASSERT_EQ(0, put_bad(self, c, base.len + sz));
		snprintf(what, sizeof(what), "record %d twice", i);
		if (!refused(_metadata, self, what, "pages come twice"))
			break;
		n++;
	}
	free(c);
	EXPECT_LT(0, n);
	ksft_print_msg("%d PAGES records each left out and sent twice\n", n);
	fflush(stdout);
}

/*
 * A well-formed image that cannot be restored here: a mapped file or an
 * open file that does not exist.  info shows it; restore fails while the
 * process is half built, and must take all of it down.
 */
TEST_F_TIMEOUT(img, restore_fails_midway, 120)
{
	static const struct { __u32 type; size_t fix; const char *says; } w[] = {
		{ LM_REC_VMA, sizeof(struct lm_vma), "cannot open" },
		{ LM_REC_FD, sizeof(struct lm_fd), "cannot reopen fd" },
	};
	int i, k, done = 0;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < base.nr; i++) {
			const struct hostile_rec *r = &base.rec[i];
			const unsigned char *pl = base.buf + r->off +
						  sizeof(struct lm_rec_hdr);
			__u32 plen;
			__s32 fdno;
			size_t at;
			unsigned char *c;
			char what[160];
			__u32 kind;

			if (r->type != w[k].type)
				continue;
			memcpy(&kind, pl + (k ? offsetof(struct lm_fd, type) :
					    offsetof(struct lm_vma, kind)), 4);
			if (kind != (k ? LM_FD_REG : LM_MEM_FILE_PRIVATE))
				continue;
			memcpy(&fdno, pl + offsetof(struct lm_fd, fd), 4);
			if (k && fdno < 3)	/* stdio follows --stdio */
				continue;
			memcpy(&plen, pl + (k ? offsetof(struct lm_fd, path_len) :
					    offsetof(struct lm_vma, path_len)), 4);
			if (plen < 3 || pl[w[k].fix] != '/')
				continue;
			c = hostile_copy();
			ASSERT_NE(NULL, c);
			at = r->off + sizeof(struct lm_rec_hdr) + w[k].fix +
			     plen - 2;
			c[at] = '#';	/* "/usr/lib/libc.so.6" -> ".so.#" */
			hostile_fix_crc(c, r->off);
			snprintf(what, sizeof(what), "%s of %.*s renamed",
				 k ? "fd" : "file mapping", (int)plen - 1,
				 (const char *)pl + w[k].fix);
			ASSERT_EQ(0, put_bad(self, c, base.len));
			free(c);
			refused_by(_metadata, self, what, w[k].says, 0);
			done++;
			break;
		}
	}
	EXPECT_EQ(2, done);
}

TEST_F(img, not_an_image)
{
	char zeros[8192] = { 0 }, text[] = "#!/bin/sh\necho not an image\n";
	char out[4096];
	int rc;

	ASSERT_EQ(0, put_bad(self, "", 0));
	refused(_metadata, self, "empty file", "truncated: stream ends at byte 0");
	ASSERT_EQ(0, put_bad(self, zeros, sizeof(zeros)));
	refused(_metadata, self, "zeros", "bad record magic 0x00000000 at byte 0");
	ASSERT_EQ(0, put_bad(self, text, sizeof(text)));
	refused(_metadata, self, "a script", "not a lazymig image");
	/* the header of an image, then another image's records */
	ASSERT_EQ(0, put_bad(self, base.buf, base.rec[1].off));
	refused(_metadata, self, "header only", "truncated");

	rc = hostile_run(out, sizeof(out), "info %s/nonexistent", self->dir);
	EXPECT_EQ(1, rc);
	EXPECT_NE(NULL, strstr(out, "No such file")) TH_LOG("%s", out);
	rc = hostile_run(out, sizeof(out), "restore -i %s --stdio null",
			 self->dir);
	EXPECT_EQ(1, rc) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "Is a directory")) TH_LOG("%s", out);
}

TEST_HARNESS_MAIN
