// SPDX-License-Identifier: GPL-2.0
/*
 * bench/bench_wl: the benchmark workload.  MIB MiB of private anonymous
 * memory split over VMAS mappings (unmapped holes between them, so they
 * never merge), every page filled with data (no zero page: every byte
 * must cross), and THREADS threads in all.
 *
 * It writes "ready PID" to STATEFILE, then waits (200 us naps) until it
 * finds itself migrated: its parent changed (the restorer is not the
 * shell that started it) or SIGUSR1 came.  Right then the main thread
 * touches TOUCHES distinct random pages, timing each touch on its own,
 * then reads every page in random order verifying its data, while the
 * other threads do the same each in its own order.  It writes to
 * STATEFILE.result one line:
 *   ok detect_ns=T touch_p50_ns= touch_p99_ns= slow=N slow_p50_ns=
 *      slow_p99_ns= last_ns=T pages=N
 * "slow" are the touches that took >= 1 us (a page not yet in, i.e. a
 * real fault; a present page costs ~0.1 us); times are CLOCK_REALTIME
 * stamps, comparable with lazymig's stats.  Exit 0, or 1 on bad data.
 *
 * touch_sum_ns is the time all TOUCHES took together.  With
 * LM_BENCH_ORDER=seq in the environment the timed touches go in address
 * order over the last TOUCHES pages instead (a sequential reader, where
 * an address-order push arrives last).
 *
 * With LM_BENCH_IDLE set it sleeps (no thread runs) until SIGUSR1
 * instead of napping: bench/migrate.sh then sends it once every page is
 * in (first-touch figures mean nothing then; downtime does).
 *
 * Usage: bench_wl MIB VMAS THREADS STATEFILE [TOUCHES]
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include "lmtest.h"

#define PAGE 4096UL
#define SLOW_NS 1000

static volatile sig_atomic_t go;
static int wake[2];		/* workers block reading it until resume */
static char **vma_at;		/* start of each mapping */
static size_t per_vma, npages;	/* pages per mapping, in all */

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static char *page_addr(size_t k)
{
	return vma_at[k / per_vma] + (k % per_vma) * PAGE;
}

/* Page k holds words k * 2^20 + w + 1, w the word index. */
static void fill(size_t k)
{
	uint64_t *p = (uint64_t *)page_addr(k);
	size_t w;

	for (w = 0; w < PAGE / 8; w++)
		p[w] = ((uint64_t)k << 20) + w + 1;
}

static int check(size_t k)
{
	const volatile uint64_t *p = (const uint64_t *)page_addr(k);
	size_t w;

	for (w = 0; w < PAGE / 8; w += 64)
		if (p[w] != ((uint64_t)k << 20) + w + 1)
			return 1;
	return 0;
}

static int check_all(size_t *o)
{
	size_t i;

	for (i = 0; i < npages; i++)
		if (check(o[i]))
			return 1;
	return 0;
}

static void *worker(void *arg)
{
	size_t *o;
	char c;

	if (read(wake[0], &c, 1) != 1)
		_exit(1);
	o = lm_shuffled(npages, 0x9e3779b97f4a7c15ULL + (uintptr_t)arg * 7919);
	if (!o || check_all(o))
		_exit(1);
	free(o);
	return NULL;
}

