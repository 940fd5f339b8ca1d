// SPDX-License-Identifier: GPL-2.0
/*
 * patches/: the userfaultfd trace events fire with the right fields.
 *
 * In a private tracefs instance with events/userfaultfd enabled: a
 * missing read fault served by UFFDIO_COPY, a write fault served by
 * UFFDIO_ZEROPAGE, a UFFDIO_COPY onto a present page (EEXIST) and
 * MADV_DONTNEED on a registered page (REMOVE event) must leave
 * userfaultfd_fault, userfaultfd_resolve, userfaultfd_fault_resolved and
 * userfaultfd_event lines with the addresses, ranges, results and reasons
 * of what was done, in causal order and all with the same ctx.  Skips on
 * kernels without events/userfaultfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "kselftest_harness.h"
#include "lmtest.h"

#define NPAGES	4
#define SEED	11

static const char *const tracefs_dirs[] = {
	"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
};

static const char *tracefs(void)
{
	char path[128];
	size_t i;

	for (i = 0; i < sizeof(tracefs_dirs) / sizeof(tracefs_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/instances", tracefs_dirs[i]);
		if (access(path, F_OK) == 0)
			return tracefs_dirs[i];
	}
	return NULL;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* The whole file, NUL-terminated; NULL on error. */
static char *read_file(const char *path)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += n;
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	buf[len] = 0;
	return buf;
}

struct server {
	int uffd;
	char *base;
	char *src;
	int faults;
	int removes;
	unsigned long remove_start, remove_end;
	int stop;
};

/* Serve page 0 by COPY, page 1 by ZEROPAGE; record REMOVE events. */
static void *serve(void *arg)
{
	struct server *s = arg;
	struct pollfd pfd = { .fd = s->uffd, .events = POLLIN };

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		struct uffd_msg msg;
		unsigned long page;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(s->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event == UFFD_EVENT_REMOVE) {
			s->remove_start = msg.arg.remove.start;
			s->remove_end = msg.arg.remove.end;
			__atomic_add_fetch(&s->removes, 1, __ATOMIC_RELEASE);
			continue;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		page = msg.arg.pagefault.address & ~(LM_PAGE - 1);
		if (page == (unsigned long)s->base) {
			struct uffdio_copy c = {
				.dst = page, .src = (unsigned long)s->src,
				.len = LM_PAGE,
			};

			ioctl(s->uffd, UFFDIO_COPY, &c);
		} else {
			struct uffdio_zeropage z = {
				.range = { page, LM_PAGE },
			};

			ioctl(s->uffd, UFFDIO_ZEROPAGE, &z);
		}
		s->faults++;
	}
	return NULL;
}

FIXTURE(trace) {
	char inst[160];
	int uffd;
	char *base;
	char *src;
};

FIXTURE_SETUP(trace)
{
	const char *t = tracefs();
	char path[256];
	int fd;

	self->uffd = -1;
	self->base = self->src = MAP_FAILED;
	self->inst[0] = 0;
	if (!t)
		SKIP(return, "no tracefs mounted (tried /sys/kernel/tracing and /sys/kernel/debug/tracing)");
	snprintf(path, sizeof(path), "%s/events/userfaultfd", t);
	if (access(path, F_OK))
		SKIP(return, "%s missing: kernel without lazymig's userfaultfd trace events", path);
	fd = lm_uffd_api(UFFD_FEATURE_EVENT_REMOVE, NULL);
	if (fd < 0)
		SKIP(return, "userfaultfd unavailable (%s)", strerror(-fd));
	self->uffd = fd;

	/* a private instance: its own buffer, nobody else's events */
	snprintf(self->inst, sizeof(self->inst), "%s/instances/lm-trace-%d",
		 t, getpid());
	ASSERT_EQ(0, mkdir(self->inst, 0700));
	snprintf(path, sizeof(path), "%s/events/userfaultfd/enable", self->inst);
	ASSERT_EQ(0, write_file(path, "1"));
	snprintf(path, sizeof(path), "%s/tracing_on", self->inst);
	ASSERT_EQ(0, write_file(path, "1"));

	self->base = mmap(NULL, NPAGES * LM_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->base);
	self->src = mmap(NULL, LM_PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->src);
	lm_fill(self->src, LM_PAGE, SEED);
}

