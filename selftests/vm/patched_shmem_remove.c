// SPDX-License-Identifier: GPL-2.0
/*
 * patches/: fallocate(PUNCH_HOLE) and ftruncate() on a registered shmem
 * file raise UFFD_EVENT_REMOVE (UFFD_FEATURE_EVENT_SHMEM_REMOVE).
 *
 * For each kind of shmem file (memfd, tmpfs file) and each remover (a
 * thread, another process): the event carries the page-aligned virtual
 * range of the whole pages removed, the remover stays blocked until the
 * event is read, UFFDIO_COPY fails with EAGAIN meanwhile, and afterwards
 * the removed bytes read back as zeros while every other byte keeps its
 * pattern.  Skips on kernels without the feature bit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lmtest.h"

#define NPAGES		32
#define SEED		7
#define BLOCK_MS	300	/* how long the remover must stay blocked */

enum op { OP_PUNCH, OP_TRUNCATE };

struct remover {
	int fd;
	enum op op;
	off_t off, len;
	atomic_int done;
	int ret;
};

static int do_remove(struct remover *r)
{
	if (r->op == OP_PUNCH)
		return fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 r->off, r->len);
	return ftruncate(r->fd, r->off);
}

static void *remove_thread(void *arg)
{
	struct remover *r = arg;

	r->ret = do_remove(r) ? -errno : 0;
	atomic_store(&r->done, 1);
	return NULL;
}

/* 1 if @fd becomes readable within @ms, 0 if not. */
static int readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

static int tmpfs_file(void)
{
	static const char *const dirs[] = { "/dev/shm", "/tmp", "/run" };
	char path[64];
	struct statfs st;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (statfs(dirs[i], &st) || st.f_type != TMPFS_MAGIC)
			continue;
		snprintf(path, sizeof(path), "%s/lm-remove-XXXXXX", dirs[i]);
		fd = mkstemp(path);
		if (fd < 0)
			continue;
		unlink(path);
		return fd;
	}
	return -1;
}

FIXTURE(shmem_remove) {
	int fd;
	int uffd;
	char *base;
	size_t len;
	uint64_t features;
};

FIXTURE_VARIANT(shmem_remove) {
	const char *kind;
	int tmpfs;
};

FIXTURE_VARIANT_ADD(shmem_remove, memfd) {
	.kind = "memfd", .tmpfs = 0,
};

FIXTURE_VARIANT_ADD(shmem_remove, tmpfs) {
	.kind = "tmpfs file", .tmpfs = 1,
};

FIXTURE_SETUP(shmem_remove)
{
	uint64_t have = 0;
	char *page;
	size_t i;
	int fd;

	self->fd = self->uffd = -1;
	self->base = MAP_FAILED;
	self->len = NPAGES * LM_PAGE;
	fd = lm_uffd_api(0, &have);
	if (fd < 0)
		SKIP(return, "userfaultfd unavailable (%s)", strerror(-fd));
	close(fd);
	if (!(have & UFFD_FEATURE_EVENT_SHMEM_REMOVE))
		SKIP(return, "kernel lacks UFFD_FEATURE_EVENT_SHMEM_REMOVE (not lazymig's patched kernel)");
	self->features = UFFD_FEATURE_EVENT_SHMEM_REMOVE |
			 UFFD_FEATURE_MISSING_SHMEM;

	if (variant->tmpfs) {
		self->fd = tmpfs_file();
		if (self->fd < 0)
			SKIP(return, "no writable tmpfs in /dev/shm, /tmp or /run");
	} else {
		self->fd = memfd_create("lm-remove", MFD_CLOEXEC);
		ASSERT_GE(self->fd, 0);
	}
	ASSERT_EQ(0, ftruncate(self->fd, self->len));
	/* every page present in the page cache, with a known pattern */
	page = malloc(self->len);
	ASSERT_NE(NULL, page);
	lm_fill(page, self->len, SEED);
	for (i = 0; i < self->len; i += LM_PAGE)
		ASSERT_EQ(LM_PAGE, pwrite(self->fd, page + i, LM_PAGE, i));
	free(page);
	self->base = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			  self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->base);
}

