// SPDX-License-Identifier: GPL-2.0
/*
 * events_wl: one non-cooperative event on one memory kind, performed
 * while the process's pages are still arriving, every byte verified.
 *
 * Usage: events_wl KIND EVENT UNITS STATEFILE
 *   KIND   anon | shared | memfd | memfd_closed | tmpfs | huge_private |
 *          huge_shared | huge_memfd (a unit is 4 KiB, or a 2 MiB huge
 *          page; memfd keeps its fd open, tmpfs is a file in /dev/shm:
 *          both are fd-reachable; memfd_closed only maps it, and so does
 *          huge_memfd, an MFD_HUGETLB memfd)
 *   EVENT  fork   16 children forked at once each verify everything, one
 *                 child execs at once, one exits at once, one writes a
 *                 unit (the parent sees it for shared kinds only)
 *          remap  mremap: move E units, shrink the head by 2E units (a
 *                 new mapping takes the freed place), grow the tail by E
 *                 units (shared kinds show the object's data there:
 *                 the tail of the object was unmapped before the dump;
 *                 not hugetlb, whose VMAs cannot grow)
 *          remove MADV_DONTNEED, MADV_FREE, MADV_REMOVE on three ranges
 *          unmap  a partial unmap (a new mapping takes its place) and a
 *                 whole unmap of a second region (likewise)
 *          none   no event: only the verifications (how lazy was it?)
 *   Units with i % 8 == 3 are never touched (they must read zero).
 *   E = UNITS / 8, the event ranges are near the end of the region (a
 *   push in address order sends them last).
 *
 * STATEFILE         "ready PID" (+ "file tmpfs PATH": remove it after)
 * SIGUSR1           perform the event, verify everything, write
 *                   STATEFILE.stage "ok ..." or "fail: ..."
 * SIGUSR2           (once the migration is over) verify everything again:
 *                   nothing was refilled behind the process's back;
 *                   STATEFILE.result "ok ..." or "fail: ...", exit 0/1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "lmtest.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#define HUGE (2UL << 20)

static volatile sig_atomic_t got1, got2;

static void on_sig(int sig)
{
	if (sig == SIGUSR1)
		got1 = 1;
	else
		got2 = 1;
}

/* What one unit of memory must hold. */
struct unit {
	char *addr;
	uint64_t seed;		/* 0: zeros */
	int maybe_zero;		/* MADV_FREE: its data, or zeros if reclaimed */
};

static struct unit *units;
static size_t nr_units, cap_units;
static size_t usz;		/* unit size */
static int shared, huge;
static char tmpfs_path[2][256];
static int memfd = -1;
static char msg[512];

static int add_unit(char *addr, uint64_t seed, int maybe_zero)
{
	if (nr_units == cap_units) {
		size_t cap = cap_units ? 2 * cap_units : 1024;
		struct unit *n = realloc(units, cap * sizeof(*n));

		if (!n)
			return -1;
		units = n;
		cap_units = cap;
	}
	units[nr_units++] = (struct unit){ addr, seed, maybe_zero };
	return 0;
}

/* Forget the expectations of [addr, addr + len). */
static void drop_units(char *addr, size_t len)
{
	size_t i, j = 0;

	for (i = 0; i < nr_units; i++)
		if (units[i].addr < addr || units[i].addr >= addr + len)
			units[j++] = units[i];
	nr_units = j;
}

static struct unit *unit_at(char *addr)
{
	size_t i;

	for (i = 0; i < nr_units; i++)
		if (units[i].addr == addr)
			return &units[i];
	return NULL;
}

static uint64_t seed_of(size_t i)
{
	return i % 8 == 3 ? 0 : i + 1;
}

static int check_units(const char *when)
{
	size_t i;

	for (i = 0; i < nr_units; i++) {
		const struct unit *u = &units[i];
		long bad;

		bad = u->seed ? lm_check(u->addr, usz, u->seed) :
				lm_check_zero(u->addr, usz);
		if (bad >= 0 && u->maybe_zero && lm_check_zero(u->addr, usz) < 0)
			bad = -1;
		if (bad >= 0) {
			snprintf(msg, sizeof(msg),
				 "fail: %s: unit at %p (seed %llu%s) byte %ld is 0x%02x\n",
				 when, u->addr, (unsigned long long)u->seed,
				 u->maybe_zero ? " or zero" : "", bad,
				 (unsigned char)u->addr[bad]);
			return 1;
		}
	}
	return 0;
}

