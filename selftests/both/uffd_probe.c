// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel features lazymig relies on, probed the way the daemon does:
 * UFFDIO_API feature bits, then a real missing-fault round trip on each
 * memory kind the kernel offers, data checked byte for byte.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lmtest.h"

#define NPAGES 64

static const struct {
	uint64_t bit;
	const char *name;
} needed[] = {
	{ UFFD_FEATURE_EVENT_FORK, "EVENT_FORK" },
	{ UFFD_FEATURE_EVENT_REMAP, "EVENT_REMAP" },
	{ UFFD_FEATURE_EVENT_REMOVE, "EVENT_REMOVE" },
	{ UFFD_FEATURE_EVENT_UNMAP, "EVENT_UNMAP" },
	{ UFFD_FEATURE_MISSING_SHMEM, "MISSING_SHMEM" },
	{ UFFD_FEATURE_MISSING_HUGETLBFS, "MISSING_HUGETLBFS" },
	{ UFFD_FEATURE_THREAD_ID, "THREAD_ID" },
};

TEST(api_features)
{
	uint64_t have = 0;
	size_t i;
	int fd = lm_uffd_api(0, &have);

	if (fd == -EPERM || fd == -ENOSYS)
		SKIP(return, "userfaultfd unavailable here (%s)", strerror(-fd));
	ASSERT_GE(fd, 0);
	TH_LOG("UFFDIO_API features: 0x%llx%s", (unsigned long long)have,
	       have & UFFD_FEATURE_MOVE ? " (has MOVE)" : "");
	for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		EXPECT_TRUE(have & needed[i].bit)
			TH_LOG("kernel lacks UFFD_FEATURE_%s", needed[i].name);
	}
	if (have & UFFD_FEATURE_EVENT_SHMEM_REMOVE)
		TH_LOG("patched kernel: shmem punch/truncate raise REMOVE");
	close(fd);
}

struct server {
	int uffd;
	char *src;		/* what the faulting pages must read */
	char *base;
	int served;
	int zero_after;		/* pages at index >= this get ZEROPAGE */
};

