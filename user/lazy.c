// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: the lazy-pages daemon.  One event loop (epoll) over the
 * userfaultfds (the restored process and every child it forks), the
 * request channel, the bulk channel and an eventfd that says "resumed".
 * Every change of lazy state and every page install happens in this loop,
 * so events and installs are strictly ordered:
 *
 *  - uffd readable: non-cooperative events are applied at once; page
 *    faults are queued and served after the batch (zero page at once,
 *    else one REQ to the source);
 *  - request channel: fault answers (plus fault-around pages), BYE;
 *  - bulk channel: pushed runs, installed with one UFFDIO_COPY per run of
 *    still-lazy pages, one message per loop turn so faults never wait
 *    behind more than one run;
 *  - /dev/lazymig (lazymig.ko, with lmdev.c): fd access,
 *    hole punch and truncate of the pending pages of a lazy shm object;
 *    the caller sleeps until the event is acked, after the pages it
 *    needs came in (an urgent REQ, as for a fault) and the pages it
 *    removed were forgotten;
 *  - the daemon's own uffd, on a kernel that reports shmem punch and
 *    truncate (UFFD_FEATURE_EVENT_SHMEM_REMOVE): REMOVE events in the
 *    daemon's own mapping of an object name the removed offsets exactly.
 *
 * When no page of any live mm is lazy any more: DONE (with the stats) to
 * the source, wait for its BYE, return.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/lazymig_uffd.h>
#include "lazy.h"
#include "lmdev.h"
#include "proto.h"

