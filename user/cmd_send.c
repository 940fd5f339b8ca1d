// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig send: the source side of a migration.
 *
 *   connect + authenticate both channels (nothing is frozen before the
 *   receiver has proven the token) -> freeze + collect -> metadata and
 *   eager pages on the request channel -> META_END -> page server until
 *   the destination says DONE -> kill the source, BYE, exit 0.
 *
 * Lazy (default): private anonymous VMAs are LM_VMA_LAZY; of their pages
 * only the ones under each thread's stack pointer go before resume.
 * Shared anon objects and unsealed memfds that no fd or path reaches are
 * LM_SHM_LAZY (their VMAs LM_VMA_LAZY): none of their pages go before
 * resume.  hugetlb (private anonymous, and shared objects no fd reaches)
 * likewise, with pages of up to 2 MiB (lazy_hugetlb.c).  So are unsealed
 * memfds and tmpfs files that an fd or a path reaches, when the
 * destination said (CAPS) that lazymig.ko intercepts fd access there.
 * Every other kind goes before resume.  --eager: everything goes
 * before resume (full pre-copy over the same path, for comparison).
 *
 * Working set (lazy only): for --ws-sample MS before the freeze the
 * process runs with its writes tracked (soft-dirty or userfaultfd
 * WP_ASYNC, workset.h); the pages it wrote in that window are pushed
 * first.  The default, 200 ms, sees a working set the process rewrites
 * at least 5 times a second; it is not downtime (the process runs), only
 * a later freeze, and the marking happens on the pusher thread after
 * resume, so the freeze is not longer either.  0 turns it off (address
 * order).
 * --compress deflates the background push (not fault answers) if the
 * destination takes it; --push-rate caps the push.  On a terminal, a
 * progress line (MiB sent, rate, ETA) on stderr.
 *
 * If anything fails before the destination resumed, the source process
 * is resumed untouched.  If it fails after, the source is left stopped
 * (two running copies would be worse) and the message says how to go on.
 *
 * Lost peer: once the lazy phase runs (after META_END), a broken
 * connection is not the end.  The sender dials the receiver again (same
 * address, authenticated, presenting the session it got), for up to
 * --peer-timeout seconds, and the page server carries on.  From the
 * destination's RESUMED on, the source also carries a pending SIGSTOP:
 * should this sender die, the kernel detaches it and the source stops
 * instead of running a second copy.  A refused or impossible reconnect
 * before RESUMED (no receiver there any more, or one that does not know
 * the session) means the destination never ran the process: the source
 * is resumed at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/uio.h>
#include <sys/time.h>
#include <linux/userfaultfd.h>
#include "dump.h"
#include "inject.h"
#include "lazy.h"
#include "lazymig.h"
#include "net.h"
#include "netopts.h"
#include "pageserver.h"
#include "proto.h"
#include "tree_mig.h"
#include "workset.h"

#define LM_REG_RSP		19	/* index of rsp in struct user_regs_struct */
#define RED_ZONE	128
#define RUN_BYTES	(2UL << 20)	/* eager bytes per PAGES record: 512 pages or one 2 MiB huge page */
#define MAX_SP_PAGES	512
#define PEER_TIMEOUT_S	30	/* --peer-timeout default */
#define REDIAL_MS	250
#define WS_SAMPLE_MS	200	/* default --ws-sample */

struct send_opts {
	pid_t pid;
	struct lm_netopts net;	/* net.addr: --to */
	const char *stats;
	int eager, tree, compress;
	__u64 push_rate;
	int peer_timeout;
	long ws_sample_ms;
};

struct sender {
	struct send_opts o;
	struct lm_auth auth;
	struct lm_dump d;
	int req, bulk;
	int frozen;
	struct lm_stream s;
	struct lm_ps *ps;
	void *buf;
	__u64 eager_pages;
	__u64 sp_pages[MAX_SP_PAGES];
	size_t nr_sp;
	int resumed;
	struct lm_ws ws;	/* --ws-sample */
	__u64 caps;		/* LM_CAP_* of the destination */
	char *json;
	__u64 t_settled, t_ps, t_meta;	/* LAZYMIG_PHASES stamps */
};