FIXTURE_TEARDOWN(trace)
{
	char path[256];

	if (self->inst[0]) {
		snprintf(path, sizeof(path), "%s/events/userfaultfd/enable",
			 self->inst);
		write_file(path, "0");
		rmdir(self->inst);
	}
	if (self->base != MAP_FAILED)
		munmap(self->base, NPAGES * LM_PAGE);
	if (self->src != MAP_FAILED)
		munmap(self->src, LM_PAGE);
	if (self->uffd >= 0)
		close(self->uffd);
}

/*
 * The first line at or after @from with event @ev whose text contains
 * @what (may be NULL); returns a pointer to the text after "@ev: ".
 */
static const char *find_line(const char *from, const char *ev,
			     const char *what)
{
	char key[64];
	const char *p = from;

	snprintf(key, sizeof(key), " %s: ", ev);
	while ((p = strstr(p, key))) {
		const char *eol = strchr(p, '\n');
		const char *hit = what ? strstr(p, what) : p;

		if (hit && (!eol || hit < eol))
			return p + strlen(key);
		p += strlen(key);
	}
	return NULL;
}

/* The ctx= value of a line, as text (hashed pointer). */
static void line_ctx(const char *line, char *out, size_t len)
{
	const char *p = strstr(line, "ctx=");
	size_t n = 0;

	out[0] = 0;
	if (!p)
		return;
	p += 4;
	while (p[n] && p[n] != ' ' && p[n] != '\n' && n + 1 < len)
		n++;
	memcpy(out, p, n);
	out[n] = 0;
}