#define LOG(l, fmt, ...) \
	fprintf(stderr, "lazy: pid %d: " fmt "\n", (l)->cfg.pid, ##__VA_ARGS__)

#define UFFD_BATCH	64
#define BYE_TIMEOUT_MS	10000
#define PROGRESS_MS	250

enum { VIA_EAGER, VIA_REQ, VIA_BULK };

struct fault {
	struct lm_mm *mm;
	__u64 addr;		/* page address in mm */
	__u64 t0;		/* when the fault was read */
	pid_t tid;		/* faulting thread (UFFD_FEATURE_THREAD_ID), or 0 */
};

struct fault_vec {
	struct fault *v;
	size_t nr, cap;
};

/*
 * A shm object restored lazily: its lazy state by offset, and the
 * daemon's own mapping of it, registered on the daemon's own uffd, where
 * pages are installed (the page cache is the object's: every mapping, in
 * every mm, then finds them; waiting faults are woken by address).
 */
struct lm_obj {
	__u32 space;
	__u64 ino;		/* of the restored object */
	__u64 npages, ps;
	unsigned long *lazy, *req;
	__u64 nlazy;
	char *map;
	size_t map_len;
	int fd;			/* the restorer's, not ours */
	int registered;		/* with lazymig.ko, as dev_id */
	__u32 dev_id;
	/*
	 * punch and truncate are reported exactly (lazymig.ko or the native
	 * shmem REMOVE): a REMOVE on a mapping of it is then never taken
	 * for MADV_REMOVE by a guess.
	 */
	int exact;
};

/* A lazymig.ko event waiting for pages from the source before its ack. */
struct mev {
	struct lazymig_event ev;
	__u32 space;
	struct lmdev_plan p;	/* clamped to the object */
};

#define LM_MAX_ADV	64

struct lm_lazy {
	struct lm_lazy_cfg cfg;
	struct {
		__u64 start, end;
		int advice;
	} adv[LM_MAX_ADV];	/* madvise() calls in flight (note_madvise) */
	size_t nr_adv;
	struct lm_obj *objs;	/* [nr_objs], by space */
	size_t nr_objs;
	int own_uffd;		/* the daemon's mappings of lazy objects */
	int own_rm;		/* ... with UFFD_FEATURE_EVENT_SHMEM_REMOVE */
	struct mev *mevs;	/* lazymig.ko events waiting for pages */
	size_t nr_mevs, cap_mevs;
	struct lm_stats *st;
	struct lm_mm **mms;	/* [0]: the restored process */
	size_t nr_mms;
	int epfd, evfd, pidfd;
	struct lm_rx req, bulk;
	struct fault_vec queued;	/* read, not yet served */
	struct fault_vec pending;	/* requested, answer not yet in */
	int resumed, push_end, forked, done_sent, bye;
	int resume_req, abort_req;	/* set by another thread */
	int tty;			/* progress lines on stderr */
	__u64 tick, lazy0, t_resumed;
	int req_tag, bulk_tag, ev_tag, pid_tag;	/* epoll cookies */
	int dev_tag, own_tag;
};

static int fault_push(struct fault_vec *fv, struct lm_mm *mm, __u64 addr,
		      __u64 t0)
{
	if (fv->nr == fv->cap) {
		size_t cap = fv->cap ? 2 * fv->cap : 64;
		struct fault *n = realloc(fv->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		fv->v = n;
		fv->cap = cap;
	}
	fv->v[fv->nr++] = (struct fault){ mm, addr, t0 };
	return 0;
}

static void fault_del(struct fault_vec *fv, size_t i)
{
	fv->v[i] = fv->v[--fv->nr];
}

static struct lm_obj *obj_of(struct lm_lazy *l, __u32 space)
{
	size_t i;

	for (i = 0; i < l->nr_objs; i++)
		if (l->objs[i].space == space)
			return &l->objs[i];
	return NULL;
}

/* The object and page index behind @addr of shm run @r, or NULL. */
static struct lm_obj *obj_page(struct lm_lazy *l, const struct lm_run *r,
			       __u64 addr, __u64 *idx)
{
	struct lm_obj *o = r->space ? obj_of(l, r->space) : NULL;

	if (!o)
		return NULL;
	*idx = (r->src + (addr - r->start)) / o->ps;
	return *idx < o->npages ? o : NULL;
}

__u64 lm_lazy_uffd_features(void)
{
	__u64 want = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |
		     UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP |
		     UFFD_FEATURE_MISSING_SHMEM |
		     UFFD_FEATURE_MISSING_HUGETLBFS | UFFD_FEATURE_THREAD_ID;
	struct uffdio_api api = { .api = UFFD_API };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return 0;
	if (ioctl(fd, UFFDIO_API, &api))
		api.features = 0;
	close(fd);
	return want & api.features;
}

int lm_lazy_shmem_remove(void)
{
	struct uffdio_api api = {
		.api = UFFD_API, .features = UFFD_FEATURE_EVENT_SHMEM_REMOVE,
	};
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK), ok;

	if (fd < 0)
		return 0;
	ok = !ioctl(fd, UFFDIO_API, &api);
	close(fd);
	return ok;
}

static int is_root(const struct lm_lazy *l, const struct lm_mm *mm)
{
	return mm == l->mms[0];
}

static void count_installed(struct lm_lazy *l, struct lm_mm *mm, __u64 n,
			    int via)
{
	mm->nlazy -= n;
	if (!is_root(l, mm) || !n)
		return;
	if (via == VIA_REQ) {
		l->st->pages_faulted += n;
	} else {
		l->st->pages_pushed += n;
		if (via == VIA_EAGER)
			l->st->pages_eager += n;
	}
	l->st->last_install_ns = lm_realtime_ns();
}

static void count_dropped(struct lm_lazy *l, struct lm_mm *mm, __u64 n)
{
	if (is_root(l, mm))
		l->st->pages_dropped += n;
}

static void uffd_wake(struct lm_mm *mm, __u64 addr, __u64 len)
{
	struct uffdio_range r = { .start = addr, .len = len };

	ioctl(mm->uffd, UFFDIO_WAKE, &r);
}

static void mm_dead(struct lm_lazy *l, struct lm_mm *mm)
{
	size_t i;

	if (mm->dead)
		return;
	mm->dead = 1;
	count_dropped(l, mm, mm->nlazy);
	for (i = 0; i < mm->nr; i++)
		lm_run_clear(&mm->runs[i], 0,
			     (mm->runs[i].end - mm->runs[i].start) /
			     mm->runs[i].page_size);
	mm->nlazy = 0;
	for (i = 0; i < l->pending.nr;)
		if (l->pending.v[i].mm == mm)
			fault_del(&l->pending, i);
		else
			i++;
	if (is_root(l, mm)) {
		LOG(l, "the process exited before all its pages arrived");
	} else if (mm->uffd >= 0) {
		close(mm->uffd);	/* also leaves the epoll set */
		mm->uffd = -1;
	}
}

static int read_events(struct lm_lazy *l, struct lm_mm *mm);

/*
 * UFFDIO_COPY of pages [lo, hi) of run r from data.  Clears the bits of
 * what got installed (or was found installed).  0, -EAGAIN (read events,
 * then retry), -ESRCH (mm gone) or -errno.
 */
static int copy_seg(struct lm_lazy *l, struct lm_mm *mm, struct lm_run *r,
		    __u64 lo, __u64 hi, const char *data, int via)
{
	__u64 ps = r->page_size;

	while (lo < hi) {
		struct uffdio_copy c = {
			.dst = r->start + lo * ps,
			.src = (unsigned long)data,
			.len = (hi - lo) * ps,
			.copy = 0,	/* 6.1 may leave it unwritten */
		};
		__u64 done;
		int err = 0;

		if (ioctl(mm->uffd, UFFDIO_COPY, &c))
			err = errno;
		done = err ? (c.copy > 0 ? (__u64)c.copy / ps : 0) : hi - lo;
		count_installed(l, mm, lm_run_clear(r, lo, lo + done), via);
		lo += done;
		data += done * ps;
		if (!err)
			return 0;
		if (err == EEXIST) {	/* already there: not ours to fill */
			count_installed(l, mm, lm_run_clear(r, lo, lo + 1),
					via);
			uffd_wake(mm, r->start + lo * ps, ps);
			lo++;
			data += ps;
			continue;
		}
		if (err == EAGAIN)
			return -EAGAIN;
		if (err == ESRCH)
			return -ESRCH;
		if (err == ENOENT) {	/* no such VMA any more */
			__u64 n = lm_run_clear(r, lo, hi);

			mm->nlazy -= n;
			count_dropped(l, mm, n);
			return 0;
		}
		LOG(l, "UFFDIO_COPY at 0x%llx (%llu pages) on uffd %d: %s",
		    (unsigned long long)c.dst, (unsigned long long)(hi - lo),
		    mm->uffd, strerror(err));
		return -err;
	}
	return 0;
}

/* Install source pages space/src..+npages into one mm, where still lazy. */
static int install_mm(struct lm_lazy *l, struct lm_mm *mm, __u32 space,
		      __u64 src, __u64 npages, const char *data, int via)
{
	size_t k;
	int err;

retry:
	for (k = lm_mm_src_first(mm, space, src); k < mm->nr; k++) {
		struct lm_run *r = &mm->runs[mm->by_src[k]];
		__u64 ps = r->page_size, rlen = r->end - r->start;
		__u64 s = src > r->src ? src : r->src;
		__u64 e = src + npages * ps;
		__u64 lo, hi, i, j;

		if (r->space != space || r->src >= e)
			break;
		if (e > r->src + rlen)
			e = r->src + rlen;
		/* Only pages the message covers whole: a hostile or
		 * misaligned address must never index before data. */
		lo = (s - r->src + ps - 1) / ps;
		hi = (e - r->src) / ps;
		for (i = lm_find_next_bit(r->lazy, hi, lo); i < hi;
		     i = lm_find_next_bit(r->lazy, hi, j)) {
			j = lm_find_next_zero_bit(r->lazy, hi, i);
			err = copy_seg(l, mm, r, i, j,
				       data + (r->src + i * ps - src), via);
			if (err == -EAGAIN) {
				err = read_events(l, mm);
				if (err)
					return err;
				goto retry;	/* runs may have moved */
			}
			if (err == -ESRCH) {
				mm_dead(l, mm);
				return 0;
			}
			if (err)
				return err;
		}
	}
	return 0;
}

/* Faults whose page is no longer lazy are resolved: record latency. */
static void settle_pending(struct lm_lazy *l)
{
	__u64 now = lm_now_ns();
	size_t i;

	for (i = 0; i < l->pending.nr;) {
		struct fault *f = &l->pending.v[i];
		struct lm_run *r = lm_mm_find(f->mm, f->addr);

		struct lm_obj *o;
		__u64 oi;

		if (r && r->space) {
			o = obj_page(l, r, f->addr, &oi);
			if (o && lm_test_bit(o->lazy, oi)) {
				i++;
				continue;
			}
			/* installed through the daemon's mapping: wake it */
			uffd_wake(f->mm, f->addr, LM_PAGE_SIZE);
		} else if (r && lm_test_bit(r->lazy, (f->addr - r->start) /
					    r->page_size)) {
			i++;
			continue;
		}
		if (is_root(l, f->mm))
			lm_stats_lat(l->st, now - f->t0);
		fault_del(&l->pending, i);
	}
}

static void count_obj(struct lm_lazy *l, struct lm_obj *o, __u64 n, int via)
{
	o->nlazy -= n;
	if (!n)
		return;
	if (via == VIA_REQ) {
		l->st->pages_faulted += n;
	} else {
		l->st->pages_pushed += n;
		if (via == VIA_EAGER)
			l->st->pages_eager += n;
	}
	l->st->last_install_ns = lm_realtime_ns();
}

static __u64 obj_clear(struct lm_obj *o, __u64 lo, __u64 hi)
{
	__u64 i, n = 0;

	for (i = lm_find_next_bit(o->lazy, hi, lo); i < hi;
	     i = lm_find_next_bit(o->lazy, hi, i + 1)) {
		lm_clear_bit(o->lazy, i);
		n++;
	}
	for (i = lo; i < hi; i++)
		lm_clear_bit(o->req, i);
	return n;
}

static int read_own(struct lm_lazy *l);

/*
 * Forget the lazy pages [lo, hi) of @o: removed (punched, truncated) at
 * the destination, they read zeros now and must never be filled.  The
 * source stops pushing them; lazymig.ko stops reporting them.
 */
static int obj_drop(struct lm_lazy *l, struct lm_obj *o, __u64 lo, __u64 hi)
{
	__u64 n;
	int err;

	if (hi > o->npages)
		hi = o->npages;
	if (lo >= hi)
		return 0;
	n = obj_clear(o, lo, hi);
	o->nlazy -= n;
	l->st->pages_dropped += n;
	if (o->registered) {
		err = lmdev_update(l->cfg.dev, o->dev_id, LAZYMIG_UPDATE_CLEAR,
				   lo, hi - lo, NULL);
		if (err) {
			LOG(l, "lazymig.ko: cannot clear pages %llu-%llu of shm object %u: %s",
			    (unsigned long long)lo, (unsigned long long)hi,
			    o->space - 1, strerror(-err));
			return err;
		}
	}
	if (!n)
		return 0;
	return lm_msg_send(l->cfg.req_fd, LM_MSG_DROP, o->space, lo * o->ps,
			   hi - lo, NULL, 0);
}

/*
 * A registered object: LAZYMIG_IOC_FILL installs each page atomically
 * for every reader of the file and clears it in the module's pending set
 * in one step (a page that already has data keeps it).
 */
static int fill_obj(struct lm_lazy *l, struct lm_obj *o, __u64 lo, __u64 hi,
		    const char *data, int via)
{
	__u64 i, j;
	int n;

	for (i = lm_find_next_bit(o->lazy, hi, lo); i < hi;
	     i = lm_find_next_bit(o->lazy, hi, j)) {
		j = lm_find_next_zero_bit(o->lazy, hi, i);
		n = lmdev_fill(l->cfg.dev, o->dev_id, i, j - i,
			       data + (i - lo) * o->ps);
		if (n < 0) {
			LOG(l, "lazymig.ko: cannot fill pages %llu-%llu of shm object %u: %s",
			    (unsigned long long)i, (unsigned long long)j,
			    o->space - 1, strerror(-n));
			return n;
		}
		count_obj(l, o, obj_clear(o, i, j), via);
	}
	return 0;
}

/* UFFDIO_COPY of page @i of @o; 0, 1 (there already) or -errno. */
static int copy_obj_page(struct lm_lazy *l, struct lm_obj *o, __u64 i,
			 const char *src)
{
	for (;;) {
		struct uffdio_copy c = {
			.dst = (unsigned long)o->map + i * o->ps,
			.src = (unsigned long)src, .len = o->ps, .copy = 0,
		};
		int err;

		if (!ioctl(l->own_uffd, UFFDIO_COPY, &c))
			return 0;
		if (errno == EEXIST)
			return 1;
		if (errno != EAGAIN) {
			LOG(l, "UFFDIO_COPY into shm object %u at offset 0x%llx: %s",
			    o->space - 1, (unsigned long long)(i * o->ps),
			    strerror(errno));
			return -errno;
		}
		/* a punch or truncate is being reported: read it first */
		err = read_own(l);
		if (err)
			return err;
		if (!lm_test_bit(o->lazy, i))
			return 1;
	}
}

/* UFFDIO_COPY of the lazy pages among [lo, hi) of @o, by offset. */
static int install_obj(struct lm_lazy *l, struct lm_obj *o, __u64 src,
		       __u64 npages, const char *data, int via)
{
	__u64 lo = src / o->ps, hi = lo + npages, i, j;
	int err;

	if (src % o->ps || lo >= o->npages)
		return 0;
	if (hi > o->npages)
		hi = o->npages;
	if (o->registered)
		return fill_obj(l, o, lo, hi, data, via);
	for (i = lm_find_next_bit(o->lazy, hi, lo); i < hi;
	     i = lm_find_next_bit(o->lazy, hi, j)) {
		struct uffdio_copy c = {
			.dst = (unsigned long)o->map + i * o->ps,
			.src = (unsigned long)data + (i - lo) * o->ps,
			.copy = 0,
		};

		j = lm_find_next_zero_bit(o->lazy, hi, i);
		c.len = (j - i) * o->ps;
		if (!ioctl(l->own_uffd, UFFDIO_COPY, &c)) {
			count_obj(l, o, obj_clear(o, i, j), via);
			continue;
		}
		if (errno != EEXIST && errno != EAGAIN) {
			LOG(l, "UFFDIO_COPY into shm object %u at offset 0x%llx: %s",
			    o->space - 1, (unsigned long long)(i * o->ps),
			    strerror(errno));
			return -errno;
		}
		/*
		 * some are there (the process wrote them), or a removal is
		 * being reported: page by page, each still lazy
		 */
		for (; i < j; i++) {
			if (!lm_test_bit(o->lazy, i))
				continue;
			err = copy_obj_page(l, o, i, data + (i - lo) * o->ps);
			if (err < 0)
				return err;
			if (lm_test_bit(o->lazy, i))
				count_obj(l, o, obj_clear(o, i, i + 1), via);
		}
	}
	return 0;
}

static int check_mevs(struct lm_lazy *l);

static int install(struct lm_lazy *l, __u32 space, __u64 src, __u64 npages,
		   const char *data, int via)
{
	size_t i;
	int err;

	if (space) {
		struct lm_obj *o = obj_of(l, space);

		err = o ? install_obj(l, o, src, npages, data, via) : 0;
		if (!err)
			err = check_mevs(l);
		if (err)
			return err;
		settle_pending(l);
		return 0;
	}
	for (i = 0; i < l->nr_mms; i++) {
		if (l->mms[i]->dead)
			continue;
		err = install_mm(l, l->mms[i], space, src, npages, data, via);
		if (err)
			return err;
	}
	settle_pending(l);
	return 0;
}

int lm_lazy_install(struct lm_lazy *l, __u32 space, __u64 addr,
		    __u64 npages, const void *data)
{
	return install(l, space, addr, npages, data, VIA_EAGER);
}

static int zero_page(struct lm_lazy *l, struct lm_mm *mm, __u64 addr,
		     __u64 ps)
{
	for (;;) {
		struct uffdio_zeropage z = {
			.range = { .start = addr, .len = ps },
			.zeropage = 0,
		};
		int err;

		if (!ioctl(mm->uffd, UFFDIO_ZEROPAGE, &z))
			return 0;
		if (errno == EEXIST) {
			uffd_wake(mm, addr, ps);
			return 0;
		}
		if (errno == ESRCH) {
			mm_dead(l, mm);
			return 0;
		}
		if (errno == ENOENT) {
			/*
			 * Unmapped or moved away since the fault: let the
			 * thread retry its access, as it would have
			 * without us.
			 */
			uffd_wake(mm, addr, ps);
			return 0;
		}
		if (errno != EAGAIN) {
			LOG(l, "UFFDIO_ZEROPAGE at 0x%llx on uffd %d: %s",
			    (unsigned long long)addr, mm->uffd,
			    strerror(errno));
			return -errno;
		}
		err = read_events(l, mm);
		if (err)
			return err;
	}
}

/*
 * A fault outside every run, while lazy shm objects exist: the VMA may be
 * a mapping of one that grew in place (mremap raises no event for it).
 * Look it up in the faulting thread's maps; a run for the part of it
 * that no run covers makes the next faults there O(1) again.
 */
static struct lm_run *learn_vma(struct lm_lazy *l, struct lm_mm *mm,
				__u64 addr, pid_t tid)
{
	unsigned long long st, en, off, ino, lo, hi;
	char path[64], line[512];
	struct lm_obj *o = NULL;
	unsigned int maj, min;
	__u32 space = 0;
	size_t i;
	FILE *fp;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", tid);
	fp = fopen(path, "r");
	if (!fp)
		return NULL;
	while (!found && fgets(line, sizeof(line), fp))
		found = sscanf(line, "%llx-%llx %*s %llx %x:%x %llu", &st, &en,
			       &off, &maj, &min, &ino) == 6 &&
			st <= addr && addr < en;
	fclose(fp);
	if (!found)
		return NULL;
	for (i = 0; i < l->nr_objs; i++)
		if (ino && l->objs[i].ino == ino)
			o = &l->objs[i];
	if (o)
		space = o->space;
	lo = st;
	hi = en;
	for (i = 0; i < mm->nr; i++) {	/* the gap around addr */
		if (mm->runs[i].end <= addr && mm->runs[i].end > lo)
			lo = mm->runs[i].end;
		if (mm->runs[i].start > addr && mm->runs[i].start < hi)
			hi = mm->runs[i].start;
	}
	{
		__u64 n = (hi - lo) / LM_PAGE_SIZE;
		unsigned long *none = calloc(LM_BITS_TO_LONGS(n + 1),
					     sizeof(long));

		if (!none || !n || lm_mm_add_run(mm, space, lo,
						 off + (lo - st), n,
						 LM_PAGE_SIZE, none)) {
			free(none);
			return NULL;
		}
		free(none);
	}
	if (lm_mm_index(mm))
		return NULL;
	return lm_mm_find(mm, addr);
}

/* A fault on a mapping of a lazy shm object. */
static int serve_obj_fault(struct lm_lazy *l, struct fault *f,
			   struct lm_run *r)
{
	__u64 idx, addr = f->addr & ~(LM_PAGE_SIZE - 1);
	struct lm_obj *o = obj_page(l, r, addr, &idx);

	if (!o || !lm_test_bit(o->lazy, idx)) {
		/* a hole of the object, or just installed: zero or wake */
		if (is_root(l, f->mm))
			l->st->zero_faults++;
		return zero_page(l, f->mm, addr, LM_PAGE_SIZE);
	}
	f->addr = addr;
	if (fault_push(&l->pending, f->mm, addr, f->t0))
		return -ENOMEM;
	if (lm_test_bit(o->req, idx))
		return 0;
	lm_set_bit(o->req, idx);
	return lm_msg_send(l->cfg.req_fd, LM_MSG_REQ, o->space, idx * o->ps,
			   1, NULL, 0);
}

static int serve_fault(struct lm_lazy *l, struct fault *f)
{
	struct lm_mm *mm = f->mm;
	struct lm_run *r;
	__u64 idx, ps = LM_PAGE_SIZE;

	if (mm->dead)
		return 0;
	r = lm_mm_find(mm, f->addr);
	if (!r && l->nr_objs && f->tid > 0)
		r = learn_vma(l, mm, f->addr, f->tid);
	if (r && r->space)
		return serve_obj_fault(l, f, r);
	if (r) {
		ps = r->page_size;
		idx = (f->addr - r->start) / ps;
	}
	if (!r || !lm_test_bit(r->lazy, idx)) {
		if (is_root(l, mm))
			l->st->zero_faults++;
		return zero_page(l, mm, f->addr & ~(ps - 1), ps);
	}
	f->addr = r->start + idx * ps;
	if (fault_push(&l->pending, mm, f->addr, f->t0))
		return -ENOMEM;
	if (lm_test_bit(r->req, idx))
		return 0;	/* already asked; the answer wakes all */
	lm_set_bit(r->req, idx);
	return lm_msg_send(l->cfg.req_fd, LM_MSG_REQ, r->space,
			   r->src + idx * ps, 1, NULL, 0);
}

static int serve_queued(struct lm_lazy *l)
{
	size_t i;
	int err = 0;

	/* serve_fault may read events, which may queue more faults */
	for (i = 0; i < l->queued.nr && !err; i++) {
		struct fault f = l->queued.v[i];

		err = serve_fault(l, &f);
	}
	l->queued.nr = 0;
	return err;
}

/* Wake faults pending in [start, end) of mm: they refault and see why. */
static void wake_pending(struct lm_lazy *l, struct lm_mm *mm, __u64 start,
			 __u64 end, __u64 shift)
{
	size_t i;

	for (i = 0; i < l->pending.nr;) {
		struct fault *f = &l->pending.v[i];

		if (f->mm == mm && f->addr >= start && f->addr < end) {
			uffd_wake(mm, f->addr, LM_PAGE_SIZE);
			if (shift)
				uffd_wake(mm, f->addr + shift, LM_PAGE_SIZE);
			fault_del(&l->pending, i);
		} else {
			i++;
		}
	}
}

/* Tell the source to stop pushing what no mm will ever need. */
static int send_drops(struct lm_lazy *l, struct lm_mm *mm, __u64 start,
		      __u64 end)
{
	size_t i;
	int err;

	if (l->forked || !is_root(l, mm))
		return 0;	/* another mm may still need those pages */
	for (i = 0; i < mm->nr; i++) {
		struct lm_run *r = &mm->runs[i];
		__u64 s = start > r->start ? start : r->start;
		__u64 e = end < r->end ? end : r->end;

		if (s >= e || r->space)	/* shm: see handle_remove */
			continue;
		err = lm_msg_send(l->cfg.req_fd, LM_MSG_DROP, r->space,
				  r->src + (s - r->start), (e - s) / r->page_size,
				  NULL, 0);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Which madvise() raised a REMOVE event?  The thread that did is blocked
 * in the syscall until the event is read, and goes on (to punch the hole,
 * for MADV_REMOVE) as soon as it is: so the madvise() calls in flight are
 * noted from /proc (syscall number and arguments of every thread of the
 * process and, recursively, of its children) before each read of a uffd,
 * while lazy shm pages remain.
 */
static void note_madvise(struct lm_lazy *l, pid_t pid, int depth)
{
	char path[300], buf[512];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		unsigned long long a[3];
		long nr;
		FILE *fp;
		char *p, *q;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall", pid,
			 de->d_name);
		fp = fopen(path, "r");
		if (fp) {
			if (fscanf(fp, "%ld %llx %llx %llx", &nr, &a[0], &a[1],
				   &a[2]) == 4 && nr == SYS_madvise &&
			    l->nr_adv < LM_MAX_ADV) {
				l->adv[l->nr_adv].start = a[0];
				l->adv[l->nr_adv].end = a[0] + a[1];
				l->adv[l->nr_adv].advice = (int)a[2];
				l->nr_adv++;
			}
			fclose(fp);
		}
		if (depth > 8)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", pid,
			 de->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		if (fgets(buf, sizeof(buf), fp)) {
			for (p = buf; *p; p = q) {
				long c = strtol(p, &q, 10);

				if (q == p)
					break;
				note_madvise(l, c, depth + 1);
			}
		}
		fclose(fp);
	}
	closedir(dir);
}

static int find_advice(struct lm_lazy *l, __u64 start, __u64 end)
{
	size_t i;

	for (i = 0; i < l->nr_adv; i++)
		if (l->adv[i].start <= start && end <= l->adv[i].end)
			return l->adv[i].advice;
	return -1;
}

/* Lazy pages of an object whose removals only a guess can tell? */
static int objs_pending(const struct lm_lazy *l)
{
	size_t i;

	for (i = 0; i < l->nr_objs; i++)
		if (l->objs[i].nlazy && !l->objs[i].exact)
			return 1;
	return 0;
}

/*
 * REMOVE on a mapping of a lazy shm object: MADV_REMOVE punches the
 * object (its lazy pages must read zeros: forget them), MADV_DONTNEED
 * only drops page table entries (the object keeps its content: the lazy
 * pages still come).  The event does not say which.  An object whose
 * punches are reported exactly (lazymig.ko's PUNCH, or the native shmem
 * REMOVE in the daemon's own mapping) keeps its content here: the
 * MADV_REMOVE punch that follows is reported on its own.
 */
static void remove_obj(struct lm_lazy *l, struct lm_mm *mm, __u64 start,
		       __u64 end)
{
	int advice = -2;
	size_t i;

	for (i = 0; i < mm->nr; i++) {
		struct lm_run *r = &mm->runs[i];
		__u64 s = start > r->start ? start : r->start;
		__u64 e = end < r->end ? end : r->end, lo, hi;
		struct lm_obj *o;

		if (!r->space || s >= e || !(o = obj_page(l, r, s, &lo)) ||
		    o->exact)
			continue;
		if (advice == -2)
			advice = find_advice(l, start, end);
		if (advice < 0) {
			/*
			 * It entered madvise() after the snapshot: it was
			 * blocked until this read, so it is most likely
			 * still in the syscall now.
			 */
			l->nr_adv = 0;
			note_madvise(l, l->cfg.pid, 0);
			advice = find_advice(l, start, end);
		}
		if (advice != MADV_REMOVE) {
			if (advice < 0)
				LOG(l, "REMOVE at 0x%llx-0x%llx of shm object %u: its madvise() was not seen; taken as MADV_DONTNEED (content kept)",
				    (unsigned long long)start,
				    (unsigned long long)end, o->space - 1);
			continue;
		}
		hi = lo + (e - s) / o->ps;
		obj_drop(l, o, lo, hi);
	}
}

static int handle_remove(struct lm_lazy *l, struct lm_mm *mm, __u64 start,
			 __u64 end, int unmap)
{
	int err = send_drops(l, mm, start, end);

	if (!unmap && l->nr_objs)
		remove_obj(l, mm, start, end);
	count_dropped(l, mm, lm_mm_clear(mm, start, end));
	wake_pending(l, mm, start, end, 0);
	return err;
}

static int handle_remap(struct lm_lazy *l, struct lm_mm *mm, __u64 from,
			__u64 to, __u64 len)
{
	int err;

	wake_pending(l, mm, from, from + len, to - from);
	count_dropped(l, mm, lm_mm_clear(mm, to, to + len));
	err = lm_mm_remap(mm, from, to, len);
	if (err)
		LOG(l, "cannot move lazy state 0x%llx -> 0x%llx: %s",
		    (unsigned long long)from, (unsigned long long)to,
		    strerror(-err));
	return err;
}

static int add_mm(struct lm_lazy *l, struct lm_mm *mm)
{
	struct lm_mm **n = realloc(l->mms, (l->nr_mms + 1) * sizeof(*n));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = mm };

	if (!n)
		return -ENOMEM;
	l->mms = n;
	l->mms[l->nr_mms++] = mm;
	if (l->epfd >= 0 && epoll_ctl(l->epfd, EPOLL_CTL_ADD, mm->uffd, &ev))
		return -errno;
	return 0;
}

