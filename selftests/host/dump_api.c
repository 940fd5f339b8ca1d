// SPDX-License-Identifier: GPL-2.0
/*
 * The dump API as `send` and the page server use it: freeze and collect,
 * read pages of the frozen process (virtual addresses and shm objects)
 * from several threads at once, write one pagemap's pages, release.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lmtest.h"
#include "dump.h"
#include "wl.h"
#include "imgtest.h"

#define PAGES 64

FIXTURE(api) {
	struct lm_wl wl;
	struct lm_dump d;
	int collected;
};

FIXTURE_SETUP(api)
{
	char opts[64];
	int r;

	snprintf(opts, sizeof(opts), "--anon --shared --memfd --pages %d", PAGES);
	r = lm_wl_start(&self->wl, "wl_mem", opts);
	ASSERT_EQ(0, r) TH_LOG("wl_mem did not start: %s", strerror(-r));
	r = lm_dump_freeze_collect(self->wl.pid, &self->d);
	ASSERT_EQ(0, r) TH_LOG("%s", self->d.errmsg);
	self->collected = 1;
}

FIXTURE_TEARDOWN(api)
{
	if (self->collected)
		lm_dump_release(&self->d, 0);
	lm_wl_stop(&self->wl);
}

struct reader {
	struct lm_dump *d;
	__u32 space;
	__u64 addr;
	uint64_t seed;
	int pages;
	long bad;		/* offset of the first wrong byte, or -1 */
	int err;
};

static void *read_many(void *arg)
{
	struct reader *r = arg;
	uint8_t *buf = malloc(r->pages * LM_PAGE);
	int round;

	r->bad = -1;
	for (round = 0; round < 50 && !r->err && r->bad < 0; round++) {
		r->err = lm_dump_read_pages(r->d, r->space, r->addr, buf,
					    r->pages, LM_PAGE);
		if (!r->err)
			r->bad = lm_check(buf, r->pages * LM_PAGE, r->seed);
	}
	free(buf);
	return NULL;
}

/* The space and address (or offset) of a workload region. */
static int locate(struct lm_dump *d, const struct lm_wl_region *w,
		  __u32 *space, __u64 *addr)
{
	unsigned int i;

	for (i = 0; i < d->img.proc.nr_vmas; i++) {
		const struct lm_vma *v = &d->img.vmas[i].v;

		if (w->addr < v->start || w->addr >= v->end)
			continue;
		*space = v->shm_id >= 0 ? v->shm_id + 1 : 0;
		*addr = v->shm_id >= 0 ? w->addr - v->start + v->pgoff : w->addr;
		return 0;
	}
	return -1;
}

TEST_F(api, concurrent_reads_of_frozen_pages)
{
	static const char *const names[] = { "anon_rest", "shared_rest",
					     "memfd" };
	struct reader r[3][2];
	pthread_t th[3][2];
	int i, j;

	for (i = 0; i < 3; i++) {
		const struct lm_wl_region *w = lm_wl_region(&self->wl, names[i]);
		__u32 space;
		__u64 addr;

		ASSERT_NE(NULL, w);
		ASSERT_EQ(0, locate(&self->d, w, &space, &addr));
		for (j = 0; j < 2; j++) {
			r[i][j] = (struct reader){ .d = &self->d, .space = space,
						   .addr = addr, .seed = w->seed,
						   .pages = w->len / LM_PAGE };
			ASSERT_EQ(0, pthread_create(&th[i][j], NULL, read_many,
						    &r[i][j]));
		}
	}
	for (i = 0; i < 3; i++)
		for (j = 0; j < 2; j++) {
			pthread_join(th[i][j], NULL);
			EXPECT_EQ(0, r[i][j].err) TH_LOG("%s", names[i]);
			EXPECT_EQ(-1, r[i][j].bad) TH_LOG("%s at +%ld", names[i],
							  r[i][j].bad);
		}
}