TEST_F(trace, fault_resolve_event)
{
	struct uffdio_register reg = {
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct server s = { .uffd = self->uffd };
	const char *fault0, *copy0, *done0, *fault1, *zero1, *eexist, *rm;
	unsigned long b = (unsigned long)self->base;
	char want[160], ctx[64], other[64], path[256];
	struct uffdio_copy c;
	pthread_t th;
	char *text;
	unsigned int flags;
	int i;

	if (_metadata->skip)
		return;	/* SKIP() in the setup still runs the body */
	s.base = self->base;
	s.src = self->src;
	reg.range.start = b;
	reg.range.len = NPAGES * LM_PAGE;
	ASSERT_EQ(0, ioctl(self->uffd, UFFDIO_REGISTER, &reg));
	ASSERT_EQ(0, pthread_create(&th, NULL, serve, &s));

	/* read fault on page 0 at offset 123: served by COPY */
	EXPECT_EQ(lm_pat(SEED, 123), ((volatile unsigned char *)self->base)[123]);
	/* write fault on page 1: served by ZEROPAGE, then retried as write */
	self->base[LM_PAGE + 5] = 1;
	/* COPY onto the present page 0 fails with EEXIST */
	c = (struct uffdio_copy){ .dst = b, .src = (unsigned long)self->src,
				  .len = LM_PAGE };
	EXPECT_EQ(-1, ioctl(self->uffd, UFFDIO_COPY, &c));
	EXPECT_EQ(EEXIST, errno);
	/* MADV_DONTNEED on pages 2-3 raises REMOVE */
	EXPECT_EQ(0, madvise(self->base + 2 * LM_PAGE, 2 * LM_PAGE,
			     MADV_DONTNEED));
	for (i = 0; i < 100 && !__atomic_load_n(&s.removes, __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	ASSERT_EQ(1, s.removes);
	EXPECT_EQ(b + 2 * LM_PAGE, s.remove_start);
	EXPECT_EQ(b + 4 * LM_PAGE, s.remove_end);

	snprintf(path, sizeof(path), "%s/trace", self->inst);
	text = read_file(path);
	ASSERT_NE(NULL, text);

	snprintf(want, sizeof(want), "address=0x%lx ", b + 123);
	fault0 = find_line(text, "userfaultfd_fault", want);
	ASSERT_NE(NULL, fault0) TH_LOG("no userfaultfd_fault with %s in:\n%s", want, text);
	EXPECT_NE(NULL, strstr(fault0, "reason=MISSING"));
	ASSERT_EQ(1, sscanf(strstr(fault0, "flags="), "flags=0x%x", &flags));
	EXPECT_EQ(0, flags & 1) TH_LOG("read fault has FAULT_FLAG_WRITE");

	snprintf(want, sizeof(want), "op=COPY start=0x%lx len=0x1000 mode=0x0 ret=4096", b);
	copy0 = find_line(fault0, "userfaultfd_resolve", want);
	ASSERT_NE(NULL, copy0) TH_LOG("no resolve '%s' after the fault in:\n%s", want, text);

	snprintf(want, sizeof(want), "address=0x%lx reason=MISSING woken=1", b + 123);
	done0 = find_line(copy0, "userfaultfd_fault_resolved", want);
	EXPECT_NE(NULL, done0) TH_LOG("no fault_resolved '%s' after the copy in:\n%s", want, text);

	snprintf(want, sizeof(want), "address=0x%lx ", b + LM_PAGE + 5);
	fault1 = find_line(text, "userfaultfd_fault", want);
	ASSERT_NE(NULL, fault1) TH_LOG("no write fault at %s in:\n%s", want, text);
	ASSERT_EQ(1, sscanf(strstr(fault1, "flags="), "flags=0x%x", &flags));
	EXPECT_EQ(1, flags & 1) TH_LOG("write fault lacks FAULT_FLAG_WRITE");
	snprintf(want, sizeof(want), "op=ZEROPAGE start=0x%lx len=0x1000 mode=0x0 ret=4096",
		 b + LM_PAGE);
	zero1 = find_line(fault1, "userfaultfd_resolve", want);
	EXPECT_NE(NULL, zero1) TH_LOG("no resolve '%s' in:\n%s", want, text);

	snprintf(want, sizeof(want), "op=COPY start=0x%lx len=0x1000 mode=0x0 ret=%d",
		 b, -EEXIST);
	eexist = find_line(text, "userfaultfd_resolve", want);
	EXPECT_NE(NULL, eexist) TH_LOG("no resolve '%s' in:\n%s", want, text);

	snprintf(want, sizeof(want), "event=REMOVE arg1=0x%lx arg2=0x%lx arg3=0x0",
		 b + 2 * LM_PAGE, b + 4 * LM_PAGE);
	rm = find_line(text, "userfaultfd_event", want);
	EXPECT_NE(NULL, rm) TH_LOG("no event '%s' in:\n%s", want, text);

	/* one userfaultfd: the same ctx everywhere */
	line_ctx(fault0, ctx, sizeof(ctx));
	EXPECT_NE(0, ctx[0]);
	if (copy0) {
		line_ctx(copy0, other, sizeof(other));
		EXPECT_STREQ(ctx, other);
	}
	if (rm) {
		line_ctx(rm, other, sizeof(other));
		EXPECT_STREQ(ctx, other);
	}
	free(text);
}

/* The format files name the fields tools rely on. */
TEST_F(trace, formats)
{
	static const struct {
		const char *event;
		const char *fields[5];
	} want[] = {
		{ "userfaultfd_fault", { "ctx", "address", "flags", "reason" } },
		{ "userfaultfd_fault_resolved", { "ctx", "address", "reason", "woken" } },
		{ "userfaultfd_event", { "ctx", "event", "arg1", "arg2", "arg3" } },
		{ "userfaultfd_resolve", { "ctx", "op", "start", "len", "ret" } },
	};
	char path[256], field[64];
	size_t i, j;

	if (_metadata->skip)
		return;	/* SKIP() in the setup still runs the body */
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char *fmt;

		snprintf(path, sizeof(path), "%s/events/userfaultfd/%s/format",
			 self->inst, want[i].event);
		fmt = read_file(path);
		ASSERT_NE(NULL, fmt) TH_LOG("cannot read %s", path);
		for (j = 0; j < 5 && want[i].fields[j]; j++) {
			snprintf(field, sizeof(field), " %s;", want[i].fields[j]);
			EXPECT_NE(NULL, strstr(fmt, field))
				TH_LOG("%s: no field %s", want[i].event, want[i].fields[j]);
		}
		free(fmt);
	}
}

TEST_HARNESS_MAIN