static int handle_fork(struct lm_lazy *l, struct lm_mm *parent, int ufd)
{
	struct lm_mm *child = calloc(1, sizeof(*child));
	int err;

	if (!child) {
		close(ufd);
		return -ENOMEM;
	}
	err = lm_mm_dup(parent, child);
	child->uffd = ufd;
	if (!err)
		err = add_mm(l, child);
	if (err) {
		LOG(l, "cannot track forked child (uffd %d): %s", ufd,
		    strerror(-err));
		return err;
	}
	l->forked = 1;
	return 0;
}

static int handle_msg(struct lm_lazy *l, struct lm_mm *mm,
		      const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		l->st->events[LM_EV_PAGEFAULT]++;
		if (is_root(l, mm))
			l->st->faults++;
		if (fault_push(&l->queued, mm, m->arg.pagefault.address,
			       lm_now_ns()))
			return -ENOMEM;
		l->queued.v[l->queued.nr - 1].tid = m->arg.pagefault.feat.ptid;
		return 0;
	case UFFD_EVENT_FORK:
		l->st->events[LM_EV_FORK]++;
		return handle_fork(l, mm, m->arg.fork.ufd);
	case UFFD_EVENT_REMAP:
		l->st->events[LM_EV_REMAP]++;
		return handle_remap(l, mm, m->arg.remap.from, m->arg.remap.to,
				    m->arg.remap.len);
	case UFFD_EVENT_REMOVE:
		l->st->events[LM_EV_REMOVE]++;
		return handle_remove(l, mm, m->arg.remove.start,
				     m->arg.remove.end, 0);
	case UFFD_EVENT_UNMAP:
		l->st->events[LM_EV_UNMAP]++;
		return handle_remove(l, mm, m->arg.remove.start,
				     m->arg.remove.end, 1);
	default:
		LOG(l, "unknown uffd event %u on uffd %d", m->event, mm->uffd);
		return -EPROTO;
	}
}

