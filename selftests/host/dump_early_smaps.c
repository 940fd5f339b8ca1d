// SPDX-License-Identifier: GPL-2.0
/*
 * smaps is read before the freeze (collect_mm.c): a change of the VMAs
 * between that read and the freeze must still be in the image.  A child
 * maps 64 pages, the early read happens, then the child calls madvise
 * (MADV_DONTFORK) on the whole mapping (no line of maps changes: only the
 * child's run time since the early read shows it) or on its first half
 * (the VMA splits); then the freeze and the collection.  The image must
 * have DONTFORK exactly where the child set it, and every page of the
 * mapping as data.  A third variant leaves the child asleep (no thread
 * runs between the read and the freeze: the early smaps is used).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lmtest.h"
#include "dump.h"

#define PAGES	64

FIXTURE(early) {
	pid_t child;
	int to_child[2], from_child[2];
	char *mem;
	struct lm_dump d;
	int frozen;
};

FIXTURE_VARIANT(early) {
	size_t dontfork_pages;	/* from the start of the mapping */
};

FIXTURE_VARIANT_ADD(early, whole_vma) { .dontfork_pages = PAGES };
FIXTURE_VARIANT_ADD(early, half_vma_splits) { .dontfork_pages = PAGES / 2 };
FIXTURE_VARIANT_ADD(early, idle_child) { .dontfork_pages = 0 };

static void child_main(int in, int out, size_t pages)
{
	char *m = mmap(NULL, PAGES * LM_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char c;

	if (m == MAP_FAILED)
		_exit(1);
	lm_fill(m, PAGES * LM_PAGE, 77);
	if (write(out, &m, sizeof(m)) != sizeof(m) || read(in, &c, 1) != 1)
		_exit(1);
	if (madvise(m, pages * LM_PAGE, MADV_DONTFORK))
		_exit(1);
	if (write(out, "x", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

FIXTURE_SETUP(early)
{
	ASSERT_EQ(0, pipe(self->to_child));
	ASSERT_EQ(0, pipe(self->from_child));
	self->child = fork();
	ASSERT_LE(0, self->child);
	if (!self->child)
		child_main(self->to_child[0], self->from_child[1],
			   variant->dontfork_pages);
	ASSERT_EQ(sizeof(self->mem), read(self->from_child[0], &self->mem,
					  sizeof(self->mem)));
	memset(&self->d, 0, sizeof(self->d));
	self->d.pid = self->child;
	self->d.mem_fd = self->d.pidfd = -1;
}

FIXTURE_TEARDOWN(early)
{
	lm_dump_release(&self->d, 0);
	kill(self->child, SIGKILL);
	waitpid(self->child, NULL, 0);
}

static const struct lm_vma_img *vma_at(const struct lm_dump *d, __u64 a)
{
	unsigned int i;

	for (i = 0; i < d->img.proc.nr_vmas; i++)
		if (d->img.vmas[i].v.start <= a && a < d->img.vmas[i].v.end)
			return &d->img.vmas[i];
	return NULL;
}

static __u64 data_pages(const struct lm_dump *d, __u64 start, __u64 end)
{
	__u64 n = 0, i;
	size_t k;

	for (k = 0; k < d->img.nr_maps; k++) {
		const struct lm_pagemap_img *m = &d->img.maps[k];

		if (m->m.space || m->m.addr + m->m.npages * m->m.page_size <=
		    start || m->m.addr >= end)
			continue;
		for (i = 0; i < m->m.npages; i++) {
			__u64 a = m->m.addr + i * m->m.page_size;

			if (a >= start && a < end &&
			    (m->bitmap[i / 64] >> (i % 64) & 1))
				n++;
		}
	}
	return n;
}

TEST_F(early, madvise_between_read_and_freeze)
{
	__u64 start = (uintptr_t)self->mem, split;
	const struct lm_vma_img *a, *b;
	char c;

	split = start + variant->dontfork_pages * LM_PAGE;
	ASSERT_EQ(0, lm_dump_check(&self->d)) TH_LOG("%s", self->d.errmsg);
	ASSERT_EQ(0, lm_collect_mm_pre(&self->d));
	if (!self->d.smaps_pre)
		SKIP(return, "no PAGEMAP_SCAN: smaps is read in the freeze only");
	if (variant->dontfork_pages) {
		ASSERT_EQ(1, write(self->to_child[1], "g", 1));
		ASSERT_EQ(1, read(self->from_child[0], &c, 1));
	} else {
		usleep(100 * 1000);	/* the child sleeps in read() */
		split = start + PAGES * LM_PAGE;
	}
	ASSERT_EQ(0, lm_dump_freeze(&self->d)) TH_LOG("%s", self->d.errmsg);
	ASSERT_EQ(0, lm_dump_collect(&self->d)) TH_LOG("%s", self->d.errmsg);
	a = vma_at(&self->d, start);
	ASSERT_NE(NULL, a);
	EXPECT_EQ(start, a->v.start);
	EXPECT_EQ(split, a->v.end);
	EXPECT_EQ(!!variant->dontfork_pages, !!(a->v.flags & LM_VMA_DONTFORK));
	if (split < start + PAGES * LM_PAGE) {
		b = vma_at(&self->d, split);
		ASSERT_NE(NULL, b);
		EXPECT_EQ(start + PAGES * LM_PAGE, b->v.end);
		EXPECT_FALSE(b->v.flags & LM_VMA_DONTFORK);
	}
	EXPECT_EQ(PAGES, data_pages(&self->d, start, start + PAGES * LM_PAGE));
}

TEST_HARNESS_MAIN
