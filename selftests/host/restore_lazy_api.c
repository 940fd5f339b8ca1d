// SPDX-License-Identifier: GPL-2.0
/*
 * The restore API as the lazy-pages daemon uses it, without the network:
 * an eager image of wl_mem is read with the library, its private anon
 * VMAs flagged LM_VMA_LAZY, and restored with opts.lazy = 1.  Every other
 * PAGES record is installed by lm_restore_write_pages() (inside ranges
 * registered with the uffd: UFFDIO_COPY), the rest only when the process
 * faults on them, by a handler thread here reading the uffd from
 * lm_restore_take_uffd(); never-dumped pages are answered with a zero
 * page.  The restored process then checks itself byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>
#include "kselftest_harness.h"
#include "image.h"
#include "restore.h"
#include "rsttest.h"
#include "wl.h"

struct run {
	__u64 addr, len;
	void *data;
};

struct lazy {
	int uffd, stop[2];
	struct run *runs;
	int nr_runs;
	long faults, zero, errors;
};

static int serve(struct lazy *lz, __u64 addr)
{
	__u64 page = addr & ~(LM_PAGE_SIZE - 1);
	int i;

	for (i = 0; i < lz->nr_runs; i++) {
		struct run *r = &lz->runs[i];

		if (page >= r->addr && page < r->addr + r->len) {
			struct uffdio_copy c = {
				.dst = page, .len = LM_PAGE_SIZE,
				.src = (unsigned long)r->data + (page - r->addr),
			};

			if (ioctl(lz->uffd, UFFDIO_COPY, &c) && errno != EEXIST)
				return -errno;
			lz->faults++;
			return 0;
		}
	}
	{
		struct uffdio_zeropage z = {
			.range = { .start = page, .len = LM_PAGE_SIZE },
		};

		if (ioctl(lz->uffd, UFFDIO_ZEROPAGE, &z) && errno != EEXIST)
			return -errno;
		lz->zero++;
	}
	return 0;
}

static void *handler(void *arg)
{
	struct lazy *lz = arg;
	struct pollfd p[2] = {
		{ .fd = lz->uffd, .events = POLLIN },
		{ .fd = lz->stop[0], .events = POLLIN },
	};

	for (;;) {
		struct uffd_msg m;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN)) {
			if (p[0].revents & (POLLHUP | POLLERR))
				break;
			continue;
		}
		if (read(lz->uffd, &m, sizeof(m)) != sizeof(m))
			continue;
		if (m.event == UFFD_EVENT_PAGEFAULT &&
		    serve(lz, m.arg.pagefault.address))
			lz->errors++;
	}
	return NULL;
}

static int in_lazy_vma(const struct lm_image *img, const struct lm_pages *p)
{
	unsigned int i;

	if (p->space)
		return 0;
	for (i = 0; i < img->proc.nr_vmas; i++)
		if (p->addr >= img->vmas[i].v.start && p->addr < img->vmas[i].v.end)
			return !!(img->vmas[i].v.flags & LM_VMA_LAZY);
	return 0;
}

TEST(lazy_restore_through_the_api)
{
	struct lm_restore_opts o = { .stdio = "null", .lazy = 1 };
	struct lazy lz = { .uffd = -1 };
	struct lm_restorer *r = NULL;
	struct lm_stream s;
	struct lm_image img;
	struct lm_wl w;
	char path[PATH_MAX + 16], out[8192], msg[600];
	unsigned int i, nlazy = 0;
	pthread_t th;
	int fd, rc, t, k = 0, eager = 0, copied = 0, st;
	pid_t pid;

	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	ASSERT_EQ(0, lm_wl_start(&w, "wl_mem", "--anon --heap --bss --stack --threads"));
	snprintf(path, sizeof(path), "%s/img", w.dir);
	rc = lm_run_tool(out, sizeof(out), "dump -t %d -o %s", w.pid, path);
	ASSERT_EQ(0, rc) TH_LOG("dump: %s", out);
	ASSERT_GE(lm_wl_reap(&w, 5000), 0);

	memset(&img, 0, sizeof(img));
	fd = open(path, O_RDONLY);
	ASSERT_GE(fd, 0);
	lm_stream_open(&s, fd, 0, "image");
	ASSERT_EQ(0, lm_read_meta(&s, &img)) TH_LOG("%s", s.errmsg);
	for (i = 0; i < img.proc.nr_vmas; i++)
		if (img.vmas[i].v.kind == LM_MEM_ANON_PRIVATE) {
			img.vmas[i].v.flags |= LM_VMA_LAZY;
			nlazy++;
		}
	ASSERT_EQ(0, lm_restore_prepare(&img, &o, &r));
	lz.uffd = lm_restore_take_uffd(r);
	ASSERT_GE(lz.uffd, 0);
	ASSERT_EQ(0, pipe(lz.stop));
	/* Every other record of a lazy VMA is left to the fault handler. */
	for (;;) {
		struct lm_pages p;
		void *data;

		t = lm_read_next(&s, &p, &data);
		if (t == LM_REC_META_END)
			continue;
		if (t != LM_REC_PAGES)
			break;
		if (in_lazy_vma(&img, &p) && (k++ & 1)) {
			struct run *nr = realloc(lz.runs, (lz.nr_runs + 1) *
						 sizeof(*nr));

			ASSERT_NE(NULL, nr);
			lz.runs = nr;
			nr[lz.nr_runs].addr = p.addr;
			nr[lz.nr_runs].len = p.npages * p.page_size;
			nr[lz.nr_runs].data = malloc(nr[lz.nr_runs].len);
			memcpy(nr[lz.nr_runs].data, data, nr[lz.nr_runs].len);
			lz.nr_runs++;
			continue;
		}
		ASSERT_EQ(0, lm_restore_write_pages(r, &p, data));
		if (in_lazy_vma(&img, &p))
			copied++;
		else
			eager++;
	}
	ASSERT_EQ(LM_REC_END, t) TH_LOG("%s", s.errmsg);
	lm_stream_close(&s);
	close(fd);

	/* Faults may come while resume runs (rseq): serve from now on. */
	ASSERT_EQ(0, pthread_create(&th, NULL, handler, &lz));
	rc = lm_restore_resume(r, &pid);
	lm_restore_free(r);
	ASSERT_EQ(0, rc);
	EXPECT_EQ(w.pid, pid);
	rc = lm_wl_verify(&w, pid, msg, sizeof(msg), 20000);
	EXPECT_EQ(0, rc) TH_LOG("lazily restored wl_mem: %s", msg);
	st = lm_reap_pid(pid, 10000);
	if (st == -1) {
		kill(pid, SIGKILL);
		lm_reap_pid(pid, 5000);
	}
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && !WEXITSTATUS(st));
	if (write(lz.stop[1], "x", 1) != 1)
		TH_LOG("cannot stop the handler");
	pthread_join(th, NULL);
	EXPECT_EQ(0, lz.errors);
	EXPECT_GT(lz.faults, 0);
	EXPECT_GT(copied, 0);
	ksft_print_msg("%u lazy VMAs: %d page records installed before resume by UFFDIO_COPY, %ld pages on fault, %ld zero pages; %d other records\n",
		       nlazy, copied, lz.faults, lz.zero, eager);
	fflush(stdout);
	for (k = 0; k < lz.nr_runs; k++)
		free(lz.runs[k].data);
	free(lz.runs);
	close(lz.uffd);
	close(lz.stop[0]);
	close(lz.stop[1]);
	lm_image_free(&img);
	lm_wl_stop(&w);
	unlink(path);
	rmdir(w.dir);
}

TEST_HARNESS_MAIN
