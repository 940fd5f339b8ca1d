// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile sender against `lazymig receive` on loopback.  Before
 * authentication (garbage, an oversized hello, a peer that hangs up) the
 * receiver refuses the peer, stays up for the real sender and restores
 * nothing.  After authentication, on the request channel: garbage,
 * truncated, oversized, version-mismatched and bit-flipped streams,
 * valid metadata with a damaged or missing page, a lazy stream whose
 * eager pages never come, a missing bulk channel.  Each time the
 * receiver exits 1 within HOSTILE_LIMIT_S naming what is wrong, writes
 * no pidfile and leaves no process (this test is a child subreaper, so
 * a restored process would be left to it).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>
#include "kselftest_harness.h"
#include "hostile.h"
#include "net.h"

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

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* One `lazymig receive` and our two channels to it. */
struct rv {
	char dir[64], log[128], pidfile[128], addr[64];
	pid_t pid;		/* lazymig receive */
	int status;		/* its wait status, once it exited */
	struct lm_auth auth;
	int req, bulk;
};

/* Peers that are no lazymig sender. */
FIXTURE(peer)
{
	struct rv r;
};

/* An authenticated sender with a hostile stream. */
FIXTURE(stream)
{
	struct rv r;
};

/* A hostile stream on the authenticated request channel. */
enum stream {
	S_GARBAGE, S_EMPTY, S_TRUNC_META, S_TRUNC_PAGES, S_OVERSIZED,
	S_HUGE_LEN, S_VERSION, S_FLIP_META, S_FLIP_PAGES, S_FORGED_COUNT,
	S_MISSING_PAGES, S_LAZY_NO_EAGER, S_NOT_SORTED, S_LAZY_GARBAGE,
};

FIXTURE_VARIANT(stream)
{
	enum stream stream;
	const char *says;
};

FIXTURE_VARIANT_ADD(stream, garbage) {
	.stream = S_GARBAGE, .says = "bad record magic",
};
FIXTURE_VARIANT_ADD(stream, nothing) {
	.stream = S_EMPTY, .says = "truncated: stream ends at byte 0",
};
FIXTURE_VARIANT_ADD(stream, truncated_in_metadata) {
	.stream = S_TRUNC_META, .says = "truncated",
};
FIXTURE_VARIANT_ADD(stream, truncated_in_pages) {
	.stream = S_TRUNC_PAGES, .says = "truncated",
};
FIXTURE_VARIANT_ADD(stream, record_over_limit) {
	.stream = S_OVERSIZED, .says = "bytes (limit 67108864)",
};
FIXTURE_VARIANT_ADD(stream, record_2_64) {
	.stream = S_HUGE_LEN, .says = "claims 18446744073709551615 bytes",
};
FIXTURE_VARIANT_ADD(stream, version_mismatch) {
	.stream = S_VERSION, .says = "image version 7, this lazymig reads version 1",
};
FIXTURE_VARIANT_ADD(stream, bit_flip_in_metadata) {
	.stream = S_FLIP_META, .says = "checksum mismatch",
};
FIXTURE_VARIANT_ADD(stream, bit_flip_in_a_page) {
	.stream = S_FLIP_PAGES, .says = "checksum mismatch",
};
FIXTURE_VARIANT_ADD(stream, forged_vma_count) {
	.stream = S_FORGED_COUNT, .says = "VMAs (max 65536)",
};
FIXTURE_VARIANT_ADD(stream, a_page_record_missing) {
	.stream = S_MISSING_PAGES, .says = "PAGES records are missing",
};
FIXTURE_VARIANT_ADD(stream, lazy_without_eager_pages) {
	.stream = S_LAZY_NO_EAGER, .says = "PAGES records are missing",
};
FIXTURE_VARIANT_ADD(stream, garbage_after_resume) {
	.stream = S_LAZY_GARBAGE,
	/* before resume (the restorer faults) or after */
	.says = "daemon failed before the process ran|killed: its memory could not be completed",
};
FIXTURE_VARIANT_ADD(stream, vmas_out_of_order) {
	.stream = S_NOT_SORTED, .says = "overlaps or is out of order",
};

/* A port nobody listens on right now. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (void *)&a, sizeof(a)) &&
	    !getsockname(fd, (void *)&a, &l))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Does the log hold one of the '|'-separated phrases of @what? */
static int log_has(struct rv *self, const char *what)
{
	char w[256], *p, *save = NULL;
	unsigned char *buf;
	size_t len;
	int r = 0;

	if (hostile_read_file(self->log, &buf, &len))
		return 0;
	buf[len ? len - 1 : 0] = 0;
	snprintf(w, sizeof(w), "%s", what);
	for (p = strtok_r(w, "|", &save); p && len && !r;
	     p = strtok_r(NULL, "|", &save))
		r = !!strstr((char *)buf, p);
	free(buf);
	return r;
}