/* A mapping of a new object of the kind, @n units; @idx names tmpfs files. */
static char *map_kind(const char *kind, size_t n, int idx)
{
	int prot = PROT_READ | PROT_WRITE, fd;
	char *m;

	if (!strcmp(kind, "anon"))
		return mmap(NULL, n * usz, prot, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	if (!strcmp(kind, "huge_private"))
		return mmap(NULL, n * usz, prot,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (!strcmp(kind, "shared") || !strcmp(kind, "huge_shared"))
		return mmap(NULL, n * usz, prot, MAP_SHARED | MAP_ANONYMOUS |
			    (huge ? MAP_HUGETLB : 0), -1, 0);
	if (!strcmp(kind, "memfd") || !strcmp(kind, "memfd_closed")) {
		fd = memfd_create("lazymig-events", MFD_CLOEXEC);
	} else if (!strcmp(kind, "huge_memfd")) {
		fd = memfd_create("lazymig-events-huge",
				  MFD_CLOEXEC | MFD_HUGETLB);
	} else if (!strcmp(kind, "tmpfs")) {
		snprintf(tmpfs_path[idx], sizeof(tmpfs_path[idx]),
			 "/dev/shm/lazymig-events-%d-%d", getpid(), idx);
		fd = open(tmpfs_path[idx], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	} else {
		errno = EINVAL;
		return MAP_FAILED;
	}
	if (fd < 0 || ftruncate(fd, n * usz))
		return MAP_FAILED;
	m = mmap(NULL, n * usz, prot, MAP_SHARED, fd, 0);
	if (!strcmp(kind, "memfd") && memfd < 0)
		memfd = fd;	/* kept: the object is fd-reachable */
	else
		close(fd);
	return m;
}

/* Fill @n units at @m with seeds from @first on; expect them. */
static int fill(char *m, size_t n, size_t first, int expect)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (seed_of(first + i))
			lm_fill(m + i * usz, usz, seed_of(first + i));
		if (expect && add_unit(m + i * usz, seed_of(first + i), 0))
			return -1;
	}
	return 0;
}

/* A private anon mapping at @at (replacing nothing), half filled. */
static int new_mapping(char *at, size_t len, uint64_t seed)
{
	char *m = mmap(at, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	size_t off;

	if (m != at)
		return -1;
	for (off = 0; off < len / 2; off += LM_PAGE)
		lm_fill(m + off, LM_PAGE, seed + off / LM_PAGE);
	return 0;
}

struct extra {
	char *addr;
	size_t len;
	uint64_t seed;
};

static struct extra extras[4];
static int nr_extras;

static int check_extras(const char *when)
{
	int i;

	for (i = 0; i < nr_extras; i++) {
		struct extra *e = &extras[i];
		size_t off;

		for (off = 0; off < e->len; off += LM_PAGE) {
			long bad = off < e->len / 2 ?
				lm_check(e->addr + off, LM_PAGE,
					 e->seed + off / LM_PAGE) :
				lm_check_zero(e->addr + off, LM_PAGE);

			if (bad >= 0) {
				snprintf(msg, sizeof(msg),
					 "fail: %s: new mapping at %p byte %ld is 0x%02x (the daemon wrote into it?)\n",
					 when, e->addr + off, bad,
					 (unsigned char)e->addr[off + bad]);
				return 1;
			}
		}
	}
	return 0;
}

static int replace(char *at, size_t len, uint64_t seed)
{
	if (new_mapping(at, len, seed))
		return -1;
	extras[nr_extras++] = (struct extra){ at, len, seed };
	return 0;
}

static int fail_errno(const char *what)
{
	snprintf(msg, sizeof(msg), "fail: %s: %s\n", what, strerror(errno));
	return 1;
}

/* ---- the events ---- */

static char *mem;
static size_t n, E;
static char *second;		/* unmap: the region unmapped whole */

static int ev_remove(void)
{
	char *a = mem + (n - 4 * E) * usz, *b = mem + (n - 3 * E) * usz;
	char *c = mem + (n - 2 * E) * usz;
	size_t i;
	int ok;

	ok = !madvise(a, E * usz, MADV_DONTNEED);
	for (i = 0; ok && !shared && i < E; i++)
		unit_at(a + i * usz)->seed = 0;
	ok = !madvise(b, E * usz, MADV_FREE);
	for (i = 0; ok && i < E; i++)
		unit_at(b + i * usz)->maybe_zero = 1;
	ok = !madvise(c, E * usz, MADV_REMOVE);
	if (shared && !ok)
		return fail_errno("MADV_REMOVE on a shared mapping");
	for (i = 0; ok && i < E; i++)
		unit_at(c + i * usz)->seed = 0;
	return 0;
}

static int ev_remap(void)
{
	char *mv = mem + (n - 3 * E) * usz, *to, *tail, *g;
	char *shrink_from = mem + (n - 5 * E) * usz;
	size_t i;

	/* move [n-3E, n-2E) */
	to = mmap(NULL, E * usz + HUGE, PROT_NONE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (to == MAP_FAILED)
		return fail_errno("mmap");
	to = (char *)(((uintptr_t)to + HUGE - 1) & ~(HUGE - 1));
	if (mremap(mv, E * usz, E * usz, MREMAP_MAYMOVE | MREMAP_FIXED, to) != to)
		return fail_errno("mremap (move)");
	for (i = 0; i < E; i++)
		unit_at(mv + i * usz)->addr = to + i * usz;
	/* shrink [0, n-3E) to [0, n-5E); a new mapping takes the rest */
	if (mremap(mem, (n - 3 * E) * usz, (n - 5 * E) * usz, 0) != mem)
		return fail_errno("mremap (shrink)");
	drop_units(shrink_from, 2 * E * usz);
	if (replace(shrink_from, 2 * E * usz, 7001))
		return fail_errno("mmap where the shrunk range was");
	/* grow [n-2E, n-E) by E units (the object's tail for shared) */
	if (huge)
		return 0;	/* hugetlb VMAs cannot grow (EINVAL) */
	tail = mem + (n - 2 * E) * usz;
	g = mremap(tail, E * usz, 2 * E * usz, MREMAP_MAYMOVE);
	if (g == MAP_FAILED)
		return fail_errno("mremap (grow)");
	for (i = 0; i < E; i++)
		unit_at(tail + i * usz)->addr = g + i * usz;
	for (i = 0; i < E; i++)
		if (add_unit(g + (E + i) * usz,
			     shared ? seed_of(n - E + i) : 0, 0))
			return fail_errno("malloc");
	return 0;
}

static int ev_unmap(void)
{
	char *p = mem + (n - 2 * E) * usz;

	if (munmap(p, E * usz))
		return fail_errno("munmap (partial)");
	drop_units(p, E * usz);
	if (replace(p, E * usz, 8001))
		return fail_errno("mmap where the partial unmap was");
	if (munmap(second, E * usz))
		return fail_errno("munmap (whole)");
	drop_units(second, E * usz);
	if (replace(second, E * usz, 9001))
		return fail_errno("mmap where the whole unmap was");
	return 0;
}

static int verify_child(void)
{
	return check_units("in a forked child") || check_extras("in a child");
}

static int ev_fork(void)
{
	char *w = mem + (n - E - 1) * usz;	/* seed_of(n-E-1) != 0 */
	pid_t kids[16], p;
	int i, st, bad = 0, first = 0;

	for (i = 0; i < 16; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(verify_child() ? 3 : 0);
		if (kids[i] < 0)
			return fail_errno("fork");
	}
	p = fork();
	if (p == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(4);
	}
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) ||
	    WEXITSTATUS(st))
		return fail_errno("a child that execs at once");
	p = fork();
	if (p == 0)
		_exit(0);
	if (p < 0 || waitpid(p, &st, 0) != p || st)
		return fail_errno("a child that exits at once");
	for (i = 0; i < 16; i++) {
		if (waitpid(kids[i], &st, 0) != kids[i])
			return fail_errno("waitpid");
		if ((!WIFEXITED(st) || WEXITSTATUS(st)) && !bad++)
			first = st;
	}
	if (bad) {
		snprintf(msg, sizeof(msg),
			 "fail: %d of 16 forked children found wrong data (first: status 0x%x)\n",
			 bad, first);
		return 1;
	}
	/* once they are done: a child writes (shared kinds: seen here) */
	p = fork();
	if (p == 0) {
		lm_fill(w, usz, 4242);
		_exit(0);
	}
	if (p < 0 || waitpid(p, &st, 0) != p || st)
		return fail_errno("a child that writes");
	if (shared)
		unit_at(w)->seed = 4242;
	return 0;
}

static int report(const char *state, const char *suffix, int rc)
{
	char path[4096];

	if (!rc)
		snprintf(msg, sizeof(msg), "ok units=%zu\n", nr_units);
	snprintf(path, sizeof(path), "%s.%s", state, suffix);
	lm_write_atomic(path, msg);
	return rc;
}

int main(int argc, char **argv)
{
	const char *kind, *event, *state;
	char ready[1024];
	sigset_t block, old;
	size_t obj;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: events_wl KIND EVENT UNITS STATEFILE\n");
		return 2;
	}
	kind = argv[1];
	event = argv[2];
	n = strtoul(argv[3], NULL, 0);
	state = argv[4];
	E = n / 8;
	huge = !strncmp(kind, "huge", 4);
	shared = strcmp(kind, "anon") && strcmp(kind, "huge_private");
	usz = huge ? HUGE : LM_PAGE;
	if (n < 16 || n % 8) {
		fprintf(stderr, "events_wl: UNITS must be a multiple of 8, >= 16\n");
		return 2;
	}
	obj = n;
	if (!strcmp(event, "remap"))
		n -= E;		/* the object's last E units get unmapped */
	mem = map_kind(kind, obj, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "events_wl: cannot map %zu units of %s: %s\n",
			obj, kind, strerror(errno));
		return 1;
	}
	if (fill(mem, n, 0, 1) || fill(mem + n * usz, obj - n, n, 0))
		return 1;
	if (obj > n && munmap(mem + n * usz, (obj - n) * usz))
		return 1;
	if (!strcmp(event, "unmap")) {
		second = map_kind(kind, E, 1);
		if (second == MAP_FAILED || fill(second, E, 1000, 1))
			return 1;
	}
	n = obj;
	signal(SIGUSR1, on_sig);
	signal(SIGUSR2, on_sig);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, &old);
	snprintf(ready, sizeof(ready), "ready %d\n%s%s%s%s%s%s", getpid(),
		 tmpfs_path[0][0] ? "file tmpfs0 " : "", tmpfs_path[0],
		 tmpfs_path[0][0] ? "\n" : "",
		 tmpfs_path[1][0] ? "file tmpfs1 " : "", tmpfs_path[1],
		 tmpfs_path[1][0] ? "\n" : "");
	if (lm_write_atomic(state, ready))
		return 1;
	while (!got1)
		sigsuspend(&old);
	if (!strcmp(event, "fork"))
		rc = ev_fork();
	else if (!strcmp(event, "remap"))
		rc = ev_remap();
	else if (!strcmp(event, "remove"))
		rc = ev_remove();
	else if (!strcmp(event, "unmap"))
		rc = ev_unmap();
	else if (!strcmp(event, "none"))
		rc = 0;
	else
		rc = (snprintf(msg, sizeof(msg), "fail: no event %s\n", event), 1);
	if (!rc)
		rc = check_units("after the event") ||
		     check_extras("after the event");
	report(state, "stage", rc);
	while (!got2)
		sigsuspend(&old);
	if (!rc)
		rc = check_units("after the migration") ||
		     check_extras("after the migration");
	return report(state, "result", rc);
}
