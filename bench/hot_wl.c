// SPDX-License-Identifier: GPL-2.0
/*
 * bench/hot_wl: a workload with a hot set, for bench/ws.sh and
 * bench/compress.sh.  MIB MiB of private anonymous memory, every page
 * with data; HOT_MIB of its pages, picked at random (fixed seed) over the
 * whole range, are the hot set, written (first 8 bytes: the pass number)
 * over and over in one fixed random order.
 *
 * It writes "ready PID" to STATEFILE and runs its passes until it finds
 * itself migrated (its parent changed), then runs passes for RUN_S more
 * seconds, counting those that ended within the first second, then
 * verifies every page and writes to STATEFILE.result one line:
 *   ok detect_ns=T passes_before=N passes_1s=N passes_after=N pages=N hot=N
 * (CLOCK_REALTIME stamps, comparable with lazymig's stats), or
 * "fail: ...".  Exit 0, or 1 on bad data.  HOT_MIB 0: it just waits.
 *
 * Usage: hot_wl MIB HOT_MIB STATEFILE [random|text [RUN_S]]
 *   random (default): xorshift64 bytes per page (incompressible);
 *   text: one line repeated per page (compresses ~30x with zlib).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include "lmtest.h"

#define PAGE 4096UL

static int text;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t xs(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void fill(char *p, size_t k)
{
	uint64_t x = (k + 1) * 0x9e3779b97f4a7c15ULL, v;
	char line[64];
	size_t i, n;

	if (text) {
		n = snprintf(line, sizeof(line), "hot_wl page %08zx, some text\n", k);
		for (i = 0; i < PAGE; i++)
			p[i] = line[i % n];
		return;
	}
	for (i = 0; i < PAGE; i += 8) {
		v = xs(&x);
		memcpy(p + i, &v, 8);
	}
}

static void pass(char *mem, const size_t *hot, size_t nhot, uint64_t gen)
{
	size_t i;

	for (i = 0; i < nhot; i++)
		memcpy(mem + hot[i] * PAGE, &gen, 8);
}

int main(int argc, char **argv)
{
	size_t npages, nhot, i, k, before = 0, in1 = 0, after = 0;
	uint64_t x = 0x2545f4914f6cdd1dULL, gen = 0, t0, t;
	char msg[512], path[4096], want[PAGE];
	unsigned char *is_hot;
	double run_s;
	size_t *hot;
	pid_t parent;
	char *mem;

	if (argc < 4) {
		fprintf(stderr, "usage: hot_wl MIB HOT_MIB STATEFILE [random|text [RUN_S]]\n");
		return 2;
	}
	npages = strtoul(argv[1], NULL, 0) * (1 << 20) / PAGE;
	nhot = strtoul(argv[2], NULL, 0) * (1 << 20) / PAGE;
	text = argc > 4 && !strcmp(argv[4], "text");
	run_s = argc > 5 ? atof(argv[5]) : 2.0;
	if (!npages || nhot > npages)
		return 2;
	mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	hot = malloc(nhot * sizeof(*hot));
	is_hot = calloc(npages, 1);
	if (mem == MAP_FAILED || !hot || !is_hot)
		return 1;
	madvise(mem, npages * PAGE, MADV_NOHUGEPAGE);	/* 4 KiB pages */
	for (k = 0; k < npages; k++)
		fill(mem + k * PAGE, k);
	for (i = 0; i < nhot; i++) {	/* distinct random pages, random order */
		do {
			k = xs(&x) % npages;
		} while (is_hot[k]);
		is_hot[k] = 1;
		hot[i] = k;
	}
	parent = getppid();
	snprintf(msg, sizeof(msg), "ready %d\n", getpid());
	if (lm_write_atomic(argv[3], msg))
		return 1;
	while (getppid() == parent) {
		pass(mem, hot, nhot, ++gen);
		before++;
		if (!nhot)
			usleep(1000);	/* no hot set: do not spin */
	}
	t0 = now_ns();
	do {
		pass(mem, hot, nhot, ++gen);
		t = now_ns();
		in1 += t - t0 < 1000000000ULL;
		after++;
	} while (t - t0 < run_s * 1e9);
	for (k = 0; k < npages; k++) {
		char *p = mem + k * PAGE;
		size_t from = is_hot[k] ? 8 : 0;
		uint64_t g;

		fill(want, k);
		if (memcmp(p + from, want + from, PAGE - from)) {
			snprintf(msg, sizeof(msg), "fail: page %zu differs\n", k);
			goto out;
		}
		memcpy(&g, p, 8);
		if (is_hot[k] && g != gen) {
			snprintf(msg, sizeof(msg), "fail: hot page %zu holds pass %llu, not %llu\n",
				 k, (unsigned long long)g,
				 (unsigned long long)gen);
			goto out;
		}
	}
	snprintf(msg, sizeof(msg), "ok detect_ns=%llu passes_before=%zu passes_1s=%zu passes_after=%zu pages=%zu hot=%zu\n",
		 (unsigned long long)t0, before, in1, after, npages, nhot);
out:
	snprintf(path, sizeof(path), "%s.result", argv[3]);
	lm_write_atomic(path, msg);
	return strncmp(msg, "ok", 2) != 0;
}