static void *serve(void *arg)
{
	struct server *s = arg;
	struct pollfd pfd = { .fd = s->uffd, .events = POLLIN };

	while (s->served < NPAGES) {
		struct uffd_msg msg;
		unsigned long off;

		if (poll(&pfd, 1, 5000) <= 0)
			break;
		if (read(s->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		off = (msg.arg.pagefault.address - (unsigned long)s->base) &
		      ~(LM_PAGE - 1);
		if (off / LM_PAGE >= (unsigned long)s->zero_after) {
			struct uffdio_zeropage z = {
				.range = { (unsigned long)s->base + off, LM_PAGE },
			};

			if (ioctl(s->uffd, UFFDIO_ZEROPAGE, &z) && errno != EEXIST)
				break;
		} else {
			struct uffdio_copy c = {
				.dst = (unsigned long)s->base + off,
				.src = (unsigned long)s->src + off,
				.len = LM_PAGE,
			};

			if (ioctl(s->uffd, UFFDIO_COPY, &c) && errno != EEXIST)
				break;
		}
		s->served++;
	}
	return NULL;
}

FIXTURE(roundtrip) {
	int uffd;
	char *base;
	size_t len;
};

FIXTURE_VARIANT(roundtrip) {
	const char *kind;
	int shared;
	int memfd;
	uint64_t feature;
};

FIXTURE_VARIANT_ADD(roundtrip, private_anon) {
	.kind = "private anon", .shared = 0, .memfd = 0, .feature = 0,
};

FIXTURE_VARIANT_ADD(roundtrip, shared_anon) {
	.kind = "shared anon", .shared = 1, .memfd = 0,
	.feature = UFFD_FEATURE_MISSING_SHMEM,
};

FIXTURE_VARIANT_ADD(roundtrip, memfd) {
	.kind = "memfd", .shared = 1, .memfd = 1,
	.feature = UFFD_FEATURE_MISSING_SHMEM,
};

FIXTURE_SETUP(roundtrip)
{
	int flags = MAP_ANONYMOUS | (variant->shared ? MAP_SHARED : MAP_PRIVATE);
	int fd = -1;

	self->len = NPAGES * LM_PAGE;
	self->base = NULL;
	self->uffd = lm_uffd_api(variant->feature, NULL);
	if (self->uffd == -EPERM || self->uffd == -ENOSYS || self->uffd == -EINVAL)
		SKIP(return, "%s: userfaultfd or its feature missing (%s)",
		     variant->kind, strerror(-self->uffd));
	ASSERT_GE(self->uffd, 0);
	if (variant->memfd) {
		fd = memfd_create("uffd_probe", MFD_CLOEXEC);
		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, ftruncate(fd, self->len));
		flags = MAP_SHARED;
	}
	self->base = mmap(NULL, self->len, PROT_READ | PROT_WRITE, flags, fd, 0);
	ASSERT_NE(MAP_FAILED, self->base);
	if (fd >= 0)
		close(fd);
}

FIXTURE_TEARDOWN(roundtrip)
{
	if (self->base && self->base != MAP_FAILED)
		munmap(self->base, self->len);
	if (self->uffd >= 0)
		close(self->uffd);
}

TEST_F(roundtrip, missing_faults)
{
	struct uffdio_register reg = {
		.range = { (unsigned long)self->base, self->len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct server s = {
		.uffd = self->uffd, .base = self->base, .zero_after = NPAGES / 2,
	};
	pthread_t th;
	long bad;
	int i;

	/* The 6.1 harness runs the body even after a SKIP in the setup. */
	if (self->uffd < 0)
		SKIP(return, "%s: no userfaultfd for this kind", variant->kind);
	/*
	 * Register before mapping and filling the source: with THP a fill
	 * of a neighbouring anon mapping that merged with ours could
	 * populate our range with a huge page that never faults.
	 */
	ASSERT_EQ(0, ioctl(self->uffd, UFFDIO_REGISTER, &reg));
	s.src = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, s.src);
	lm_fill(s.src, self->len, 42);
	ASSERT_TRUE(reg.ioctls & (1ULL << _UFFDIO_COPY));
	ASSERT_EQ(0, pthread_create(&th, NULL, serve, &s));
	/* Touch pages in a scattered order, each once. */
	for (i = 0; i < NPAGES; i++) {
		volatile char *p = self->base + ((i * 37) % NPAGES) * LM_PAGE;

		(void)*p;
	}
	pthread_join(th, NULL);
	EXPECT_EQ(NPAGES, s.served);
	bad = lm_check(self->base, self->len / 2, 42);
	EXPECT_EQ(-1, bad) TH_LOG("%s: copied data wrong at %ld", variant->kind, bad);
	bad = lm_check_zero(self->base + self->len / 2, self->len / 2);
	EXPECT_EQ(-1, bad) TH_LOG("%s: zero page not zero at %ld", variant->kind, bad);
	munmap(s.src, self->len);
}

struct fork_reader {
	int uffd;
	struct uffd_msg msg;
	int got;
};

/* The forking thread sleeps until the FORK event is read: read it here. */
static void *read_fork(void *arg)
{
	struct fork_reader *r = arg;
	struct pollfd pfd = { .fd = r->uffd, .events = POLLIN };

	if (poll(&pfd, 1, 5000) == 1 &&
	    read(r->uffd, &r->msg, sizeof(r->msg)) == sizeof(r->msg))
		r->got = 1;
	return NULL;
}

/* A forked child of a registered mm raises EVENT_FORK with a new uffd. */
TEST(fork_event)
{
	struct fork_reader r = { 0 };
	pthread_t th;
	uint64_t have = 0;
	int uffd = lm_uffd_api(UFFD_FEATURE_EVENT_FORK, &have);
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	char *p;
	pid_t pid;
	int st;

	if (uffd < 0)
		SKIP(return, "no userfaultfd with EVENT_FORK (%s)", strerror(-uffd));
	p = mmap(NULL, LM_PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	reg.range.start = (unsigned long)p;
	reg.range.len = LM_PAGE;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));
	r.uffd = uffd;
	ASSERT_EQ(0, pthread_create(&th, NULL, read_fork, &r));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(0);
	pthread_join(th, NULL);
	ASSERT_TRUE(r.got);
	EXPECT_EQ(UFFD_EVENT_FORK, r.msg.event);
	EXPECT_GE((int)r.msg.arg.fork.ufd, 0);
	close(r.msg.arg.fork.ufd);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	munmap(p, LM_PAGE);
	close(uffd);
}

TEST_HARNESS_MAIN