static void print_log(struct __test_metadata *_metadata,
		      struct rv *self)
{
	unsigned char *buf;
	size_t len;

	if (hostile_read_file(self->log, &buf, &len))
		return;
	TH_LOG("receive said:\n%.*s", (int)len, (char *)buf);
	free(buf);
}

static void rv_start(struct __test_metadata *_metadata, struct rv *self)
{
	int i, port = free_port(), fd;

	self->pid = -1;
	self->req = self->bulk = -1;
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	if (!base.buf)
		SKIP(return, "no base image: %s", base.err);
	ASSERT_LT(0, port);
	snprintf(self->dir, sizeof(self->dir), "/tmp/lm-hostile-r.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->log, sizeof(self->log), "%s/receive.log", self->dir);
	snprintf(self->pidfile, sizeof(self->pidfile), "%s/pid", self->dir);
	snprintf(self->addr, sizeof(self->addr), "127.0.0.1:%d", port);
	self->auth.prefix = "hostile";
	fd = open(self->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	self->pid = fork();
	ASSERT_LE(0, self->pid);
	if (!self->pid) {
		dup2(fd, 1);
		dup2(fd, 2);
		execl(base.tool, "lazymig", "receive", "--listen", self->addr,
		      "--pidfile", self->pidfile, "--stdio", "null", NULL);
		_exit(127);
	}
	close(fd);
	for (i = 0; i < 500 && !log_has(self, "listening on"); i++)
		msleep(10);
	ASSERT_TRUE(log_has(self, "listening on")) print_log(_metadata, self);
}

static void rv_stop(struct rv *self)
{
	char left[512];

	if (self->req >= 0)
		close(self->req);
	if (self->bulk >= 0)
		close(self->bulk);
	if (self->pid > 0) {
		kill(self->pid, SIGKILL);
		waitpid(self->pid, NULL, 0);
	}
	hostile_leftovers(left, sizeof(left));
	unlink(self->log);
	unlink(self->pidfile);
	rmdir(self->dir);
}

FIXTURE_SETUP(peer)
{
	rv_start(_metadata, &self->r);
}

FIXTURE_TEARDOWN(peer)
{
	rv_stop(&self->r);
}

FIXTURE_SETUP(stream)
{
	rv_start(_metadata, &self->r);
}

FIXTURE_TEARDOWN(stream)
{
	rv_stop(&self->r);
}

/* receive has exited within @ms: 1 (status in self->status), else 0. */
static int exited(struct rv *self, int ms)
{
	int i;

	for (i = 0; i <= ms / 10; i++) {
		if (waitpid(self->pid, &self->status, WNOHANG) == self->pid) {
			self->pid = -1;
			return 1;
		}
		msleep(10);
	}
	return 0;
}

/* The receiver exited 1 naming @says, and left nothing behind. */
static void refused(struct __test_metadata *_metadata,
		    struct rv *self, const char *says)
{
	char left[512];

	ASSERT_TRUE(exited(self, HOSTILE_LIMIT_S * 1000)) {
		TH_LOG("receive still runs after %d s", HOSTILE_LIMIT_S);
		print_log(_metadata, self);
	}
	EXPECT_TRUE(WIFEXITED(self->status) && WEXITSTATUS(self->status) == 1) {
		TH_LOG("receive: wait status %#x", self->status);
		print_log(_metadata, self);
	}
	EXPECT_TRUE(log_has(self, says)) {
		TH_LOG("no '%s' in the log", says);
		print_log(_metadata, self);
	}
	EXPECT_NE(0, access(self->pidfile, F_OK)) TH_LOG("pidfile written");
	EXPECT_EQ(0, hostile_leftovers(left, sizeof(left)))
		TH_LOG("processes left behind (killed): %s", left);
}

/* Connect and authenticate both channels as a real sender would. */
static int authenticate(struct rv *self)
{
	int err = lm_net_connect(self->addr, &self->req);

	if (!err)
		err = lm_auth_client(self->req, &self->auth, LM_CHAN_REQ);
	if (!err)
		err = lm_net_connect(self->addr, &self->bulk);
	if (!err)
		err = lm_auth_client(self->bulk, &self->auth, LM_CHAN_BULK);
	return err;
}

/* Send @len bytes on the request channel, then hang up on both. */
static void send_and_close(struct rv *self, const void *buf,
			   size_t len)
{
	lm_write_full(self->req, buf, len);
	shutdown(self->req, SHUT_WR);
	/* the receiver must not need the bulk channel to see the end */
}

/* Every direct child of the receiver (a process it is restoring). */
static int receiver_children(pid_t pid)
{
	char path[64], buf[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0;
}

/*
 * Not lazymig on the other end: the receiver drops each such peer with
 * a reason, restores nothing and keeps waiting for the real sender.
 */
TEST_F_TIMEOUT(peer, garbage_instead_of_authentication, 120)
{
	struct rv *r = &self->r;
	static unsigned char junk[1 << 20];
	char hello[512];
	size_t i;
	int fd;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 2654435761U >> 13);
	/* 1: garbage where the response goes */
	ASSERT_EQ(0, lm_net_connect(r->addr, &fd));
	EXPECT_LT(0, read(fd, hello, sizeof(hello)));
	lm_write_full(fd, junk, 4096);
	close(fd);
	/* 2: a megabyte of it, without reading the hello */
	ASSERT_EQ(0, lm_net_connect(r->addr, &fd));
	lm_write_full(fd, junk, sizeof(junk));
	close(fd);
	/* 3: half a response, then hang up */
	ASSERT_EQ(0, lm_net_connect(r->addr, &fd));
	EXPECT_LT(0, read(fd, hello, sizeof(hello)));
	lm_write_full(fd, junk, 40);
	close(fd);
	/* 4: connect and hang up at once */
	ASSERT_EQ(0, lm_net_connect(r->addr, &fd));
	close(fd);
	/* 5: a bulk channel with a session nobody was given */
	ASSERT_EQ(0, lm_net_connect(r->addr, &fd));
	memset(r->auth.session, 0x5a, sizeof(r->auth.session));
	EXPECT_NE(0, lm_auth_client(fd, &r->auth, LM_CHAN_BULK));
	close(fd);
	for (i = 0; i < 300 && !log_has(r, "speaks no lazymig protocol"); i++)
		msleep(10);
	msleep(300);
	EXPECT_TRUE(log_has(r, "speaks no lazymig protocol"))
		print_log(_metadata, r);
	EXPECT_FALSE(exited(r, 0)) {
		TH_LOG("receive gave up instead of waiting for the real sender");
		print_log(_metadata, r);
	}
	EXPECT_FALSE(receiver_children(r->pid));
	EXPECT_NE(0, access(r->pidfile, F_OK));
	/* still serving: a real sender gets through */
	ASSERT_EQ(0, authenticate(r)) print_log(_metadata, r);
	send_and_close(r, junk, 100);
	refused(_metadata, r, "bad record magic");
}

/* Is source address @a in an anonymous private VMA of the base image? */
static int in_anon_vma(__u64 a)
{
	int i;

	for (i = 0; i < base.nr; i++) {
		struct lm_vma v;

		if (base.rec[i].type != LM_REC_VMA)
			continue;
		memcpy(&v, base.buf + base.rec[i].off +
		       sizeof(struct lm_rec_hdr), sizeof(v));
		if (a >= v.start && a < v.end)
			return v.kind == LM_MEM_ANON_PRIVATE &&
			       v.page_size == LM_PAGE_SIZE;
	}
	return 0;
}

/*
 * The base image as `send` would stream a lazy migration: the anonymous
 * private VMAs lazy, the pages of the others before META_END, then, where
 * fault answers and BYE belong, garbage.  The process resumes first.
 */
static unsigned char *lazy_then_garbage(size_t *len)
{
	size_t hdr = sizeof(struct lm_rec_hdr), o = 0, i;
	unsigned char *c = malloc(base.len + 4096);
	int r;

	if (!c)
		return NULL;
	for (r = 0; r < base.nr; r++) {
		const struct hostile_rec *x = &base.rec[r];
		size_t n = hdr + x->len + 4;
		struct lm_pages p;

		if (x->type == LM_REC_END || x->type == LM_REC_META_END)
			continue;
		if (x->type == LM_REC_PAGES) {
			memcpy(&p, base.buf + x->off + hdr, sizeof(p));
			if (!p.space && in_anon_vma(p.addr))
				continue;	/* lazy: comes on demand */
		}
		memcpy(c + o, base.buf + x->off, n);
		if (x->type == LM_REC_HEADER) {
			__u32 f = LM_HDR_LAZY;

			memcpy(c + o + hdr + offsetof(struct lm_header, flags),
			       &f, sizeof(f));
			hostile_fix_crc(c, o);
		}
		if (x->type == LM_REC_VMA) {
			struct lm_vma v;

			memcpy(&v, c + o + hdr, sizeof(v));
			if (v.kind == LM_MEM_ANON_PRIVATE &&
			    v.page_size == LM_PAGE_SIZE) {
				v.flags |= LM_VMA_LAZY;
				memcpy(c + o + hdr, &v, sizeof(v));
				hostile_fix_crc(c, o);
			}
		}
		o += n;
	}
	/* the pages that are not lazy are in: META_END, then no lm_msg */
	r = hostile_find(LM_REC_META_END, 0);
	if (r < 0) {
		free(c);
		return NULL;
	}
	memcpy(c + o, base.buf + base.rec[r].off, hdr + 4);
	o += hdr + 4;
	for (i = 0; i < 4096; i++)
		c[o + i] = (unsigned char)(i * 2654435761U >> 9);
	*len = o + 4096;
	return c;
}

/* The base image, damaged as @st says; *len set. */
static unsigned char *make_stream(enum stream st, size_t *len)
{
	unsigned char *c = hostile_copy();
	int h = hostile_find(LM_REC_HEADER, 0), p = hostile_find(LM_REC_PROC, 0);
	int v0 = hostile_find(LM_REC_VMA, 0), v1 = hostile_find(LM_REC_VMA, 1);
	int pg = hostile_find(LM_REC_PAGES, 1);
	size_t hdr = sizeof(struct lm_rec_hdr), i;
	__u64 x;
	__u32 u;

	if (!c || h < 0 || p < 0 || v1 < 0 || pg < 0)
		return NULL;
	if (st == S_LAZY_GARBAGE) {
		free(c);
		return lazy_then_garbage(len);
	}
	*len = base.len;
	switch (st) {
	case S_GARBAGE:
		for (i = 0; i < 8192 && i < base.len; i++)
			c[i] = (unsigned char)(i * 2654435761U >> 11);
		*len = i;
		break;
	case S_EMPTY:
		*len = 0;
		break;
	case S_TRUNC_META:
		*len = base.rec[v1].off + hdr + 5;
		break;
	case S_TRUNC_PAGES:
		*len = base.rec[pg].off + hdr + base.rec[pg].len / 2;
		break;
	case S_OVERSIZED:
		x = LM_REC_MAX + 4096;
		memcpy(c + base.rec[p].off + offsetof(struct lm_rec_hdr, len),
		       &x, sizeof(x));
		break;
	case S_HUGE_LEN:
		x = ~0ULL;
		memcpy(c + base.rec[p].off + offsetof(struct lm_rec_hdr, len),
		       &x, sizeof(x));
		break;
	case S_VERSION:
		u = 7;
		memcpy(c + base.rec[h].off + hdr, &u, sizeof(u));
		hostile_fix_crc(c, base.rec[h].off);
		break;
	case S_FLIP_META:
		c[base.rec[v0].off + hdr + 3] ^= 0x08;
		break;
	case S_FLIP_PAGES:
		c[base.rec[pg].off + hdr + base.rec[pg].len - 7] ^= 0x80;
		break;
	case S_FORGED_COUNT:
		u = 1U << 20;
		memcpy(c + base.rec[p].off + hdr + offsetof(struct lm_proc, nr_vmas),
		       &u, sizeof(u));
		hostile_fix_crc(c, base.rec[p].off);
		break;
	case S_MISSING_PAGES: {
		size_t o = base.rec[pg].off, n = hdr + base.rec[pg].len + 4;

		memmove(c + o, c + o + n, base.len - o - n);
		*len = base.len - n;
		break;
	}
	case S_LAZY_NO_EAGER:
		/*
		 * Lazy, yet no page before META_END: its VMAs are not lazy,
		 * so all their pages had to come before resume.
		 */
		u = LM_HDR_LAZY;
		memcpy(c + base.rec[h].off + hdr +
		       offsetof(struct lm_header, flags), &u, sizeof(u));
		hostile_fix_crc(c, base.rec[h].off);
		break;
	case S_LAZY_GARBAGE:
		break;
	case S_NOT_SORTED: {
		/* the first two VMA records swapped */
		size_t a = base.rec[v0].off, n0 = hdr + base.rec[v0].len + 4;
		size_t n1 = hdr + base.rec[v1].len + 4;
		unsigned char *t = malloc(n0 + n1);

		if (!t || base.rec[v1].off != a + n0)
			return NULL;
		memcpy(t, c + a + n0, n1);
		memcpy(t + n1, c + a, n0);
		memcpy(c + a, t, n0 + n1);
		free(t);
		break;
	}
	}
	return c;
}

TEST_F_TIMEOUT(stream, hostile_stream_after_authentication, 120)
{
	struct rv *r = &self->r;
	unsigned char *s;
	size_t len = 0;

	s = make_stream(variant->stream, &len);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, authenticate(r)) print_log(_metadata, r);
	send_and_close(r, s, len);
	free(s);
	refused(_metadata, r, variant->says);
}

/* Authenticated, then no bulk channel: a bounded wait, then refusal. */
TEST_F_TIMEOUT(peer, no_bulk_channel, 60)
{
	struct rv *r = &self->r;

	ASSERT_EQ(0, lm_net_connect(r->addr, &r->req));
	ASSERT_EQ(0, lm_auth_client(r->req, &r->auth, LM_CHAN_REQ));
	refused(_metadata, r, "did not open its bulk channel in time");
}

TEST_HARNESS_MAIN