FIXTURE_TEARDOWN(shmem_remove)
{
	if (self->base != MAP_FAILED)
		munmap(self->base, self->len);
	if (self->uffd >= 0)
		close(self->uffd);
	if (self->fd >= 0)
		close(self->fd);
}

static void register_all(struct __test_metadata *_metadata,
			 FIXTURE_DATA(shmem_remove) *self, uint64_t features)
{
	struct uffdio_register reg = {
		.range = { (unsigned long)self->base, self->len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	self->uffd = lm_uffd_api(features, NULL);
	ASSERT_GE(self->uffd, 0);
	ASSERT_EQ(0, ioctl(self->uffd, UFFDIO_REGISTER, &reg));
}

/*
 * File bytes [0, @size) must hold the pattern except [@zfrom, @zto),
 * which must be zero; bytes past @size must not exist.
 */
static void check_file(struct __test_metadata *_metadata, int fd,
		       size_t size, size_t zfrom, size_t zto)
{
	char *buf = malloc(NPAGES * LM_PAGE);
	char *want = malloc(NPAGES * LM_PAGE);
	struct stat st;
	size_t i;

	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, want);
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(size, (size_t)st.st_size);
	ASSERT_EQ((ssize_t)size, pread(fd, buf, size, 0));
	lm_fill(want, size, SEED);
	memset(want + zfrom, 0, zto - zfrom);
	for (i = 0; i < size; i++)
		if (buf[i] != want[i])
			break;
	EXPECT_EQ(size, i)
		TH_LOG("file byte %zu is 0x%02x, want 0x%02x (zeros expected in [%zu, %zu))",
		       i, buf[i] & 0xff, want[i] & 0xff, zfrom, zto);
	free(buf);
	free(want);
}

/* Read one message; it must be REMOVE for pages [@first, @last]. */
static void expect_remove(struct __test_metadata *_metadata,
			  FIXTURE_DATA(shmem_remove) *self,
			  size_t first, size_t last)
{
	struct uffd_msg msg;

	ASSERT_EQ(sizeof(msg), read(self->uffd, &msg, sizeof(msg)));
	ASSERT_EQ(UFFD_EVENT_REMOVE, msg.event);
	EXPECT_EQ((unsigned long)self->base + first * LM_PAGE,
		  msg.arg.remove.start);
	EXPECT_EQ((unsigned long)self->base + (last + 1) * LM_PAGE,
		  msg.arg.remove.end);
}

/*
 * While the event is queued and unread, the remover is blocked and
 * UFFDIO_COPY into the range fails with EAGAIN (mmap_changing).
 */
static void expect_blocked(struct __test_metadata *_metadata,
			   FIXTURE_DATA(shmem_remove) *self,
			   atomic_int *done, int pipefd)
{
	static char src[LM_PAGE] __attribute__((aligned(4096)));
	struct uffdio_copy copy = {
		.dst = (unsigned long)self->base,
		.src = (unsigned long)src,
		.len = LM_PAGE,
	};

	ASSERT_TRUE(readable(self->uffd, 10000))
		TH_LOG("no event within 10 s of the removal");
	usleep(BLOCK_MS * 1000);
	if (done)
		EXPECT_EQ(0, atomic_load(done))
			TH_LOG("the remover returned before the event was read");
	if (pipefd >= 0)
		EXPECT_FALSE(readable(pipefd, 0))
			TH_LOG("the remover process returned before the event was read");
	EXPECT_EQ(-1, ioctl(self->uffd, UFFDIO_COPY, &copy));
	EXPECT_EQ(EAGAIN, errno);
}

/* punch [3 pages + 100, 8 pages + 100): whole pages 4..7 go */
#define PUNCH_OFF	(3 * LM_PAGE + 100)
#define PUNCH_LEN	(5 * LM_PAGE)

TEST_F(shmem_remove, punch_hole_thread)
{
	struct remover r = { .fd = self->fd, .op = OP_PUNCH,
			     .off = PUNCH_OFF, .len = PUNCH_LEN };
	pthread_t th;

	if (_metadata->skip)
		return;	/* SKIP() in the setup still runs the body */
	register_all(_metadata, self, self->features);
	ASSERT_EQ(0, pthread_create(&th, NULL, remove_thread, &r));
	expect_blocked(_metadata, self, &r.done, -1);
	expect_remove(_metadata, self, 4, 7);
	pthread_join(th, NULL);
	EXPECT_EQ(0, r.ret);
	EXPECT_FALSE(readable(self->uffd, 0)) TH_LOG("a second event arrived");
	check_file(_metadata, self->fd, self->len, PUNCH_OFF,
		   PUNCH_OFF + PUNCH_LEN);
	/* the mapping sees the same bytes once no longer registered */
	ASSERT_EQ(0, ioctl(self->uffd, UFFDIO_UNREGISTER,
			   &(struct uffdio_range){ (unsigned long)self->base,
						   self->len }));
	EXPECT_EQ(-1, lm_check_zero(self->base + 4 * LM_PAGE, 4 * LM_PAGE));
	EXPECT_EQ(-1, lm_check(self->base, PUNCH_OFF, SEED));
}

/* truncate to 10 pages + 123: whole pages 11.. go */
#define TRUNC_SIZE	(10 * LM_PAGE + 123)

TEST_F(shmem_remove, truncate_thread)
{
	struct remover r = { .fd = self->fd, .op = OP_TRUNCATE,
			     .off = TRUNC_SIZE };
	pthread_t th;

	if (_metadata->skip)
		return;	/* SKIP() in the setup still runs the body */
	register_all(_metadata, self, self->features);
	ASSERT_EQ(0, pthread_create(&th, NULL, remove_thread, &r));
	expect_blocked(_metadata, self, &r.done, -1);
	expect_remove(_metadata, self, 11, NPAGES - 1);
	pthread_join(th, NULL);
	EXPECT_EQ(0, r.ret);
	EXPECT_FALSE(readable(self->uffd, 0)) TH_LOG("a second event arrived");
	check_file(_metadata, self->fd, TRUNC_SIZE, TRUNC_SIZE, TRUNC_SIZE);
	/* grown again, everything past the old end reads zeros */
	ASSERT_EQ(0, ftruncate(self->fd, self->len));
	check_file(_metadata, self->fd, self->len, TRUNC_SIZE, self->len);
}

/* Another process sharing the file punches: the event still arrives. */
TEST_F(shmem_remove, punch_hole_other_process)
{
	struct remover r = { .fd = self->fd, .op = OP_PUNCH,
			     .off = PUNCH_OFF, .len = PUNCH_LEN };
	int pfd[2], st;
	pid_t pid;
	char c;

	if (_metadata->skip)
		return;	/* SKIP() in the setup still runs the body */
	register_all(_metadata, self, self->features);
	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		c = do_remove(&r) ? 'E' : 'K';
		_exit(write(pfd[1], &c, 1) == 1 ? 0 : 1);
	}
	close(pfd[1]);
	expect_blocked(_metadata, self, NULL, pfd[0]);
	expect_remove(_metadata, self, 4, 7);
	ASSERT_EQ(1, read(pfd[0], &c, 1));
	EXPECT_EQ('K', c);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_EQ(0, st);
	close(pfd[0]);
	check_file(_metadata, self->fd, self->len, PUNCH_OFF,
		   PUNCH_OFF + PUNCH_LEN);
}

/* A context that did not ask for the feature: no event, no blocking. */
TEST_F(shmem_remove, not_requested)
{
	struct remover r = { .fd = self->fd, .op = OP_PUNCH,
			     .off = PUNCH_OFF, .len = PUNCH_LEN };

	if (_metadata->skip)
		return;	/* SKIP() in the setup still runs the body */
	register_all(_metadata, self, UFFD_FEATURE_MISSING_SHMEM);
	EXPECT_EQ(0, do_remove(&r));
	EXPECT_FALSE(readable(self->uffd, 200));
	check_file(_metadata, self->fd, self->len, PUNCH_OFF,
		   PUNCH_OFF + PUNCH_LEN);
}

TEST_HARNESS_MAIN
