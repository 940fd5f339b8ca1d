// SPDX-License-Identifier: GPL-2.0
/*
 * ws_wl: a workload with a working set, for the working-set-first push
 * and --compress tests.  Fills PAGES pages of private anonymous memory
 * (every page has data), says ready, then keeps rewriting its hot pages
 * (k >= PAGES / 2 and k % 8 == 3: the upper half, which an address-order
 * push sends last) until it notices it was restored (its parent
 * changed).  On SIGUSR1 it verifies every page and reports.
 *
 * Usage: ws_wl PAGES STATEFILE [text|random]
 *   text (default): each page is one line repeated (compresses well);
 *   random: xorshift64 bytes seeded by the page number (does not
 *   compress; lm_pat() would: its pages are shifted copies of each other).
 *   A hot page's first 8 bytes are the pass that wrote it last: each pass
 *   increments gen, then stores it in every hot page in order, so after
 *   the restore the hot pages hold gen up to some page and gen - 1 after.
 *   STATEFILE        "ready PID ADDR PAGES" (written atomically)
 *   STATEFILE.result "ok gen=G passes_after=N pages=P" or "fail: ..."
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "lmtest.h"

static volatile sig_atomic_t go;
static int text;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static int is_hot(size_t k, size_t npages)
{
	return k >= npages / 2 && k % 8 == 3;
}

static void fill_text(char *p, size_t k)
{
	char line[64];
	size_t n = snprintf(line, sizeof(line), "ws_wl page %08zx: hot or not, data\n", k);
	size_t i;

	for (i = 0; i < LM_PAGE; i++)
		p[i] = line[i % n];
}

static void fill_random(char *p, size_t k)
{
	uint64_t x = (k + 1) * 0x9e3779b97f4a7c15ULL;
	size_t i;

	for (i = 0; i < LM_PAGE; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
}

static void fill(char *p, size_t k)
{
	if (text)
		fill_text(p, k);
	else
		fill_random(p, k);
}

/* Offset of the first wrong byte of page k from byte @from, or -1. */
static long check(const char *p, size_t k, size_t from)
{
	char want[LM_PAGE];
	size_t i;

	fill(want, k);
	for (i = from; i < LM_PAGE; i++)
		if (p[i] != want[i])
			return i;
	return -1;
}

static int verify(char *mem, size_t npages, uint64_t gen, char *msg,
		  size_t len)
{
	int seen_old = 0;
	size_t k;

	for (k = 0; k < npages; k++) {
		char *p = mem + k * LM_PAGE;
		uint64_t g;
		long bad;

		bad = check(p, k, is_hot(k, npages) ? 8 : 0);
		if (bad >= 0)
			return snprintf(msg, len, "fail: page %zu byte %ld is 0x%02x\n",
					k, bad, (unsigned char)p[bad]), 1;
		if (!is_hot(k, npages))
			continue;
		memcpy(&g, p, 8);
		/* gen up to the page the last pass reached, gen - 1 after */
		if (g == gen - 1 && gen > 1) {
			seen_old = 1;
		} else if (g != gen || seen_old) {
			return snprintf(msg, len, "fail: hot page %zu holds pass %llu, the process was at pass %llu\n",
					k, (unsigned long long)g,
					(unsigned long long)gen), 1;
		}
	}
	return 0;
}

static void pass(char *mem, size_t npages, uint64_t *gen)
{
	size_t k;

	++*gen;
	for (k = 0; k < npages; k++)
		if (is_hot(k, npages))
			memcpy(mem + k * LM_PAGE, gen, 8);
}

int main(int argc, char **argv)
{
	size_t npages, k, after = 0;
	char msg[512], path[4096];
	uint64_t gen = 0;
	pid_t parent;
	char *mem;

	if (argc < 3) {
		fprintf(stderr, "usage: ws_wl PAGES STATEFILE [text|random]\n");
		return 2;
	}
	npages = strtoul(argv[1], NULL, 0);
	text = argc < 4 || strcmp(argv[3], "random");
	signal(SIGUSR1, on_usr1);
	mem = mmap(NULL, npages * LM_PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || npages < 16)
		return 1;
	/* 4 KiB pages: a THP's soft-dirty or uffd-wp bit covers 2 MiB */
	madvise(mem, npages * LM_PAGE, MADV_NOHUGEPAGE);
	for (k = 0; k < npages; k++)
		fill(mem + k * LM_PAGE, k);
	pass(mem, npages, &gen);	/* hot pages hold a pass from the start */
	parent = getppid();
	snprintf(msg, sizeof(msg), "ready %d %p %zu\n", getpid(), mem, npages);
	if (lm_write_atomic(argv[2], msg))
		return 1;
	while (getppid() == parent || !go) {
		if (getppid() != parent) {	/* restored: stop writing */
			after++;
			usleep(1000);
			continue;
		}
		pass(mem, npages, &gen);
		usleep(2000);
	}
	snprintf(path, sizeof(path), "%s.result", argv[2]);
	if (!verify(mem, npages, gen, msg, sizeof(msg)))
		snprintf(msg, sizeof(msg), "ok gen=%llu passes_after=%zu pages=%zu\n",
			 (unsigned long long)gen, after, npages);
	lm_write_atomic(path, msg);
	return strncmp(msg, "ok", 2) != 0;
}