/*
 * Read every message waiting on mm's uffd; events take effect now,
 * faults are queued.  An empty read yields briefly: a caller that saw
 * EAGAIN waits for an event the kernel is still producing (fork).
 */
static int read_events(struct lm_lazy *l, struct lm_mm *mm)
{
	struct uffd_msg msgs[UFFD_BATCH];
	int got = 0;

	if (mm->uffd < 0)	/* closed in this batch */
		return 0;

	for (;;) {
		ssize_t n, i;
		int err;

		l->nr_adv = 0;
		if (l->resumed && objs_pending(l))
			note_madvise(l, l->cfg.pid, 0);
		n = read(mm->uffd, msgs, sizeof(msgs));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!got)
				sched_yield();
			return 0;
		}
		if (n < 0) {
			LOG(l, "read uffd %d: %s", mm->uffd, strerror(errno));
			return -errno;
		}
		got = 1;
		for (i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++) {
			err = handle_msg(l, mm, &msgs[i]);
			if (err)
				return err;
		}
	}
}

/* ---- lazymig.ko events and the native shmem REMOVE ---- */

/* Pages among the fill ranges of @m still lazy? */
static int mev_waits(const struct lm_obj *o, const struct mev *m)
{
	int k;

	for (k = 0; k < 2; k++)
		if (m->p.fill[k].first < m->p.fill[k].end &&
		    lm_find_next_bit(o->lazy, m->p.fill[k].end,
				     m->p.fill[k].first) < m->p.fill[k].end)
			return 1;
	return 0;
}