TEST_F(api, write_one_map_and_count)
{
	const struct lm_wl_region *w = lm_wl_region(&self->wl, "anon");
	struct lm_pagemap_img *m;
	struct lm_stream s;
	char path[64];
	__u64 i, first, set = 0;
	long n;
	int fd;

	ASSERT_NE(NULL, w);
	m = lm_image_pagemap(&self->d.img, 0, w->addr);
	ASSERT_NE(NULL, m);
	snprintf(path, sizeof(path), "/tmp/lm-api.%d", getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lm_stream_open(&s, fd, 1, path));
	n = lm_dump_write_map(&self->d, &s, m, 8 * LM_PAGE);
	EXPECT_EQ(0, lm_stream_flush(&s));
	for (i = 0; i < m->m.npages; i++)
		set += (m->bitmap[i / 64] >> (i % 64)) & 1;
	EXPECT_EQ(set, n);
	/* anon: page 0 and pages 3.. have data; 1 untouched, 2 zero page */
	first = (w->addr - m->m.addr) / LM_PAGE;
	EXPECT_EQ(1, (m->bitmap[first / 64] >> (first % 64)) & 1);
	EXPECT_EQ(0, (m->bitmap[(first + 1) / 64] >> ((first + 1) % 64)) & 1);
	EXPECT_EQ(0, (m->bitmap[(first + 2) / 64] >> ((first + 2) % 64)) & 1);
	/* every run is a record: at least one header per 8 pages */
	EXPECT_LE(n * LM_PAGE + ((n + 7) / 8) * (sizeof(struct lm_rec_hdr) +
						 sizeof(struct lm_pages) + 4),
		  s.bytes);
	EXPECT_LE(n, lm_image_data_pages(&self->d.img));
	lm_stream_close(&s);
	close(fd);
	unlink(path);
}

TEST_F(api, release_resumes)
{
	char msg[600];

	lm_dump_release(&self->d, 0);
	self->collected = 0;
	EXPECT_EQ(0, lm_wl_verify(&self->wl, self->wl.pid, msg, sizeof(msg),
				  5000)) TH_LOG("%s", msg);
}

TEST(refusal_leaves_errmsg)
{
	struct lm_dump d;

	EXPECT_GT(0, lm_dump_freeze_collect(getpid(), &d));
	EXPECT_NE(NULL, strstr(d.errmsg, "lazymig itself")) TH_LOG("%s", d.errmsg);
	EXPECT_EQ(-EINVAL, lm_dump_freeze_collect(-5, &d));
	EXPECT_NE(NULL, strstr(d.errmsg, "not a process ID"));
	lm_dump_release(&d, 0);	/* harmless after a failure */
}

/* 1 if page @i of the pagemap covering @addr has data. */
static int has_data(struct lm_dump *d, unsigned long addr)
{
	const struct lm_pagemap_img *m = lm_image_pagemap(&d->img, 0, addr);
	__u64 i;

	if (!m)
		return -1;
	i = (addr - m->m.addr) / LM_PAGE;
	return (m->bitmap[i / 64] >> (i % 64)) & 1;
}

/*
 * Which pages have data when smaps alone can tell (every page of a VMA
 * anonymous: no pagemap read) and when it cannot: three VMAs, the first
 * written whole, the second with one page dropped, the third with one
 * page never written but read (the shared zero page).
 */
TEST(bitmap_full_and_partial_vmas)
{
	const long n = 64, len = n * LM_PAGE;
	struct lm_dump d;
	char *p, c;
	int pfd[2], i;
	pid_t pid;

	ASSERT_EQ(0, pipe(pfd));
	p = mmap(NULL, 3 * len + 2 * LM_PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* split into three VMAs with PROT_NONE pages between */
		mprotect(p + len, LM_PAGE, PROT_NONE);
		mprotect(p + 2 * len + LM_PAGE, LM_PAGE, PROT_NONE);
		for (i = 0; i < 3; i++)
			memset(p + i * (len + LM_PAGE), 0x5a, len);
		madvise(p + len + LM_PAGE + 7 * LM_PAGE, LM_PAGE, MADV_DONTNEED);
		madvise(p + 2 * (len + LM_PAGE) + 9 * LM_PAGE, LM_PAGE,
			MADV_DONTNEED);
		c = *(volatile char *)(p + 2 * (len + LM_PAGE) + 9 * LM_PAGE);
		if (write(pfd[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	ASSERT_EQ(1, read(pfd[0], &c, 1));
	ASSERT_EQ(0, lm_dump_freeze_collect(pid, &d)) TH_LOG("%s", d.errmsg);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(1, has_data(&d, (unsigned long)p + i * LM_PAGE))
			TH_LOG("full VMA, page %d", i);
		EXPECT_EQ(i != 7, has_data(&d, (unsigned long)p + len +
					   LM_PAGE + i * LM_PAGE))
			TH_LOG("VMA with page 7 dropped, page %d", i);
		EXPECT_EQ(i != 9, has_data(&d, (unsigned long)p +
					   2 * (len + LM_PAGE) + i * LM_PAGE))
			TH_LOG("VMA with the zero page at 9, page %d", i);
	}
	lm_dump_release(&d, 1);
	waitpid(pid, NULL, 0);
	close(pfd[0]);
	munmap(p, 3 * len + 2 * LM_PAGE);
}

TEST_HARNESS_MAIN
