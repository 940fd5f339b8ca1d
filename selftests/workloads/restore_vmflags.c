// SPDX-License-Identifier: GPL-2.0
/*
 * restore_vmflags: VMAs whose flags a restore must give back, each filled
 * with a known pattern, and checked from inside the restored process:
 * content, the whole smaps VmFlags line (as before the dump), Locked,
 * and the maps name:
 *   dontfork, wipeonfork, hugepage, nohugepage, dontdump (madvise),
 *   locked (mlock), growsdown (MAP_GROWSDOWN), prot_none and read_only
 *   (written, then mprotect'ed), named (PR_SET_VMA_ANON_NAME).
 * Also per process: personality, no_new_privs, dumpable.
 *
 * Usage: restore_vmflags STATEFILE.  Same protocol as wl_mem: "ready PID"
 * in STATEFILE, then SIGUSR1 -> STATEFILE.result "ok" or "fail: ...",
 * exit 0 or 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include "lmtest.h"
#include "wlproto.h"

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define PAGES 4
#define LEN (PAGES * LM_PAGE)
#define NAME "lm-named"

enum { DONTFORK, WIPEONFORK, HUGEPAGE, NOHUGEPAGE, DONTDUMP, LOCKED,
       GROWSDOWN, PROT_NONE_, READ_ONLY, NAMED, NR };

static const char *const names[NR] = {
	"dontfork", "wipeonfork", "hugepage", "nohugepage", "dontdump",
	"locked", "growsdown", "prot_none", "read_only", "named",
};

static struct {
	unsigned char *addr;
	char vmflags[160];
} reg[NR];

static int pers, nnp, named;

static void die(const char *what)
{
	fprintf(stderr, "restore_vmflags: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* smaps of the VMA at @addr: its VmFlags line and Locked kB. */
static int smaps_of(void *addr, char *flags, size_t len, long *locked,
		    char *name, size_t nlen)
{
	unsigned long a = (unsigned long)addr, s, e;
	char line[512];
	int in = 0, found = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &s, &e) == 2) {
			in = s <= a && a < e;
			if (in && name) {
				char *p = strrchr(line, ' ');

				strncpy(name, p ? p + 1 : "", nlen - 1);
				name[nlen - 1] = 0;
				name[strcspn(name, "\n")] = 0;
			}
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(line, "VmFlags:", 8)) {
			line[strcspn(line, "\n")] = 0;
			strncpy(flags, line + 8, len - 1);
			flags[len - 1] = 0;
			found = 1;
		} else if (locked && !strncmp(line, "Locked:", 7)) {
			*locked = strtol(line + 7, NULL, 10);
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

static unsigned char *map(int extra)
{
	void *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

static void setup(void)
{
	static const int adv[] = { MADV_DONTFORK, MADV_WIPEONFORK,
				   MADV_HUGEPAGE, MADV_NOHUGEPAGE,
				   MADV_DONTDUMP };
	int i;

	for (i = 0; i < NR; i++) {
		/* A guard page between regions keeps them apart. */
		if (mmap(NULL, LM_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0) == MAP_FAILED)
			die("guard");
		reg[i].addr = map(i == GROWSDOWN ? MAP_GROWSDOWN : 0);
		lm_fill(reg[i].addr, LEN, 0x100 + i);
		if (i <= DONTDUMP && madvise(reg[i].addr, LEN, adv[i]))
			die(names[i]);
	}
	if (mlock(reg[LOCKED].addr, LEN))
		die("mlock");
	if (mprotect(reg[PROT_NONE_].addr, LEN, PROT_NONE) ||
	    mprotect(reg[READ_ONLY].addr, LEN, PROT_READ))
		die("mprotect");
	/* Kernels without CONFIG_ANON_VMA_NAME: nothing to name. */
	named = !prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, reg[NAMED].addr, LEN,
		       NAME);
	for (i = 0; i < NR; i++)
		if (smaps_of(reg[i].addr, reg[i].vmflags, sizeof(reg[i].vmflags),
			     NULL, NULL, 0))
			die("smaps");
	if (personality(PER_LINUX | ADDR_NO_RANDOMIZE) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		die("prctl");
	pers = personality(0xffffffff);
	nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
}

static void check(void)
{
	char flags[160], name[64];
	long locked = 0, off;
	int i;

	for (i = 0; i < NR; i++) {
		if (smaps_of(reg[i].addr, flags, sizeof(flags), &locked, name,
			     sizeof(name))) {
			failf("%s: no VMA at %p", names[i], reg[i].addr);
			return;
		}
		if (strcmp(flags, reg[i].vmflags))
			failf("%s: VmFlags '%s', was '%s'", names[i], flags,
			      reg[i].vmflags);
		if (i == LOCKED && locked < (long)(LEN / 1024))
			failf("locked: %ld kB locked, want %lu", locked,
			      LEN / 1024);
		if (i == NAMED && named && strcmp(name, "[anon:" NAME "]"))
			failf("named: maps name '%s'", name);
		if (i == PROT_NONE_)
			mprotect(reg[i].addr, LEN, PROT_READ);
		off = lm_check(reg[i].addr, LEN, 0x100 + i);
		if (off >= 0)
			failf("%s: byte %ld differs", names[i], off);
	}
	if (personality(0xffffffff) != pers)
		failf("personality %#x, was %#x", personality(0xffffffff), pers);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != nnp)
		failf("no_new_privs lost");
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		failf("dumpable is %d, was 0", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
}

int main(int argc, char **argv)
{
	wlp_init(argc, argv, "restore_vmflags");
	setup();
	wlp_ready(named ? "" : "skip named no CONFIG_ANON_VMA_NAME\n");
	wlp_wait_usr1();
	check();
	return wlp_result();
}
