// SPDX-License-Identifier: GPL-2.0
/*
 * Seed inputs for the fuzzers, written at build/run time (nothing binary
 * is kept in the repository): well-formed images made with the real
 * writer (lm_write_meta, lm_write_pages, lm_write_mark), and well-formed
 * conversations for the protocol harnesses.
 *
 *	seedgen OUTDIR	-> OUTDIR/{image,dest,source,auth,rx}/NAME
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "fuzz.h"
#include "proto.h"

static const char *outdir;
static uint8_t touch[3];

/* Mirrors net.c's wire structs (hand-made seeds for fuzz_auth). */
#define AUTH_MAGIC	0x55415a4cU
struct seed_hello {
	uint32_t magic, version, mode, status;
	unsigned char nonce[32];
	char msg[160];
};
struct seed_resp {
	uint32_t magic, mode, chan, pad;
	unsigned char nonce[32], session[16], mac[32];
};
struct seed_result {
	uint32_t magic, status;
	unsigned char session[16], mac[32];
	char msg[160];
};

static int open_out(const char *kind, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", outdir, kind);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, kind, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "seedgen: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

static void put(int fd, const void *p, size_t len)
{
	if (write(fd, p, len) != (ssize_t)len) {
		perror("seedgen: write");
		exit(1);
	}
}

/* ---- images ---- */

static char *dup_s(const char *s)
{
	char *r = strdup(s);

	if (!r)
		exit(1);
	return r;
}

static void image_full(struct lm_image *img)
{
	static const struct { uint64_t start, pages; uint32_t kind, flags;
			      int shm; const char *path; } v[] = {
		{ 0x400000, 2, LM_MEM_FILE_PRIVATE, 0, -1, "/bin/true" },
		{ 0x10000000, 8, LM_MEM_ANON_PRIVATE, LM_VMA_LAZY | LM_VMA_HEAP, -1, "[heap]" },
		{ 0x20000000, 2, LM_MEM_MEMFD, 0, 0, "/memfd:seed (deleted)" },
		{ 0x7ffff000, 1, LM_MEM_ANON_PRIVATE, LM_VMA_STACK | LM_VMA_GROWSDOWN, -1, "[stack]" },
	};
	unsigned int i;

	memset(img, 0, sizeof(*img));
	img->hdr.flags = LM_HDR_LAZY;
	snprintf(img->hdr.kernel, sizeof(img->hdr.kernel), "6.1.0-seed");
	snprintf(img->hdr.hostname, sizeof(img->hdr.hostname), "seed");
	img->proc.pid = 100;
	img->proc.ppid = 1;
	img->proc.nr_threads = 2;
	img->proc.nr_vmas = 4;
	img->proc.nr_fds = 5;
	img->proc.nr_shms = 1;
	img->proc.auxv_len = 4;
	img->proc.auxv[0] = 6;		/* AT_PAGESZ */
	img->proc.auxv[1] = 4096;
	snprintf(img->proc.comm, sizeof(img->proc.comm), "seed");
	img->exe = dup_s("/bin/true");
	img->cwd = dup_s("/tmp");
	img->root = dup_s("/");
	img->threads = calloc(2, sizeof(*img->threads));
	img->shms = calloc(1, sizeof(*img->shms));
	img->vmas = calloc(4, sizeof(*img->vmas));
	img->fds = calloc(5, sizeof(*img->fds));
	img->maps = calloc(3, sizeof(*img->maps));
	if (!img->threads || !img->shms || !img->vmas || !img->fds || !img->maps)
		exit(1);
	for (i = 0; i < 2; i++) {
		img->threads[i].t.tid = 100 + i;
		img->threads[i].t.xstate_len = 64;
		img->threads[i].t.regs[16] = 0x400000;	/* rip */
		img->threads[i].xstate = calloc(1, 64);
		snprintf(img->threads[i].t.comm, 16, "seed%u", i);
	}
	img->sigact.act[9].handler = 0x400010;	/* SIGUSR1 */
	img->shms[0].s = (struct lm_shm){ .id = 0, .kind = LM_MEM_MEMFD,
		.size = 3 * LM_PAGE_SIZE, .page_size = LM_PAGE_SIZE };
	img->shms[0].name = dup_s("memfd:seed");
	img->shms[0].fd = -1;
	for (i = 0; i < 4; i++) {
		struct lm_vma *m = &img->vmas[i].v;

		m->start = v[i].start;
		m->end = v[i].start + v[i].pages * LM_PAGE_SIZE;
		m->kind = v[i].kind;
		m->prot = 3;
		m->flags = v[i].flags;
		m->shm_id = v[i].shm;
		m->page_size = LM_PAGE_SIZE;
		img->vmas[i].path = dup_s(v[i].path);
	}
	img->fds[0].f = (struct lm_fd){ .fd = 0, .type = LM_FD_CHR, .shm_id = -1,
					.rdev = 0x103 };
	img->fds[0].path = dup_s("/dev/null");
	img->fds[1].f = (struct lm_fd){ .fd = 1, .type = LM_FD_PIPE, .shm_id = -1,
					.pipe_ino = 77, .data_len = 5 };
	img->fds[1].data = dup_s("hello");
	img->fds[2].f = (struct lm_fd){ .fd = 3, .type = LM_FD_MEMFD, .shm_id = 0,
					.flags = 2 };
	img->fds[2].path = dup_s("/memfd:seed (deleted)");
	img->fds[3].f = (struct lm_fd){ .fd = 4, .type = LM_FD_EVENTFD, .shm_id = -1,
					.eventfd_count = 42 };
	img->fds[4].f = (struct lm_fd){ .fd = 5, .type = LM_FD_REG, .shm_id = -1,
					.pos = 123, .cloexec = 1 };
	img->fds[4].path = dup_s("/tmp/seed-file");
	img->nr_maps = 3;
	fuzz_map(&img->maps[0], 0x400000, 2, ~1ULL);		/* page 0 */
	fuzz_map(&img->maps[1], 0x10000000, 8, 0x5a);		/* 0,2,5,7 */
	fuzz_map(&img->maps[2], 0, 3, 0);			/* shm, all */
	img->maps[2].m.space = 1;
}

static void pages(struct lm_stream *s, __u32 space, __u64 addr, __u64 n)
{
	struct lm_pages p = { .space = space, .addr = addr, .npages = n,
			      .page_size = LM_PAGE_SIZE };
	char *d = malloc(n * LM_PAGE_SIZE);

	if (!d)
		exit(1);
	memset(d, 0x5a + (int)addr, n * LM_PAGE_SIZE);
	lm_write_pages(s, &p, d);
	free(d);
}

static void write_image(const char *name, struct lm_image *img, int full)
{
	struct lm_stream s;
	int fd = open_out("image", name);

	if (lm_stream_open(&s, fd, 1, name) || lm_write_meta(&s, img))
		goto bad;
	/* lazy: the ranges that are not lazy come whole before META_END */
	if (full) {
		pages(&s, 0, 0x400000, 1);
		pages(&s, 1, 0, 3);
		pages(&s, 0, 0x10000000 + 5 * LM_PAGE_SIZE, 1);
	}
	lm_write_mark(&s, LM_REC_META_END);
	if (full) {
		pages(&s, 0, 0x10000000, 1);
		pages(&s, 0, 0x10000000 + 2 * LM_PAGE_SIZE, 1);
	}
	if (lm_write_mark(&s, LM_REC_END))
		goto bad;
	lm_stream_close(&s);
	close(fd);
	return;
bad:
	fprintf(stderr, "seedgen: %s: %s\n", name, s.errmsg);
	exit(1);
}

static void images(void)
{
	struct lm_image img;

	image_full(&img);
	write_image("full", &img, 1);
	lm_image_free(&img);

	/* one thread, nothing else */
	memset(&img, 0, sizeof(img));
	img.proc.pid = 7;
	img.proc.nr_threads = 1;
	img.threads = calloc(1, sizeof(*img.threads));
	if (!img.threads)
		exit(1);
	img.threads[0].t.tid = 7;
	write_image("minimal", &img, 0);
	lm_image_free(&img);
}

/* ---- protocol conversations ---- */

static void msg(int fd, __u32 type, __u32 space, __u64 addr, __u64 npages,
		const void *payload, size_t len)
{
	struct lm_msg m = { .magic = LM_MSG_MAGIC, .type = type,
			    .space = space, .len = len, .addr = addr,
			    .npages = npages };

	put(fd, &m, sizeof(m));
	if (len)
		put(fd, payload, len);
}

static void page_msg(int fd, __u64 addr, __u64 n)
{
	char *d = malloc(n * LM_PAGE_SIZE);

	if (!d)
		exit(1);
	memset(d, 0x33, n * LM_PAGE_SIZE);
	msg(fd, LM_MSG_PAGES, 0, addr, n, d, n * LM_PAGE_SIZE);
	free(d);
}

/* Header with the request channel's length, then both streams. */
static void proto_seed(const char *kind, const char *name, uint8_t flags,
		       void (*req)(int), void (*bulk)(int))
{
	struct fuzz_proto_in in = { .flags = flags,
				    .pad = { touch[0], touch[1], touch[2] } };
	char tmp[] = "/tmp/lm-seedgen.XXXXXX";
	int fd = open_out(kind, name), t = mkstemp(tmp);
	char buf[65536];
	ssize_t n;

	if (t < 0)
		exit(1);
	unlink(tmp);
	if (req)
		req(t);
	in.req_len = lseek(t, 0, SEEK_CUR);
	put(fd, &in, sizeof(in));
	lseek(t, 0, SEEK_SET);
	while ((n = read(t, buf, sizeof(buf))) > 0)
		put(fd, buf, n);
	close(t);
	if (bulk)
		bulk(fd);
	close(fd);
}

static void proto_seed(const char *kind, const char *name, uint8_t flags,
		       void (*req)(int), void (*bulk)(int));

/* The harness's thread faults on pages 0, 3 (no data) and 50 (zero). */
static void proto_seed_touch(const char *kind, const char *name,
			     void (*req)(int), void (*bulk)(int))
{
	touch[0] = 0;
	touch[1] = 3;
	touch[2] = 50;
	proto_seed(kind, name, FUZZ_F_RESUME | FUZZ_F_TOUCH, req, bulk);
	memset(touch, 0, sizeof(touch));
}

static void d_answers(int fd)
{
	page_msg(fd, FUZZ_V0, 1);
	page_msg(fd, FUZZ_V0 + 4 * LM_PAGE_SIZE, 3);
	msg(fd, LM_MSG_BYE, 0, 0, 0, NULL, 0);
}

static void d_push(int fd)
{
	page_msg(fd, FUZZ_V0 + 8 * LM_PAGE_SIZE, 16);
	page_msg(fd, FUZZ_V0, 3);
	msg(fd, LM_MSG_PUSH_END, 0, 0, 0, NULL, 0);
}

static void d_all(int fd)
{
	page_msg(fd, FUZZ_V0, 3);
	page_msg(fd, FUZZ_V0 + 4 * LM_PAGE_SIZE, 3);
	page_msg(fd, FUZZ_V0 + 8 * LM_PAGE_SIZE, 24);
	msg(fd, LM_MSG_PUSH_END, 0, 0, 0, NULL, 0);
}

/* pages 0, 2 and 9 of vma 0 in one SPARSE message */
static void d_sparse(int fd)
{
	unsigned char m[sizeof(long) + 3 * LM_PAGE_SIZE];

	memset(m, 0x44, sizeof(m));
	memset(m, 0, sizeof(long));
	m[0] = 0x05;
	m[1] = 0x02;
	msg(fd, LM_MSG_SPARSE, 0, FUZZ_V0, 10, m, sizeof(m));
	msg(fd, LM_MSG_PUSH_END, 0, 0, 0, NULL, 0);
}

static void d_error(int fd)
{
	msg(fd, LM_MSG_ERROR, 0, 0, 0, "source died", 11);
}

static void d_bye(int fd)
{
	msg(fd, LM_MSG_BYE, 0, 0, 0, NULL, 0);
}

static void s_requests(int fd)
{
	msg(fd, LM_MSG_REQ, 0, FUZZ_V0, 1, NULL, 0);
	msg(fd, LM_MSG_REQ, 0, FUZZ_V0 + 5 * LM_PAGE_SIZE + 12, 1, NULL, 0);
	msg(fd, LM_MSG_DROP, 0, FUZZ_V0 + 10 * LM_PAGE_SIZE, 4, NULL, 0);
	msg(fd, LM_MSG_RESUMED, 0, 0, 0, NULL, 0);
}

static void s_done(int fd)
{
	msg(fd, LM_MSG_RESUMED, 0, 0, 0, NULL, 0);
	msg(fd, LM_MSG_REQ, 0, FUZZ_V0 + 30 * LM_PAGE_SIZE, 1, NULL, 0);
	msg(fd, LM_MSG_DONE, 0, 0, 0, "{\"pages_total\":48}", 18);
}

static void s_error(int fd)
{
	msg(fd, LM_MSG_DROP, 0, FUZZ_V1, FUZZ_V1_PAGES, NULL, 0);
	msg(fd, LM_MSG_ERROR, 0, 0, 0, "restore failed", 14);
}

/* fuzz_rx: buffer size, chunk seed, a conversation */
static void rx_seed(const char *name, uint16_t cap, uint8_t chunks,
		    void (*conv)(int))
{
	int fd = open_out("rx", name);
	uint8_t h[3] = { cap & 0xff, cap >> 8, chunks };

	put(fd, h, sizeof(h));
	conv(fd);
	close(fd);
}

/* The start of a TLS handshake record (ServerHello/ClientHello type 2/1). */
static const unsigned char tls_record[] = {
	0x16, 0x03, 0x03, 0x00, 0x2a, 0x02, 0x00, 0x00, 0x26, 0x03, 0x03,
};

static void auth_seeds(void)
{
	struct fuzz_auth_in in = { 0 };
	struct seed_resp r = { .magic = AUTH_MAGIC, .mode = 1, .chan = 1 };
	struct seed_hello h = { .magic = AUTH_MAGIC, .version = 1 };
	struct seed_result res = { .magic = AUTH_MAGIC };
	int fd;

	fd = open_out("auth", "server-req");
	put(fd, &in, sizeof(in));
	put(fd, &r, sizeof(r));
	close(fd);
	fd = open_out("auth", "server-bulk");
	in.chan = 1;
	r.chan = 2;
	put(fd, &in, sizeof(in));
	put(fd, &r, sizeof(r));
	close(fd);
	fd = open_out("auth", "client-notoken");
	in = (struct fuzz_auth_in){ .side = 1 };
	put(fd, &in, sizeof(in));
	put(fd, &h, sizeof(h));
	put(fd, &res, sizeof(res));
	close(fd);
	fd = open_out("auth", "client-token");
	in.token = 1;
	h.mode = 1;
	put(fd, &in, sizeof(in));
	put(fd, &h, sizeof(h));
	put(fd, &res, sizeof(res));
	close(fd);
	fd = open_out("auth", "client-refused");
	h.status = 1;
	snprintf(h.msg, sizeof(h.msg), "receiver requires --token-file");
	put(fd, &in, sizeof(in));
	put(fd, &h, sizeof(h));
	close(fd);
	/* --tls: a sender without it, a TLS record, a TLS receiver's hello */
	fd = open_out("auth", "server-tls-clear-peer");
	in = (struct fuzz_auth_in){ .chan = 2 };
	r.chan = 1;
	put(fd, &in, sizeof(in));
	put(fd, &r, sizeof(r));
	close(fd);
	fd = open_out("auth", "server-tls-record");
	put(fd, &in, sizeof(in));
	put(fd, tls_record, sizeof(tls_record));
	close(fd);
	fd = open_out("auth", "client-tls");
	in = (struct fuzz_auth_in){ .side = 1, .token = 1, .chan = 2 };
	h.status = 0;
	h.mode = 3;
	put(fd, &in, sizeof(in));
	put(fd, &h, sizeof(h));
	put(fd, tls_record, sizeof(tls_record));
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: seedgen OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	mkdir(outdir, 0755);
	images();
	proto_seed("dest", "answers-push", FUZZ_F_RESUME, d_answers, d_push);
	proto_seed("dest", "all-pages", FUZZ_F_RESUME, NULL, d_all);
	proto_seed("dest", "not-resumed", 0, d_answers, d_push);
	proto_seed("dest", "error", FUZZ_F_RESUME, d_error, NULL);
	proto_seed("dest", "sparse", FUZZ_F_RESUME, NULL, d_sparse);
	proto_seed_touch("dest", "faults", d_answers, d_push);
	proto_seed("dest", "recv-bye", FUZZ_F_RECV, d_bye, NULL);
	proto_seed("source", "requests", 0, s_requests, NULL);
	proto_seed("source", "done", FUZZ_F_LINGER, s_done, NULL);
	proto_seed("source", "error", 0, s_error, NULL);
	auth_seeds();
	rx_seed("answers-small-buffer", 5000, 7, d_answers);
	rx_seed("requests", 64, 200, s_requests);
	rx_seed("push", 8191, 1, d_push);
	return 0;
}
