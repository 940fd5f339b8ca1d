// SPDX-License-Identifier: GPL-2.0
/*
 * many_vmas: 500 private anonymous VMAs of two pages, one-page holes
 * between them so that none merges, each filled with its own pattern,
 * in five flavours by index mod 5:
 *   0 read-write, both pages written
 *   1 read-write, page 0 written, page 1 never touched (must read zero)
 *   2 written, then mprotect'ed read-only
 *   3 named with PR_SET_VMA_ANON_NAME (a 44-byte name: together more
 *     than a page)
 *   4 MADV_DONTFORK; every tenth of them also mlock'ed
 * After the restore it checks every byte, and that the smaps header line
 * and VmFlags of every VMA in its area are exactly as before the dump.
 *
 * Usage: many_vmas STATEFILE.  Same protocol as wl_mem: "ready PID" in
 * STATEFILE, then SIGUSR1 -> STATEFILE.result "ok" or "fail: ...", exit 0
 * or 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include "lmtest.h"
#include "wlproto.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define NR		500
#define STRIDE		(3 * LM_PAGE)	/* two pages and a hole */
#define LEN		(2 * LM_PAGE)
#define SEED(i)		(0x5000 + (i))

static unsigned char *base;
static char *before;		/* smaps lines of the area at setup */
static int named;

static void die(const char *what)
{
	fprintf(stderr, "many_vmas: %s: %s\n", what, strerror(errno));
	exit(2);
}

/*
 * The header line and VmFlags of each VMA inside the area, in order, in
 * one malloc'ed string.
 */
static char *snapshot(void)
{
	unsigned long lo = (unsigned long)base, hi = lo + NR * STRIDE, s, e;
	size_t len = 0, cap = 1 << 17;
	char line[512], *out = malloc(cap);
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f || !out)
		die("smaps");
	out[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		size_t n;

		if (sscanf(line, "%lx-%lx", &s, &e) == 2)
			in = s >= lo && e <= hi;
		else if (!in || strncmp(line, "VmFlags:", 8))
			continue;
		if (!in)
			continue;
		n = strlen(line);
		if (len + n + 1 > cap) {
			cap *= 2;
			out = realloc(out, cap);
			if (!out)
				die("realloc");
		}
		memcpy(out + len, line, n + 1);
		len += n;
	}
	fclose(f);
	return out;
}

static void setup(void)
{
	char name[64];
	int i;

	base = mmap(NULL, NR * STRIDE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (base == MAP_FAILED)
		die("reserve");
	for (i = 0; i < NR; i++) {
		unsigned char *p = base + (size_t)i * STRIDE;

		if (mmap(p, LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p ||
		    munmap(p + LEN, STRIDE - LEN))
			die("mmap");
		lm_fill(p, i % 5 == 1 ? LM_PAGE : LEN, SEED(i));
		switch (i % 5) {
		case 2:
			if (mprotect(p, LEN, PROT_READ))
				die("mprotect");
			break;
		case 3:
			snprintf(name, sizeof(name),
				 "lm-many-vmas-%04d-a-name-longer-than-most", i);
			named = !prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, LEN,
				       name);
			break;
		case 4:
			if (madvise(p, LEN, MADV_DONTFORK) ||
			    (i % 50 == 4 && mlock(p, LEN)))
				die("madvise/mlock");
			break;
		}
	}
	before = snapshot();
}

static void check(void)
{
	char *now;
	long off;
	int i;

	for (i = 0; i < NR; i++) {
		unsigned char *p = base + (size_t)i * STRIDE;

		if (i % 5 == 1) {
			off = lm_check(p, LM_PAGE, SEED(i));
			if (off < 0 && lm_check_zero(p + LM_PAGE, LM_PAGE) >= 0)
				off = LM_PAGE + lm_check_zero(p + LM_PAGE,
							      LM_PAGE);
		} else {
			off = lm_check(p, LEN, SEED(i));
		}
		if (off >= 0) {
			failf("VMA %d at %p: byte %ld differs", i, p, off);
			return;
		}
	}
	now = snapshot();
	if (strcmp(now, before)) {
		size_t k = 0;

		while (now[k] == before[k])
			k++;
		while (k && before[k - 1] != '\n')
			k--;
		failf("smaps differ from line '%.*s' (was '%.*s')",
		      (int)strcspn(now + k, "\n"), now + k,
		      (int)strcspn(before + k, "\n"), before + k);
	}
	free(now);
}

int main(int argc, char **argv)
{
	wlp_init(argc, argv, "many_vmas");
	setup();
	wlp_ready(named ? "" : "skip named no CONFIG_ANON_VMA_NAME\n");
	wlp_wait_usr1();
	check();
	return wlp_result();
}