/* Its pages are in: forget what it removed, let the caller go on. */
static int mev_finish(struct lm_lazy *l, struct lm_obj *o, struct mev *m)
{
	int err = o ? obj_drop(l, o, m->p.drop_first, m->p.drop_end) : 0;

	if (err)
		return err;
	err = lmdev_ack(l->cfg.dev, m->ev.seq, 0);
	if (err == -ENOENT)	/* its caller was killed or gave up */
		err = 0;
	if (err)
		LOG(l, "lazymig.ko: cannot ack event %u: %s", m->ev.seq,
		    strerror(-err));
	return err;
}

static int check_mevs(struct lm_lazy *l)
{
	size_t i;
	int err;

	for (i = 0; i < l->nr_mevs;) {
		struct mev m = l->mevs[i];
		struct lm_obj *o = obj_of(l, m.space);

		if (o && mev_waits(o, &m)) {
			i++;
			continue;
		}
		l->mevs[i] = l->mevs[--l->nr_mevs];
		err = mev_finish(l, o, &m);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Urgent REQs for the lazy pages of [first, end) not asked for yet.  The
 * answer to a REQ brings the source's next LM_AROUND_PAGES - 1 unsent
 * pages within LM_AROUND_WINDOW along: the next lazy pages here are among
 * them (or already on their way), so one REQ covers them all.
 */
static int request_obj(struct lm_lazy *l, struct lm_obj *o, __u64 first,
		       __u64 end)
{
	__u64 i, wend = 0, along = 0;
	int err;

	for (i = lm_find_next_bit(o->lazy, end, first); i < end;
	     i = lm_find_next_bit(o->lazy, end, i + 1)) {
		if (lm_test_bit(o->req, i))
			continue;
		lm_set_bit(o->req, i);
		if (along && i < wend) {
			along--;
			continue;
		}
		err = lm_msg_send(l->cfg.req_fd, LM_MSG_REQ, o->space,
				  i * o->ps, 1, NULL, 0);
		if (err)
			return err;
		along = LM_AROUND_PAGES - 1;
		wend = i + LM_AROUND_WINDOW;
	}
	return 0;
}

static void clamp(uint64_t *v, uint64_t max)
{
	if (*v > max)
		*v = max;
}

/*
 * One event: ACCESS fills the pending pages of its range, PUNCH fills the
 * pending pages it cuts and forgets the ones it removes whole, TRUNCATE
 * fills the page holding the new end and forgets every page past it (see
 * linux/lazymig.h).  Pages not in yet are asked for at once; the ack
 * waits for them.
 */
static int dev_event(struct lm_lazy *l, const struct lazymig_event *ev)
{
	struct lm_obj *o = obj_of(l, (__u32)ev->cookie);
	struct mev m = { .ev = *ev };
	int k, err;

	l->st->events[LM_EV_LMDEV]++;
	if (!o || !o->registered || o->dev_id != ev->id) {
		/* read after its unregistration: nothing pending there */
		err = lmdev_ack(l->cfg.dev, ev->seq, 0);
		return err == -ENOENT ? 0 : err;
	}
	m.space = o->space;
	lmdev_plan(ev, o->ps, &m.p);
	for (k = 0; k < 2; k++) {
		clamp(&m.p.fill[k].end, o->npages);
		clamp(&m.p.fill[k].first, m.p.fill[k].end);
		err = request_obj(l, o, m.p.fill[k].first, m.p.fill[k].end);
		if (err)
			return err;
	}
	clamp(&m.p.drop_end, o->npages);
	if (!mev_waits(o, &m))
		return mev_finish(l, o, &m);
	if (l->nr_mevs == l->cap_mevs) {
		size_t cap = l->cap_mevs ? 2 * l->cap_mevs : 16;
		struct mev *n = realloc(l->mevs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->mevs = n;
		l->cap_mevs = cap;
	}
	l->mevs[l->nr_mevs++] = m;
	return 0;
}

static int handle_dev(struct lm_lazy *l)
{
	struct lazymig_event evs[16];
	int n, i, err;

	for (;;) {
		n = lmdev_read(l->cfg.dev, evs, 16);
		if (n == -EAGAIN || n == -EINTR || n == 0)
			return 0;
		if (n < 0) {
			LOG(l, "read /dev/%s: %s", LAZYMIG_DEV_NAME,
			    strerror(-n));
			return n;
		}
		for (i = 0; i < n; i++) {
			err = dev_event(l, &evs[i]);
			if (err)
				return err;
		}
	}
}

/* Native REMOVE in the daemon's own mapping: offsets, exactly. */
static int own_remove(struct lm_lazy *l, __u64 start, __u64 end)
{
	size_t i;
	int err;

	l->st->events[LM_EV_SHMEM_REMOVE]++;
	for (i = 0; i < l->nr_objs; i++) {
		struct lm_obj *o = &l->objs[i];
		__u64 m = (unsigned long)o->map, s, e;

		if (!o->map || end <= m || start >= m + o->map_len)
			continue;
		s = start > m ? start - m : 0;
		e = (end < m + o->map_len ? end : m + o->map_len) - m;
		err = obj_drop(l, o, (s + o->ps - 1) / o->ps, e / o->ps);
		if (err)
			return err;
	}
	return 0;
}

/* Events of the daemon's own uffd: only REMOVE is expected there. */
static int read_own(struct lm_lazy *l)
{
	struct uffd_msg msgs[UFFD_BATCH];
	ssize_t n, i;
	int err;

	for (;;) {
		n = read(l->own_uffd, msgs, sizeof(msgs));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0) {
			LOG(l, "read own uffd %d: %s", l->own_uffd,
			    strerror(errno));
			return -errno;
		}
		for (i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++) {
			if (msgs[i].event != UFFD_EVENT_REMOVE) {
				LOG(l, "unexpected uffd event %u in the daemon's own shm mappings",
				    msgs[i].event);
				return -EPROTO;
			}
			err = own_remove(l, msgs[i].arg.remove.start,
					 msgs[i].arg.remove.end);
			if (err)
				return err;
		}
	}
}

/*
 * Every page is in: lazymig.ko has nothing more to report, and the
 * daemon's own mappings nothing more to install (a punch must not wait
 * for the daemon to read its REMOVE any more).
 */
static void unregister_objs(struct lm_lazy *l)
{
	size_t i;
	int err;

	for (i = 0; i < l->nr_objs; i++) {
		struct lm_obj *o = &l->objs[i];

		if (o->map)
			munmap(o->map, o->map_len);
		o->map = NULL;

		if (!o->registered)
			continue;
		err = lmdev_unregister(l->cfg.dev, o->dev_id);
		if (err)
			LOG(l, "lazymig.ko: cannot unregister shm object %u: %s",
			    o->space - 1, strerror(-err));
		o->registered = 0;
	}
	if (l->own_uffd >= 0) {
		close(l->own_uffd);	/* also leaves the epoll set */
		l->own_uffd = -1;
	}
}

/*
 * Every page with data is in: the pages still missing are zero pages,
 * which the kernel fills by itself once the ranges are unregistered.
 */
static void close_uffds(struct lm_lazy *l)
{
	size_t i;

	for (i = 0; i < l->nr_mms; i++) {
		if (l->mms[i]->uffd >= 0)
			close(l->mms[i]->uffd);
		l->mms[i]->uffd = -1;
	}
}

static int send_done(struct lm_lazy *l)
{
	char json[4096];
	int len;

	if (!l->st->last_install_ns)
		l->st->last_install_ns = lm_realtime_ns();
	l->st->bytes_after_resume = l->req.bytes + l->bulk.bytes;
	len = lm_stats_json(l->st, json, sizeof(json));
	if (len >= (int)sizeof(json))
		len = sizeof(json) - 1;
	l->done_sent = 1;
	unregister_objs(l);
	close_uffds(l);
	if (l->cfg.bulk_fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->cfg.bulk_fd, NULL);
	return lm_msg_send(l->cfg.req_fd, LM_MSG_DONE, 0, 0, 0, json, len);
}

/* SPARSE: the pages whose bits are set, runs of them at a time. */
static int install_sparse(struct lm_lazy *l, const struct lm_msg *m,
			  const void *payload, int via)
{
	size_t bm = LM_BITS_TO_LONGS(m->npages) * sizeof(long);
	const char *data = (const char *)payload + bm;
	unsigned long sel[LM_BITS_TO_LONGS(LM_SPARSE_WINDOW_MAX)];
	__u64 i, j;
	int err;

	if (!m->npages || m->npages > LM_SPARSE_WINDOW_MAX || m->len < bm)
		goto bad;
	memcpy(sel, payload, bm);	/* aligned, and ours */
	if (m->len != bm + lm_bitmap_weight(sel, m->npages) * LM_PAGE_SIZE)
		goto bad;
	for (i = lm_find_next_bit(sel, m->npages, 0); i < m->npages;
	     i = lm_find_next_bit(sel, m->npages, j)) {
		j = lm_find_next_zero_bit(sel, m->npages, i);
		err = install(l, m->space, m->addr + i * LM_PAGE_SIZE, j - i,
			      data, via);
		if (err)
			return err;
		data += (j - i) * LM_PAGE_SIZE;
	}
	return 0;
bad:
	LOG(l, "malformed SPARSE from the source: 0x%llx, %llu pages, %u bytes",
	    (unsigned long long)m->addr, (unsigned long long)m->npages, m->len);
	return -EBADMSG;
}

/* A PAGES or SPARSE message, its size checked against what it claims. */
static int install_msg(struct lm_lazy *l, const struct lm_msg *m,
		       const void *payload, int via)
{
	if (m->type == LM_MSG_SPARSE)
		return install_sparse(l, m, payload, via);
	if (m->npages > LM_MSG_MAX_PAYLOAD / LM_PAGE_SIZE ||
	    m->len != m->npages * LM_PAGE_SIZE ||
	    m->addr + m->len < m->addr) {
		LOG(l, "malformed PAGES from the source: 0x%llx, %llu pages, %u bytes",
		    (unsigned long long)m->addr,
		    (unsigned long long)m->npages, m->len);
		return -EBADMSG;
	}
	return install(l, m->space, m->addr, m->npages, payload, via);
}

static int error_msg(struct lm_lazy *l, const struct lm_msg *m,
		     const void *payload)
{
	LOG(l, "source reports: %.*s", (int)m->len, (const char *)payload);
	return -EPROTO;
}

static int handle_req(struct lm_lazy *l)
{
	const void *payload;
	struct lm_msg m;
	long n = lm_rx_fill(&l->req);
	int err;

	if (n < 0) {
		LOG(l, "request channel: %s; the source is gone",
		    strerror(-n));
		return n;
	}
	while ((err = lm_rx_next(&l->req, &m, &payload)) == 1) {
		switch (m.type) {
		case LM_MSG_PAGES:
		case LM_MSG_SPARSE:
			err = install_msg(l, &m, payload, VIA_REQ);
			break;
		case LM_MSG_BYE:
			if (!l->done_sent) {	/* pages would stay missing */
				LOG(l, "BYE from the source before every page arrived");
				err = -EPROTO;
				break;
			}
			l->bye = 1;
			err = 0;
			break;
		case LM_MSG_ERROR:
			err = error_msg(l, &m, payload);
			break;
		default:
			LOG(l, "unexpected %s on the request channel",
			    lm_msg_name(m.type));
			err = -EPROTO;
		}
		if (err)
			return err;
	}
	return err;
}

/* One bulk message per call; returns 1 if more may be buffered. */
static int handle_bulk(struct lm_lazy *l)
{
	const void *payload;
	struct lm_msg m;
	long n;
	int err;

	err = lm_rx_next(&l->bulk, &m, &payload);
	if (err == 0) {
		n = lm_rx_fill(&l->bulk);
		if (n < 0 && !l->push_end) {
			LOG(l, "bulk channel: %s; the source is gone",
			    strerror(-n));
			return n;
		}
		if (n < 0)	/* closed after PUSH_END: nothing more */
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->cfg.bulk_fd, NULL);
		if (n <= 0)
			return 0;
		err = lm_rx_next(&l->bulk, &m, &payload);
	}
	if (err <= 0)
		return err;
	if (m.type == LM_MSG_PUSH_END) {
		l->push_end = 1;
		return 1;
	}
	if (m.type != LM_MSG_PAGES && m.type != LM_MSG_SPARSE) {
		LOG(l, "unexpected %s on the bulk channel",
		    lm_msg_name(m.type));
		return -EPROTO;
	}
	err = install_msg(l, &m, payload, VIA_BULK);
	return err ? err : 1;
}

static __u64 lazy_left(const struct lm_lazy *l)
{
	__u64 n = 0;
	size_t i;

	for (i = 0; i < l->nr_mms; i++)
		if (!l->mms[i]->dead)
			n += l->mms[i]->nlazy;
	for (i = 0; i < l->nr_objs; i++)
		n += l->objs[i].nlazy;
	return n;
}

__u64 lm_lazy_pending(const struct lm_lazy *l)
{
	return l->mms[0]->nlazy;
}

static void poke(struct lm_lazy *l)
{
	__u64 one = 1;

	if (write(l->evfd, &one, sizeof(one)) != sizeof(one))
		LOG(l, "eventfd: %s", strerror(errno));
}

void lm_lazy_resumed(struct lm_lazy *l, pid_t pid)
{
	if (pid > 0)
		l->cfg.pid = pid;
	__atomic_store_n(&l->resume_req, 1, __ATOMIC_RELEASE);
	poke(l);
}

void lm_lazy_abort(struct lm_lazy *l)
{
	__atomic_store_n(&l->abort_req, 1, __ATOMIC_RELEASE);
	poke(l);
}

static int on_resumed(struct lm_lazy *l)
{
	__u64 v;

	if (read(l->evfd, &v, sizeof(v)) != sizeof(v))
		return 0;
	if (__atomic_load_n(&l->abort_req, __ATOMIC_ACQUIRE))
		return -ECANCELED;
	if (l->resumed || !__atomic_load_n(&l->resume_req, __ATOMIC_ACQUIRE))
		return 0;
	l->resumed = 1;
	l->t_resumed = lm_now_ns();
	l->st->bytes_before_resume += l->req.bytes + l->bulk.bytes;
	l->pidfd = syscall(SYS_pidfd_open, l->cfg.pid, 0);
	if (l->pidfd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.ptr = &l->pid_tag };

		epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->pidfd, &ev);
	}
	return lm_msg_send(l->cfg.req_fd, LM_MSG_RESUMED, 0, 0, 0, NULL, 0);
}

