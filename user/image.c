// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: the image stream (see image.h).
 *
 * Writing is buffered.  Reading takes exactly one record at a time (header,
 * then payload and crc), never reading ahead, so that the same fd can carry
 * another protocol after END or between records (the wire).  Every field
 * read is hostile input: it is checked before use and the first problem is
 * described in s->errmsg.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <zlib.h>
#include "image.h"
#include "net.h"

#define WBUF_CAP	(1UL << 20)
#define XSTATE_MAX	(64UL << 10)
#define PIPE_DATA_MAX	(64UL << 20)

/* Reader states: which records may come next. */
enum {
	RS_START,	/* HEADER */
	RS_META,	/* inside the metadata */
	RS_PAGES,	/* after PAGEMAPs: PAGES or META_END */
	RS_BULK,	/* after META_END: PAGES or END */
	RS_DONE,	/* after END */
};

static const char *const rec_names[LM_REC__MAX] = {
	[LM_REC_HEADER] = "HEADER",	[LM_REC_PROC] = "PROC",
	[LM_REC_THREAD] = "THREAD",	[LM_REC_SIGACT] = "SIGACT",
	[LM_REC_SHM] = "SHM",		[LM_REC_VMA] = "VMA",
	[LM_REC_FD] = "FD",		[LM_REC_PAGEMAP] = "PAGEMAP",
	[LM_REC_PAGES] = "PAGES",	[LM_REC_META_END] = "META_END",
	[LM_REC_END] = "END",		[LM_REC_TREE] = "TREE",
};

static const char *rec_name(__u32 type)
{
	if (type && type < LM_REC__MAX)
		return rec_names[type];
	return "unknown";
}

int lm_shm_same_file(const struct lm_image *img, const struct lm_shm *s,
		     int fd)
{
	struct utsname u;
	struct stat st;

	if (s->kind != LM_MEM_TMPFS || fstat(fd, &st) || uname(&u))
		return 0;
	return st.st_dev == s->dev && st.st_ino == s->ino &&
	       !strcmp(u.nodename, img->hdr.hostname);
}

const char *lm_mem_kind_name(unsigned int kind)
{
	static const char *const names[] = {
		[LM_MEM_ANON_PRIVATE] = "anon-private",
		[LM_MEM_ANON_SHARED] = "anon-shared",
		[LM_MEM_MEMFD] = "memfd",
		[LM_MEM_TMPFS] = "tmpfs",
		[LM_MEM_FILE_PRIVATE] = "file-private",
		[LM_MEM_FILE_SHARED] = "file-shared",
		[LM_MEM_HUGETLB_PRIVATE] = "hugetlb-private",
		[LM_MEM_HUGETLB_SHARED] = "hugetlb-shared",
		[LM_MEM_VDSO] = "vdso",
		[LM_MEM_VVAR] = "vvar",
		[LM_MEM_VSYSCALL] = "vsyscall",
	};

	if (kind < sizeof(names) / sizeof(names[0]) && names[kind])
		return names[kind];
	return "unknown";
}

const char *lm_fd_type_name(unsigned int type)
{
	static const char *const names[] = {
		[LM_FD_REG] = "file",
		[LM_FD_PIPE] = "pipe",
		[LM_FD_CHR] = "chardev",
		[LM_FD_MEMFD] = "memfd",
		[LM_FD_EVENTFD] = "eventfd",
		[LM_FD_UNIX] = "unix-socketpair",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "unknown";
}

static int is_shm_kind(__u32 kind)
{
	return kind == LM_MEM_ANON_SHARED || kind == LM_MEM_MEMFD ||
	       kind == LM_MEM_TMPFS || kind == LM_MEM_HUGETLB_SHARED;
}

static int is_file_kind(__u32 kind)
{
	return kind == LM_MEM_FILE_PRIVATE || kind == LM_MEM_FILE_SHARED;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct lm_stream *s, int err, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!s->err) {
		s->err = err;
		snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s",
			 s->what ? s->what : "stream", msg);
	}
	return s->err;
}

/* ---- image ---- */

void lm_image_free(struct lm_image *img)
{
	unsigned int i;

	if (!img)
		return;
	free(img->exe);
	free(img->cwd);
	free(img->root);
	for (i = 0; img->threads && i < img->proc.nr_threads; i++)
		free(img->threads[i].xstate);
	free(img->threads);
	for (i = 0; img->shms && i < img->proc.nr_shms; i++) {
		free(img->shms[i].name);
		if (img->shms[i].fd >= 0)
			close(img->shms[i].fd);
	}
	free(img->shms);
	for (i = 0; img->vmas && i < img->proc.nr_vmas; i++)
		free(img->vmas[i].path);
	free(img->vmas);
	for (i = 0; img->fds && i < img->proc.nr_fds; i++) {
		free(img->fds[i].path);
		free(img->fds[i].data);
	}
	free(img->fds);
	for (i = 0; img->maps && i < img->nr_maps; i++)
		free(img->maps[i].bitmap);
	free(img->maps);
	memset(img, 0, sizeof(*img));
}

static int map_cmp(__u32 sa, __u64 aa, __u32 sb, __u64 ab)
{
	if (sa != sb)
		return sa < sb ? -1 : 1;
	if (aa != ab)
		return aa < ab ? -1 : 1;
	return 0;
}

/*
 * img->maps is sorted by (space, addr).  An address inside a range (a VMA,
 * or an offset in a shm object) finds that range's pagemap.
 */
