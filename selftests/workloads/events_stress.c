// SPDX-License-Identifier: GPL-2.0
/*
 * events_stress: 8 threads fork, mremap and madvise in a loop while the
 * process's pages are still arriving, each on its own slice of MIB MiB
 * of private anonymous memory, each keeping a model of what every page
 * of its slice must hold and verifying against it.
 *
 * Usage: events_stress MIB STATEFILE
 *   Every 16th page is never touched (must read zero).
 *   STATEFILE         "ready PID"
 *   SIGUSR1           each thread: ITERS turns of { MADV_DONTNEED a chunk
 *                     (reads zero, half the time refilled), mremap a chunk
 *                     away and back (data follows) }, forking a child
 *                     that verifies the slice in every 4th turn, from
 *                     the 4th (8 threads x 4 = 32 forks); then every
 *                     thread verifies its slice.
 *   STATEFILE.result  "ok forks=32 ..." or "fail: ...", exit 0 or 1.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "lmtest.h"

#define THREADS		8
#define ITERS		16
#define FORK_EVERY	4
#define CHUNK		64	/* pages */

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

struct slice {
	pthread_t th;
	int idx;
	char *mem;		/* THIS slice */
	size_t npages;
	uint32_t *seed;		/* per page, 0: zeros */
	char *scratch;		/* where a chunk is moved to and back */
	uint64_t rnd;
	int forks, rc;
	char msg[256];
};

static uint64_t next(struct slice *s)
{
	s->rnd ^= s->rnd << 13;
	s->rnd ^= s->rnd >> 7;
	s->rnd ^= s->rnd << 17;
	return s->rnd;
}

/* Pages [lo, hi) of the slice, found at @at, against the model. */
static int verify(struct slice *s, char *at, size_t lo, size_t hi,
		  const char *when)
{
	size_t i;

	for (i = lo; i < hi; i++) {
		char *p = at + (i - lo) * LM_PAGE;
		long bad = s->seed[i] ? lm_check(p, LM_PAGE, s->seed[i]) :
					lm_check_zero(p, LM_PAGE);

		if (bad >= 0) {
			snprintf(s->msg, sizeof(s->msg),
				 "fail: thread %d, %s: page %zu byte %ld is 0x%02x (seed %u)\n",
				 s->idx, when, i, bad, (unsigned char)p[bad],
				 s->seed[i]);
			return 1;
		}
	}
	return 0;
}

/*
 * The whole slice in a scattered order (a stride coprime with its size):
 * a child reading it in address order would have the daemon's read-ahead
 * bring every page in before the parent's events, which must meet pages
 * that are still arriving.
 */
static int verify_scattered(struct slice *s, const char *when)
{
	size_t stride = 7919, k, i, a, b, t;

	for (a = stride, b = s->npages; b; t = a % b, a = b, b = t)
		;
	if (a != 1)
		stride = 1;
	for (k = 0, i = 0; k < s->npages; k++, i = (i + stride) % s->npages)
		if (verify(s, s->mem + i * LM_PAGE, i, i + 1, when))
			return 1;
	return 0;
}

static int fail(struct slice *s, const char *what)
{
	snprintf(s->msg, sizeof(s->msg), "fail: thread %d: %s: %s\n", s->idx,
		 what, strerror(errno));
	return 1;
}