static int on_process_exit(struct lm_lazy *l)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->pidfd, NULL);
	mm_dead(l, l->mms[0]);
	settle_pending(l);
	return 0;
}

static int dispatch(struct lm_lazy *l, struct epoll_event *evs, int n,
		    int *bulk_ready)
{
	int i, err;

	/* uffds first: their faults are the urgent work */
	for (i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;

		if (p == &l->req_tag || p == &l->bulk_tag ||
		    p == &l->ev_tag || p == &l->pid_tag ||
		    p == &l->dev_tag)
			continue;
		err = p == &l->own_tag ? read_own(l) : read_events(l, p);
		if (err)
			return err;
	}
	err = serve_queued(l);
	for (i = 0; i < n && !err; i++) {
		void *p = evs[i].data.ptr;

		if (p == &l->req_tag)
			err = handle_req(l);
		else if (p == &l->ev_tag)
			err = on_resumed(l);
		else if (p == &l->pid_tag)
			err = on_process_exit(l);
		else if (p == &l->dev_tag)
			err = handle_dev(l);
		else if (p == &l->bulk_tag)
			*bulk_ready = 1;
	}
	if (err)
		return err;
	if (*bulk_ready) {
		err = handle_bulk(l);
		*bulk_ready = err > 0;
		if (err < 0)
			return err;
	}
	/* faults that came in while installing */
	err = serve_queued(l);
	/* lazymig.ko events whose pages were installed or dropped */
	if (!err && l->nr_mevs)
		err = check_mevs(l);
	return err;
}

