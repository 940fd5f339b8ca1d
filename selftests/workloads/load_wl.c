// SPDX-License-Identifier: GPL-2.0
/*
 * load_wl: the load workload.  Fills MIB MiB of private anonymous memory
 * with a known pattern (every 16th page left untouched: it must read
 * zero), says ready, waits for SIGUSR1, then starts THREADS threads that
 * each verify every page in their own random order (all faulting
 * concurrently on the same lazy memory) and, interleaved with their
 * start, forks CHILDREN children, each verifying every page on its own
 * (through its own userfaultfd on the destination).
 *
 * Usage: load_wl MIB STATEFILE THREADS CHILDREN
 *   STATEFILE        "ready PID ADDR LEN" (written atomically)
 *   STATEFILE.result "ok threads=T children=C pages=N"
 *                    or "fail: <first mismatch or error>"; exit 0 or 1.
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

#define MAX_CHILDREN	256

static char *mem;
static size_t npages;

/* Every page in a random order (xorshift @x); 0 or 1 with msg. */
static int check_all(uint64_t x, char *msg, size_t len)
{
	size_t *order = lm_shuffled(npages, x), i;

	if (!order)
		return snprintf(msg, len, "fail: out of memory\n"), 1;
	for (i = 0; i < npages; i++) {
		size_t k = order[i];

		if (lm_check_page(mem + k * LM_PAGE, k, lm_wl_seed(k), msg,
				  len)) {
			free(order);
			return 1;
		}
	}
	free(order);
	return 0;
}

struct checker {
	pthread_t th;
	uint64_t seed;
	int rc;
	char msg[256];
};

static void *checker_main(void *arg)
{
	struct checker *c = arg;

	c->rc = check_all(c->seed, c->msg, sizeof(c->msg));
	return NULL;
}

static int run(int nthr, int nchild, char *msg, size_t len)
{
	struct checker *c = calloc(nthr, sizeof(*c));
	pid_t kids[MAX_CHILDREN];
	int i, k, st, rc = 0, made = 0, started = 0;
	int every = nchild ? (nthr + nchild - 1) / nchild : 1;

	if (!c)
		return snprintf(msg, len, "fail: out of memory\n"), 1;
	/*
	 * Threads and children interleaved: the children are forked while
	 * the threads fault, from the first moments on.
	 */
	for (i = 0, k = 0; !rc && (i < nthr || k < nchild); i++) {
		if (i < nthr) {
			c[i].seed = 0x9e3779b97f4a7c15ULL + 7919 * i;
			if (pthread_create(&c[i].th, NULL, checker_main,
					   &c[i])) {
				snprintf(msg, len, "fail: pthread_create %d\n",
					 i);
				rc = 1;
				break;
			}
			started++;
		}
		if (k < nchild && (i >= nthr || i % every == every - 1)) {
			char cmsg[256];
			pid_t pid = fork();

			if (pid == 0)
				_exit(check_all(4242 + k, cmsg, sizeof(cmsg)) ?
				      3 : 0);
			if (pid < 0) {
				snprintf(msg, len, "fail: fork %d: %s\n", k,
					 strerror(errno));
				rc = 1;
				break;
			}
			kids[made++] = pid;
			k++;
		}
	}
	nthr = started;
	for (i = 0; i < nthr; i++) {
		pthread_join(c[i].th, NULL);
		if (c[i].rc && !rc) {
			snprintf(msg, len, "%s", c[i].msg);
			rc = 1;
		}
	}
	for (i = 0; i < made; i++) {
		if (waitpid(kids[i], &st, 0) != kids[i]) {
			if (!rc)
				snprintf(msg, len, "fail: wait child %d: %s\n",
					 i, strerror(errno));
			rc = 1;
		} else if (!(WIFEXITED(st) && !WEXITSTATUS(st)) && !rc) {
			snprintf(msg, len, "fail: child %d found wrong data (status 0x%x)\n",
				 i, st);
			rc = 1;
		}
	}
	if (!rc)
		snprintf(msg, len, "ok threads=%d children=%d pages=%zu\n",
			 nthr, made, npages);
	free(c);
	return rc;
}

int main(int argc, char **argv)
{
	char path[4096], msg[256];
	int nthr, nchild, rc;
	size_t mib;

	if (argc != 5) {
		fprintf(stderr, "usage: load_wl MIB STATEFILE THREADS CHILDREN\n");
		return 2;
	}
	mib = strtoul(argv[1], NULL, 0);
	nthr = atoi(argv[3]);
	nchild = atoi(argv[4]);
	if (!mib || nthr < 1 || nchild < 0 || nchild > MAX_CHILDREN) {
		fprintf(stderr, "load_wl: bad arguments\n");
		return 2;
	}
	npages = (mib << 20) / LM_PAGE;
	mem = lm_wl_map(mib);
	if (!mem || lm_wl_ready(argv[2], mem, mib))
		return 1;
	rc = run(nthr, nchild, msg, sizeof(msg));
	snprintf(path, sizeof(path), "%s.result", argv[2]);
	lm_write_atomic(path, msg);
	return rc;
}
