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
 * and a shared anonymous region of three pages whose middle page is
 * read-only (three VMAs of one object, which the restorer maps through
 * the object's fd), and a two-page shared anonymous object mapped twice
 * (mremap with old size 0: the restorer makes it with one mmap and maps
 * the other through /proc/PID/map_files, one syscall at a time, in the
 * middle of the batches).
 * After the restore it checks every byte, that the smaps header line and
 * VmFlags of every private VMA are exactly as before the dump, and that
 * the three shared VMAs still map one object, at offsets 0, 1 and 2
 * pages, with their protections.
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

static unsigned char *base, *shared, *twice[2];
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
	shared = mmap(NULL, 3 * LM_PAGE, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		die("shared");
	lm_fill(shared, 3 * LM_PAGE, SEED(NR));
	if (mprotect(shared + LM_PAGE, LM_PAGE, PROT_READ))
		die("mprotect shared");
	twice[0] = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (twice[0] == MAP_FAILED)
		die("twice");
	twice[1] = mremap(twice[0], 0, LEN, MREMAP_MAYMOVE);
	if (twice[1] == MAP_FAILED)
		die("mremap");
	lm_fill(twice[0], LEN, SEED(NR + 1));
	before = snapshot();
}

/* The object mapped twice: the same bytes, and still one object. */
static void check_twice(void)
{
	long bad = lm_check(twice[1], LEN, SEED(NR + 1));

	if (bad >= 0) {
		failf("object mapped twice: byte %ld differs in the second", bad);
		return;
	}
	bad = lm_check(twice[0], LEN, SEED(NR + 1));
	if (bad >= 0) {
		failf("object mapped twice: byte %ld differs in the first", bad);
		return;
	}
	twice[1][LEN - 1] ^= 0xff;
	if (twice[0][LEN - 1] != twice[1][LEN - 1])
		failf("object mapped twice: now two objects");
	twice[1][LEN - 1] ^= 0xff;
}

/* The three VMAs of the shared object: one inode, offsets, perms. */
static void check_shared(void)
{
	static const char *const perms[3] = { "rw-s", "r--s", "rw-s" };
	unsigned long a = (unsigned long)shared, s, e, off, ino, ino0 = 0;
	char line[512], p[8];
	int k = 0;
	long bad;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		die("maps");
	while (fgets(line, sizeof(line), f) && k < 3) {
		if (sscanf(line, "%lx-%lx %7s %lx %*s %lu", &s, &e, p, &off,
			   &ino) != 5 || s != a + k * LM_PAGE)
			continue;
		if (e != s + LM_PAGE || strcmp(p, perms[k]) ||
		    off != k * LM_PAGE || (k && ino != ino0)) {
			failf("shared VMA %d: %.*s", k,
			      (int)strcspn(line, "\n"), line);
			break;
		}
		ino0 = ino;
		k++;
	}
	fclose(f);
	if (k < 3 && !fail_msg[0])
		failf("shared VMA %d at %#lx is missing", k, a + k * LM_PAGE);
	bad = lm_check(shared, 3 * LM_PAGE, SEED(NR));
	if (bad >= 0)
		failf("shared region: byte %ld differs", bad);
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
	check_shared();
	check_twice();
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