/*
 * On a terminal only: pages in, rate, ETA, every PROGRESS_MS.  Returns
 * the epoll timeout until the next line is due (or @timeout).
 */
static int progress(struct lm_lazy *l, int timeout, int last)
{
	__u64 now = lm_now_ns(), left, in, el;
	double rate;
	int due;

	if (!l->tty || !l->resumed)
		return timeout;
	if (!l->tick) {
		l->tick = now;
		l->lazy0 = l->mms[0]->nlazy;
	}
	if (now < l->tick && !last) {
		due = (l->tick - now) / 1000000 + 1;
		return timeout < 0 || due < timeout ? due : timeout;
	}
	left = l->mms[0]->nlazy;
	in = l->lazy0 - left;
	el = now - l->t_resumed;
	rate = el ? in * (double)LM_PAGE_SIZE / (1 << 20) / (el / 1e9) : 0;
	fprintf(stderr, "\rlazy: pid %d: %llu/%llu MiB in, %.0f MiB/s, ETA %.1f s   %s",
		l->cfg.pid, (unsigned long long)(in * LM_PAGE_SIZE >> 20),
		(unsigned long long)(l->lazy0 * LM_PAGE_SIZE >> 20), rate,
		rate > 0 ? left * (double)LM_PAGE_SIZE / (1 << 20) / rate : 0.0,
		last ? "\n" : "");
	l->tick = now + PROGRESS_MS * 1000000ULL;
	return progress(l, timeout, 0);
}

