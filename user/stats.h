/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: the figures of one migration, written by `--stats F` as one
 * JSON object.  Times are ns; freeze/resume/last-install stamps are
 * CLOCK_REALTIME so the two hosts can be compared (same machine: exact).
 *
 * Page accounting, over every pagemap of the image:
 *	pages_total = pages_faulted + pages_pushed + pages_zero + pages_dropped
 * pages_zero: no data at the source, never sent (restored as zero pages);
 * pages_faulted: arrived on the request channel (demand + fault-around);
 * pages_pushed: arrived before resume (pages_eager of them) or on the
 * bulk channel; pages_dropped: lazy pages the process discarded
 * (MADV_DONTNEED, munmap) before they arrived.
 * "mechanism" is one line for humans; "mechanism_by_kind" says per memory
 * kind how its pages came; "eager_shm" lists the shm objects restored
 * eagerly in a lazy migration and why.
 */
#ifndef LAZYMIG_STATS_H
#define LAZYMIG_STATS_H

#include <stddef.h>
#include <linux/types.h>

enum lm_ev {
	LM_EV_PAGEFAULT,
	LM_EV_FORK,
	LM_EV_REMAP,
	LM_EV_REMOVE,
	LM_EV_UNMAP,
	LM_EV_LMDEV,		/* lazymig.ko events (fd access, punch, ...) */
	LM_EV_SHMEM_REMOVE,	/* native REMOVE of a punch or truncate */
	LM_EV__MAX,
};

/* One member of a process tree migrated lazily (same meanings). */
struct lm_member_stats {
	__s32 pid, restored_pid;
	__u64 pages_total, pages_faulted, pages_pushed, pages_zero;
	__u64 pages_eager, pages_dropped;
	__u64 faults, zero_faults;
};

struct lm_stats {
	__u64 freeze_ns, resume_ns, last_install_ns;	/* REALTIME */
	__u64 bytes_before_resume, bytes_after_resume;
	__u64 pages_total, pages_faulted, pages_pushed, pages_zero;
	__u64 pages_eager, pages_dropped;
	__u64 faults, zero_faults;	/* demand faults; of them answered zero */
	__u64 push_yields;	/* pieces of a push message after which faults,
				 * answers or events were handled */
	__u64 push_yield_events;	/* events (not faults) among them */
	__u64 faults_1s;		/* demand faults in the first second
					 * after resume */
	__u64 events[LM_EV__MAX];
	__u64 *lat;			/* fault latencies, ns */
	size_t nr_lat, cap_lat;
	int eager;			/* --eager (full pre-copy) */
	char mechanism[256];
	/*
	 * Per memory kind of the image, how its pages came (JSON members:
	 * "anon-private":"uffd-missing", ...), and the shm objects restored
	 * eagerly with the reason (JSON array elements).
	 */
	char kinds[1024];
	char eager_shm[768];
	/* A process tree: per member (JSON "members":[...]), NULL: none. */
	struct lm_member_stats *members;
	unsigned int nr_members;
};

__u64 lm_now_ns(void);		/* CLOCK_MONOTONIC */
__u64 lm_realtime_ns(void);	/* CLOCK_REALTIME */
void lm_stats_lat(struct lm_stats *st, __u64 ns);
/* One JSON object (NUL-terminated) into buf; bytes needed, like snprintf. */
int lm_stats_json(struct lm_stats *st, char *buf, size_t len);
/* The same, malloc'd whole (*len: its length), or NULL. */
char *lm_stats_json_alloc(struct lm_stats *st, int *len);
int lm_stats_write_file(const char *path, const char *json);
void lm_stats_free(struct lm_stats *st);

#endif
