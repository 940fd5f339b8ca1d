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
 *    behind more than one run; a ZBULK run (send --compress) is
 *    inflated first.
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
 *
 * Lost source (after resume): the channels are dropped, the listening
 * socket joins the loop, and faults keep being read and queued (their
 * threads stay blocked in the kernel) while events are applied as usual.
 * A sender that comes back with our session gets RESUMED and every
 * pending request again, and re-pushes every page; what is already here
 * is ignored.  No reconnect within the peer timeout: the process and its
 * children are killed while every uffd is still open.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
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
#include <zlib.h>
#include <linux/lazymig_uffd.h>
#include "faulttrace.h"
#include "lazy.h"
#include "net.h"
#include "lmdev.h"
#include "proto.h"

#define LOG(l, fmt, ...) \
	fprintf(stderr, "lazy: pid %d: " fmt "\n", (l)->cfg.pid, ##__VA_ARGS__)

#define UFFD_BATCH	64
#define BYE_TIMEOUT_MS	10000
#define PROGRESS_MS	250
/*
 * A pushed message is installed in pieces of this many bytes (a huge
 * page whole), with a look at the uffds and the request channel between
 * two pieces: a fault waits behind one piece, not a whole message.
 */
#ifndef PUSH_PIECE
#define PUSH_PIECE	(16 * LM_PAGE_SIZE)
#endif
#define YIELD_POLL_MAX	64

enum { VIA_EAGER, VIA_REQ, VIA_BULK };

struct fault {
	struct lm_mm *mm;
	__u64 addr;		/* page address in mm */
	__u64 ps;		/* its page size (huge for hugetlb) */
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

/* A member of a process tree (a single process: member 0 only). */
struct lm_member {
	const struct lm_image *img;
	void *shm_ctx;			/* for cfg.shm_fd */
	pid_t pid;			/* restored PID, 0: not known yet */
	int pidfd;
	int pid_tag;			/* epoll cookie of pidfd */
	struct lm_mm *mm;		/* its own (top) mm */
};

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
	char *zeros;		/* LM_HUGE_PAGE_MAX of zeros, for hugetlb */
	int own_rm;		/* ... with UFFD_FEATURE_EVENT_SHMEM_REMOVE */
	struct mev *mevs;	/* lazymig.ko events waiting for pages */
	size_t nr_mevs, cap_mevs;
	struct lm_stats *st;
	struct lm_mm **mms;	/* [0]: the restored process (tree: root) */
	size_t nr_mms;
	struct lm_member *mem;	/* [nr_mem] */
	unsigned int nr_mem;
	int epfd, evfd;
	struct lm_rx req, bulk;
	struct lm_ra ra;		/* read-ahead of fault requests */
	struct fault_vec queued;	/* read, not yet served */
	struct fault_vec pending;	/* requested, answer not yet in */
	int resumed, push_end, forked, done_sent, bye;
	int resume_req, abort_req;	/* set by another thread */
	int tty;			/* progress lines on stderr */
	__u64 tick, lazy0, t_resumed;
	int req_tag, bulk_tag, ev_tag, lfd_tag;	/* epoll cookies */
	int lost, own_fds;	/* channels gone; ours since a rejoin */
	__u64 lost_t0, lost_end;
	unsigned char *zbuf;		/* an inflated ZBULK */
	int dev_tag, own_tag;
	unsigned int pieces;		/* of the bulk message being installed */
	struct lm_ft *ft;		/* LAZYMIG_FAULT_TRACE, or NULL */
	__u64 ft_wake;			/* ... when epoll/poll last returned */
};

static int fault_push(struct fault_vec *fv, struct lm_mm *mm, __u64 addr,
		      __u64 ps, __u64 t0)
{
	if (fv->nr == fv->cap) {
		size_t cap = fv->cap ? 2 * fv->cap : 64;
		struct fault *n = realloc(fv->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		fv->v = n;
		fv->cap = cap;
	}
	fv->v[fv->nr++] = (struct fault){ .mm = mm, .addr = addr, .ps = ps,
					  .t0 = t0 };
	return 0;
}

static void fault_del(struct fault_vec *fv, size_t i)
{
	fv->v[i] = fv->v[--fv->nr];
}

static int enter_lost(struct lm_lazy *l, int why);
static int epoll_add(int epfd, int fd, void *tag);
static __u64 lazy_left(const struct lm_lazy *l);

/*
 * A message to the source on the request channel.  While the source is
 * lost nothing is sent: what matters is re-sent when it comes back.
 */
static int req_send(struct lm_lazy *l, __u32 type, __u32 space, __u64 addr,
		    __u64 npages, const void *payload, size_t len)
{
	int err;

	if (l->lost)
		return 0;
	err = lm_msg_send(l->cfg.req_fd, type, space, addr, npages, payload,
			  len);
	return err ? enter_lost(l, err) : 0;
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
	struct lm_obj *o = LM_SPACE_LOCAL(r->space) ? obj_of(l, r->space) :
			   NULL;

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

/* A member's own mm (the restored process or a tree member). */
static int is_root(const struct lm_lazy *l, const struct lm_mm *mm)
{
	(void)l;
	return mm->top;
}

/* Per-member figures of a tree, or NULL. */
static struct lm_member_stats *mstats(struct lm_lazy *l, unsigned int member)
{
	return l->st->members && member < l->st->nr_members ?
	       &l->st->members[member] : NULL;
}

static void count_pages(struct lm_lazy *l, unsigned int member, __u64 n,
			int via)
{
	struct lm_member_stats *ms = mstats(l, member);

	if (!n)
		return;
	if (via == VIA_REQ) {
		l->st->pages_faulted += n;
		if (ms)
			ms->pages_faulted += n;
	} else {
		l->st->pages_pushed += n;
		if (ms)
			ms->pages_pushed += n;
		if (via == VIA_EAGER) {
			l->st->pages_eager += n;
			if (ms)
				ms->pages_eager += n;
		}
	}
	l->st->last_install_ns = lm_realtime_ns();
}

static void count_installed(struct lm_lazy *l, struct lm_mm *mm, __u64 n,
			    int via)
{
	mm->nlazy -= n;
	if (is_root(l, mm))
		count_pages(l, mm->member, n, via);
}

static void count_drop(struct lm_lazy *l, unsigned int member, __u64 n)
{
	struct lm_member_stats *ms = mstats(l, member);

	l->st->pages_dropped += n;
	if (ms)
		ms->pages_dropped += n;
}

static void count_dropped(struct lm_lazy *l, struct lm_mm *mm, __u64 n)
{
	if (is_root(l, mm))
		count_drop(l, mm->member, n);
}

static void count_zero_fault(struct lm_lazy *l, struct lm_mm *mm)
{
	struct lm_member_stats *ms = mstats(l, mm->member);

	if (!is_root(l, mm))
		return;
	l->st->zero_faults++;
	if (ms)
		ms->zero_faults++;
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
		LOG(l, "%s %d exited before all its pages arrived",
		    l->nr_mem > 1 ? "tree member" : "the process",
		    l->mem[mm->member].pid);
	} else if (mm->uffd >= 0) {
		close(mm->uffd);	/* also leaves the epoll set */
		mm->uffd = -1;
	}
}

static int read_events(struct lm_lazy *l, struct lm_mm *mm);

static long read_num(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

/* Is the page at @addr of @mm there (pagemap)?  1, 0, or -1: unknown. */
static int page_present(struct lm_lazy *l, struct lm_mm *mm, __u64 addr)
{
	pid_t pid = is_root(l, mm) ? l->cfg.pid : mm->pid;
	char path[64];
	__u64 e;
	int fd, n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = pread(fd, &e, sizeof(e), addr / LM_PAGE_SIZE * sizeof(e));
	close(fd);
	if (n != sizeof(e))
		return -1;
	return (e >> 63) & 1;
}

/*
 * A hugetlb UFFDIO_COPY whose huge page cannot be allocated fails with
 * EEXIST on this host's kernel (6.18; seen with an exhausted pool and
 * with a hugetlbfs size limit), as if the page were there.  Never take
 * that for an installed page: ask pagemap where the mm is known (the
 * process, or a child seen faulting), else the pool (no unreserved huge
 * page left: it is the pool).  A forked child needs its own copy of each
 * page still lazy when it forked: the pool must hold them.  Returns 0
 * (the page is there) or -ENOMEM.
 */
static int huge_eexist(struct lm_lazy *l, struct lm_mm *mm, __u64 addr,
		       __u64 ps)
{
	int there = mm ? page_present(l, mm, addr) : -1;
	char path[96];
	long nfree, resv;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages",
		 (unsigned long long)(ps >> 10));
	nfree = read_num(path);
	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%llukB/resv_hugepages",
		 (unsigned long long)(ps >> 10));
	resv = read_num(path);
	if (there == 1 ||
	    (there < 0 && (nfree < 0 || resv < 0 || nfree > resv)))
		return 0;
	LOG(l, "no %llu KiB huge page could be allocated for 0x%llx in %s (pool: free %ld, reserved %ld): raise vm.nr_hugepages (or the hugetlb limit)",
	    (unsigned long long)(ps >> 10), (unsigned long long)addr,
	    mm ? (is_root(l, mm) ? "the process" : "a forked child") :
	    "a shared hugetlb object", nfree, resv);
	return -ENOMEM;
}

/*
 * UFFDIO_COPY of pages [lo, hi) of run r from data.  Clears the bits of
 * what got installed (or was found installed).  0, -EAGAIN (read events,
 * then retry), -ESRCH (mm gone) or -errno.
 *
 * ENOENT (no registered VMA there) is not enough to drop the pages: since
 * the per-VMA locks (6.9; as on 6.18 here) mfill_atomic() looks the VMA
 * up before it checks mmap_changing, so a copy racing with mremap() can
 * fail with ENOENT at the old place after mremap() dropped the mmap lock
 * but before we read its REMAP; dropping then would move a run with its
 * bits clear and the moved pages would read zeros.  (6.1 checks
 * mmap_changing first, under the mmap lock, and returns EAGAIN.)
 * mmap_changing is raised under the mmap write lock before a VMA is moved
 * (REMAP) or unmapped (UNMAP; the daemon asks for both) and lowered only
 * after this daemon read the event; userfaultfd_copy() tests it on entry,
 * before any VMA lookup.  So the same copy is issued once more, with no
 * read in between: an event still unread for the VMA the first lookup
 * missed makes it fail with EAGAIN (the caller reads events, the runs
 * move, and it retries where they are now).  Only a second ENOENT, whose
 * entry test saw no event pending, means the VMA went away with no event
 * to come (unmapped or moved out of uffd's reach without notice): its
 * pages are dropped.  One more ioctl per ENOENT, no wait, no timeout.
 */
static int copy_seg(struct lm_lazy *l, struct lm_mm *mm, struct lm_run *r,
		    __u64 lo, __u64 hi, const char *data, int via)
{
	__u64 ps = r->page_size;
	int enoent = 0;		/* the copy at lo failed with ENOENT once */

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
		if (done)
			enoent = 0;
		if (!err)
			return 0;
		if (err == EEXIST && ps > LM_PAGE_SIZE &&
		    huge_eexist(l, mm, r->start + lo * ps, ps))
			return -ENOMEM;
		if (err == EEXIST) {	/* already there: not ours to fill */
			count_installed(l, mm, lm_run_clear(r, lo, lo + 1),
					via);
			uffd_wake(mm, r->start + lo * ps, ps);
			lo++;
			data += ps;
			enoent = 0;
			continue;
		}
		if (err == EAGAIN)
			return -EAGAIN;
		if (err == ESRCH)
			return -ESRCH;
		if (err == ENOENT && !enoent++) {
			/* maybe moved, its event unread: ask once more */
			continue;
		}
		if (err == ENOENT) {	/* gone, no event to come */
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

static int handle_req(struct lm_lazy *l);
static int serve_queued(struct lm_lazy *l);

/*
 * Between two pieces of a pushed message: a fault that came in meanwhile
 * is read and requested, and fault answers that arrived are installed,
 * so neither waits behind the rest of the push message.  Events read
 * here take effect at once (a REMOVE/UNMAP clears the lazy bits, so the
 * rest of the message is not installed there).  Returns 1 if anything
 * was handled (runs may have changed: the caller looks again), 0 if
 * nothing was waiting, or -errno.
 */
static int bulk_yield(struct lm_lazy *l)
{
	struct pollfd p[YIELD_POLL_MAX];
	struct lm_mm *who[YIELD_POLL_MAX];
	int n, k, req = 0, uffd = 0, first = 1, err;
	__u64 ev0 = 0, ev1 = 0;
	size_t i = 0;

	for (k = LM_EV_PAGEFAULT + 1; k < LM_EV__MAX; k++)
		ev0 += l->st->events[k];

	for (;;) {
		n = 0;
		if (first && !l->lost && l->cfg.req_fd >= 0) {
			req = lm_rx_pending(&l->req);
			p[n].fd = l->cfg.req_fd;
			p[n].events = POLLIN;
			who[n++] = NULL;
		}
		first = 0;
		for (; i < l->nr_mms && n < YIELD_POLL_MAX; i++) {
			if (l->mms[i]->dead || l->mms[i]->uffd < 0)
				continue;
			p[n].fd = l->mms[i]->uffd;
			p[n].events = POLLIN;
			who[n++] = l->mms[i];
		}
		if (!n)
			break;
		if (poll(p, n, 0) > 0) {
			if (l->ft)
				l->ft_wake = lm_now_ns();
			for (k = 0; k < n; k++) {
				if (!p[k].revents)
					continue;
				if (!who[k]) {
					req = 1;
					continue;
				}
				uffd = 1;
				err = read_events(l, who[k]);
				if (err)
					return err;
			}
		}
		if (i >= l->nr_mms)
			break;
	}
	if (!req && !uffd)
		return 0;
	for (k = LM_EV_PAGEFAULT + 1; k < LM_EV__MAX; k++)
		ev1 += l->st->events[k];
	l->st->push_yields++;
	l->st->push_yield_events += ev1 - ev0;
	err = serve_queued(l);
	if (!err && req)
		err = handle_req(l);
	return err ? err : 1;
}

/*
 * Install source pages space/src..+npages (4 KiB pages) into one mm,
 * where still lazy: the pages of its runs the data covers whole (huge
 * pages of a hugetlb run only whole, one UFFDIO_COPY for a run of them;
 * a pushed message in pieces of PUSH_PIECE, see bulk_yield).
 */
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
		__u64 e = src + npages * LM_PAGE_SIZE;
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
			if (via == VIA_BULK) {
				__u64 piece = PUSH_PIECE / ps ? PUSH_PIECE / ps : 1;

				if (j - i > piece)
					j = i + piece;
				err = l->pieces++ ? bulk_yield(l) : 0;
				if (err < 0)
					return err;
				if (err && mm->dead)
					return 0;
				if (err) {
					/* at least one piece before the next
					 * look: faults never starve the push */
					l->pieces = 0;
					goto retry;	/* runs may have moved */
				}
			}
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

		if (r && LM_SPACE_LOCAL(r->space)) {
			o = obj_page(l, r, f->addr, &oi);
			if (o && lm_test_bit(o->lazy, oi)) {
				i++;
				continue;
			}
			/* installed through the daemon's mapping: wake it */
			uffd_wake(f->mm, f->addr, f->ps);
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

/* Pages of a shared object count for the member that names it. */
static void count_obj(struct lm_lazy *l, struct lm_obj *o, __u64 n, int via)
{
	o->nlazy -= n;
	count_pages(l, LM_SPACE_MEMBER(o->space), n, via);
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
	count_drop(l, LM_SPACE_MEMBER(o->space), n);
	if (o->registered) {
		err = lmdev_update(l->cfg.dev, o->dev_id, LAZYMIG_UPDATE_CLEAR,
				   lo, hi - lo, NULL);
		if (err) {
			LOG(l, "lazymig.ko: cannot clear pages %llu-%llu of shm object %u: %s",
			    (unsigned long long)lo, (unsigned long long)hi,
			    LM_SPACE_LOCAL(o->space) - 1, strerror(-err));
			return err;
		}
	}
	if (!n)
		return 0;
	return req_send(l, LM_MSG_DROP, o->space, lo * o->ps,
			(hi - lo) * (o->ps / LM_PAGE_SIZE), NULL, 0);
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
			    LM_SPACE_LOCAL(o->space) - 1, strerror(-n));
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
		if (errno == EEXIST && o->ps > LM_PAGE_SIZE &&
		    huge_eexist(l, NULL, c.dst, o->ps))
			return -ENOMEM;	/* no huge page could be had */
		if (errno == EEXIST)
			return 1;
		if (errno != EAGAIN) {
			LOG(l, "UFFDIO_COPY into shm object %u at offset 0x%llx: %s",
			    LM_SPACE_LOCAL(o->space) - 1, (unsigned long long)(i * o->ps),
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

/*
 * UFFDIO_COPY of the lazy pages of @o among offset src..+npages (4 KiB
 * pages); a huge page of a hugetlb object only whole.
 */
static int install_obj(struct lm_lazy *l, struct lm_obj *o, __u64 src,
		       __u64 npages, const char *data, int via)
{
	__u64 lo = src / o->ps, hi = (src + npages * LM_PAGE_SIZE) / o->ps;
	__u64 i, j;
	int err;

	if (src % o->ps || lo >= o->npages || hi <= lo)
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
			    LM_SPACE_LOCAL(o->space) - 1,
			    (unsigned long long)(i * o->ps), strerror(errno));
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

	if (LM_SPACE_LOCAL(space)) {
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

/*
 * UFFDIO_ZEROPAGE does not serve hugetlb: a huge page is filled with one
 * UFFDIO_COPY from zeros mapped once (read-only, never touched: the
 * kernel's zero page behind them).
 */
static int zero_fill(struct lm_lazy *l, struct lm_mm *mm, __u64 addr,
		     __u64 ps)
{
	struct uffdio_zeropage z = {
		.range = { .start = addr, .len = ps },
		.zeropage = 0,
	};
	struct uffdio_copy c = { .dst = addr, .len = ps, .copy = 0 };

	if (ps == LM_PAGE_SIZE)
		return ioctl(mm->uffd, UFFDIO_ZEROPAGE, &z) ? errno : 0;
	if (ps > LM_HUGE_PAGE_MAX)
		return EINVAL;
	if (!l->zeros) {
		void *m = mmap(NULL, LM_HUGE_PAGE_MAX, PROT_READ,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			return errno;
		l->zeros = m;
	}
	c.src = (unsigned long)l->zeros;
	return ioctl(mm->uffd, UFFDIO_COPY, &c) ? errno : 0;
}

/*
 * Zeros where a fault found no data.  @shared: a mapping of a shm object,
 * where EEXIST means the object has the page (another mapping put it in
 * the page cache) though this mm has no entry for it yet.
 */
static int zero_page(struct lm_lazy *l, struct lm_mm *mm, __u64 addr,
		     __u64 ps, int shared)
{
	for (;;) {
		int err = zero_fill(l, mm, addr, ps);

		if (!err)
			return 0;
		if (err == EEXIST && ps > LM_PAGE_SIZE &&
		    huge_eexist(l, shared ? NULL : mm, addr, ps))
			return -ENOMEM;
		if (err == EEXIST) {
			uffd_wake(mm, addr, ps);
			return 0;
		}
		if (err == ESRCH) {
			mm_dead(l, mm);
			return 0;
		}
		if (err == ENOENT) {
			/*
			 * Unmapped or moved away since the fault: let the
			 * thread retry its access, as it would have
			 * without us.
			 */
			uffd_wake(mm, addr, ps);
			return 0;
		}
		if (err != EAGAIN) {
			LOG(l, "%s at 0x%llx (%llu KiB) on uffd %d: %s",
			    ps == LM_PAGE_SIZE ? "UFFDIO_ZEROPAGE" :
			    "UFFDIO_COPY of a zero huge page",
			    (unsigned long long)addr,
			    (unsigned long long)(ps >> 10), mm->uffd,
			    strerror(err));
			return -err;
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
	__u32 space = LM_TREE_SPACE(mm->member, 0);
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

/*
 * A fault on a mapping of a lazy shm object (a hugetlb one: its huge
 * page, aligned in the mapping as in the object).
 */
static int serve_obj_fault(struct lm_lazy *l, struct fault *f,
			   struct lm_run *r)
{
	struct lm_obj *o = r->space ? obj_of(l, r->space) : NULL;
	__u64 idx, ps = o ? o->ps : LM_PAGE_SIZE;
	__u64 addr = f->addr & ~(ps - 1);

	o = obj_page(l, r, addr, &idx);
	if (!o || !lm_test_bit(o->lazy, idx)) {
		/* a hole of the object, or just installed: zero or wake */
		count_zero_fault(l, f->mm);
		return zero_page(l, f->mm, addr, ps, 1);
	}
	f->addr = addr;
	if (fault_push(&l->pending, f->mm, addr, ps, f->t0))
		return -ENOMEM;
	if (lm_test_bit(o->req, idx))
		return 0;
	lm_set_bit(o->req, idx);
	/* a huge page comes whole and alone: no read-ahead window */
	return req_send(l, LM_MSG_REQ, o->space, idx * o->ps,
			o->ps > LM_PAGE_SIZE ? 1 :
			lm_ra_window(&l->ra, o->space, idx * o->ps, o->ps),
			NULL, 0);
}

/* LAZYMIG_FAULT_TRACE: the fault's wake and read, its REQ sent now. */
static void ft_request(struct lm_lazy *l, const struct fault *f,
		       __u32 space, __u64 src)
{
	struct lm_ft_rec *t = lm_ft_add(l->ft, space, src);

	if (!t)
		return;
	t->t[0] = l->ft_wake <= f->t0 ? l->ft_wake : 0;
	t->t[1] = f->t0;
	t->t[2] = lm_now_ns();
}

static int serve_fault(struct lm_lazy *l, struct fault *f)
{
	struct lm_mm *mm = f->mm;
	struct lm_run *r;
	__u64 idx, ps = LM_PAGE_SIZE;
	int err;

	if (mm->dead)
		return 0;
	r = lm_mm_find(mm, f->addr);
	if (!r && l->nr_objs && f->tid > 0)
		r = learn_vma(l, mm, f->addr, f->tid);
	if (r && LM_SPACE_LOCAL(r->space))
		return serve_obj_fault(l, f, r);
	if (r) {
		ps = r->page_size;
		idx = (f->addr - r->start) / ps;
	}
	if (!r || !lm_test_bit(r->lazy, idx)) {
		count_zero_fault(l, mm);
		return zero_page(l, mm, f->addr & ~(ps - 1), ps, 0);
	}
	f->addr = r->start + idx * ps;
	if (fault_push(&l->pending, mm, f->addr, ps, f->t0))
		return -ENOMEM;
	if (lm_test_bit(r->req, idx))
		return 0;	/* already asked; the answer wakes all */
	lm_set_bit(r->req, idx);
	/*
	 * Read-ahead pages are installed only where still lazy when they
	 * arrive: a REMOVE or UNMAP handled meanwhile has cleared their
	 * bits, so they are not refilled.  A huge page comes alone.
	 */
	err = req_send(l, LM_MSG_REQ, r->space, r->src + idx * ps,
		       ps > LM_PAGE_SIZE ? 1 :
		       lm_ra_window(&l->ra, r->space, r->src + idx * ps, ps),
		       NULL, 0);
	if (l->ft && !err)
		ft_request(l, f, r->space, r->src + idx * ps);
	return err;
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
			uffd_wake(mm, f->addr, f->ps);
			if (shift)
				uffd_wake(mm, f->addr + shift, f->ps);
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

		if (s >= e || LM_SPACE_LOCAL(r->space))	/* shm: see handle_remove */
			continue;
		err = req_send(l, LM_MSG_DROP, r->space,
			       r->src + (s - r->start), (e - s) / LM_PAGE_SIZE,
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

		if (!LM_SPACE_LOCAL(r->space) || s >= e ||
		    !(o = obj_page(l, r, s, &lo)) || o->exact)
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
				    (unsigned long long)end,
				    LM_SPACE_LOCAL(o->space) - 1);
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

	if (l->cfg.uffd_forked)	/* before anything can fail */
		l->cfg.uffd_forked(l->cfg.guard_ctx, ufd);
	if (!child) {
		close(ufd);
		return -ENOMEM;
	}
	err = lm_mm_dup(parent, child);
	child->uffd = ufd;
	child->member = parent->member;
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

/* resume_ns is stamped by the restoring thread just after the resume. */
static int in_first_second(const struct lm_lazy *l)
{
	__u64 r = __atomic_load_n(&l->st->resume_ns, __ATOMIC_RELAXED);

	return !r || lm_realtime_ns() - r < 1000000000ULL;
}

static int handle_msg(struct lm_lazy *l, struct lm_mm *mm,
		      const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		l->st->events[LM_EV_PAGEFAULT]++;
		if (is_root(l, mm)) {
			struct lm_member_stats *ms = mstats(l, mm->member);

			l->st->faults++;
			if (ms)
				ms->faults++;
			if (in_first_second(l))
				l->st->faults_1s++;
		}
		if (fault_push(&l->queued, mm, m->arg.pagefault.address,
			       LM_PAGE_SIZE, lm_now_ns()))
			return -ENOMEM;
		l->queued.v[l->queued.nr - 1].tid = m->arg.pagefault.feat.ptid;
		if (!mm->pid)	/* a child: where its pagemap is */
			mm->pid = m->arg.pagefault.feat.ptid;
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
 *
 * While lazy shm objects remain, the madvise() calls in flight are noted
 * before each read (see note_madvise), and then only one message is read,
 * one that poll() saw queued before the note: its thread was still
 * blocked in madvise() when noted.  A batch could hold a REMOVE queued
 * after the note, whose thread the read releases at once (a hugetlb
 * MADV_REMOVE punches and returns before a second look finds it).
 */
static int read_events(struct lm_lazy *l, struct lm_mm *mm)
{
	struct uffd_msg msgs[UFFD_BATCH];
	int got = 0;

	if (mm->uffd < 0)	/* closed in this batch */
		return 0;

	for (;;) {
		size_t want = sizeof(msgs);
		ssize_t n, i;
		int err;

		l->nr_adv = 0;
		if (l->resumed && objs_pending(l)) {
			struct pollfd p = { .fd = mm->uffd, .events = POLLIN };

			if (!poll(&p, 1, 0)) {	/* nothing queued */
				if (!got)
					sched_yield();
				return 0;
			}
			note_madvise(l, l->cfg.pid, 0);
			want = sizeof(msgs[0]);
		}
		n = read(mm->uffd, msgs, want);

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
			    LM_SPACE_LOCAL(o->space) - 1, strerror(-err));
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
	char *json;
	int len = 2, err;

	if (!l->st->last_install_ns)
		l->st->last_install_ns = lm_realtime_ns();
	l->st->bytes_after_resume = l->req.bytes + l->bulk.bytes;
	json = lm_stats_json_alloc(l->st, &len);
	l->done_sent = 1;
	unregister_objs(l);
	if (l->cfg.uffds_closing)	/* the guardian lets go of its copies */
		l->cfg.uffds_closing(l->cfg.guard_ctx);
	close_uffds(l);
	if (l->cfg.bulk_fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->cfg.bulk_fd, NULL);
	err = lm_msg_send(l->cfg.req_fd, LM_MSG_DONE, 0, 0, 0,
			  json ? json : "{}", len);
	free(json);
	return err;
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

static int handle_req_once(struct lm_lazy *l)
{
	struct lm_ft_rec *t;
	const void *payload;
	long ti;
	struct lm_msg m;
	long n = lm_rx_fill(&l->req);
	int err;

	if (n < 0)
		return enter_lost(l, n);
	while ((err = lm_rx_next(&l->req, &m, &payload)) == 1) {
		switch (m.type) {
		case LM_MSG_PAGES:
		case LM_MSG_SPARSE:
			ti = l->ft ? lm_ft_find(l->ft, m.space, m.addr, 4) : -1;
			t = ti >= 0 ? lm_ft_rec(l->ft, ti) : NULL;
			if (t) {
				t->t[3] = l->ft_wake;
				t->t[4] = lm_now_ns();
				t->npages = m.npages;
			}
			err = install_msg(l, &m, payload, VIA_REQ);
			/* install_msg may have added records: t moved */
			t = ti >= 0 ? lm_ft_rec(l->ft, ti) : NULL;
			if (t)
				t->t[5] = lm_now_ns();
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

/* Until TLS holds nothing more that epoll would not report. */
static int handle_req(struct lm_lazy *l)
{
	int err;

	do {
		err = handle_req_once(l);
	} while (!err && lm_rx_pending(&l->req));
	return err;
}

/* ZBULK: *m and *payload become the PAGES/SPARSE message inside. */
static int inflate_bulk(struct lm_lazy *l, struct lm_msg *m,
			const void **payload)
{
	size_t max = sizeof(*m) + LM_MSG_MAX_PAYLOAD;
	uLongf n = m->npages;
	struct lm_msg in;

	if (!l->zbuf)
		l->zbuf = malloc(max);
	if (!l->zbuf)
		return -ENOMEM;
	if (m->npages < sizeof(in) || m->npages > max ||
	    uncompress(l->zbuf, &n, *payload, m->len) != Z_OK ||
	    n != m->npages)
		goto bad;
	memcpy(&in, l->zbuf, sizeof(in));
	if (in.magic != LM_MSG_MAGIC || sizeof(in) + in.len != n ||
	    (in.type != LM_MSG_PAGES && in.type != LM_MSG_SPARSE))
		goto bad;
	*m = in;
	*payload = l->zbuf + sizeof(in);
	return 0;
bad:
	LOG(l, "malformed ZBULK from the source: %u bytes, %llu inflated",
	    m->len, (unsigned long long)m->npages);
	return -EBADMSG;
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
		if (n < 0 && !l->push_end)
			return enter_lost(l, n);
		if (n < 0)	/* closed after PUSH_END: nothing more */
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->cfg.bulk_fd, NULL);
		if (n <= 0)
			return 0;
		err = lm_rx_next(&l->bulk, &m, &payload);
	}
	if (err <= 0)	/* TLS may hold the rest, unseen by epoll */
		return err < 0 ? err : lm_rx_pending(&l->bulk);
	if (m.type == LM_MSG_PUSH_END) {
		l->push_end = 1;
		return 1;
	}
	if (m.type == LM_MSG_ZBULK) {
		err = inflate_bulk(l, &m, &payload);
		if (err)
			return err;
	}
	if (m.type != LM_MSG_PAGES && m.type != LM_MSG_SPARSE) {
		LOG(l, "unexpected %s on the bulk channel",
		    lm_msg_name(m.type));
		return -EPROTO;
	}
	l->pieces = 0;
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

void lm_lazy_member_pid(struct lm_lazy *l, unsigned int member, pid_t pid)
{
	if (member < l->nr_mem)
		l->mem[member].pid = pid;
}

void lm_lazy_resumed(struct lm_lazy *l, pid_t pid)
{
	if (pid > 0) {
		l->cfg.pid = pid;
		l->mem[0].pid = pid;
	}
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
	unsigned int i;
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
	for (i = 0; i < l->nr_mem; i++) {
		struct lm_member *m = &l->mem[i];
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.ptr = &m->pid_tag };

		if (m->pid <= 0)
			continue;
		m->pidfd = syscall(SYS_pidfd_open, m->pid, 0);
		if (m->pidfd >= 0)
			epoll_ctl(l->epfd, EPOLL_CTL_ADD, m->pidfd, &ev);
		else if (errno == ESRCH)	/* gone already */
			mm_dead(l, m->mm);
	}
	return req_send(l, LM_MSG_RESUMED, LM_FEAT_ZBULK, 0, 0, NULL, 0);
}

static int on_process_exit(struct lm_lazy *l, struct lm_member *m)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, m->pidfd, NULL);
	mm_dead(l, m->mm);
	settle_pending(l);
	return 0;
}

/* The member whose pidfd cookie @p is, or NULL (O(1): an array). */
static struct lm_member *pid_tag_member(struct lm_lazy *l, void *p)
{
	char *c = p, *first = (char *)&l->mem[0].pid_tag;
	size_t i;

	if (c < first || c >= first + l->nr_mem * sizeof(*l->mem))
		return NULL;
	i = (size_t)(c - first) / sizeof(*l->mem);
	return p == &l->mem[i].pid_tag ? &l->mem[i] : NULL;
}

/* ---- lost source ---- */

static void drop_chan(struct lm_lazy *l, int *fd)
{
	if (*fd < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, *fd, NULL);
	if (l->own_fds)
		close(*fd);
	else
		shutdown(*fd, SHUT_RDWR);	/* the caller's: it closes */
	*fd = -1;
}

static int enter_lost(struct lm_lazy *l, int why)
{
	int running = l->resumed ||
		      __atomic_load_n(&l->resume_req, __ATOMIC_ACQUIRE);

	if (l->lost)
		return 0;
	if (!running || l->done_sent || l->cfg.lfd < 0 ||
	    !l->cfg.peer_timeout || !lm_net_lost(why)) {
		LOG(l, "the connection to the source broke: %s", strerror(-why));
		return why;
	}
	drop_chan(l, &l->cfg.req_fd);
	drop_chan(l, &l->cfg.bulk_fd);
	if (epoll_add(l->epfd, l->cfg.lfd, &l->lfd_tag))
		return why;
	l->lost = 1;
	l->lost_t0 = lm_now_ns();
	l->lost_end = l->lost_t0 + l->cfg.peer_timeout * 1000000000ULL;
	LOG(l, "lost the source (%s) with %llu pages still to come; waiting up to %d s for it to reconnect (--peer-timeout); faulting threads wait",
	    strerror(-why), (unsigned long long)lazy_left(l),
	    l->cfg.peer_timeout);
	return 0;
}

/* A fault still waiting for its page: ask again, by source address. */
static int request_again(struct lm_lazy *l, const struct fault *f)
{
	struct lm_run *r = lm_mm_find(f->mm, f->addr);
	struct lm_obj *o;
	__u64 idx;

	if (!r || f->mm->dead)
		return 0;
	if (r->space) {
		o = obj_page(l, r, f->addr, &idx);
		if (!o || !lm_test_bit(o->lazy, idx))
			return 0;
		return req_send(l, LM_MSG_REQ, o->space, idx * o->ps, 1,
				NULL, 0);
	}
	idx = (f->addr - r->start) / r->page_size;
	if (!lm_test_bit(r->lazy, idx))
		return 0;
	return req_send(l, LM_MSG_REQ, r->space, r->src + idx * r->page_size,
			1, NULL, 0);
}

/* Accept one authenticated channel of our session, or -1. */
static int accept_rejoin(struct lm_lazy *l, enum lm_chan chan, int wait_ms)
{
	struct pollfd p = { .fd = l->cfg.lfd, .events = POLLIN };
	char peer[80];
	int fd;

	if (wait_ms && poll(&p, 1, wait_ms) != 1)
		return -1;
	if (lm_net_accept(l->cfg.lfd, &fd, peer, sizeof(peer)))
		return -1;
	if (lm_auth_server(fd, l->cfg.auth, chan, peer)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int on_rejoin(struct lm_lazy *l)
{
	int req, bulk, err, secs = l->cfg.peer_timeout / 4;
	size_t i;

	req = accept_rejoin(l, LM_CHAN_REJOIN, 0);
	if (req < 0)
		return 0;	/* not ours, or refused: still waiting */
	bulk = accept_rejoin(l, LM_CHAN_BULK, 5000);
	if (bulk < 0) {
		LOG(l, "the source came back without its bulk channel; still waiting");
		close(req);
		return 0;
	}
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->cfg.lfd, NULL);
	l->own_fds = 1;		/* the first ones were the caller's */
	l->cfg.req_fd = req;
	l->cfg.bulk_fd = bulk;
	secs = secs < 1 ? 1 : secs > 10 ? 10 : secs;
	lm_net_watch(req, secs);
	lm_net_watch(bulk, secs);
	l->req.fd = req;
	l->req.head = l->req.tail = 0;
	l->bulk.fd = bulk;
	l->bulk.head = l->bulk.tail = 0;
	l->push_end = 0;
	err = epoll_add(l->epfd, req, &l->req_tag);
	if (!err)
		err = epoll_add(l->epfd, bulk, &l->bulk_tag);
	if (err)
		return err;
	l->lost = 0;
	LOG(l, "the source reconnected after %.1f s; re-sending %zu pending requests",
	    (lm_now_ns() - l->lost_t0) / 1e9, l->pending.nr);
	err = l->resumed ? req_send(l, LM_MSG_RESUMED, LM_FEAT_ZBULK, 0, 0,
				      NULL, 0) : 0;
	for (i = 0; !err && i < l->pending.nr && !l->lost; i++)
		err = request_again(l, &l->pending.v[i]);
	return err;
}

static int kill_tree(pid_t pid, int depth);

/*
 * SIGKILL every descendant of @pid, not @pid itself: each one is stopped
 * first and its children listed before it dies, so none escapes by
 * forking or by reparenting.  Returns how many were killed.
 */
static int kill_children(pid_t pid, int depth)
{
	char path[300], buf[4096], *p, *save;
	struct dirent *de;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = depth < 64 ? opendir(path) : NULL;
	while (dir && (de = readdir(dir))) {
		ssize_t len;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", pid,
			 de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[len > 0 ? len : 0] = 0;
		for (p = strtok_r(buf, " \n", &save); p;
		     p = strtok_r(NULL, " \n", &save))
			n += kill_tree(atoi(p), depth + 1);
	}
	if (dir)
		closedir(dir);
	return n;
}

/* Every process of the restored tree, leaves included: SIGKILL. */
static int kill_tree(pid_t pid, int depth)
{
	int n;

	kill(pid, SIGSTOP);	/* no more forks while we walk */
	n = 1 + kill_children(pid, depth);
	kill(pid, SIGKILL);
	return n;
}

int lm_kill_tree(pid_t pid)
{
	return pid > 0 ? kill_tree(pid, 0) : 0;
}

static int lost_for_good(struct lm_lazy *l)
{
	unsigned int i;
	int n = 0;

	for (i = 0; i < l->nr_mem; i++)
		if (l->mem[i].mm && !l->mem[i].mm->dead)
			n += lm_kill_tree(l->mem[i].pid);

	LOG(l, "the source did not come back within %d s (--peer-timeout): killed the process%s (%d in all) with %llu pages still missing; it never read them",
	    l->cfg.peer_timeout, n > 1 ? " and its children" : "", n,
	    (unsigned long long)lazy_left(l));
	return -ETIMEDOUT;
}

static int dispatch(struct lm_lazy *l, struct epoll_event *evs, int n,
		    int *bulk_ready)
{
	int i, err;

	/* uffds first: their faults are the urgent work */
	for (i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;

		if (p == &l->req_tag || p == &l->bulk_tag ||
		    p == &l->ev_tag || pid_tag_member(l, p) ||
		    p == &l->lfd_tag || p == &l->dev_tag)
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
		else if (pid_tag_member(l, p))
			err = on_process_exit(l, pid_tag_member(l, p));
		else if (p == &l->lfd_tag && l->lost)
			err = on_rejoin(l);
		else if (p == &l->dev_tag)
			err = handle_dev(l);
		else if (p == &l->bulk_tag)
			*bulk_ready = 1;
	}
	if (err)
		return err;
	if (*bulk_ready && l->cfg.bulk_fd < 0)
		*bulk_ready = 0;
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
		l->lazy0 = lazy_left(l);
	}
	if (now < l->tick && !last) {
		due = (l->tick - now) / 1000000 + 1;
		return timeout < 0 || due < timeout ? due : timeout;
	}
	left = lazy_left(l);
	in = left < l->lazy0 ? l->lazy0 - left : 0;
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
		if (l->lost) {
			__u64 now = lm_now_ns();

			if (now >= l->lost_end) {
				err = lost_for_good(l);
				break;
			}
			if (timeout < 0 || (l->lost_end - now) / 1000000 + 1 <
					   (__u64)timeout)
				timeout = (l->lost_end - now) / 1000000 + 1;
		}
		if (l->resumed && !l->done_sent && !l->lost && !lazy_left(l)) {
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
		if (l->ft)
			l->ft_wake = lm_now_ns();
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
	if (err && l->forked && l->resumed) {
		/* once the uffds close they would read zeros (the receiver
		 * kills the process itself) */
		LOG(l, "killing the children it forked: their lazy pages will not come");
		kill_children(l->cfg.pid, 0);
	}
	return err;
}

static int epoll_add(int epfd, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/*
 * The daemon's mapping of lazy shm object @id of @member, registered on
 * own_uffd.
 */
static int add_obj(struct lm_lazy *l, unsigned int member, int id)
{
	const struct lm_image *img = l->mem[member].img;
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
	o->space = LM_TREE_SPACE(member, id + 1);
	o->ps = sh->page_size > LM_PAGE_SIZE ? sh->page_size : LM_PAGE_SIZE;
	if (o->ps > LM_HUGE_PAGE_MAX) {
		LOG(l, "shm object %d has %llu KiB pages; lazily only up to %lu KiB",
		    id, (unsigned long long)(o->ps >> 10),
		    LM_HUGE_PAGE_MAX >> 10);
		return -EINVAL;
	}
	o->npages = (sh->size + o->ps - 1) / o->ps;
	o->map_len = o->npages * o->ps;
	o->lazy = calloc(LM_BITS_TO_LONGS(o->npages + 1), sizeof(long));
	o->req = calloc(LM_BITS_TO_LONGS(o->npages + 1), sizeof(long));
	if (!o->lazy || !o->req)
		goto nomem;
	pm = lm_image_pagemap((struct lm_image *)img, id + 1, 0);
	if (pm && pm->m.space == (__u32)id + 1 && pm->m.npages <= o->npages)
		memcpy(o->lazy, pm->bitmap,
		       LM_BITS_TO_LONGS(pm->m.npages) * sizeof(long));
	o->nlazy = lm_bitmap_weight(o->lazy, o->npages);
	fd = l->cfg.shm_fd ? l->cfg.shm_fd(l->mem[member].shm_ctx, id) : -1;
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
			.features = lm_lazy_uffd_features() &
				    (UFFD_FEATURE_MISSING_SHMEM |
				     UFFD_FEATURE_MISSING_HUGETLBFS) };

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

/*
 * The first member (so far) that has the shm object @id of @member, and
 * its id there: the object's name in a tree.
 */
static void canon_shm(const struct lm_lazy *l, unsigned int member, int id,
		      unsigned int *cm, int *cid)
{
	const struct lm_shm *s = &l->mem[member].img->shms[id].s;
	unsigned int j, k;

	for (j = 0; j < member; j++) {
		const struct lm_image *o = l->mem[j].img;

		for (k = 0; k < o->proc.nr_shms; k++) {
			if (o->shms[k].s.dev == s->dev &&
			    o->shms[k].s.ino == s->ino) {
				*cm = j;
				*cid = k;
				return;
			}
		}
	}
	*cm = member;
	*cid = id;
}

/* A VMA of a lazy shm object: a run by offset (no lazy bits of its own). */
static int add_obj_run(struct lm_lazy *l, struct lm_mm *mm,
		       const struct lm_vma_img *v)
{
	const struct lm_image *img = l->mem[mm->member].img;
	__u64 npages = (v->v.end - v->v.start) / LM_PAGE_SIZE;
	unsigned long *none;
	unsigned int cm;
	int err, cid;

	if ((unsigned int)v->v.shm_id >= img->proc.nr_shms ||
	    !(img->shms[v->v.shm_id].s.flags & LM_SHM_LAZY))
		return -EINVAL;
	canon_shm(l, mm->member, v->v.shm_id, &cm, &cid);
	if (!(l->mem[cm].img->shms[cid].s.flags & LM_SHM_LAZY)) {
		LOG(l, "shm object %d of tree member %u is lazy, but not in member %u, which has it too",
		    v->v.shm_id, mm->member, cm);
		return -EINVAL;
	}
	if (!obj_of(l, LM_TREE_SPACE(cm, cid + 1))) {
		err = add_obj(l, cm, cid);
		if (err)
			return err;
	}
	none = calloc(LM_BITS_TO_LONGS(npages + 1), sizeof(long));
	if (!none)
		return -ENOMEM;
	err = lm_mm_add_run(mm, LM_TREE_SPACE(cm, cid + 1), v->v.start,
			    v->v.pgoff, npages, LM_PAGE_SIZE, none);
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
	const struct lm_image *img = l->mem[LM_SPACE_MEMBER(o->space)].img;
	unsigned int id = LM_SPACE_LOCAL(o->space) - 1;
	const struct lm_shm *sh;
	int err;

	if (!l->cfg.dev || !o->npages)
		return 0;
	sh = &img->shms[id].s;
	if (lm_shm_same_file(img, sh, o->fd)) {
		LOG(l, "shm object %u is the source's own tmpfs file: not registered with lazymig.ko",
		    id);
		return 0;
	}
	err = lmdev_register(l->cfg.dev, o->fd, o->npages,
			     (const uint64_t *)o->lazy, o->space, &o->dev_id);
	if (err && !(sh->flags & LM_SHM_FD_REACHABLE)) {
		/* only its mappings reach it: userfaultfd sees every access */
		LOG(l, "lazymig.ko: cannot register shm object %u (%s): %s; its mappings are served without it",
		    id, lm_mem_kind_name(sh->kind), strerror(-err));
		return 0;
	}
	if (err) {
		LOG(l, "lazymig.ko: cannot register shm object %u (%s, %llu pages), which an fd or a path reaches: %s",
		    id, lm_mem_kind_name(sh->kind),
		    (unsigned long long)o->npages, strerror(-err));
		return err;
	}
	o->registered = 1;
	o->exact = 1;
	return 0;
}

static int build_root(struct lm_lazy *l, struct lm_mm *mm)
{
	const struct lm_image *img = l->mem[mm->member].img;
	unsigned int i;
	int err;

	/* every lazy object, mapped or reached only by an fd or a path */
	for (i = 0; i < img->proc.nr_shms; i++) {
		unsigned int cm;
		int cid;

		if (!(img->shms[i].s.flags & LM_SHM_LAZY))
			continue;
		canon_shm(l, mm->member, i, &cm, &cid);
		if (obj_of(l, LM_TREE_SPACE(cm, cid + 1)))
			continue;
		err = add_obj(l, cm, cid);
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
		err = lm_mm_add_run(mm, LM_TREE_SPACE(mm->member, 0),
				    v->v.start, v->v.start,
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
	/* fault answers: runs of small pages, or a whole huge page */
	if (!err)
		err = lm_rx_init(&l->req, l->cfg.req_fd,
				 4 * (sizeof(struct lm_msg) + LM_BULK_WINDOW / 8 +
				      LM_AROUND_MAX * LM_PAGE_SIZE) +
				 LM_HUGE_PAGE_MAX);
	if (!err)
		err = lm_rx_init(&l->bulk, l->cfg.bulk_fd,
				 2 * LM_BULK_PAGES * LM_PAGE_SIZE +
				 LM_MSG_MAX_PAYLOAD);
	/* a loop turn copies about one push run, then looks at faults */
	l->bulk.max_read = LM_BULK_PAGES * LM_PAGE_SIZE;
	return err;
}

/* A member's own mm, its lazy state from its image. */
static int new_member(struct lm_lazy *l, int uffd, const struct lm_image *img,
		      void *shm_ctx, pid_t pid)
{
	struct lm_member *n = realloc(l->mem, (l->nr_mem + 1) * sizeof(*n));
	struct lm_mm *mm;
	int err;

	if (!n) {
		close(uffd);
		return -ENOMEM;
	}
	l->mem = n;
	n = &l->mem[l->nr_mem];
	memset(n, 0, sizeof(*n));
	n->img = img;
	n->shm_ctx = shm_ctx;
	n->pid = pid;
	n->pidfd = -1;
	mm = calloc(1, sizeof(*mm));
	if (!mm) {
		close(uffd);
		return -ENOMEM;
	}
	mm->uffd = uffd;
	mm->pid = pid;
	mm->member = l->nr_mem;
	mm->top = 1;
	n->mm = mm;
	l->nr_mem++;
	fcntl(uffd, F_SETFL, fcntl(uffd, F_GETFL) | O_NONBLOCK);
	err = add_mm(l, mm);
	if (err && (!l->nr_mms || l->mms[l->nr_mms - 1] != mm)) {
		close(uffd);
		free(mm);
		n->mm = NULL;
		l->nr_mem--;
		return err;
	}
	if (!err)
		err = build_root(l, mm);
	return err;
}

int lm_lazy_create(const struct lm_lazy_cfg *cfg, struct lm_lazy **out)
{
	struct lm_lazy *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return -ENOMEM;
	l->cfg = *cfg;
	l->st = cfg->st;
	l->epfd = l->evfd = l->own_uffd = -1;
	if (!cfg->auth)
		l->cfg.lfd = -1;
	l->tty = isatty(STDERR_FILENO);
	l->ft = lm_ft_open("dst");
	lm_ra_init(&l->ra, LM_AROUND_MAX, LM_AROUND_PAGES);
	err = new_member(l, cfg->uffd, cfg->img, cfg->shm_ctx, cfg->pid);
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

int lm_lazy_add_member(struct lm_lazy *l, unsigned int member, int uffd,
		       const struct lm_image *img, void *shm_ctx)
{
	int err;

	if (member != l->nr_mem || member > LM_SPACE_MEMBER(~0U)) {
		close(uffd);
		return -EINVAL;
	}
	err = new_member(l, uffd, img, shm_ctx, 0);
	if (err)
		LOG(l, "cannot serve tree member %u: %s", member,
		    strerror(-err));
	return err;
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
	for (i = 0; i < l->nr_mem; i++)
		if (l->mem[i].pidfd >= 0)
			close(l->mem[i].pidfd);
	free(l->mem);
	if (l->own_uffd >= 0)
		close(l->own_uffd);
	if (l->zeros)
		munmap(l->zeros, LM_HUGE_PAGE_MAX);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->evfd >= 0)
		close(l->evfd);
	if (l->own_fds && l->cfg.req_fd >= 0)
		close(l->cfg.req_fd);
	if (l->own_fds && l->cfg.bulk_fd >= 0)
		close(l->cfg.bulk_fd);
	lm_rx_free(&l->req);
	lm_rx_free(&l->bulk);
	free(l->zbuf);
	free(l->queued.v);
	free(l->pending.v);
	free(l->mevs);
	lm_ft_close(l->ft);
	free(l);
}
