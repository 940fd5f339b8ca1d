// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: migration figures and their JSON form (see stats.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "stats.h"

static const char *const ev_names[LM_EV__MAX] = {
	"pagefault", "fork", "remap", "remove", "unmap", "lazymig_ko",
	"shmem_remove",
};

static __u64 clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

__u64 lm_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

__u64 lm_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

void lm_stats_lat(struct lm_stats *st, __u64 ns)
{
	if (st->nr_lat == st->cap_lat) {
		size_t cap = st->cap_lat ? 2 * st->cap_lat : 1024;
		__u64 *n = realloc(st->lat, cap * sizeof(*n));

		if (!n)
			return;	/* a figure lost, not the migration */
		st->lat = n;
		st->cap_lat = cap;
	}
	st->lat[st->nr_lat++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

static __u64 pct(const __u64 *v, size_t n, unsigned int p)
{
	size_t i;

	if (!n)
		return 0;
	i = (n * p + 99) / 100;
	return v[i ? i - 1 : 0];
}

static __u64 since(__u64 t, __u64 t0)
{
	return t && t0 && t > t0 ? t - t0 : 0;
}

__attribute__((format(printf, 4, 5)))
static void out(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + (*off < len ? *off : len),
		      *off < len ? len - *off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += n;
}

static void members_json(const struct lm_stats *st, char *buf, size_t len,
			 size_t *off)
{
	unsigned int i;

	out(buf, len, off, "\"members\":[");
	for (i = 0; i < st->nr_members; i++) {
		const struct lm_member_stats *m = &st->members[i];

		out(buf, len, off, "%s{\"member\":%u,\"pid\":%d,\"restored_pid\":%d,",
		    i ? "," : "", i, m->pid, m->restored_pid);
		out(buf, len, off, "\"pages_total\":%llu,\"pages_faulted\":%llu,\"pages_pushed\":%llu,",
		    (unsigned long long)m->pages_total,
		    (unsigned long long)m->pages_faulted,
		    (unsigned long long)m->pages_pushed);
		out(buf, len, off, "\"pages_zero\":%llu,\"pages_dropped\":%llu,\"pages_eager\":%llu,",
		    (unsigned long long)m->pages_zero,
		    (unsigned long long)m->pages_dropped,
		    (unsigned long long)m->pages_eager);
		out(buf, len, off, "\"faults\":%llu,\"zero_faults\":%llu}",
		    (unsigned long long)m->faults,
		    (unsigned long long)m->zero_faults);
	}
	out(buf, len, off, "],");
}

int lm_stats_json(struct lm_stats *st, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	if (st->nr_lat)
		qsort(st->lat, st->nr_lat, sizeof(*st->lat), cmp_u64);
	out(buf, len, &off, "{\"mode\":\"%s\",", st->eager ? "eager" : "lazy");
	out(buf, len, &off, "\"downtime_ns\":%llu,", (unsigned long long)since(st->resume_ns, st->freeze_ns));
	out(buf, len, &off, "\"total_ns\":%llu,", (unsigned long long)since(st->last_install_ns, st->freeze_ns));
	out(buf, len, &off, "\"freeze_realtime_ns\":%llu,", (unsigned long long)st->freeze_ns);
	out(buf, len, &off, "\"resume_realtime_ns\":%llu,", (unsigned long long)st->resume_ns);
	out(buf, len, &off, "\"last_install_realtime_ns\":%llu,", (unsigned long long)st->last_install_ns);
	out(buf, len, &off, "\"bytes_before_resume\":%llu,", (unsigned long long)st->bytes_before_resume);
	out(buf, len, &off, "\"bytes_after_resume\":%llu,", (unsigned long long)st->bytes_after_resume);
	out(buf, len, &off, "\"pages_total\":%llu,", (unsigned long long)st->pages_total);
	out(buf, len, &off, "\"pages_faulted\":%llu,", (unsigned long long)st->pages_faulted);
	out(buf, len, &off, "\"pages_pushed\":%llu,", (unsigned long long)st->pages_pushed);
	out(buf, len, &off, "\"pages_zero\":%llu,", (unsigned long long)st->pages_zero);
	out(buf, len, &off, "\"pages_dropped\":%llu,", (unsigned long long)st->pages_dropped);
	out(buf, len, &off, "\"pages_eager\":%llu,", (unsigned long long)st->pages_eager);
	out(buf, len, &off, "\"faults\":%llu,", (unsigned long long)st->faults);
	out(buf, len, &off, "\"zero_faults\":%llu,", (unsigned long long)st->zero_faults);
	out(buf, len, &off, "\"faults_1s\":%llu,", (unsigned long long)st->faults_1s);
	out(buf, len, &off, "\"push_yields\":%llu,", (unsigned long long)st->push_yields);
	out(buf, len, &off, "\"push_yield_events\":%llu,", (unsigned long long)st->push_yield_events);
	out(buf, len, &off, "\"fault_ns_p50\":%llu,", (unsigned long long)pct(st->lat, st->nr_lat, 50));
	out(buf, len, &off, "\"fault_ns_p99\":%llu,", (unsigned long long)pct(st->lat, st->nr_lat, 99));
	out(buf, len, &off, "\"events\":{");
	for (i = 0; i < LM_EV__MAX; i++)
		out(buf, len, &off, "%s\"%s\":%llu", i ? "," : "", ev_names[i],
		    (unsigned long long)st->events[i]);
	out(buf, len, &off, "},\"mechanism_by_kind\":{%s},", st->kinds);
	out(buf, len, &off, "\"eager_shm\":[%s],", st->eager_shm);
	if (st->nr_members)
		members_json(st, buf, len, &off);
	out(buf, len, &off, "\"mechanism\":\"%s\"}", st->mechanism[0] ? st->mechanism : "none");
	return off;
}

char *lm_stats_json_alloc(struct lm_stats *st, int *len)
{
	char one;
	int n = lm_stats_json(st, &one, 1);
	char *buf = malloc(n + 1);

	if (!buf)
		return NULL;
	*len = lm_stats_json(st, buf, n + 1);
	return buf;
}

int lm_stats_write_file(const char *path, const char *json)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f) {
		fprintf(stderr, "lazymig: cannot write stats to %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	if (fprintf(f, "%s\n", json) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

void lm_stats_free(struct lm_stats *st)
{
	free(st->lat);
	st->lat = NULL;
	free(st->members);
	st->members = NULL;
	st->nr_members = 0;
	st->nr_lat = st->cap_lat = 0;
}