static void usage(void)
{
	fprintf(stderr, "usage: lazymig send -t PID --to HOST:PORT [--tree] [--eager] [--stats F] [--push-rate MIB_PER_S] [--peer-timeout SECONDS] [--ws-sample MS] [--compress] "
		LM_NETOPTS_USAGE "\n"
		"  --peer-timeout S  lost connection after META_END: dial the receiver again\n"
		"                    for up to S seconds (default %d, 0: give up at once).\n"
		"                    Lost before the destination resumed the process: the\n"
		"                    source is resumed here.  Lost after: the source is\n"
		"                    left stopped (SIGSTOP), never resumed, and the message\n"
		"                    says how to go on.\n", PEER_TIMEOUT_S);
}

static int parse(int argc, char **argv, struct send_opts *o)
{
	static const struct option lo[] = {
		LM_NETOPTS_LONG("to"),
		{ "eager", no_argument, NULL, 'e' },
		{ "tree", no_argument, NULL, 'R' },
		{ "stats", required_argument, NULL, 's' },
		{ "push-rate", required_argument, NULL, 'r' },
		{ "peer-timeout", required_argument, NULL, 'P' },
		{ "ws-sample", required_argument, NULL, 'w' },
		{ "compress", no_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	char *end;
	int c;

	o->peer_timeout = PEER_TIMEOUT_S;
	o->ws_sample_ms = WS_SAMPLE_MS;
	while ((c = getopt_long(argc, argv, "t:h", lo, NULL)) != -1) {
		if (lm_netopts_parse(&o->net, c, optarg))
			continue;
		switch (c) {
		case 't':
			o->pid = atoi(optarg);
			break;
		case 'e':
			o->eager = 1;
			break;
		case 'R':
			o->tree = 1;
			break;
		case 's':
			o->stats = optarg;
			break;
		case 'r':
			o->push_rate = strtoull(optarg, NULL, 0) << 20;
			break;
		case 'P':
			o->peer_timeout = strtol(optarg, &end, 10);
			if (*end || end == optarg || o->peer_timeout < 0 ||
			    o->peer_timeout > 86400) {
				fprintf(stderr, "send: --peer-timeout wants seconds (0..86400), not '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'w':
			o->ws_sample_ms = strtol(optarg, &end, 10);
			if (*end || end == optarg || o->ws_sample_ms < 0 ||
			    o->ws_sample_ms > 60000) {
				fprintf(stderr, "send: --ws-sample takes milliseconds, 0 to 60000\n");
				return -EINVAL;
			}
			break;
		case 'z':
			o->compress = 1;
			break;
		default:
			usage();
			return -EINVAL;
		}
	}
	if (o->pid <= 0 || !o->net.addr || optind != argc) {
		usage();
		return -EINVAL;
	}
	if (o->eager && o->compress)
		fprintf(stderr, "send: --compress applies to the background push, which --eager has not; sending uncompressed\n");
	return 0;
}

/* How long a silent or stuck connection may last before it counts as lost. */
static int watch_secs(int peer_timeout)
{
	int s = peer_timeout / 4;

	return s < 1 ? 1 : s > 10 ? 10 : s;
}

static int connect_channels(struct sender *sd)
{
	int err;

	err = lm_net_connect(sd->o.net.addr, &sd->req);
	if (!err)
		err = lm_auth_client(sd->req, &sd->auth, LM_CHAN_REQ);
	if (!err)
		err = lm_net_connect(sd->o.net.addr, &sd->bulk);
	if (!err)
		err = lm_auth_client(sd->bulk, &sd->auth, LM_CHAN_BULK);
	if (!err && sd->o.peer_timeout) {
		lm_net_watch(sd->req, watch_secs(sd->o.peer_timeout));
		lm_net_watch(sd->bulk, watch_secs(sd->o.peer_timeout));
	}
	return err;
}

/*
 * The destination's first message: what it can do (LM_CAP_*).  Read
 * before anything is frozen; a destination that does not send it in time
 * is refused.
 */
int lm_send_recv_caps(int req, const char *to, __u64 *caps)
{
	struct timeval tv = { .tv_sec = LM_CAPS_TIMEOUT_MS / 1000 };
	struct timeval none = { 0 };
	char buf[64];
	struct lm_msg m;
	int err;

	setsockopt(req, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	err = lm_msg_recv(req, &m, buf, sizeof(buf));
	setsockopt(req, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	if (!err && m.type != LM_MSG_CAPS)
		err = -EPROTO;
	if (err) {
		fprintf(stderr, "send: %s did not say what it supports (no CAPS: %s); is it a lazymig receive of this version?\n",
			to, strerror(-err));
		return err;
	}
	*caps = m.addr;
	return 0;
}

/*
 * Fault injection for the lost-peer tests: LAZYMIG_FAULT=send-die-WHERE
 * kills this sender (SIGKILL, as a crash would) at that point.
 */
static void die_at(const char *where)
{
	const char *f = getenv("LAZYMIG_FAULT");

	if (!f || strncmp(f, "send-die-", 9) || strcmp(f + 9, where))
		return;
	fprintf(stderr, "send: LAZYMIG_FAULT=%s: dying on purpose\n", f);
	raise(SIGKILL);
}

/*
 * A syscall injected while collecting (lm_inject) leaves its thread in a
 * syscall-exit-stop, which reports SIGTRAP (a single-step, as injection
 * once used, left a SIGTRAP that detaching would have delivered, killing
 * the source).  Turn each such stop into a plain PTRACE_EVENT_STOP, the
 * one state every later step expects (PTRACE_INTERRUPT, then PTRACE_CONT
 * suppressing the signal: the thread stops again before running a
 * single instruction).
 */
static int settle_stops(struct sender *sd)
{
	unsigned int i;

	for (i = 0; i < sd->d.nr_tids; i++) {
		pid_t tid = sd->d.tids[i];
		siginfo_t si;
		int st;

		if (ptrace(PTRACE_GETSIGINFO, tid, 0, &si) ||
		    si.si_signo != SIGTRAP || (si.si_code >> 8))
			continue;	/* group or event stop already */
		if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) ||
		    ptrace(PTRACE_CONT, tid, 0, 0))
			return -errno;
		st = lm_wait_stop(tid);
		if (st < 0)
			return st;
		if (!WIFSTOPPED(st) || st >> 16 != PTRACE_EVENT_STOP) {
			fprintf(stderr, "send: pid %d: thread %d stopped with status 0x%x instead of an event stop\n",
				sd->o.pid, tid, st);
			return -EIO;
		}
	}
	return 0;
}

/*
 * LAZYMIG_PHASES=1: where the downtime went (bench/phases.sh), printed once
 * the destination has resumed, so the printing is not in the freeze.
 */
static void print_phases(struct sender *sd)
{
	__u64 now = lm_now_ns();
	char buf[512];

	if (!getenv("LAZYMIG_PHASES"))
		return;
	lm_dump_phases(&sd->d, buf, sizeof(buf));
	fprintf(stderr, "send: pid %d: phases: %s, settle %.2f ms, page server %.2f ms, metadata sent %.2f ms, until RESUMED %.2f ms\n",
		sd->o.pid, buf,
		(sd->t_settled - sd->d.phase_ns[LM_DUMP_NR_PHASES - 1]) / 1e6,
		(sd->t_ps - sd->t_settled) / 1e6, (sd->t_meta - sd->t_ps) / 1e6,
		(now - sd->t_meta) / 1e6);
}

/* The destination runs the process: if this sender dies, stop the source. */
static void on_resumed(void *ctx)
{
	struct sender *sd = ctx;

	print_phases(sd);
	sd->resumed = 1;
	kill(sd->o.pid, SIGSTOP);
	die_at("after-resume");
}

/*
 * The channels broke during the lazy phase: dial again until the
 * receiver takes us back or --peer-timeout passes.  A receiver that is
 * not there (connection refused) or does not know our session has no
 * process of ours running; before RESUMED that ends it at once.
 */
static int rejoin(void *ctx, int *req, int *bulk)
{
	struct sender *sd = ctx;
	__u64 t0 = lm_now_ns(), end = t0 + sd->o.peer_timeout * 1000000000ULL;
	int err = -ETIMEDOUT, tries = 0;

	if (!sd->o.peer_timeout)
		return -ECONNRESET;
	fprintf(stderr, "send: pid %d: lost the connection to %s; dialing again for up to %d s (--peer-timeout)\n",
		sd->o.pid, sd->o.net.addr, sd->o.peer_timeout);
	lm_net_close(sd->req);
	lm_net_close(sd->bulk);
	sd->req = sd->bulk = -1;
	while (lm_now_ns() < end) {
		if (tries++)
			usleep(REDIAL_MS * 1000);
		err = lm_net_connect_timeout(sd->o.net.addr, &sd->req, 1);
		if (!err)
			err = lm_auth_client(sd->req, &sd->auth, LM_CHAN_REJOIN);
		if (!err)
			err = lm_net_connect_timeout(sd->o.net.addr, &sd->bulk, 1);
		if (!err)
			err = lm_auth_client(sd->bulk, &sd->auth, LM_CHAN_BULK);
		if (!err)
			break;
		lm_net_close(sd->req);
		lm_net_close(sd->bulk);
		sd->req = sd->bulk = -1;
		if (!sd->resumed && (err == -ECONNREFUSED || err == -EACCES)) {
			fprintf(stderr, "send: pid %d: %s has no migration of ours any more (%s)\n",
				sd->o.pid, sd->o.net.addr, strerror(-err));
			return err;
		}
	}
	if (err && !sd->resumed) {
		/*
		 * No answer either way: the destination may have resumed
		 * the process and lost our RESUMED.  Then it kills its copy
		 * after its own --peer-timeout, which started at most one
		 * keepalive period after ours: wait that out before the
		 * source may run again.
		 */
		fprintf(stderr, "send: pid %d: %s did not take us back within %d s (last: %s); waiting %d s more so that a copy it may have resumed is gone\n",
			sd->o.pid, sd->o.net.addr, sd->o.peer_timeout, strerror(-err),
			watch_secs(sd->o.peer_timeout) + 1);
		sleep(watch_secs(sd->o.peer_timeout) + 1);
		return err;
	}
	if (err) {
		fprintf(stderr, "send: pid %d: %s did not take us back within %d s (last: %s)\n",
			sd->o.pid, sd->o.net.addr, sd->o.peer_timeout, strerror(-err));
		return err;
	}
	lm_net_watch(sd->req, watch_secs(sd->o.peer_timeout));
	lm_net_watch(sd->bulk, watch_secs(sd->o.peer_timeout));
	fprintf(stderr, "send: pid %d: reconnected to %s after %.1f s; serving pages again\n",
		sd->o.pid, sd->o.net.addr, (lm_now_ns() - t0) / 1e9);
	*req = sd->req;
	*bulk = sd->bulk;
	return 0;
}

static int is_lazy_map(const struct lm_image *img, const struct lm_pagemap *m)
{
	const struct lm_vma_img *v;

	if (m->space)
		return m->space <= img->proc.nr_shms &&
		       (img->shms[m->space - 1].s.flags & LM_SHM_LAZY);
	v = lm_image_vma_of(img, m->addr);
	return v && v->v.start == m->addr && (v->v.flags & LM_VMA_LAZY);
}

#define LAZY_SEALS	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW)

/* @f: lm_lazy_uffd_features(), probed once by the caller */
static int shm_lazy_ok(const struct lm_shm *s, __u64 caps, __u64 f)
{
	if (s->page_size && s->page_size != LM_PAGE_SIZE)
		return 0;
	if (!(f & UFFD_FEATURE_MISSING_SHMEM))
		return 0;
	/*
	 * A write seal cannot be added while the daemon maps it writable;
	 * F_SEAL_SEAL alone (every memfd made without MFD_ALLOW_SEALING)
	 * and the size seals restrict nothing the daemon does.
	 */
	if (s->kind == LM_MEM_MEMFD && (s->seals & ~LAZY_SEALS))
		return 0;
	if (!(s->flags & LM_SHM_FD_REACHABLE))
		return s->kind == LM_MEM_ANON_SHARED ||
		       s->kind == LM_MEM_MEMFD;
	/* read()/write() bypass userfaultfd: only with lazymig.ko there */
	return (caps & LM_CAP_LMDEV) &&
	       (s->kind == LM_MEM_MEMFD || s->kind == LM_MEM_TMPFS);
}

static void mark_lazy(struct lm_image *img, __u64 caps)
{
	__u64 f = lm_lazy_uffd_features();
	unsigned int i;

	img->hdr.flags |= LM_HDR_LAZY;
	/*
	 * Shared anon objects and memfds no fd or path reaches: every
	 * access faults, so userfaultfd sees them all (missing faults on
	 * shmem).  Fd-reachable memfd and tmpfs objects too when the
	 * destination's lazymig.ko reports the accesses that do not fault.
	 */
	for (i = 0; i < img->proc.nr_shms; i++) {
		struct lm_shm *s = &img->shms[i].s;

		if (shm_lazy_ok(s, caps, f) ||
		    (s->kind == LM_MEM_HUGETLB_SHARED &&
		     !lm_huge_shm_eager_why(s, f)))
			s->flags |= LM_SHM_LAZY;
	}
	for (i = 0; i < img->proc.nr_vmas; i++) {
		struct lm_vma *v = &img->vmas[i].v;

		if (v->kind == LM_MEM_ANON_PRIVATE &&
		    (!v->page_size || v->page_size == LM_PAGE_SIZE))
			v->flags |= LM_VMA_LAZY;
		if (v->kind == LM_MEM_HUGETLB_PRIVATE &&
		    !lm_huge_vma_eager_why(&img->vmas[i], f))
			v->flags |= LM_VMA_LAZY;
		if ((v->kind == LM_MEM_ANON_SHARED || v->kind == LM_MEM_MEMFD ||
		     v->kind == LM_MEM_TMPFS || v->kind == LM_MEM_HUGETLB_SHARED) &&
		    v->shm_id >= 0 &&
		    (unsigned int)v->shm_id < img->proc.nr_shms &&
		    (img->shms[v->shm_id].s.flags & LM_SHM_LAZY))
			v->flags |= LM_VMA_LAZY;
	}
}

/* PAGES records for the data pages [lo, hi) of pagemap m. */
static int send_map_range(struct sender *sd, const struct lm_pagemap_img *pm,
			  __u64 lo, __u64 hi)
{
	__u64 ps = pm->m.page_size ? pm->m.page_size : LM_PAGE_SIZE;
	__u64 i, j;
	int err;

	/* sd->buf holds RUN_BYTES; a stream record at most LM_REC_MAX */
	if (ps > RUN_BYTES && lm_find_next_bit(pm->bitmap, hi, lo) < hi) {
		fprintf(stderr, "send: pid %d: %llu KiB huge pages with data at 0x%llx; huge pages over %lu KiB cannot be migrated\n",
			sd->o.pid, (unsigned long long)(ps >> 10),
			(unsigned long long)pm->m.addr, RUN_BYTES >> 10);
		return -EOPNOTSUPP;
	}
	for (i = lm_find_next_bit(pm->bitmap, hi, lo); i < hi;
	     i = lm_find_next_bit(pm->bitmap, hi, j)) {
		struct lm_pages p = { .space = pm->m.space, .page_size = ps };
		__u64 lim = i + (ps < RUN_BYTES ? RUN_BYTES / ps : 1);

		j = lm_find_next_zero_bit(pm->bitmap, lim < hi ? lim : hi, i);
		p.addr = pm->m.addr + i * ps;
		p.npages = j - i;
		err = lm_dump_read_pages(&sd->d, p.space, p.addr, sd->buf,
					 p.npages, ps);
		if (err) {
			fprintf(stderr, "send: pid %d: cannot read %llu pages at 0x%llx: %s\n",
				sd->o.pid, (unsigned long long)p.npages,
				(unsigned long long)p.addr, strerror(-err));
			return err;
		}
		err = lm_write_pages(&sd->s, &p, sd->buf);
		if (err)
			return err;
		sd->eager_pages += p.npages;
	}
	return 0;
}

static const struct lm_pagemap_img *map_of(const struct lm_image *img,
					   __u64 addr)
{
	const struct lm_vma_img *v = lm_image_vma_of(img, addr);

	return v ? lm_lazy_vma_map(img, v) : NULL;
}

static int page_seen(struct sender *sd, __u64 a)
{
	size_t i;

	for (i = 0; i < sd->nr_sp; i++)
		if (sd->sp_pages[i] == a)
			return 1;
	if (sd->nr_sp < MAX_SP_PAGES)
		sd->sp_pages[sd->nr_sp++] = a;
	return 0;
}

/* The page under each thread's stack pointer (and red zone), if lazy. */
static int send_stack_pages(struct sender *sd)
{
	const struct lm_image *img = &sd->d.img;
	unsigned int t;
	int err;

	for (t = 0; t < img->proc.nr_threads; t++) {
		__u64 sp = img->threads[t].t.regs[LM_REG_RSP];
		__u64 a = (sp - RED_ZONE) & ~(LM_PAGE_SIZE - 1);

		for (; a <= (sp & ~(LM_PAGE_SIZE - 1)); a += LM_PAGE_SIZE) {
			const struct lm_pagemap_img *pm = map_of(img, a);
			__u64 i, ps;

			if (!pm || !is_lazy_map(img, &pm->m))
				continue;
			ps = pm->m.page_size ? pm->m.page_size : LM_PAGE_SIZE;
			i = (a - pm->m.addr) / ps;	/* a huge page: whole */
			if (page_seen(sd, pm->m.addr + i * ps))
				continue;
			if (i >= pm->m.npages || !lm_test_bit(pm->bitmap, i))
				continue;	/* zero page: nothing to send */
			err = send_map_range(sd, pm, i, i + 1);
			if (err)
				return err;
			lm_ps_mark_sent(sd->ps, 0, pm->m.addr + i * ps,
					ps / LM_PAGE_SIZE);
		}
	}
	return 0;
}

/* Metadata, the pages that must be there before resume, META_END. */
static int send_meta(struct sender *sd)
{
	struct lm_image *img = &sd->d.img;
	unsigned int i;
	int err;

	die_at("before-meta");
	err = lm_write_meta(&sd->s, img);
	if (!err && getenv("LAZYMIG_FAULT")) {
		err = lm_stream_flush(&sd->s);	/* the metadata is out */
		die_at("during-stream");
	}
	for (i = 0; !err && i < img->nr_maps; i++) {
		const struct lm_pagemap_img *pm = &img->maps[i];

		if (!is_lazy_map(img, &pm->m))
			err = send_map_range(sd, pm, 0, pm->m.npages);
	}
	if (!err)
		err = send_stack_pages(sd);
	if (!err)
		err = lm_write_mark(&sd->s, LM_REC_META_END);
	if (!err)
		err = lm_stream_flush(&sd->s);
	if (err && sd->s.errmsg[0])
		fprintf(stderr, "send: pid %d: %s\n", sd->o.pid, sd->s.errmsg);
	return err;
}

static int read_frozen(void *ctx, __u32 space, __u64 addr, void *buf,
		       __u64 npages, __u64 page_size)
{
	struct sender *sd = ctx;

	return lm_dump_read_pages(&sd->d, space, addr, buf, npages, page_size);
}

/* Scattered runs of private memory in one process_vm_readv. */
static int readv_frozen(void *ctx, __u32 space, const struct iovec *remote,
			int nr, void *buf, __u64 len)
{
	struct sender *sd = ctx;
	struct lm_dump *d = &sd->d;
	struct iovec l = { buf, len };

	if (space)
		return -EOPNOTSUPP;
	if (process_vm_readv(d->pid, &l, 1, remote, nr, 0) != (ssize_t)len)
		return -EIO;
	return 0;
}

/* On the pusher thread, after resume: the frozen process's working set. */
static int hot_scan(void *ctx, struct lm_ps *ps)
{
	struct sender *sd = ctx;

	return lm_ws_mark(&sd->ws, &sd->d.img, ps);
}

/* Before the freeze: let the process run a sample window. */
static void ws_sample(struct sender *sd)
{
	char why[256];

	if (sd->o.eager || !sd->o.ws_sample_ms)
		return;
	if (lm_ws_begin(&sd->ws, sd->o.pid, why, sizeof(why))) {
		fprintf(stderr, "send: pid %d: no working set (%s); pushing in address order\n",
			sd->o.pid, why);
		return;
	}
	usleep(sd->o.ws_sample_ms * 1000);
	lm_ws_end(&sd->ws);
}

static void report_push(struct sender *sd)
{
	struct lm_ps_figures f;

	lm_ps_figures(sd->ps, &f);
	if (sd->ws.mode != LM_WS_OFF)
		fprintf(stderr, "send: pid %d: working set (%s, %u VMAs untracked): %llu pages written in the last %ld ms, %llu of them pushed first (the others were faulted in or had no data)\n",
			sd->o.pid, lm_ws_mode_name(&sd->ws), sd->ws.untracked,
			(unsigned long long)sd->ws.seen, sd->o.ws_sample_ms,
			(unsigned long long)f.hot_pushed);
	if (f.compressed)
		fprintf(stderr, "send: pid %d: --compress: %.1f MiB pushed as %.1f MiB\n",
			sd->o.pid, f.z_raw / 1048576.0, f.z_wire / 1048576.0);
}

static int run_lazy(struct sender *sd)
{
	struct lm_ps_cfg c = {
		.req_fd = sd->req, .bulk_fd = sd->bulk, .img = &sd->d.img,
		.read = read_frozen, .readv = readv_frozen,
		.push_rate = sd->o.push_rate, .pid = sd->o.pid,
		.rejoin = rejoin, .resumed = on_resumed,
		.compress = sd->o.compress, .progress = isatty(STDERR_FILENO),
		.hot_scan = sd->ws.mode != LM_WS_OFF ? hot_scan : NULL,
		.hot_ctx = sd,
	};
	int err;

	c.ctx = sd;
	mark_lazy(&sd->d.img, sd->caps);
	err = lm_ps_create(&c, &sd->ps);
	sd->t_ps = lm_now_ns();
	if (!err)
		err = send_meta(sd);
	sd->t_meta = lm_now_ns();
	if (!err)
		err = lm_ps_run(sd->ps);
	if (!err) {
		sd->json = strdup(lm_ps_done_json(sd->ps) ?: "{}");
		report_push(sd);
	}
	return err;
}

/* --eager: everything before resume; then wait for RESUMED and DONE. */
static int run_eager(struct sender *sd)
{
	char *payload = malloc(64 * 1024);
	struct lm_msg m;
	int err;

	if (!payload)
		return -ENOMEM;
	err = lm_dump_write_all(&sd->d, &sd->s);
	if (!err)
		err = lm_stream_flush(&sd->s);
	if (err && sd->s.errmsg[0])
		fprintf(stderr, "send: pid %d: %s\n", sd->o.pid, sd->s.errmsg);
	while (!err) {
		err = lm_msg_recv(sd->req, &m, payload, 64 * 1024 - 1);
		if (err)
			break;
		if (m.type == LM_MSG_RESUMED) {
			on_resumed(sd);
		} else if (m.type == LM_MSG_DONE) {
			payload[m.len] = 0;
			sd->json = strdup(payload);
			break;
		} else {
			fprintf(stderr, "send: pid %d: unexpected %s from the destination\n",
				sd->o.pid, lm_msg_name(m.type));
			err = -EPROTO;
		}
	}
	free(payload);
	return err;
}

static void finish_ok(struct sender *sd)
{
	lm_dump_release(&sd->d, 1);
	if (sd->ps)
		lm_ps_bye(sd->ps);
	else
		lm_msg_send(sd->req, LM_MSG_BYE, 0, 0, 0, NULL, 0);
	if (sd->o.stats && sd->json)
		lm_stats_write_file(sd->o.stats, sd->json);
	fprintf(stderr, "send: pid %d: migrated to %s; source killed\n",
		sd->o.pid, sd->o.net.addr);
}

static void finish_fail(struct sender *sd, int err)
{
	if (!sd->frozen)
		return;
	if (sd->ps)
		sd->resumed = lm_ps_resumed(sd->ps);
	if (!sd->resumed) {
		lm_dump_release(&sd->d, 0);
		fprintf(stderr, "send: pid %d: migration failed (%s); the process was resumed here untouched\n",
			sd->o.pid, strerror(-err));
		return;
	}
	kill(sd->o.pid, SIGSTOP);
	lm_dump_release(&sd->d, 0);
	fprintf(stderr, "send: pid %d: migration failed (%s) after the destination resumed it; not resumed here (two copies must not run), left stopped: once the destination's copy is known dead (its receiver kills it after its --peer-timeout), `kill -CONT %d` to run it here, or `kill -9 %d`\n",
		sd->o.pid, strerror(-err), sd->o.pid, sd->o.pid);
}

int cmd_send(int argc, char **argv)
{
	struct sender sd = { .auth.prefix = "send", .req = -1, .bulk = -1,
			     .ws.uffd = -1 };
	int err;

	if (parse(argc, argv, &sd.o))
		return 2;
	if (kill(sd.o.pid, 0) && errno == ESRCH) {
		fprintf(stderr, "send: no process %d; nothing to migrate\n",
			sd.o.pid);
		return 1;
	}
	if (lm_netopts_setup(&sd.o.net, &sd.auth, 0))
		return 1;
	if (sd.o.tree) {
		struct lm_tree_send_opts to = {
			.pid = sd.o.pid, .to = sd.o.net.addr, .stats = sd.o.stats,
			.eager = sd.o.eager, .push_rate = sd.o.push_rate,
			.auth = &sd.auth,
		};

		return lm_send_tree(&to) ? 1 : 0;
	}
	sd.buf = malloc(RUN_BYTES);
	err = sd.buf ? connect_channels(&sd) : -ENOMEM;
	if (!err)
		err = lm_send_recv_caps(sd.req, sd.o.net.addr, &sd.caps);
	if (err)
		goto out;
	ws_sample(&sd);
	err = lm_dump_freeze_collect(sd.o.pid, &sd.d);
	if (err) {
		fprintf(stderr, "%s\n", sd.d.errmsg[0] ? sd.d.errmsg :
			"send: freezing the process failed");
		goto out;
	}
	sd.frozen = 1;
	err = settle_stops(&sd);
	sd.t_settled = lm_now_ns();
	if (!err)
		err = lm_stream_open(&sd.s, sd.req, 1, "request channel");
	if (!err)
		err = sd.o.eager ? run_eager(&sd) : run_lazy(&sd);
	if (!err)
		finish_ok(&sd);
	else
		finish_fail(&sd, err);
	lm_stream_close(&sd.s);
out:
	lm_ps_destroy(sd.ps);
	lm_ws_free(&sd.ws);
	free(sd.json);
	free(sd.buf);
	lm_net_close(sd.req);
	lm_net_close(sd.bulk);
	lm_netopts_release(&sd.auth);
	return err ? 1 : 0;
}

void lm_send_mark_lazy(struct lm_image *img, __u64 caps)
{
	mark_lazy(img, caps);
}

int lm_send_is_lazy_map(const struct lm_image *img,
			const struct lm_pagemap *m)
{
	return is_lazy_map(img, m);
}
