// SPDX-License-Identifier: GPL-2.0
/*
 * lazy_wl: the lazy-migration workload.  Fills MIB MiB of private
 * anonymous memory with a known pattern (every 16th page left untouched:
 * it must read zero), says ready, waits for SIGUSR1, then touches every
 * page once in a random order verifying it, and reports.
 *
 * Usage: lazy_wl MIB STATEFILE [THREADS [events]]
 *   THREADS (default 1) threads each verify every page, each in its own
 *   random order, all at once (concurrent faults on the same pages).
 *   events: first, counting from the last page back (the end is what a
 *   push in address order sends last), MADV_DONTNEED 16 pages 256 from
 *   the end (then they must read zero), mremap 64 pages 192 from the end
 *   elsewhere (their data must follow), munmap 4 pages 64 from the end;
 *   then fork a child that verifies everything too.  MIB >= 2.
 *   STATEFILE        "ready PID ADDR LEN" (written atomically)
 *   STATEFILE.result "ok first_touch_ns=T0 last_touch_ns=T1 pages=N"
 *                    or "fail: <first mismatch>"; exit 0 or 1.
 * Times are CLOCK_REALTIME, comparable with the stats of lazymig.
 * With LAZY_WL_LINGER set in its environment it stays (paused) after
 * reporting, until killed: pages it never touches (other mappings) are
 * then never dropped by an exit that beats the push.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "lmtest.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static size_t ev_npages;	/* the ranges below count from the end */
#define EV_DROP_LO	(ev_npages - 256)
#define EV_DROP_HI	(ev_npages - 240)
#define EV_MOVE_LO	(ev_npages - 192)
#define EV_MOVE_HI	(ev_npages - 128)
#define EV_UNMAP_LO	(ev_npages - 64)
#define EV_UNMAP_HI	(ev_npages - 60)

static char *moved;	/* after events: where pages EV_MOVE_* live */

/* Where page k is now and what it holds (seed, 0: zeros); NULL: gone. */
static char *page_of(char *mem, size_t k, uint64_t *seed)
{
	*seed = lm_wl_seed(k);
	if (!moved)
		return mem + k * LM_PAGE;
	if (k >= EV_DROP_LO && k < EV_DROP_HI)
		*seed = 0;
	if (k >= EV_MOVE_LO && k < EV_MOVE_HI)
		return moved + (k - EV_MOVE_LO) * LM_PAGE;
	if (k >= EV_UNMAP_LO && k < EV_UNMAP_HI)
		return NULL;
	return mem + k * LM_PAGE;
}

static int check_all(char *mem, size_t npages, char *msg, size_t len,
		     uint64_t x)
{
	uint64_t t0 = 0, t1;
	size_t *order = lm_shuffled(npages, x), i;

	if (!order)
		return snprintf(msg, len, "fail: out of memory"), 1;
	for (i = 0; i < npages; i++) {
		size_t k = order[i];
		uint64_t seed;
		char *p = page_of(mem, k, &seed);

		if (!t0)
			t0 = now_ns();
		if (p && lm_check_page(p, k, seed, msg, len)) {
			free(order);
			return 1;
		}
	}
	t1 = now_ns();
	snprintf(msg, len, "ok first_touch_ns=%llu last_touch_ns=%llu pages=%zu\n",
		 (unsigned long long)t0, (unsigned long long)t1, npages);
	free(order);
	return 0;
}

struct checker {
	pthread_t th;
	char *mem;
	size_t npages;
	uint64_t seed;
	int rc;
	char msg[256];
};

static void *checker_main(void *arg)
{
	struct checker *c = arg;

	c->rc = check_all(c->mem, c->npages, c->msg, sizeof(c->msg), c->seed);
	return NULL;
}

