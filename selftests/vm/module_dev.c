// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig.ko as a device: load, /dev/lazymig, query, handshake with a
 * stale ABI, registration errors, rmmod refused while open, and repeated
 * insmod/rmmod while idle.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "kselftest_harness.h"
#include "lmtest.h"
#include "lmdev_test.h"

#define DEV "/dev/" LAZYMIG_DEV_NAME

#define LMT_NEED() do {							\
	const char *why = lmt_skip_reason();				\
	if (why)							\
		SKIP(return, "%s", why);				\
} while (0)

static int query(int fd, struct lazymig_query *q)
{
	memset(q, 0, sizeof(*q));
	return ioctl(fd, LAZYMIG_IOC_QUERY, q) ? -errno : 0;
}

static int handshake(int fd, unsigned int abi)
{
	struct lazymig_handshake h = { .abi_version = abi };

	return ioctl(fd, LAZYMIG_IOC_HANDSHAKE, &h) ? -errno : 0;
}

TEST(load_query)
{
	struct lazymig_query q;
	struct stat st;
	int fd;

	LMT_NEED();
	ASSERT_EQ(0, lmt_module_load());
	ASSERT_EQ(0, stat(DEV, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 0777);
	fd = open(DEV, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, query(fd, &q));
	EXPECT_EQ(LAZYMIG_ABI_VERSION, q.abi_version);
	EXPECT_EQ(sizeof(struct lazymig_event), q.event_size);
	EXPECT_EQ(64, sizeof(struct lazymig_event));
	EXPECT_TRUE(q.features & LAZYMIG_FEAT_READ);
	EXPECT_TRUE(q.features & LAZYMIG_FEAT_WRITE);
	EXPECT_TRUE(q.features & LAZYMIG_FEAT_PUNCH);
	EXPECT_TRUE(q.features & LAZYMIG_FEAT_TRUNCATE);
	EXPECT_TRUE(q.features & LAZYMIG_FEAT_FILL);
	TH_LOG("ABI %u, features 0x%x, timeout %u ms", q.abi_version,
	       q.features, q.timeout_ms);
	close(fd);
}

/* Nothing but QUERY before the handshake; a stale ABI is refused. */
TEST(handshake_abi)
{
	struct lazymig_register r = { .fd = -1, .nr_pages = 1 };
	struct lazymig_event ev;
	struct lazymig_query q;
	struct lmdev d;
	int fd;

	LMT_NEED();
	ASSERT_EQ(0, lmt_module_load());
	fd = open(DEV, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, ioctl(fd, LAZYMIG_IOC_REGISTER, &r));
	EXPECT_EQ(EPROTO, errno);
	EXPECT_EQ(-1, read(fd, &ev, sizeof(ev)));
	EXPECT_EQ(EPROTO, errno);
	EXPECT_EQ(-EPROTONOSUPPORT, handshake(fd, LAZYMIG_ABI_VERSION - 1));
	EXPECT_EQ(-EPROTONOSUPPORT, handshake(fd, LAZYMIG_ABI_VERSION + 1));
	EXPECT_EQ(-1, ioctl(fd, LAZYMIG_IOC_REGISTER, &r));
	EXPECT_EQ(EPROTO, errno) TH_LOG("a refused handshake must not count");
	EXPECT_EQ(0, query(fd, &q));
	EXPECT_EQ(0, handshake(fd, LAZYMIG_ABI_VERSION));
	EXPECT_EQ(-1, read(fd, &ev, sizeof(ev)));
	EXPECT_EQ(EAGAIN, errno);
	close(fd);

	ASSERT_EQ(0, lmdev_open(&d, NULL, 1));
	EXPECT_EQ(LAZYMIG_ABI_VERSION, d.abi);
	EXPECT_TRUE(d.features & LAZYMIG_FEAT_FILL);
	lmdev_close(&d);
}

/* Only shmem regular files register, once; ids are checked. */
TEST(register_errors)
{
	struct lmdev a, b;
	uint32_t id, id2;
	uint64_t left;
	int mfd, pfd[2];

	LMT_NEED();
	ASSERT_EQ(0, lmt_module_load());
	ASSERT_EQ(0, lmdev_open(&a, NULL, 1));
	ASSERT_EQ(0, lmdev_open(&b, NULL, 1));
	mfd = memfd_create("lm_reg", MFD_CLOEXEC);
	ASSERT_GE(mfd, 0);
	ASSERT_EQ(0, ftruncate(mfd, 4 * LM_PAGE));
	ASSERT_EQ(0, pipe(pfd));

	EXPECT_EQ(-EBADF, lmdev_register(&a, 999, 4, NULL, 0, &id));
	EXPECT_EQ(-EINVAL, lmdev_register(&a, pfd[0], 4, NULL, 0, &id));
	EXPECT_EQ(-EINVAL, lmdev_register(&a, mfd, 0, NULL, 0, &id));
	ASSERT_EQ(0, lmdev_register(&a, mfd, 4, NULL, 0, &id));
	EXPECT_EQ(-EBUSY, lmdev_register(&b, mfd, 4, NULL, 0, &id2));
	EXPECT_EQ(-EBUSY, lmdev_register(&a, mfd, 4, NULL, 0, &id2));
	EXPECT_EQ(-ENOENT, lmdev_update(&b, id, LAZYMIG_UPDATE_CLEAR, 0, 1,
					NULL));
	EXPECT_EQ(-ERANGE, lmdev_update(&a, id, LAZYMIG_UPDATE_CLEAR, 3, 2,
					NULL));
	EXPECT_EQ(0, lmdev_update(&a, id, LAZYMIG_UPDATE_CLEAR, 1, 2, &left));
	EXPECT_EQ(2, left);
	EXPECT_EQ(0, lmdev_update(&a, id, LAZYMIG_UPDATE_SET, 2, 1, &left));
	EXPECT_EQ(3, left);
	EXPECT_EQ(-ENOENT, lmdev_ack(&a, 12345, 0));
	EXPECT_EQ(0, lmdev_unregister(&a, id));
	EXPECT_EQ(-ENOENT, lmdev_unregister(&a, id));
	/* Closing the device drops what is still registered. */
	ASSERT_EQ(0, lmdev_register(&b, mfd, 4, NULL, 0, &id2));
	lmdev_close(&b);
	EXPECT_EQ(0, lmdev_register(&a, mfd, 4, NULL, 0, &id));
	lmdev_close(&a);
	close(pfd[0]);
	close(pfd[1]);
	close(mfd);
}

/* FILL installs pending pages only, keeps data already there. */
TEST(fill_semantics)
{
	uint64_t pending = 0x5;	/* pages 0 and 2 */
	char *src = malloc(4 * LM_PAGE), buf[LM_PAGE];
	struct lazymig_fill f = { .count = 1 };
	struct lmdev d;
	uint32_t id;
	int mfd;

	LMT_NEED();
	ASSERT_NE(NULL, src);
	ASSERT_EQ(0, lmt_module_load());
	ASSERT_EQ(0, lmdev_open(&d, NULL, 1));
	mfd = memfd_create("lm_fill", MFD_CLOEXEC);
	ASSERT_GE(mfd, 0);
	ASSERT_EQ(0, ftruncate(mfd, 4 * LM_PAGE));
	memset(buf, 'o', sizeof(buf));
	ASSERT_EQ(LM_PAGE, pwrite(mfd, buf, LM_PAGE, 3 * LM_PAGE));
	lm_fill(src, 4 * LM_PAGE, 3);
	ASSERT_EQ(0, lmdev_register(&d, mfd, 4, &pending, 0, &id));

	EXPECT_EQ(2, lmdev_fill(&d, id, 0, 4, src));
	EXPECT_EQ(0, lmdev_fill(&d, id, 0, 4, src));
	ASSERT_EQ(LM_PAGE, pread(mfd, buf, LM_PAGE, 0));
	EXPECT_EQ(0, memcmp(buf, src, LM_PAGE));
	ASSERT_EQ(LM_PAGE, pread(mfd, buf, LM_PAGE, 2 * LM_PAGE));
	EXPECT_EQ(0, memcmp(buf, src + 2 * LM_PAGE, LM_PAGE));
	ASSERT_EQ(LM_PAGE, pread(mfd, buf, LM_PAGE, LM_PAGE));
	EXPECT_EQ(-1, lm_check_zero(buf, LM_PAGE));

	/* Page 3 has data: pending again, FILL keeps it, marks it restored. */
	ASSERT_EQ(0, lmdev_update(&d, id, LAZYMIG_UPDATE_SET, 3, 1, NULL));
	f.id = id;
	f.index = 3;
	f.src = (uintptr_t)src;
	ASSERT_EQ(0, ioctl(d.fd, LAZYMIG_IOC_FILL, &f));
	EXPECT_EQ(0, f.filled);
	EXPECT_EQ(1, f.present);
	ASSERT_EQ(LM_PAGE, pread(mfd, buf, LM_PAGE, 3 * LM_PAGE));
	EXPECT_EQ('o', buf[0]);

	/* Past the end of the file, past the registration, bad counts. */
	ASSERT_EQ(0, lmdev_update(&d, id, LAZYMIG_UPDATE_SET, 2, 2, NULL));
	ASSERT_EQ(0, ftruncate(mfd, 2 * LM_PAGE + 100));
	EXPECT_EQ(1, lmdev_fill(&d, id, 2, 1, src));
	EXPECT_EQ(-ENXIO, lmdev_fill(&d, id, 3, 1, src));
	EXPECT_EQ(-ERANGE, lmdev_fill(&d, id, 3, 2, src));
	f.count = 0;
	EXPECT_EQ(-1, ioctl(d.fd, LAZYMIG_IOC_FILL, &f));
	EXPECT_EQ(EINVAL, errno);
	f.count = LAZYMIG_FILL_MAX + 1;
	EXPECT_EQ(-1, ioctl(d.fd, LAZYMIG_IOC_FILL, &f));
	EXPECT_EQ(EINVAL, errno);
	/* The filled last page ends at the end of the file. */
	EXPECT_EQ(2 * LM_PAGE + 100, lseek(mfd, 0, SEEK_END));
	ASSERT_EQ(0, ftruncate(mfd, 3 * LM_PAGE));
	ASSERT_EQ(LM_PAGE, pread(mfd, buf, LM_PAGE, 2 * LM_PAGE));
	EXPECT_EQ(0, memcmp(buf, src + 2 * LM_PAGE, 100));
	EXPECT_EQ(-1, lm_check_zero(buf + 100, LM_PAGE - 100));
	lmdev_close(&d);
	close(mfd);
	free(src);
}

TEST(rmmod_refused_while_open)
{
	int fd;

	LMT_NEED();
	ASSERT_EQ(0, lmt_module_load());
	fd = open(DEV, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-EWOULDBLOCK, lmt_module_unload());
	EXPECT_TRUE(lmt_module_loaded());
	close(fd);
	EXPECT_EQ(0, lmt_module_unload());
	EXPECT_FALSE(lmt_module_loaded());
	EXPECT_NE(0, access(DEV, F_OK));
	ASSERT_EQ(0, lmt_module_load());
}

TEST(reload_idle)
{
	struct lazymig_query q;
	int i, fd;

	LMT_NEED();
	if (lmt_module_loaded())
		ASSERT_EQ(0, lmt_module_unload());
	for (i = 0; i < 10; i++) {
		ASSERT_EQ(0, lmt_module_load()) TH_LOG("load #%d", i);
		fd = open(DEV, O_RDWR | O_CLOEXEC);
		ASSERT_GE(fd, 0);
		EXPECT_EQ(0, query(fd, &q));
		EXPECT_EQ(LAZYMIG_ABI_VERSION, q.abi_version);
		close(fd);
		ASSERT_EQ(0, lmt_module_unload()) TH_LOG("unload #%d", i);
		EXPECT_FALSE(lmt_module_loaded());
	}
	ASSERT_EQ(0, lmt_module_load());
}

TEST_HARNESS_MAIN
