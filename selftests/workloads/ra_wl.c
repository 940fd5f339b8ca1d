// SPDX-License-Identifier: GPL-2.0
/*
 * ra_wl: the read-ahead workload.  Fills MIB MiB of private anonymous
 * memory with a known pattern (every 16th page left untouched: it must
 * read zero), says ready, waits for SIGUSR1, then touches every page once
 * in the ORDER given, verifying each, and reports.
 *
 * Usage: ra_wl MIB STATEFILE seq|rand|seq-drop
 *   seq       pages in address order (one sequential stream)
 *   rand      pages in a random order
 *   seq-drop  address order; when the reader is half way, a second thread
 *             drops (MADV_DONTNEED) 32 pages 8 ahead of it, racing with
 *             the reader's faults and their read-ahead (which covers
 *             them): those pages must then read zero, never the source's
 *             data.  The reader waits for the drop before reaching them.
 *   STATEFILE        "ready PID ADDR LEN" (written atomically)
 *   STATEFILE.result "ok pages=N data_pages=D" or "fail: <first mismatch>"
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "lmtest.h"

#define DROP_GAP	8	/* the dropped range starts this far ahead */
#define DROP_PAGES	32

static char *mem;
static size_t drop_lo;		/* first dropped page, 0: none */
static volatile int drop_now;

static int is_zero_page(size_t i)
{
	return !lm_wl_seed(i) || (drop_lo && i >= drop_lo &&
				  i < drop_lo + DROP_PAGES);
}

static void *dropper(void *arg)
{
	(void)arg;
	while (!drop_now)
		sched_yield();
	if (madvise(mem + drop_lo * LM_PAGE, DROP_PAGES * LM_PAGE,
		    MADV_DONTNEED))
		return (void *)(intptr_t)errno;
	return NULL;
}

static int check_page(size_t k, char *msg, size_t len)
{
	return lm_check_page(mem + k * LM_PAGE, k,
			     is_zero_page(k) ? 0 : lm_wl_seed(k), msg, len);
}

int main(int argc, char **argv)
{
	size_t mib, npages, i, *order, data = 0;
	char path[4096], msg[256];
	pthread_t th;
	void *thr_rc = NULL;
	int rc = 0;

	if (argc != 4 || (strcmp(argv[3], "seq") && strcmp(argv[3], "rand") &&
			  strcmp(argv[3], "seq-drop"))) {
		fprintf(stderr, "usage: ra_wl MIB STATEFILE seq|rand|seq-drop\n");
		return 2;
	}
	mib = strtoul(argv[1], NULL, 0);
	npages = (mib << 20) / LM_PAGE;
	order = malloc(npages * sizeof(*order));
	mem = lm_wl_map(mib);		/* nothing dropped yet */
	if (!order || !mem || npages < 4 * DROP_PAGES)
		return 1;
	for (i = 0; i < npages; i++)
		order[i] = i;
	if (!strcmp(argv[3], "rand"))
		lm_shuffle(order, npages, 0x9e3779b97f4a7c15ULL);
	if (lm_wl_ready(argv[2], mem, mib))
		return 1;
	if (!strcmp(argv[3], "seq-drop")) {
		drop_lo = npages / 2 + DROP_GAP;
		if (pthread_create(&th, NULL, dropper, NULL))
			return 1;
	}
	for (i = 0; i < npages && !rc; i++) {
		if (drop_lo && i == npages / 2)
			drop_now = 1;	/* races with the faults from here */
		if (drop_lo && i == drop_lo) {
			pthread_join(th, &thr_rc);
			if (thr_rc) {
				snprintf(msg, sizeof(msg), "fail: madvise: %s\n",
					 strerror((int)(intptr_t)thr_rc));
				rc = 1;
				break;
			}
		}
		rc = check_page(order[i], msg, sizeof(msg));
	}
	for (i = 0; i < npages; i++)
		data += !is_zero_page(i);
	if (!rc)
		snprintf(msg, sizeof(msg), "ok pages=%zu data_pages=%zu\n",
			 npages, data);
	snprintf(path, sizeof(path), "%s.result", argv[2]);
	lm_write_atomic(path, msg);
	return rc;
}