/* Every thread checks everything; the first failure, or thread 0's "ok". */
static int check_threads(char *mem, size_t npages, int nthr, char *msg,
			 size_t len)
{
	struct checker *c = calloc(nthr, sizeof(*c));
	int i, rc;

	if (!c)
		return snprintf(msg, len, "fail: out of memory\n"), 1;
	for (i = 0; i < nthr; i++) {
		c[i] = (struct checker){ .mem = mem, .npages = npages,
			.seed = 0x9e3779b97f4a7c15ULL + 7919 * i };
		if (i && pthread_create(&c[i].th, NULL, checker_main, &c[i])) {
			free(c);
			return snprintf(msg, len, "fail: pthread_create\n"), 1;
		}
	}
	checker_main(&c[0]);
	snprintf(msg, len, "%s", c[0].msg);
	rc = c[0].rc;
	for (i = 1; i < nthr; i++) {
		pthread_join(c[i].th, NULL);
		if (c[i].rc && !rc) {
			snprintf(msg, len, "%s", c[i].msg);
			rc = 1;
		}
	}
	free(c);
	return rc;
}

/* While pages are still arriving: drop, move, unmap. */
static int do_events(char *mem, char *msg, size_t len)
{
	char *to = mmap(NULL, (EV_MOVE_HI - EV_MOVE_LO) * LM_PAGE, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (to == MAP_FAILED ||
	    madvise(mem + EV_DROP_LO * LM_PAGE,
		    (EV_DROP_HI - EV_DROP_LO) * LM_PAGE, MADV_DONTNEED) ||
	    mremap(mem + EV_MOVE_LO * LM_PAGE,
		   (EV_MOVE_HI - EV_MOVE_LO) * LM_PAGE,
		   (EV_MOVE_HI - EV_MOVE_LO) * LM_PAGE,
		   MREMAP_MAYMOVE | MREMAP_FIXED, to) != to ||
	    munmap(mem + EV_UNMAP_LO * LM_PAGE,
		   (EV_UNMAP_HI - EV_UNMAP_LO) * LM_PAGE)) {
		snprintf(msg, len, "fail: events: %s\n", strerror(errno));
		return 1;
	}
	moved = to;
	return 0;
}

/* A child forked now verifies everything on its own. */
static pid_t fork_checker(char *mem, size_t npages)
{
	char msg[256];
	pid_t pid = fork();

	if (pid == 0)
		_exit(check_all(mem, npages, msg, sizeof(msg), 12345) ? 3 : 0);
	return pid;
}

static int wait_checker(pid_t pid, char *msg, size_t len)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		snprintf(msg, len, "fail: fork/wait: %s\n", strerror(errno));
		return 1;
	}
	if (WIFEXITED(st) && !WEXITSTATUS(st))
		return 0;
	snprintf(msg, len, "fail: the forked child found wrong data (status 0x%x)\n",
		 st);
	return 1;
}

int main(int argc, char **argv)
{
	char path[4096], msg[256];
	size_t mib, npages;
	int rc, nthr = 1, events;
	pid_t child = -1;
	char *mem;

	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: lazy_wl MIB STATEFILE [THREADS [events]]\n");
		return 2;
	}
	if (argc >= 4)
		nthr = atoi(argv[3]) > 0 ? atoi(argv[3]) : 1;
	events = argc == 5 && !strcmp(argv[4], "events");
	mib = strtoul(argv[1], NULL, 0);
	npages = (mib << 20) / LM_PAGE;
	mem = lm_wl_map(mib);
	if (!mem || lm_wl_ready(argv[2], mem, mib))
		return 1;
	rc = 0;
	ev_npages = npages;
	if (events && npages >= 512) {
		rc = do_events(mem, msg, sizeof(msg));
		if (!rc)
			child = fork_checker(mem, npages);
	}
	if (!rc)
		rc = check_threads(mem, npages, nthr, msg, sizeof(msg));
	if (!rc && child >= 0)
		rc = wait_checker(child, msg, sizeof(msg));
	snprintf(path, sizeof(path), "%s.result", argv[2]);
	lm_write_atomic(path, msg);
	while (getenv("LAZY_WL_LINGER"))
		pause();
	return rc;
}
