// SPDX-License-Identifier: GPL-2.0
/*
 * bench/faultlat-wl: the workload bench/faultlat measures.  A handler
 * thread serves the missing faults of a userfaultfd-registered private
 * anonymous region (UFFDIO_COPY from memory, every fourth page
 * UFFDIO_ZEROPAGE), as the lazy-pages daemon does, while THREADS threads
 * touch all PAGES pages once in a scattered order.  Then one fork and one
 * madvise(MADV_DONTNEED) raise a FORK and a REMOVE event.  The data is
 * checked; the counts the handler saw are printed for comparison with
 * faultlat's.
 *
 *   faultlat-wl [-n PAGES] [-t THREADS]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/lazymig_uffd.h>

#define PAGE 4096UL
#define MAX_THREADS 64

struct wl {
	int uffd;
	char *src, *base;
	size_t npages;
	int nthreads;
	volatile int stop;
	size_t copies, zeros, forks, removes, errors;
};

struct toucher {
	struct wl *w;
	int idx;
};

static uint8_t pat(size_t i)
{
	return (uint8_t)((i / PAGE) * 31 + (i % PAGE) * 7 + 1);
}

static void serve_fault(struct wl *w, unsigned long addr)
{
	unsigned long off = (addr - (unsigned long)w->base) & ~(PAGE - 1);

	if ((off / PAGE) % 4 == 3) {
		struct uffdio_zeropage z = {
			.range = { (unsigned long)w->base + off, PAGE },
		};

		if (ioctl(w->uffd, UFFDIO_ZEROPAGE, &z) && errno != EEXIST)
			w->errors++;
		w->zeros++;
	} else {
		struct uffdio_copy c = {
			.dst = (unsigned long)w->base + off,
			.src = (unsigned long)w->src + off, .len = PAGE,
		};

		if (ioctl(w->uffd, UFFDIO_COPY, &c) && errno != EEXIST)
			w->errors++;
		w->copies++;
	}
}

static void *serve(void *arg)
{
	struct wl *w = arg;
	struct pollfd pfd = { .fd = w->uffd, .events = POLLIN };
	struct uffd_msg m;

	while (!w->stop) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if (read(w->uffd, &m, sizeof(m)) != sizeof(m))
			continue;
		if (m.event == UFFD_EVENT_PAGEFAULT) {
			serve_fault(w, m.arg.pagefault.address);
		} else if (m.event == UFFD_EVENT_FORK) {
			close((int)m.arg.fork.ufd);
			w->forks++;
		} else if (m.event == UFFD_EVENT_REMOVE) {
			w->removes++;
		}
	}
	return NULL;
}

static size_t gcd(size_t a, size_t b)
{
	while (b) {
		size_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Thread i touches pages i, i+T, i+2T, ... in a scattered order. */
static void *touch(void *arg)
{
	struct toucher *t = arg;
	struct wl *w = t->w;
	size_t mine = (w->npages - t->idx + w->nthreads - 1) / w->nthreads;
	size_t k, step = 7919;	/* prime: visits every residue once */

	while (mine > 1 && gcd(step, mine) != 1)
		step++;
	for (k = 0; k < mine; k++) {
		size_t j = (k * step) % mine;

		(void)*(volatile char *)(w->base +
					 (j * w->nthreads + t->idx) * PAGE);
	}
	return NULL;
}

static size_t check(const struct wl *w)
{
	size_t i, bad = 0;

	for (i = 0; i < w->npages * PAGE; i++) {
		uint8_t want = (i / PAGE) % 4 == 3 ? 0 : pat(i);

		if ((uint8_t)w->base[i] != want) {
			bad++;
			i = (i | (PAGE - 1));	/* count pages, not bytes */
		}
	}
	return bad;
}

int main(int argc, char **argv)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMOVE,
	};
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct toucher tt[MAX_THREADS];
	pthread_t th, workers[MAX_THREADS];
	struct wl w = { .npages = 4096, .nthreads = 4 };
	size_t len, i, bad;
	pid_t child;
	int c, st;

	while ((c = getopt(argc, argv, "n:t:")) != -1) {
		if (c == 'n')
			w.npages = strtoul(optarg, NULL, 10);
		else if (c == 't')
			w.nthreads = atoi(optarg);
		else
			goto usage;
	}
	if (!w.npages || w.nthreads < 1 || w.nthreads > MAX_THREADS)
		goto usage;
	len = w.npages * PAGE;
	w.uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (w.uffd < 0 || ioctl(w.uffd, UFFDIO_API, &api)) {
		fprintf(stderr, "faultlat-wl: userfaultfd with FORK/REMOVE "
			"events: %s\n", strerror(errno));
		return 1;
	}
	w.src = mmap(NULL, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	w.base = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w.src == MAP_FAILED || w.base == MAP_FAILED) {
		perror("faultlat-wl: mmap");
		return 1;
	}
	/*
	 * Register before filling src: until then the two mappings may be
	 * one merged vma, and a THP fault while filling src can populate
	 * the 2 MiB block it shares with base, leaving pages present (zero)
	 * that then never fault.
	 */
	reg.range.start = (unsigned long)w.base;
	reg.range.len = len;
	if (ioctl(w.uffd, UFFDIO_REGISTER, &reg)) {
		perror("faultlat-wl: UFFDIO_REGISTER");
		return 1;
	}
	for (i = 0; i < len; i++)
		w.src[i] = (char)pat(i);
	pthread_create(&th, NULL, serve, &w);
	for (c = 0; c < w.nthreads; c++) {
		tt[c] = (struct toucher){ &w, c };
		pthread_create(&workers[c], NULL, touch, &tt[c]);
	}
	for (c = 0; c < w.nthreads; c++)
		pthread_join(workers[c], NULL);
	bad = check(&w);

	child = fork();
	if (child == 0)
		_exit(0);
	if (child > 0)
		waitpid(child, &st, 0);
	madvise(w.base, 16 * PAGE < len ? 16 * PAGE : len, MADV_DONTNEED);
	w.stop = 1;
	pthread_join(th, NULL);

	printf("faultlat-wl: pid %d, %zu pages touched by %d threads; handler "
	       "served %zu UFFDIO_COPY + %zu UFFDIO_ZEROPAGE (%zu errors), read "
	       "%zu FORK + %zu REMOVE; %zu pages with wrong data\n",
	       getpid(), w.npages, w.nthreads, w.copies, w.zeros, w.errors,
	       w.forks, w.removes, bad);
	return bad || w.errors || w.copies + w.zeros != w.npages;
usage:
	fprintf(stderr, "usage: faultlat-wl [-n PAGES] [-t THREADS(1-%d)]\n",
		MAX_THREADS);
	return 2;
}