static int turn(struct slice *s, int it)
{
	size_t c = next(s) % (s->npages / CHUNK) * CHUNK, i;
	char *at = s->mem + c * LM_PAGE;
	uint32_t fresh = 100000u * (s->idx + 1) + it;
	pid_t pid;
	int st;

	/*
	 * Not in the first turn: 8 children reading their slices at once
	 * could bring every page in before any thread's first event, and
	 * the events must meet pages still arriving.
	 */
	if (it % FORK_EVERY == FORK_EVERY - 1) {
		pid = fork();
		if (pid == 0)
			_exit(verify_scattered(s, "in a child") ? 3 : 0);
		if (pid < 0)
			return fail(s, "fork");
		if (waitpid(pid, &st, 0) != pid)
			return fail(s, "waitpid");
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			snprintf(s->msg, sizeof(s->msg),
				 "fail: thread %d: a forked child found wrong data (status 0x%x)\n",
				 s->idx, st);
			return 1;
		}
		s->forks++;
	}
	if (madvise(at, CHUNK * LM_PAGE, MADV_DONTNEED))
		return fail(s, "madvise");
	for (i = c; i < c + CHUNK; i++)
		s->seed[i] = 0;
	if (verify(s, at, c, c + CHUNK, "after MADV_DONTNEED"))
		return 1;
	if (it & 1)
		for (i = c; i < c + CHUNK; i += 2) {
			s->seed[i] = fresh + (uint32_t)i;
			lm_fill(s->mem + i * LM_PAGE, LM_PAGE, s->seed[i]);
		}
	c = next(s) % (s->npages / CHUNK) * CHUNK;
	at = s->mem + c * LM_PAGE;
	if (mremap(at, CHUNK * LM_PAGE, CHUNK * LM_PAGE,
		   MREMAP_MAYMOVE | MREMAP_FIXED, s->scratch) != s->scratch)
		return fail(s, "mremap away");
	if (verify(s, s->scratch, c, c + CHUNK, "moved away"))
		return 1;
	if (mremap(s->scratch, CHUNK * LM_PAGE, CHUNK * LM_PAGE,
		   MREMAP_MAYMOVE | MREMAP_FIXED, at) != at)
		return fail(s, "mremap back");
	return verify(s, at, c, c + CHUNK, "moved back");
}

static void *slice_main(void *arg)
{
	struct slice *s = arg;
	int it;

	for (it = 0; it < ITERS && !s->rc; it++)
		s->rc = turn(s, it);
	if (!s->rc)
		s->rc = verify(s, s->mem, 0, s->npages, "at the end");
	return NULL;
}

static int write_atomic(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		return -1;
	return rename(tmp, path);
}

int main(int argc, char **argv)
{
	struct slice sl[THREADS];
	char msg[512], path[4096];
	size_t mib, npages, per, i;
	sigset_t block, old;
	int t, rc = 0, forks = 0;
	char *mem;

	if (argc != 3) {
		fprintf(stderr, "usage: events_stress MIB STATEFILE\n");
		return 2;
	}
	mib = strtoul(argv[1], NULL, 0);
	npages = (mib << 20) / LM_PAGE;
	per = npages / THREADS / CHUNK * CHUNK;
	if (per < 2 * CHUNK) {
		fprintf(stderr, "events_stress: MIB must be >= 4\n");
		return 2;
	}
	mem = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	memset(sl, 0, sizeof(sl));
	for (t = 0; t < THREADS; t++) {
		struct slice *s = &sl[t];

		s->idx = t;
		s->mem = mem + t * per * LM_PAGE;
		s->npages = per;
		s->rnd = 0x9e3779b97f4a7c15ULL * (t + 1);
		s->seed = calloc(per, sizeof(*s->seed));
		s->scratch = mmap(NULL, CHUNK * LM_PAGE, PROT_NONE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (!s->seed || s->scratch == MAP_FAILED)
			return 1;
		for (i = 0; i < per; i++) {
			if (i % 16 == 5)
				continue;
			s->seed[i] = (uint32_t)(t * per + i + 1);
			lm_fill(s->mem + i * LM_PAGE, LM_PAGE, s->seed[i]);
		}
	}
	signal(SIGUSR1, on_usr1);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	snprintf(msg, sizeof(msg), "ready %d\n", getpid());
	if (write_atomic(argv[2], msg))
		return 1;
	while (!go)
		sigsuspend(&old);
	for (t = 0; t < THREADS; t++)
		if (pthread_create(&sl[t].th, NULL, slice_main, &sl[t]))
			return 1;
	snprintf(msg, sizeof(msg), "ok");
	for (t = 0; t < THREADS; t++) {
		pthread_join(sl[t].th, NULL);
		forks += sl[t].forks;
		if (sl[t].rc && !rc) {
			rc = 1;
			snprintf(msg, sizeof(msg), "%s", sl[t].msg);
		}
	}
	if (!rc)
		snprintf(msg, sizeof(msg), "ok forks=%d threads=%d mib=%zu\n",
			 forks, THREADS, mib);
	snprintf(path, sizeof(path), "%s.result", argv[2]);
	write_atomic(path, msg);
	return rc;
}