int lm_lazy_run(struct lm_lazy *l)
{
	struct epoll_event evs[16];
	int bulk_ready = 0, err = 0;
	__u64 bye_deadline = 0;

	while (!l->bye) {
		int timeout = bulk_ready ? 0 : -1;
		int n;

		if (!l->done_sent)
			timeout = progress(l, timeout, 0);
		if (l->resumed && !l->done_sent && !lazy_left(l)) {
			progress(l, -1, 1);
			err = send_done(l);
			if (err)
				break;
			bye_deadline = lm_now_ns() + BYE_TIMEOUT_MS * 1000000ULL;
		}
		if (l->done_sent) {
			__u64 now = lm_now_ns();

			if (now >= bye_deadline) {
				LOG(l, "no BYE from the source after DONE; is it still running?");
				err = -ETIMEDOUT;
				break;
			}
			timeout = (bye_deadline - now) / 1000000 + 1;
			bulk_ready = 0;
		}
		n = epoll_wait(l->epfd, evs, 16, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		err = dispatch(l, evs, n, &bulk_ready);
		if (err)
			break;
	}
	if (err && l->done_sent) {
		/* every page is in: the process is whole whatever happens now */
		LOG(l, "after DONE: %s (ignored)", strerror(-err));
		err = 0;
	}
	return err;
}

static int epoll_add(int epfd, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* The daemon's mapping of lazy shm object @id, registered on own_uffd. */
static int add_obj(struct lm_lazy *l, int id)
{
	const struct lm_image *img = l->cfg.img;
	const struct lm_shm *sh = &img->shms[id].s;
	const struct lm_pagemap_img *pm;
	struct uffdio_register reg;
	struct lm_obj *o, *n;
	int fd;

	n = realloc(l->objs, (l->nr_objs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->objs = n;
	o = &l->objs[l->nr_objs];
	memset(o, 0, sizeof(*o));
	o->space = id + 1;
	o->ps = LM_PAGE_SIZE;
	o->npages = (sh->size + o->ps - 1) / o->ps;
	o->map_len = o->npages * o->ps;
	o->lazy = calloc(LM_BITS_TO_LONGS(o->npages + 1), sizeof(long));
	o->req = calloc(LM_BITS_TO_LONGS(o->npages + 1), sizeof(long));
	if (!o->lazy || !o->req)
		goto nomem;
	pm = lm_image_pagemap((struct lm_image *)img, o->space, 0);
	if (pm && pm->m.space == o->space && pm->m.npages <= o->npages)
		memcpy(o->lazy, pm->bitmap,
		       LM_BITS_TO_LONGS(pm->m.npages) * sizeof(long));
	o->nlazy = lm_bitmap_weight(o->lazy, o->npages);
	fd = l->cfg.shm_fd ? l->cfg.shm_fd(l->cfg.shm_ctx, id) : -1;
	if (fd < 0) {
		LOG(l, "no fd on shm object %d to restore it lazily", id);
		goto inval;
	}
	o->fd = fd;
	{
		struct stat sb;

		if (!fstat(fd, &sb))
			o->ino = sb.st_ino;
	}
	if (l->own_uffd < 0) {
		struct uffdio_api api = { .api = UFFD_API,
			.features = UFFD_FEATURE_MISSING_SHMEM };

		/* punch and truncate of the objects, exactly (patched) */
		if (l->cfg.shmem_remove)
			api.features |= UFFD_FEATURE_EVENT_SHMEM_REMOVE;
		l->own_uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (l->own_uffd < 0 || ioctl(l->own_uffd, UFFDIO_API, &api)) {
			LOG(l, "userfaultfd for the shm objects: %s",
			    strerror(errno));
			goto inval;
		}
		l->own_rm = l->cfg.shmem_remove;
	}
	o->map = o->map_len ? mmap(NULL, o->map_len, PROT_READ | PROT_WRITE,
				   MAP_SHARED, fd, 0) : NULL;
	if (o->map == MAP_FAILED) {
		LOG(l, "cannot map shm object %d: %s", id, strerror(errno));
		o->map = NULL;
		goto inval;
	}
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (unsigned long)o->map;
	reg.range.len = o->map_len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (o->map_len && ioctl(l->own_uffd, UFFDIO_REGISTER, &reg)) {
		LOG(l, "cannot register the mapping of shm object %d: %s", id,
		    strerror(errno));
		munmap(o->map, o->map_len);
		goto inval;
	}
	o->exact = l->own_rm && o->map_len;
	l->nr_objs++;
	return 0;
nomem:
	free(o->lazy);
	free(o->req);
	return -ENOMEM;
inval:
	free(o->lazy);
	free(o->req);
	return -EINVAL;
}

/* A VMA of a lazy shm object: a run by offset (no lazy bits of its own). */
static int add_obj_run(struct lm_lazy *l, struct lm_mm *mm,
		       const struct lm_vma_img *v)
{
	const struct lm_image *img = l->cfg.img;
	__u64 npages = (v->v.end - v->v.start) / LM_PAGE_SIZE;
	unsigned long *none;
	int err;

	if ((unsigned int)v->v.shm_id >= img->proc.nr_shms ||
	    !(img->shms[v->v.shm_id].s.flags & LM_SHM_LAZY))
		return -EINVAL;
	if (!obj_of(l, v->v.shm_id + 1)) {
		err = add_obj(l, v->v.shm_id);
		if (err)
			return err;
	}
	none = calloc(LM_BITS_TO_LONGS(npages + 1), sizeof(long));
	if (!none)
		return -ENOMEM;
	err = lm_mm_add_run(mm, v->v.shm_id + 1, v->v.start, v->v.pgoff,
			    npages, LM_PAGE_SIZE, none);
	free(none);
	return err;
}

/*
 * Register lazy shm object @o with lazymig.ko: from now on fd access,
 * punch and truncate of its pending pages wait for the daemon.  The
 * pending set is the daemon's lazy bitmap (unsigned long words are the
 * module's __u64 words on 64-bit).  A tmpfs file that is the source's own
 * (same host, same file: lm_shm_same_file) is not: its pages are there,
 * and the source's own reads of it must not wait for this daemon.
 */
static int register_obj(struct lm_lazy *l, struct lm_obj *o)
{
	const struct lm_shm *sh = &l->cfg.img->shms[o->space - 1].s;
	int err;

	if (!l->cfg.dev || !o->npages)
		return 0;
	if (lm_shm_same_file(l->cfg.img, sh, o->fd)) {
		LOG(l, "shm object %u is the source's own tmpfs file: not registered with lazymig.ko",
		    o->space - 1);
		return 0;
	}
	err = lmdev_register(l->cfg.dev, o->fd, o->npages,
			     (const uint64_t *)o->lazy, o->space, &o->dev_id);
	if (err && !(sh->flags & LM_SHM_FD_REACHABLE)) {
		/* only its mappings reach it: userfaultfd sees every access */
		LOG(l, "lazymig.ko: cannot register shm object %u (%s): %s; its mappings are served without it",
		    o->space - 1, lm_mem_kind_name(sh->kind), strerror(-err));
		return 0;
	}
	if (err) {
		LOG(l, "lazymig.ko: cannot register shm object %u (%s, %llu pages), which an fd or a path reaches: %s",
		    o->space - 1, lm_mem_kind_name(sh->kind),
		    (unsigned long long)o->npages, strerror(-err));
		return err;
	}
	o->registered = 1;
	o->exact = 1;
	return 0;
}

static int build_root(struct lm_lazy *l, struct lm_mm *mm)
{
	const struct lm_image *img = l->cfg.img;
	unsigned int i;
	int err;

	/* every lazy object, mapped or reached only by an fd or a path */
	for (i = 0; i < img->proc.nr_shms; i++) {
		if (!(img->shms[i].s.flags & LM_SHM_LAZY) || obj_of(l, i + 1))
			continue;
		err = add_obj(l, i);
		if (!err)
			err = register_obj(l, &l->objs[l->nr_objs - 1]);
		if (err)
			return err;
	}

	for (i = 0; i < img->proc.nr_vmas; i++) {
		const struct lm_vma_img *v = &img->vmas[i];
		const struct lm_pagemap_img *pm;
		__u64 ps = v->v.page_size ? v->v.page_size : LM_PAGE_SIZE;

		if (!(v->v.flags & LM_VMA_LAZY))
			continue;
		if (v->v.shm_id >= 0) {
			err = add_obj_run(l, mm, v);
			if (err)
				return err;
			continue;
		}
		pm = lm_lazy_vma_map(img, v);
		if (!pm)
			continue;	/* no data: every fault is a zero page */
		err = lm_mm_add_run(mm, 0, v->v.start, v->v.start,
				    (v->v.end - v->v.start) / ps, ps,
				    pm->bitmap);
		if (err)
			return err;
	}
	return lm_mm_index(mm);
}

static int setup_loop(struct lm_lazy *l)
{
	int err;

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->evfd < 0)
		return -errno;
	err = epoll_add(l->epfd, l->mms[0]->uffd, l->mms[0]);
	if (!err)
		err = epoll_add(l->epfd, l->cfg.req_fd, &l->req_tag);
	if (!err && l->cfg.bulk_fd >= 0)
		err = epoll_add(l->epfd, l->cfg.bulk_fd, &l->bulk_tag);
	if (!err)
		err = epoll_add(l->epfd, l->evfd, &l->ev_tag);
	if (!err && l->cfg.dev)
		err = epoll_add(l->epfd, l->cfg.dev->fd, &l->dev_tag);
	if (!err && l->own_rm)
		err = epoll_add(l->epfd, l->own_uffd, &l->own_tag);
	if (!err)
		err = lm_rx_init(&l->req, l->cfg.req_fd,
				 LM_AROUND_PAGES * LM_PAGE_SIZE * 4);
	if (!err)
		err = lm_rx_init(&l->bulk, l->cfg.bulk_fd,
				 2 * LM_BULK_PAGES * LM_PAGE_SIZE +
				 LM_MSG_MAX_PAYLOAD);
	/* a loop turn copies about one push run, then looks at faults */
	l->bulk.max_read = LM_BULK_PAGES * LM_PAGE_SIZE;
	return err;
}

int lm_lazy_create(const struct lm_lazy_cfg *cfg, struct lm_lazy **out)
{
	struct lm_lazy *l = calloc(1, sizeof(*l));
	struct lm_mm *root = calloc(1, sizeof(*root));
	int err;

	if (!l || !root) {
		free(l);
		free(root);
		return -ENOMEM;
	}
	l->cfg = *cfg;
	l->st = cfg->st;
	l->epfd = l->evfd = l->pidfd = l->own_uffd = -1;
	l->tty = isatty(STDERR_FILENO);
	root->uffd = cfg->uffd;
	root->pid = cfg->pid;
	fcntl(cfg->uffd, F_SETFL, fcntl(cfg->uffd, F_GETFL) | O_NONBLOCK);
	err = add_mm(l, root);
	if (err) {
		free(root);
		free(l);
		return err;
	}
	err = build_root(l, root);
	if (!err)
		err = setup_loop(l);
	if (err) {
		LOG(l, "cannot set up the lazy-pages daemon: %s",
		    strerror(-err));
		lm_lazy_destroy(l);
		return err;
	}
	*out = l;
	return 0;
}

void lm_lazy_destroy(struct lm_lazy *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->nr_mms; i++) {
		if (l->mms[i]->uffd >= 0)
			close(l->mms[i]->uffd);
		lm_mm_free(l->mms[i]);
		free(l->mms[i]);
	}
	free(l->mms);
	for (i = 0; i < l->nr_objs; i++) {
		if (l->objs[i].map)
			munmap(l->objs[i].map, l->objs[i].map_len);
		free(l->objs[i].lazy);
		free(l->objs[i].req);
	}
	free(l->objs);
	if (l->own_uffd >= 0)
		close(l->own_uffd);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->evfd >= 0)
		close(l->evfd);
	if (l->pidfd >= 0)
		close(l->pidfd);
	lm_rx_free(&l->req);
	lm_rx_free(&l->bulk);
	free(l->queued.v);
	free(l->pending.v);
	free(l->mevs);
	free(l);
}