struct lm_pagemap_img *lm_image_pagemap(struct lm_image *img, __u32 space,
					__u64 addr)
{
	long lo = 0, hi = (long)img->nr_maps - 1, best = -1;
	struct lm_pagemap_img *m;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;
		int c;

		m = &img->maps[mid];
		c = map_cmp(m->m.space, m->m.addr, space, addr);
		if (!c)
			return m;
		if (c < 0) {
			best = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	if (best < 0)
		return NULL;
	m = &img->maps[best];
	if (m->m.space != space)
		return NULL;
	if (addr - m->m.addr < m->m.npages * m->m.page_size)
		return m;
	return NULL;
}

/* ---- stream ---- */

int lm_stream_open(struct lm_stream *s, int fd, int writing, const char *what)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->writing = writing;
	s->what = strdup(what ? what : "stream");
	if (!s->what)
		return -ENOMEM;
	if (writing) {
		s->buf_cap = WBUF_CAP;
		s->buf = malloc(s->buf_cap);
		if (!s->buf) {
			free(s->what);
			s->what = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

static int write_full(struct lm_stream *s, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = lm_net_write(s->fd, c, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail(s, n < 0 ? -errno : -EIO, "write failed: %s",
				    strerror(n < 0 ? errno : EIO));
		c += n;
		len -= n;
	}
	return 0;
}

int lm_stream_flush(struct lm_stream *s)
{
	int err;

	if (s->err)
		return s->err;
	if (!s->writing || !s->buf_len)
		return 0;
	err = write_full(s, s->buf, s->buf_len);
	s->buf_len = 0;
	return err;
}

void lm_stream_close(struct lm_stream *s)
{
	free(s->buf);
	free(s->rec);
	free(s->what);
	s->buf = NULL;
	s->rec = NULL;
	s->what = NULL;
}

static int put(struct lm_stream *s, const void *p, size_t len)
{
	if (s->err)
		return s->err;
	if (!len)
		return 0;
	s->bytes += len;
	if (s->buf_len + len > s->buf_cap) {
		if (lm_stream_flush(s))
			return s->err;
		if (len >= s->buf_cap)
			return write_full(s, p, len);
	}
	memcpy(s->buf + s->buf_len, p, len);
	s->buf_len += len;
	return 0;
}

struct piece {
	const void *p;
	size_t len;
};

/* One record: header, the payload pieces, crc32 of header and payload. */
static int put_rec(struct lm_stream *s, __u32 type, const struct piece *pc,
		   int n)
{
	struct lm_rec_hdr h = { .magic = LM_MAGIC, .type = type };
	uLong crc;
	__u32 c32;
	int i;

	for (i = 0; i < n; i++)
		h.len += pc[i].len;
	if (h.len > LM_REC_MAX)
		return fail(s, -E2BIG, "%s record of %llu bytes is over the %lu limit",
			    rec_name(type), (unsigned long long)h.len,
			    LM_REC_MAX);
	crc = crc32(0L, (const Bytef *)&h, sizeof(h));
	put(s, &h, sizeof(h));
	for (i = 0; i < n; i++) {
		if (pc[i].len)
			crc = crc32_z(crc, pc[i].p, pc[i].len);
		put(s, pc[i].p, pc[i].len);
	}
	c32 = (__u32)crc;
	return put(s, &c32, sizeof(c32));
}

static size_t slen(const char *p)
{
	return p ? strlen(p) + 1 : 0;
}

static int write_proc(struct lm_stream *s, const struct lm_image *img)
{
	struct lm_proc p = img->proc;
	const char *exe = img->exe ? img->exe : "";
	const char *cwd = img->cwd ? img->cwd : "/";
	const char *root = img->root ? img->root : "/";
	struct piece pc[4];

	p.exe_len = slen(exe);
	p.cwd_len = slen(cwd);
	p.root_len = slen(root);
	pc[0] = (struct piece){ &p, sizeof(p) };
	pc[1] = (struct piece){ exe, p.exe_len };
	pc[2] = (struct piece){ cwd, p.cwd_len };
	pc[3] = (struct piece){ root, p.root_len };
	return put_rec(s, LM_REC_PROC, pc, 4);
}

static int write_threads(struct lm_stream *s, const struct lm_image *img)
{
	unsigned int i;

	for (i = 0; i < img->proc.nr_threads; i++) {
		const struct lm_thread_img *t = &img->threads[i];
		struct lm_thread th = t->t;
		struct piece pc[2];

		if (!t->xstate)
			th.xstate_len = 0;
		pc[0] = (struct piece){ &th, sizeof(th) };
		pc[1] = (struct piece){ t->xstate, th.xstate_len };
		if (put_rec(s, LM_REC_THREAD, pc, 2))
			return s->err;
	}
	return 0;
}

static int write_shms(struct lm_stream *s, const struct lm_image *img)
{
	unsigned int i;

	for (i = 0; i < img->proc.nr_shms; i++) {
		const struct lm_shm_img *m = &img->shms[i];
		struct lm_shm sh = m->s;
		struct piece pc[2];

		sh.name_len = slen(m->name);
		pc[0] = (struct piece){ &sh, sizeof(sh) };
		pc[1] = (struct piece){ m->name, sh.name_len };
		if (put_rec(s, LM_REC_SHM, pc, 2))
			return s->err;
	}
	return 0;
}

static int write_vmas(struct lm_stream *s, const struct lm_image *img)
{
	unsigned int i;

	for (i = 0; i < img->proc.nr_vmas; i++) {
		const struct lm_vma_img *m = &img->vmas[i];
		struct lm_vma v = m->v;
		struct piece pc[2];

		v.path_len = slen(m->path);
		pc[0] = (struct piece){ &v, sizeof(v) };
		pc[1] = (struct piece){ m->path, v.path_len };
		if (put_rec(s, LM_REC_VMA, pc, 2))
			return s->err;
	}
	return 0;
}

static int write_fds(struct lm_stream *s, const struct lm_image *img)
{
	unsigned int i;

	for (i = 0; i < img->proc.nr_fds; i++) {
		const struct lm_fd_img *m = &img->fds[i];
		struct lm_fd f = m->f;
		struct piece pc[3];

		f.path_len = slen(m->path);
		if (!m->data)
			f.data_len = 0;
		pc[0] = (struct piece){ &f, sizeof(f) };
		pc[1] = (struct piece){ m->path, f.path_len };
		pc[2] = (struct piece){ m->data, f.data_len };
		if (put_rec(s, LM_REC_FD, pc, 3))
			return s->err;
	}
	return 0;
}

static int write_maps(struct lm_stream *s, const struct lm_image *img)
{
	unsigned int i;

	for (i = 0; i < img->nr_maps; i++) {
		const struct lm_pagemap_img *m = &img->maps[i];
		struct piece pc[2];

		pc[0] = (struct piece){ &m->m, sizeof(m->m) };
		pc[1] = (struct piece){ m->bitmap, (m->m.npages + 7) / 8 };
		if (put_rec(s, LM_REC_PAGEMAP, pc, 2))
			return s->err;
	}
	return 0;
}

int lm_write_meta(struct lm_stream *s, const struct lm_image *img)
{
	struct lm_header h = img->hdr;
	struct piece pc[1];

	h.version = LM_STREAM_VERSION;
	if (!h.page_size)
		h.page_size = LM_PAGE_SIZE;
	pc[0] = (struct piece){ &h, sizeof(h) };
	if (put_rec(s, LM_REC_HEADER, pc, 1) || write_proc(s, img) ||
	    write_threads(s, img))
		return s->err;
	pc[0] = (struct piece){ &img->sigact, sizeof(img->sigact) };
	if (put_rec(s, LM_REC_SIGACT, pc, 1) || write_shms(s, img) ||
	    write_vmas(s, img) || write_fds(s, img) || write_maps(s, img))
		return s->err;
	return 0;
}

int lm_write_pages(struct lm_stream *s, const struct lm_pages *p,
		   const void *data)
{
	struct piece pc[2] = {
		{ p, sizeof(*p) },
		{ data, p->npages * p->page_size },
	};

	if (p->npages > LM_REC_MAX / (p->page_size ? p->page_size : 1))
		return fail(s, -E2BIG, "PAGES run of %llu pages is too large",
			    (unsigned long long)p->npages);
	return put_rec(s, LM_REC_PAGES, pc, 2);
}

int lm_write_mark(struct lm_stream *s, enum lm_rec_type type)
{
	if (type != LM_REC_META_END && type != LM_REC_END)
		return fail(s, -EINVAL, "%s is not a mark record",
			    rec_name(type));
	if (put_rec(s, type, NULL, 0))
		return s->err;
	/* A mark ends a phase: the peer must see it now. */
	return lm_stream_flush(s);
}

/* ---- reading ---- */

/* 0, or 1 on a clean EOF before any byte when @eof_ok. */
static int read_full(struct lm_stream *s, void *p, size_t len, int eof_ok,
		     const char *what)
{
	char *c = p;
	size_t done = 0;

	while (done < len) {
		ssize_t n = lm_net_read(s->fd, c + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(s, -errno, "read failed at byte %llu: %s",
				    (unsigned long long)s->bytes + done,
				    strerror(errno));
		if (!n) {
			if (!done && eof_ok)
				return 1;
			return fail(s, -EBADMSG,
				    "truncated: stream ends at byte %llu inside %s",
				    (unsigned long long)s->bytes + done, what);
		}
		done += n;
	}
	s->bytes += len;
	return 0;
}

static int rec_room(struct lm_stream *s, size_t len)
{
	void *p;

	if (len <= s->rec_cap)
		return 0;
	p = realloc(s->rec, len);
	if (!p)
		return fail(s, -ENOMEM, "out of memory for a %zu-byte record",
			    len);
	s->rec = p;
	s->rec_cap = len;
	return 0;
}

/* Next record into s->peek_hdr / s->rec, crc checked. */
static int get_rec(struct lm_stream *s)
{
	struct lm_rec_hdr *h = &s->peek_hdr;
	__u64 at = s->bytes;
	__u32 crc_got;
	uLong crc;
	int r;

	if (s->err)
		return s->err;
	if (s->peeked) {
		s->peeked = 0;
		return 0;
	}
	r = read_full(s, h, sizeof(*h), 0, "a record header");
	if (r)
		return r;
	if (h->magic != LM_MAGIC)
		return fail(s, -EBADMSG,
			    "bad record magic 0x%08x at byte %llu (not a lazymig image, or damaged)",
			    h->magic, (unsigned long long)at);
	if (!h->type || h->type >= LM_REC__MAX)
		return fail(s, -EBADMSG, "unknown record type %u at byte %llu",
			    h->type, (unsigned long long)at);
	if (h->len > LM_REC_MAX)
		return fail(s, -EBADMSG,
			    "%s record at byte %llu claims %llu bytes (limit %lu)",
			    rec_name(h->type), (unsigned long long)at,
			    (unsigned long long)h->len, LM_REC_MAX);
	if (rec_room(s, h->len + 1))
		return s->err;
	if (read_full(s, s->rec, h->len, 0, rec_name(h->type)) ||
	    read_full(s, &crc_got, sizeof(crc_got), 0, "a record checksum"))
		return s->err;
	s->rec[h->len] = 0;
	crc = crc32(0L, (const Bytef *)h, sizeof(*h));
	crc = crc32_z(crc, s->rec, h->len);
	if ((__u32)crc != crc_got)
		return fail(s, -EBADMSG,
			    "checksum mismatch in %s record at byte %llu (image damaged)",
			    rec_name(h->type), (unsigned long long)at);
	return 0;
}

static int expect(struct lm_stream *s, __u32 type)
{
	if (get_rec(s))
		return s->err;
	if (s->peek_hdr.type != type)
		return fail(s, -EBADMSG, "expected a %s record, found %s",
			    rec_name(type), rec_name(s->peek_hdr.type));
	return 0;
}

/* A string of @len bytes at @p: exactly one NUL, at the end. */
static char *take_str(struct lm_stream *s, const unsigned char *p, __u32 len,
		      const char *what)
{
	char *r;

	if (!len || len > LM_PATH_MAX || p[len - 1] ||
	    memchr(p, 0, len) != p + len - 1) {
		fail(s, -EBADMSG, "%s is not a valid string (length %u)", what,
		     len);
		return NULL;
	}
	r = strdup((const char *)p);
	if (!r)
		fail(s, -ENOMEM, "out of memory");
	return r;
}

static int fixed_nul(struct lm_stream *s, const char *p, size_t size,
		     const char *what)
{
	if (!memchr(p, 0, size))
		return fail(s, -EBADMSG, "%s is not NUL-terminated", what);
	return 0;
}

static int read_header(struct lm_stream *s, struct lm_image *img)
{
	struct lm_header *h = &img->hdr;

	if (expect(s, LM_REC_HEADER))
		return s->err;
	if (s->peek_hdr.len < 8)
		return fail(s, -EBADMSG, "HEADER record too short");
	memcpy(&h->version, s->rec, sizeof(h->version));
	if (h->version != LM_STREAM_VERSION)
		return fail(s, -EPROTO,
			    "image version %u, this lazymig reads version %u (dump with a matching lazymig)",
			    h->version, LM_STREAM_VERSION);
	if (s->peek_hdr.len != sizeof(*h))
		return fail(s, -EBADMSG, "HEADER record has %llu bytes, not %zu",
			    (unsigned long long)s->peek_hdr.len, sizeof(*h));
	memcpy(h, s->rec, sizeof(*h));
	if (h->page_size != LM_PAGE_SIZE)
		return fail(s, -EBADMSG, "page size %llu is not supported (%lu)",
			    (unsigned long long)h->page_size, LM_PAGE_SIZE);
	if (fixed_nul(s, h->kernel, sizeof(h->kernel), "HEADER kernel") ||
	    fixed_nul(s, h->hostname, sizeof(h->hostname), "HEADER hostname"))
		return s->err;
	return 0;
}

static int check_proc(struct lm_stream *s, const struct lm_proc *p)
{
	if (!p->nr_threads || p->nr_threads > LM_MAX_THREADS)
		return fail(s, -EBADMSG, "PROC: %u threads (1..%d)",
			    p->nr_threads, LM_MAX_THREADS);
	if (p->nr_vmas > LM_MAX_VMAS)
		return fail(s, -EBADMSG, "PROC: %u VMAs (max %d)", p->nr_vmas,
			    LM_MAX_VMAS);
	if (p->nr_fds > LM_MAX_FDS)
		return fail(s, -EBADMSG, "PROC: %u fds (max %d)", p->nr_fds,
			    LM_MAX_FDS);
	if (p->nr_shms > LM_MAX_SHMS)
		return fail(s, -EBADMSG, "PROC: %u shm objects (max %d)",
			    p->nr_shms, LM_MAX_SHMS);
	if (p->auxv_len > 128 || p->auxv_len % 2)
		return fail(s, -EBADMSG, "PROC: auxv length %u", p->auxv_len);
	if (p->pid <= 0)
		return fail(s, -EBADMSG, "PROC: pid %d", p->pid);
	return fixed_nul(s, p->comm, sizeof(p->comm), "PROC comm");
}

static int read_proc(struct lm_stream *s, struct lm_image *img)
{
	struct lm_proc *p = &img->proc;
	const unsigned char *v;
	__u64 want;

	if (expect(s, LM_REC_PROC))
		return s->err;
	if (s->peek_hdr.len < sizeof(*p))
		return fail(s, -EBADMSG, "PROC record too short");
	memcpy(p, s->rec, sizeof(*p));
	want = sizeof(*p) + (__u64)p->exe_len + p->cwd_len + p->root_len;
	if (want != s->peek_hdr.len)
		return fail(s, -EBADMSG,
			    "PROC record has %llu bytes, its strings say %llu",
			    (unsigned long long)s->peek_hdr.len,
			    (unsigned long long)want);
	if (check_proc(s, p))
		return s->err;
	v = s->rec + sizeof(*p);
	img->exe = take_str(s, v, p->exe_len, "PROC exe");
	if (!img->exe)
		return s->err;
	img->cwd = take_str(s, v + p->exe_len, p->cwd_len, "PROC cwd");
	if (!img->cwd)
		return s->err;
	img->root = take_str(s, v + p->exe_len + p->cwd_len, p->root_len,
			     "PROC root");
	return img->root ? 0 : s->err;
}

static int read_thread(struct lm_stream *s, struct lm_thread_img *t,
		       unsigned int i)
{
	if (expect(s, LM_REC_THREAD))
		return s->err;
	if (s->peek_hdr.len < sizeof(t->t))
		return fail(s, -EBADMSG, "THREAD %u record too short", i);
	memcpy(&t->t, s->rec, sizeof(t->t));
	if (t->t.xstate_len > XSTATE_MAX ||
	    sizeof(t->t) + (__u64)t->t.xstate_len != s->peek_hdr.len)
		return fail(s, -EBADMSG, "THREAD %u: xstate length %u does not fit the record",
			    i, t->t.xstate_len);
	if (t->t.tid <= 0)
		return fail(s, -EBADMSG, "THREAD %u: tid %d", i, t->t.tid);
	if (fixed_nul(s, t->t.comm, sizeof(t->t.comm), "THREAD comm"))
		return s->err;
	if (!t->t.xstate_len)
		return 0;
	t->xstate = malloc(t->t.xstate_len);
	if (!t->xstate)
		return fail(s, -ENOMEM, "out of memory");
	memcpy(t->xstate, s->rec + sizeof(t->t), t->t.xstate_len);
	return 0;
}

static int read_threads(struct lm_stream *s, struct lm_image *img)
{
	unsigned int i, j;

	img->threads = calloc(img->proc.nr_threads, sizeof(*img->threads));
	if (!img->threads)
		return fail(s, -ENOMEM, "out of memory");
	for (i = 0; i < img->proc.nr_threads; i++) {
		if (read_thread(s, &img->threads[i], i))
			return s->err;
		for (j = 0; j < i; j++)
			if (img->threads[j].t.tid == img->threads[i].t.tid)
				return fail(s, -EBADMSG, "THREAD: tid %d twice",
					    img->threads[i].t.tid);
	}
	if (img->threads[0].t.tid != img->proc.pid)
		return fail(s, -EBADMSG, "first THREAD (tid %d) is not the leader %d",
			    img->threads[0].t.tid, img->proc.pid);
	return 0;
}

static int good_page_size(__u64 ps)
{
	return ps >= LM_PAGE_SIZE && ps <= (1ULL << 30) && !(ps & (ps - 1));
}

static int read_shm(struct lm_stream *s, struct lm_shm_img *m, unsigned int i)
{
	if (expect(s, LM_REC_SHM))
		return s->err;
	if (s->peek_hdr.len < sizeof(m->s))
		return fail(s, -EBADMSG, "SHM %u record too short", i);
	memcpy(&m->s, s->rec, sizeof(m->s));
	if (sizeof(m->s) + (__u64)m->s.name_len != s->peek_hdr.len)
		return fail(s, -EBADMSG, "SHM %u: name length %u does not fit the record",
			    i, m->s.name_len);
	if (m->s.id != (__s32)i)
		return fail(s, -EBADMSG, "SHM %u has id %d", i, m->s.id);
	if (!is_shm_kind(m->s.kind))
		return fail(s, -EBADMSG, "SHM %u: kind %u is not a shared memory kind",
			    i, m->s.kind);
	if (!good_page_size(m->s.page_size))
		return fail(s, -EBADMSG, "SHM %u: page size %llu", i,
			    (unsigned long long)m->s.page_size);
	if (m->s.size > (1ULL << 46))
		return fail(s, -EBADMSG, "SHM %u: size %llu", i,
			    (unsigned long long)m->s.size);
	if (!m->s.name_len)
		return 0;
	m->name = take_str(s, s->rec + sizeof(m->s), m->s.name_len, "SHM name");
	return m->name ? 0 : s->err;
}

static int read_shms(struct lm_stream *s, struct lm_image *img)
{
	unsigned int i;

	if (!img->proc.nr_shms)
		return 0;
	img->shms = calloc(img->proc.nr_shms, sizeof(*img->shms));
	if (!img->shms)
		return fail(s, -ENOMEM, "out of memory");
	for (i = 0; i < img->proc.nr_shms; i++)
		img->shms[i].fd = -1;
	for (i = 0; i < img->proc.nr_shms; i++)
		if (read_shm(s, &img->shms[i], i))
			return s->err;
	return 0;
}

static int check_vma(struct lm_stream *s, const struct lm_image *img,
		     const struct lm_vma *v, unsigned int i)
{
	unsigned long long st = v->start, en = v->end;

	if (!v->kind || v->kind > LM_MEM_VSYSCALL)
		return fail(s, -EBADMSG, "VMA %llx-%llx: unknown kind %u", st, en,
			    v->kind);
	if (!good_page_size(v->page_size) || st >= en ||
	    (st | en) & (v->page_size - 1))
		return fail(s, -EBADMSG, "VMA %u: bad range %llx-%llx (page size %llu)",
			    i, st, en, (unsigned long long)v->page_size);
	if (en > 0xfffffffffffff000ULL)
		return fail(s, -EBADMSG, "VMA %llx-%llx: beyond the address space",
			    st, en);
	if (i && img->vmas[i - 1].v.end > st)
		return fail(s, -EBADMSG, "VMA %llx-%llx overlaps or is out of order after %llx-%llx",
			    st, en, (unsigned long long)img->vmas[i - 1].v.start,
			    (unsigned long long)img->vmas[i - 1].v.end);
	if (v->prot & ~7U)
		return fail(s, -EBADMSG, "VMA %llx-%llx: prot 0x%x", st, en,
			    v->prot);
	if (is_shm_kind(v->kind) ?
	    (v->shm_id < 0 || (__u32)v->shm_id >= img->proc.nr_shms) :
	    v->shm_id != -1)
		return fail(s, -EBADMSG, "VMA %llx-%llx: shm id %d does not fit kind %s",
			    st, en, v->shm_id, lm_mem_kind_name(v->kind));
	if (is_shm_kind(v->kind) &&
	    (img->shms[v->shm_id].s.page_size != v->page_size ||
	     img->shms[v->shm_id].s.kind != v->kind))
		return fail(s, -EBADMSG, "VMA %llx-%llx: kind or page size differs from its shm object",
			    st, en);
	if (is_file_kind(v->kind) && !v->path_len)
		return fail(s, -EBADMSG, "VMA %llx-%llx: file mapping without a path",
			    st, en);
	return 0;
}

static int read_vma(struct lm_stream *s, struct lm_image *img, unsigned int i)
{
	struct lm_vma_img *m = &img->vmas[i];

	if (expect(s, LM_REC_VMA))
		return s->err;
	if (s->peek_hdr.len < sizeof(m->v))
		return fail(s, -EBADMSG, "VMA %u record too short", i);
	memcpy(&m->v, s->rec, sizeof(m->v));
	if (sizeof(m->v) + (__u64)m->v.path_len != s->peek_hdr.len)
		return fail(s, -EBADMSG, "VMA %u: path length %u does not fit the record",
			    i, m->v.path_len);
	if (check_vma(s, img, &m->v, i))
		return s->err;
	if (!m->v.path_len)
		return 0;
	m->path = take_str(s, s->rec + sizeof(m->v), m->v.path_len, "VMA path");
	return m->path ? 0 : s->err;
}

static int read_vmas(struct lm_stream *s, struct lm_image *img)
{
	unsigned int i;

	if (!img->proc.nr_vmas)
		return 0;
	img->vmas = calloc(img->proc.nr_vmas, sizeof(*img->vmas));
	if (!img->vmas)
		return fail(s, -ENOMEM, "out of memory");
	for (i = 0; i < img->proc.nr_vmas; i++)
		if (read_vma(s, img, i))
			return s->err;
	return 0;
}

static int check_fd(struct lm_stream *s, const struct lm_image *img,
		    const struct lm_fd *f, unsigned int i)
{
	if (f->fd < 0 || (i && img->fds[i - 1].f.fd >= f->fd))
		return fail(s, -EBADMSG, "FD %u: fd %d negative, repeated or out of order",
			    i, f->fd);
	if (!f->type || f->type > LM_FD_UNIX)
		return fail(s, -EBADMSG, "fd %d: unknown type %u", f->fd,
			    f->type);
	if (f->type == LM_FD_MEMFD ?
	    (f->shm_id < 0 || (__u32)f->shm_id >= img->proc.nr_shms) :
	    f->shm_id != -1)
		return fail(s, -EBADMSG, "fd %d: shm id %d does not fit type %s",
			    f->fd, f->shm_id, lm_fd_type_name(f->type));
	if (f->type == LM_FD_MEMFD &&
	    img->shms[f->shm_id].s.kind != LM_MEM_MEMFD &&
	    img->shms[f->shm_id].s.kind != LM_MEM_HUGETLB_SHARED)
		return fail(s, -EBADMSG, "fd %d: a memfd on a %s object", f->fd,
			    lm_mem_kind_name(img->shms[f->shm_id].s.kind));
	if (f->data_len > PIPE_DATA_MAX ||
	    (f->data_len && f->type != LM_FD_PIPE && f->type != LM_FD_UNIX))
		return fail(s, -EBADMSG, "fd %d: %u data bytes", f->fd,
			    f->data_len);
	if ((f->type == LM_FD_REG || f->type == LM_FD_CHR) && !f->path_len)
		return fail(s, -EBADMSG, "fd %d: %s without a path", f->fd,
			    lm_fd_type_name(f->type));
	return 0;
}

static int read_fd(struct lm_stream *s, struct lm_image *img, unsigned int i)
{
	struct lm_fd_img *m = &img->fds[i];

	if (expect(s, LM_REC_FD))
		return s->err;
	if (s->peek_hdr.len < sizeof(m->f))
		return fail(s, -EBADMSG, "FD %u record too short", i);
	memcpy(&m->f, s->rec, sizeof(m->f));
	if (sizeof(m->f) + (__u64)m->f.path_len + m->f.data_len !=
	    s->peek_hdr.len)
		return fail(s, -EBADMSG, "FD %u: path/data lengths do not fit the record",
			    i);
	if (check_fd(s, img, &m->f, i))
		return s->err;
	if (m->f.path_len) {
		m->path = take_str(s, s->rec + sizeof(m->f), m->f.path_len,
				   "FD path");
		if (!m->path)
			return s->err;
	}
	if (!m->f.data_len)
		return 0;
	m->data = malloc(m->f.data_len);
	if (!m->data)
		return fail(s, -ENOMEM, "out of memory");
	memcpy(m->data, s->rec + sizeof(m->f) + m->f.path_len, m->f.data_len);
	return 0;
}

static int read_fds(struct lm_stream *s, struct lm_image *img)
{
	unsigned int i;

	if (!img->proc.nr_fds)
		return 0;
	img->fds = calloc(img->proc.nr_fds, sizeof(*img->fds));
	if (!img->fds)
		return fail(s, -ENOMEM, "out of memory");
	for (i = 0; i < img->proc.nr_fds; i++)
		if (read_fd(s, img, i))
			return s->err;
	return 0;
}

/* The VMA containing @addr (binary search), or NULL. */
static const struct lm_vma_img *find_vma(const struct lm_image *img, __u64 addr)
{
	long lo = 0, hi = (long)img->proc.nr_vmas - 1;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;
		const struct lm_vma *v = &img->vmas[mid].v;

		if (addr < v->start)
			hi = mid - 1;
		else if (addr >= v->end)
			lo = mid + 1;
		else
			return &img->vmas[mid];
	}
	return NULL;
}

/* Extent of @space/@addr: npages and page size it must have. */
static int space_extent(struct lm_stream *s, const struct lm_image *img,
			const struct lm_pagemap *m, __u64 *npages, __u64 *psz)
{
	unsigned long long a = m->addr;

	if (!m->space) {
		const struct lm_vma_img *v = find_vma(img, m->addr);

		if (!v || v->v.start != m->addr)
			return fail(s, -EBADMSG, "PAGEMAP at %llx is not the start of a VMA",
				    a);
		if (is_shm_kind(v->v.kind))
			return fail(s, -EBADMSG, "PAGEMAP at %llx: a %s VMA has its pages in its shm object",
				    a, lm_mem_kind_name(v->v.kind));
		*psz = v->v.page_size;
		*npages = (v->v.end - v->v.start) / *psz;
		return 0;
	}
	if (m->space > img->proc.nr_shms || m->addr)
		return fail(s, -EBADMSG, "PAGEMAP of space %u offset %llx: no such shm object",
			    m->space, a);
	*psz = img->shms[m->space - 1].s.page_size;
	*npages = (img->shms[m->space - 1].s.size + *psz - 1) / *psz;
	return 0;
}

static int check_bitmap_tail(struct lm_stream *s, const struct lm_pagemap *m,
			     const unsigned char *bits)
{
	if ((m->npages % 8) && (bits[m->npages / 8] >> (m->npages % 8)))
		return fail(s, -EBADMSG, "PAGEMAP of space %u at %llx: bits set past its %llu pages",
			    m->space, (unsigned long long)m->addr,
			    (unsigned long long)m->npages);
	return 0;
}

static int read_map(struct lm_stream *s, struct lm_image *img,
		    struct lm_pagemap_img *p)
{
	__u64 npages = 0, psz = 0, bytes;

	if (s->peek_hdr.len < sizeof(p->m))
		return fail(s, -EBADMSG, "PAGEMAP record too short");
	memcpy(&p->m, s->rec, sizeof(p->m));
	if (space_extent(s, img, &p->m, &npages, &psz))
		return s->err;
	if (p->m.npages != npages || p->m.page_size != psz)
		return fail(s, -EBADMSG, "PAGEMAP of space %u at %llx: %llu pages of %llu bytes, the range has %llu of %llu",
			    p->m.space, (unsigned long long)p->m.addr,
			    (unsigned long long)p->m.npages,
			    (unsigned long long)p->m.page_size,
			    (unsigned long long)npages,
			    (unsigned long long)psz);
	bytes = (npages + 7) / 8;
	if (sizeof(p->m) + bytes != s->peek_hdr.len)
		return fail(s, -EBADMSG, "PAGEMAP of space %u at %llx: bitmap size %llu, expected %llu",
			    p->m.space, (unsigned long long)p->m.addr,
			    (unsigned long long)(s->peek_hdr.len - sizeof(p->m)),
			    (unsigned long long)bytes);
	if (check_bitmap_tail(s, &p->m, s->rec + sizeof(p->m)))
		return s->err;
	p->bitmap = calloc((npages + 63) / 64 + 1, sizeof(unsigned long));
	if (!p->bitmap)
		return fail(s, -ENOMEM, "out of memory for a bitmap");
	memcpy(p->bitmap, s->rec + sizeof(p->m), bytes);
	return 0;
}

static int qmap_cmp(const void *a, const void *b)
{
	const struct lm_pagemap_img *x = a, *y = b;

	return map_cmp(x->m.space, x->m.addr, y->m.space, y->m.addr);
}

static int read_maps(struct lm_stream *s, struct lm_image *img)
{
	unsigned int max = img->proc.nr_vmas + img->proc.nr_shms, i;

	for (;;) {
		if (get_rec(s))
			return s->err;
		if (s->peek_hdr.type != LM_REC_PAGEMAP)
			break;
		if (img->nr_maps >= max)
			return fail(s, -EBADMSG, "more PAGEMAP records than VMAs and shm objects (%u)",
				    max);
		if (!img->maps) {
			img->maps = calloc(max, sizeof(*img->maps));
			if (!img->maps)
				return fail(s, -ENOMEM, "out of memory");
		}
		if (read_map(s, img, &img->maps[img->nr_maps]))
			return s->err;
		img->nr_maps++;
	}
	s->peeked = 1;		/* the record after the metadata */
	if (!img->nr_maps)
		return 0;
	qsort(img->maps, img->nr_maps, sizeof(*img->maps), qmap_cmp);
	for (i = 1; i < img->nr_maps; i++)
		if (!qmap_cmp(&img->maps[i - 1], &img->maps[i]))
			return fail(s, -EBADMSG, "two PAGEMAP records for space %u at %llx",
				    img->maps[i].m.space,
				    (unsigned long long)img->maps[i].m.addr);
	return 0;
}

/* A lazy stream carries only the pages of ranges that are not lazy. */
static int map_is_lazy(const struct lm_image *img, const struct lm_pagemap *m)
{
	const struct lm_vma_img *v;

	if (!(img->hdr.flags & LM_HDR_LAZY))
		return 0;
	if (m->space)	/* a shm object restored lazily as a whole */
		return m->space <= img->proc.nr_shms &&
		       (img->shms[m->space - 1].s.flags & LM_SHM_LAZY);
	v = find_vma(img, m->addr);
	return v && (v->v.flags & LM_VMA_LAZY);
}

static void count_due(struct lm_stream *s, const struct lm_image *img)
{
	unsigned int i;
	__u64 w;

	for (i = 0; i < img->nr_maps; i++) {
		const struct lm_pagemap_img *m = &img->maps[i];

		if (map_is_lazy(img, &m->m))
			continue;
		for (w = 0; w < (m->m.npages + 63) / 64; w++)
			s->pages_due += __builtin_popcountl(m->bitmap[w]);
	}
}

/* At META_END (lazy) or END: every page with data has come, once. */
static int check_complete(struct lm_stream *s, const char *mark)
{
	if (s->pages_got == s->pages_due)
		return 0;
	return fail(s, -EBADMSG,
		    "%s after %llu of the %llu pages with data (image damaged: %s)",
		    mark, (unsigned long long)s->pages_got,
		    (unsigned long long)s->pages_due,
		    s->pages_got < s->pages_due ? "PAGES records are missing" :
		    "pages come twice");
}

int lm_read_meta(struct lm_stream *s, struct lm_image *img)
{
	memset(img, 0, sizeof(*img));
	if (s->state != RS_START)
		return fail(s, -EINVAL, "metadata already read");
	if (read_header(s, img) || read_proc(s, img) || read_threads(s, img))
		goto err;
	if (expect(s, LM_REC_SIGACT))
		goto err;
	if (s->peek_hdr.len != sizeof(img->sigact)) {
		fail(s, -EBADMSG, "SIGACT record has %llu bytes, not %zu",
		     (unsigned long long)s->peek_hdr.len, sizeof(img->sigact));
		goto err;
	}
	memcpy(&img->sigact, s->rec, sizeof(img->sigact));
	if (read_shms(s, img) || read_vmas(s, img) || read_fds(s, img) ||
	    read_maps(s, img))
		goto err;
	s->state = RS_PAGES;
	s->img = img;
	count_due(s, img);
	return 0;
err:
	lm_image_free(img);
	return s->err;
}

static int test_bit64(const unsigned long *map, __u64 i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

/* A PAGES run must lie in one range and every page must be marked. */
static int check_pages(struct lm_stream *s, const struct lm_pages *p)
{
	struct lm_pagemap_img *m;
	unsigned long long a = p->addr;
	__u64 first, i;

	if (!s->img)
		return 0;	/* reader without metadata: no context */
	m = lm_image_pagemap((struct lm_image *)s->img, p->space, p->addr);
	if (!m)
		return fail(s, -EBADMSG, "PAGES at %llx of space %u: no PAGEMAP covers it",
			    a, p->space);
	if (p->page_size != m->m.page_size || (a - m->m.addr) % p->page_size)
		return fail(s, -EBADMSG, "PAGES at %llx of space %u: misaligned or wrong page size",
			    a, p->space);
	first = (a - m->m.addr) / p->page_size;
	if (first + p->npages > m->m.npages || first + p->npages < first)
		return fail(s, -EBADMSG, "PAGES %llx + %llu pages run past the end of its range",
			    a, (unsigned long long)p->npages);
	for (i = first; i < first + p->npages; i++)
		if (!test_bit64(m->bitmap, i))
			return fail(s, -EBADMSG, "PAGES at %llx: page %llu is not marked as having data",
				    a, (unsigned long long)i);
	if (!map_is_lazy(s->img, &m->m))
		s->pages_got += p->npages;
	return 0;
}

static int take_pages(struct lm_stream *s, struct lm_pages *p, void **data)
{
	if (s->peek_hdr.len < sizeof(*p))
		return fail(s, -EBADMSG, "PAGES record too short");
	memcpy(p, s->rec, sizeof(*p));
	if (!p->npages || !good_page_size(p->page_size) ||
	    p->npages > LM_REC_MAX / p->page_size ||
	    sizeof(*p) + p->npages * p->page_size != s->peek_hdr.len)
		return fail(s, -EBADMSG, "PAGES at %llx: %llu pages of %llu bytes do not fit the record",
			    (unsigned long long)p->addr,
			    (unsigned long long)p->npages,
			    (unsigned long long)p->page_size);
	if (check_pages(s, p))
		return s->err;
	*data = s->rec + sizeof(*p);
	return LM_REC_PAGES;
}

int lm_read_next(struct lm_stream *s, struct lm_pages *p, void **data)
{
	__u32 type;

	if (s->state == RS_DONE)
		return LM_REC_END;
	if (s->state == RS_START)
		return fail(s, -EINVAL, "pages read before the metadata");
	if (get_rec(s))
		return s->err;
	type = s->peek_hdr.type;
	if (type == LM_REC_PAGES)
		return take_pages(s, p, data);
	if (type == LM_REC_META_END && s->state == RS_PAGES) {
		if (s->img && (s->img->hdr.flags & LM_HDR_LAZY) &&
		    check_complete(s, "metadata end"))
			return s->err;
		s->state = RS_BULK;
		return type;
	}
	if (type == LM_REC_END && s->state == RS_BULK) {
		if (s->img && !(s->img->hdr.flags & LM_HDR_LAZY) &&
		    check_complete(s, "end"))
			return s->err;
		s->state = RS_DONE;
		return type;
	}
	return fail(s, -EBADMSG, "unexpected %s record after the %s",
		    rec_name(type),
		    s->state == RS_PAGES ? "metadata" : "metadata end");
}

/* ---- process trees ---- */

void lm_tree_free(struct lm_tree_img *t)
{
	if (!t)
		return;
	free(t->members);
	free(t->files);
	memset(t, 0, sizeof(*t));
}

__u64 lm_tree_file_id(const struct lm_tree_img *t, unsigned int member,
		      int fd)
{
	unsigned int i;

	for (i = 0; t && i < t->t.nr_files; i++)
		if (t->files[i].member == member && t->files[i].fd == fd)
			return t->files[i].file_id;
	return 0;
}

int lm_write_tree(struct lm_stream *s, const struct lm_tree_img *t)
{
	struct piece pc[3];

	pc[0] = (struct piece){ &t->t, sizeof(t->t) };
	pc[1] = (struct piece){ t->members,
				t->t.nr_members * sizeof(*t->members) };
	pc[2] = (struct piece){ t->files, t->t.nr_files * sizeof(*t->files) };
	return put_rec(s, LM_REC_TREE, pc, 3);
}

static int check_tree(struct lm_stream *s, const struct lm_tree_img *t)
{
	unsigned int i;

	for (i = 0; i < t->t.nr_members; i++) {
		const struct lm_tree_member *m = &t->members[i];

		if (m->pid <= 0 || (i ? m->parent < 0 || m->parent >= (int)i :
				    m->parent != -1))
			return fail(s, -EBADMSG, "TREE member %u: PID %d, parent %d (parents come first, the root has none)",
				    i, m->pid, m->parent);
	}
	for (i = 0; i < t->t.nr_files; i++)
		if (t->files[i].member >= t->t.nr_members ||
		    t->files[i].fd < 0)
			return fail(s, -EBADMSG, "TREE file %u: member %u, fd %d",
				    i, t->files[i].member, t->files[i].fd);
	return 0;
}

int lm_read_tree(struct lm_stream *s, struct lm_tree_img *t)
{
	size_t ml, fl;

	memset(t, 0, sizeof(*t));
	if (s->state != RS_START)
		return fail(s, -EINVAL, "TREE record read after the metadata");
	if (get_rec(s))
		return s->err;
	if (s->peek_hdr.type != LM_REC_TREE) {
		s->peeked = 1;	/* a single-process image: its HEADER */
		return 0;
	}
	if (s->peek_hdr.len < sizeof(t->t))
		return fail(s, -EBADMSG, "TREE record too short");
	memcpy(&t->t, s->rec, sizeof(t->t));
	if (!t->t.nr_members || t->t.nr_members > LM_MAX_MEMBERS ||
	    t->t.nr_files > LM_MAX_MEMBERS * (__u64)LM_MAX_FDS)
		return fail(s, -EBADMSG, "TREE: %u members (1..%d), %u files",
			    t->t.nr_members, LM_MAX_MEMBERS, t->t.nr_files);
	ml = t->t.nr_members * sizeof(*t->members);
	fl = (size_t)t->t.nr_files * sizeof(*t->files);
	if (sizeof(t->t) + ml + fl != s->peek_hdr.len)
		return fail(s, -EBADMSG, "TREE: counts do not fit the record");
	t->members = malloc(ml);
	t->files = malloc(fl + 1);
	if (!t->members || !t->files) {
		lm_tree_free(t);
		return fail(s, -ENOMEM, "out of memory");
	}
	memcpy(t->members, s->rec + sizeof(t->t), ml);
	memcpy(t->files, s->rec + sizeof(t->t) + ml, fl);
	if (check_tree(s, t)) {
		lm_tree_free(t);
		return s->err;
	}
	return 1;
}

__u64 lm_stream_pos(const struct lm_stream *s)
{
	if (!s->peeked)
		return s->bytes;
	return s->bytes - sizeof(s->peek_hdr) - s->peek_hdr.len - sizeof(__u32);
}

void lm_stream_next_member(struct lm_stream *s)
{
	s->state = RS_START;
	s->img = NULL;
	s->pages_due = s->pages_got = 0;
}

int lm_stream_seek_pages(struct lm_stream *s, __u64 off,
			 const struct lm_image *img)
{
	if (lseek(s->fd, off, SEEK_SET) != (off_t)off)
		return fail(s, -errno, "cannot seek to byte %llu: %s",
			    (unsigned long long)off, strerror(errno));
	s->bytes = off;
	s->peeked = 0;
	lm_stream_member_pages(s, img);
	return 0;
}

void lm_stream_member_pages(struct lm_stream *s, const struct lm_image *img)
{
	s->state = RS_PAGES;
	s->img = img;
	s->pages_due = s->pages_got = 0;
	count_due(s, img);
}

const struct lm_vma_img *lm_image_vma_of(const struct lm_image *img,
					 __u64 addr)
{
	unsigned int lo = 0, hi = img->proc.nr_vmas;

	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;
		const struct lm_vma_img *v = &img->vmas[mid];

		if (addr < v->v.start)
			hi = mid;
		else if (addr >= v->v.end)
			lo = mid + 1;
		else
			return v;
	}
	return NULL;
}

int lm_pages_in_lazy_vma(const struct lm_image *img, const struct lm_pages *p)
{
	const struct lm_vma_img *v;

	if (p->space)
		return 0;
	v = lm_image_vma_of(img, p->addr);
	return v && (v->v.flags & LM_VMA_LAZY) &&
	       p->addr + p->npages * p->page_size <= v->v.end;
}