int main(int argc, char **argv)
{
	size_t mib, nvma, touches = 4096, i, nslow = 0;
	uint64_t *lat, *slow, detect, last, sum = 0;
	const char *order = getenv("LM_BENCH_ORDER");
	sigset_t usr1, old;
	size_t *seq = NULL;
	char msg[512], path[4096];
	pid_t ppid;
	pthread_t *th;
	int nthr, rc;
	size_t *o;
	char *area;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: bench_wl MIB VMAS THREADS STATEFILE [TOUCHES]\n");
		return 2;
	}
	mib = strtoul(argv[1], NULL, 0);
	nvma = strtoul(argv[2], NULL, 0);
	nthr = atoi(argv[3]);
	if (argc == 6)
		touches = strtoul(argv[5], NULL, 0);
	npages = (mib << 20) / PAGE;
	if (!nvma || nthr < 1 || npages % nvma || npages / nvma < 1) {
		fprintf(stderr, "bench_wl: MIB*256 must be a multiple of VMAS\n");
		return 2;
	}
	per_vma = npages / nvma;
	if (touches > npages)
		touches = npages;
	/* one reservation, then a one-page hole after every mapping */
	area = mmap(NULL, (npages + nvma) * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	vma_at = calloc(nvma, sizeof(*vma_at));
	lat = calloc(touches, sizeof(*lat));
	slow = calloc(touches, sizeof(*slow));
	th = calloc(nthr, sizeof(*th));
	if (area == MAP_FAILED || !vma_at || !lat || !slow || !th)
		return 1;
	for (i = 0; i < nvma; i++) {
		vma_at[i] = area + i * (per_vma + 1) * PAGE;
		munmap(vma_at[i] + per_vma * PAGE, PAGE);
	}
	for (i = 0; i < npages; i++)
		fill(i);
	o = lm_shuffled(npages, 0x2545f4914f6cdd1dULL);
	if (!o)
		return 1;
	if (order && !strcmp(order, "seq")) {
		seq = calloc(touches, sizeof(*seq));
		if (!seq)
			return 1;
		for (i = 0; i < touches; i++)	/* the push comes last there */
			seq[i] = npages - touches + i;
	}
	if (pipe(wake))
		return 1;
	for (i = 1; i < (size_t)nthr; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			return 1;
	signal(SIGUSR1, on_usr1);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	ppid = getppid();
	snprintf(msg, sizeof(msg), "ready %d\n", getpid());
	if (lm_write_atomic(argv[4], msg))
		return 1;
	if (getenv("LM_BENCH_IDLE")) {	/* asleep until SIGUSR1 */
		while (!go)
			sigsuspend(&old);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	while (!go && getppid() == ppid)
		usleep(200);
	detect = now_ns(CLOCK_REALTIME);
	for (i = 1; i < (size_t)nthr; i++)
		if (write(wake[1], "g", 1) != 1)
			return 1;
	rc = 0;
	for (i = 0; i < touches; i++) {
		uint64_t t0 = now_ns(CLOCK_MONOTONIC);

		rc |= check(seq ? seq[i] : o[i]);
		lat[i] = now_ns(CLOCK_MONOTONIC) - t0;
		sum += lat[i];
		if (lat[i] >= SLOW_NS)
			slow[nslow++] = lat[i];
	}
	rc |= check_all(o);
	for (i = 1; i < (size_t)nthr; i++)
		pthread_join(th[i], NULL);
	last = now_ns(CLOCK_REALTIME);
	qsort(lat, touches, sizeof(*lat), cmp_u64);
	qsort(slow, nslow, sizeof(*slow), cmp_u64);
	snprintf(msg, sizeof(msg),
		 "%s detect_ns=%llu touches=%zu touch_sum_ns=%llu touch_p50_ns=%llu touch_p99_ns=%llu slow=%zu slow_p50_ns=%llu slow_p99_ns=%llu last_ns=%llu pages=%zu\n",
		 rc ? "fail" : "ok", (unsigned long long)detect, touches,
		 (unsigned long long)sum,
		 (unsigned long long)lat[touches / 2],
		 (unsigned long long)lat[touches * 99 / 100], nslow,
		 (unsigned long long)(nslow ? slow[nslow / 2] : 0),
		 (unsigned long long)(nslow ? slow[nslow * 99 / 100] : 0),
		 (unsigned long long)last, npages);
	snprintf(path, sizeof(path), "%s.result", argv[4]);
	lm_write_atomic(path, msg);
	return rc;
}
