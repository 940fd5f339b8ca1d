// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig receive: the destination side of a migration.
 *
 *   listen -> accept + authenticate the request channel, then the bulk
 *   channel of the same session (peers that fail are told why and
 *   dropped; receive keeps waiting for the real sender) -> metadata ->
 *   build the process (lazy ranges registered on a userfaultfd) -> eager
 *   pages -> the lazy-pages daemon starts -> resume -> the daemon runs
 *   until every page is in -> stats, exit 0.
 *
 * The daemon runs in its own thread from before resume, because the
 * restorer's last steps (rseq, robust lists, ...) may touch lazy pages
 * and must be served.  The restorer stays in the main thread, the one
 * that ptrace-attached.  If the memory cannot be completed, the restored
 * process is killed: it must never read zeros where data should be.
 *
 * Lost source: the listening socket stays open for the whole migration.
 * If the channels break after resume, the daemon waits up to
 * --peer-timeout seconds for the sender to come back with the same
 * session (lazy.c), then kills the process and its children.  With
 * --keep-listening, migrations are served one after another, each with
 * its own state; one that fails does not stop the listener.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>
#include "guard.h"
#include "lazy.h"
#include "lazymig.h"
#include "lmdev.h"
#include "net.h"
#include "netopts.h"
#include "proto.h"
#include "receive_common.h"
#include "restore.h"
#include "tree_mig.h"

#include "tls.h"

#define ACCEPT_BULK_MS	10000
#define PEER_TIMEOUT_S	30	/* --peer-timeout default */
#define REAP_MS		1000	/* --keep-listening reaps exited processes */
/* without these events a lazy process could read stale or zero data */
#define LAZY_NEEDS	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | \
			 UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP)

struct recv_opts {
	struct lm_netopts net;	/* net.addr: --listen */
	const char *pidfile, *stdio, *stats;
	int peer_timeout, keep;
};

/* The stages from the first record to resume, for LAZYMIG_PHASES=1. */
enum { RP_META, RP_PREPARED, RP_DAEMON, RP_EAGER, RP_RESUMED, RP_NR };

struct receiver {
	struct recv_opts o;
	struct lm_auth auth;
	int lfd, req, bulk;
	char peer[80];
	struct lm_stream s;
	struct lm_image img;
	struct lm_restorer *r;
	struct lm_lazy *lz;
	struct lm_stats st;
	struct lmdev dev;	/* /dev/lazymig, or fd -1 */
	__u64 caps;		/* LM_CAP_* told the source */
	pid_t pid;
	int lazy, resumed, daemon_err;
	int tree;		/* a process tree: receive_tree.c did it all */
	struct lm_guard *guard;	/* kills the process if receive dies */
	__u64 t[RP_NR];		/* LAZYMIG_PHASES stamps (realtime) */
};

static void usage(void)
{
	fprintf(stderr, "usage: lazymig receive --listen ADDR:PORT [--pidfile F] [--stdio inherit|null|PATH] [--stats F] [--peer-timeout SECONDS] [--keep-listening] "
		LM_NETOPTS_USAGE "\n"
		"  --peer-timeout S  the source is lost while pages are still lazy: wait up to\n"
		"                    S seconds (default %d, 0: not at all) for the sender to\n"
		"                    reconnect; faulting threads wait meanwhile.  Then the\n"
		"                    process and its children are killed (never run on\n"
		"                    missing pages) and receive exits 1.\n"
		"  --keep-listening  serve migrations one after another until killed; each\n"
		"                    overwrites --pidfile and --stats.\n", PEER_TIMEOUT_S);
}

static int parse(int argc, char **argv, struct recv_opts *o)
{
	static const struct option lo[] = {
		LM_NETOPTS_LONG("listen"),
		{ "pidfile", required_argument, NULL, 'p' },
		{ "stdio", required_argument, NULL, 'o' },
		{ "stats", required_argument, NULL, 's' },
		{ "peer-timeout", required_argument, NULL, 'P' },
		{ "keep-listening", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	char *end;
	int c;

	o->peer_timeout = PEER_TIMEOUT_S;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (lm_netopts_parse(&o->net, c, optarg))
			continue;
		switch (c) {
		case 'p':
			o->pidfile = optarg;
			break;
		case 'o':
			o->stdio = optarg;
			break;
		case 's':
			o->stats = optarg;
			break;
		case 'P':
			o->peer_timeout = strtol(optarg, &end, 10);
			if (*end || end == optarg || o->peer_timeout < 0 ||
			    o->peer_timeout > 86400) {
				fprintf(stderr, "receive: --peer-timeout wants seconds (0..86400), not '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'K':
			o->keep = 1;
			break;
		default:
			usage();
			return -EINVAL;
		}
	}
	if (!o->net.addr || optind != argc) {
		usage();
		return -EINVAL;
	}
	return 0;
}

/* Processes restored earlier (--keep-listening) that exited since. */
static void reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* How long a silent or stuck connection may last before it counts as lost. */
static int watch_secs(int peer_timeout)
{
	int s = peer_timeout / 4;

	return !peer_timeout ? 10 : s < 1 ? 1 : s > 10 ? 10 : s;
}

/* Accept until a peer authenticates on @chan; failures are logged. */
static int accept_chan(struct receiver *rv, enum lm_chan chan, int *fd,
		       int timeout_ms)
{
	for (;;) {
		struct pollfd p = { .fd = rv->lfd, .events = POLLIN };
		int err, n;

		if (rv->o.keep)
			reap();
		n = poll(&p, 1, timeout_ms < 0 && rv->o.keep ? REAP_MS :
			 timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && timeout_ms < 0)
			continue;
		if (n == 0) {
			fprintf(stderr, "receive: the sender did not open its bulk channel in time\n");
			return -ETIMEDOUT;
		}
		err = lm_net_accept(rv->lfd, fd, rv->peer, sizeof(rv->peer));
		if (err)
			return err;
		err = lm_auth_server(*fd, &rv->auth, chan, rv->peer);
		if (!err) {
			lm_net_watch(*fd, watch_secs(rv->o.peer_timeout));
			return 0;
		}
		lm_net_close(*fd);
		*fd = -1;
	}
}

static int accept_session(struct receiver *rv)
{
	char how[96];
	int err;

	err = accept_chan(rv, LM_CHAN_REQ, &rv->req, -1);
	if (!err)
		err = accept_chan(rv, LM_CHAN_BULK, &rv->bulk, ACCEPT_BULK_MS);
	if (!err)
		fprintf(stderr, "receive: sender %s authenticated%s\n", rv->peer,
			lm_tls_describe(rv->req, how, sizeof(how)));
	return err;
}

/* lazymig.ko features the daemon needs to restore fd-reachable shm lazily */
#define LMDEV_NEEDS	(LAZYMIG_FEAT_READ | LAZYMIG_FEAT_WRITE | \
			 LAZYMIG_FEAT_ALLOC | LAZYMIG_FEAT_PUNCH | \
			 LAZYMIG_FEAT_TRUNCATE | LAZYMIG_FEAT_FILL | \
			 LAZYMIG_FEAT_FAULT)

/*
 * Tell the source what this side can do, before it freezes anything:
 * lazymig.ko (opened here and kept for the daemon, so that what was
 * promised holds) and the patched kernel's shmem REMOVE events.
 */
static int send_caps(struct receiver *rv)
{
	int err = lmdev_open(&rv->dev, NULL, 1);

	if (!err && (rv->dev.features & LMDEV_NEEDS) != LMDEV_NEEDS) {
		fprintf(stderr, "receive: lazymig.ko lacks features 0x%x; fd-reachable shm is restored eagerly\n",
			LMDEV_NEEDS & ~rv->dev.features);
		lmdev_close(&rv->dev);
	} else if (!err) {
		rv->caps |= LM_CAP_LMDEV;
	} else if (err == -EPROTONOSUPPORT) {
		fprintf(stderr, "receive: lazymig.ko speaks ABI %u, this lazymig %u: not used; fd-reachable shm is restored eagerly\n",
			rv->dev.abi, LAZYMIG_ABI_VERSION);
	} else if (err != -ENOENT) {
		fprintf(stderr, "receive: cannot open /dev/%s (%s): not used; fd-reachable shm is restored eagerly\n",
			LAZYMIG_DEV_NAME, strerror(-err));
	}
	if (lm_lazy_shmem_remove())
		rv->caps |= LM_CAP_SHMEM_REMOVE;
	return lm_msg_send(rv->req, LM_MSG_CAPS, 0, rv->caps, 0, NULL, 0);
}

static void count_pages(struct receiver *rv)
{
	unsigned int i;

	for (i = 0; i < rv->img.nr_maps; i++) {
		const struct lm_pagemap_img *pm = &rv->img.maps[i];

		rv->st.pages_total += pm->m.npages;
		rv->st.pages_zero += pm->m.npages -
				     lm_bitmap_weight(pm->bitmap, pm->m.npages);
	}
}

/* Pages before META_END (lazy) or END (eager). */
static int read_eager_pages(struct receiver *rv)
{
	for (;;) {
		struct lm_pages p;
		void *data;
		int t = lm_read_next(&rv->s, &p, &data), err;

		if (t < 0) {
			fprintf(stderr, "receive: %s\n", rv->s.errmsg);
			return t;
		}
		if (t == LM_REC_META_END && rv->lazy)
			return 0;
		if (t == LM_REC_END)
			return 0;
		if (t != LM_REC_PAGES)
			continue;
		if (rv->lazy && lm_pages_in_lazy_vma(&rv->img, &p)) {
			err = lm_lazy_install(rv->lz, p.space, p.addr,
					      p.npages * (p.page_size /
							  LM_PAGE_SIZE),
					      data);
		} else {
			err = lm_restore_write_pages(rv->r, &p, data);
			rv->st.pages_pushed += p.npages;
			rv->st.pages_eager += p.npages;
		}
		if (err)
			return err;
	}
}

/*
 * The restorer's stub: the child we trace (the restorer, in the main
 * thread, is its tracer).  Processes restored earlier (--keep-listening)
 * are our children too, but no longer traced.  0 if none.
 */
static pid_t traced_child(void)
{
	char *buf = lm_main_children(), *p, *save = NULL;
	pid_t found = 0;

	if (!buf)
		return 0;
	for (p = strtok_r(buf, " \n", &save); p && !found;
	     p = strtok_r(NULL, " \n", &save)) {
		char st[64], line[256];
		FILE *f;

		snprintf(st, sizeof(st), "/proc/%s/status", p);
		f = fopen(st, "re");
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "TracerPid:", 10) &&
			    atoi(line + 10) == getpid())
				found = atoi(p);
		if (f)
			fclose(f);
	}
	free(buf);
	return found;
}

static void guard_uffd(void *ctx, int ufd)
{
	lm_guard_uffd(ctx, ufd);
}

static void guard_release(void *ctx)
{
	lm_guard_release(ctx);
}

static int shm_fd(void *ctx, int shm_id)
{
	return lm_restore_shm_fd(ctx, shm_id);
}

static int setup_daemon(struct receiver *rv)
{
	struct lm_lazy_cfg c = {
		.req_fd = rv->req, .bulk_fd = rv->bulk, .img = &rv->img,
		.st = &rv->st, .shm_fd = shm_fd, .shm_ctx = rv->r,
		.lfd = rv->lfd, .auth = &rv->auth,
		.peer_timeout = rv->o.peer_timeout,
		.dev = rv->dev.fd >= 0 ? &rv->dev : NULL,
		.shmem_remove = !!(rv->caps & LM_CAP_SHMEM_REMOVE),
	};
	int err;

	if (getenv("LAZYMIG_FAULT") &&
	    !strcmp(getenv("LAZYMIG_FAULT"), "receive-after-resume"))
		c.lfd = -1;	/* that injected failure is final */
	c.uffd = lm_restore_take_uffd(rv->r);
	if (c.uffd < 0) {
		fprintf(stderr, "receive: the restorer has no userfaultfd for the lazy ranges\n");
		return -ENOTSUP;
	}
	err = lm_guard_start(c.uffd, traced_child(), &rv->guard);
	if (err) {
		fprintf(stderr, "receive: cannot start the guardian: %s\n",
			strerror(-err));
		return err;
	}
	c.uffd_forked = guard_uffd;
	c.uffds_closing = guard_release;
	c.guard_ctx = rv->guard;
	return lm_lazy_create(&c, &rv->lz);
}

/*
 * The daemon failed before the process runs.  The restorer may be waiting
 * on the stub, stopped on a fault of a lazy page that only the daemon could
 * serve: kill the stub (the main thread's only child) so that the restore
 * fails instead of waiting for ever.  Never close the uffd instead: the
 * fault would then be filled with zeros.
 */
static void stop_stub(void *ctx)
{
	struct receiver *rv = ctx;
	pid_t stub = traced_child();

	fprintf(stderr, "receive: the lazy-pages daemon failed before the process ran (%s); stopping it\n",
		strerror(-rv->daemon_err));
	if (stub > 0)
		kill(stub, SIGKILL);
}

static void *daemon_main(void *arg)
{
	struct receiver *rv = arg;

	lm_receive_daemon(rv->lz, &rv->daemon_err, &rv->resumed, stop_stub,
			  rv);
	return NULL;
}

static int resume(struct receiver *rv)
{
	int err = lm_restore_resume(rv->r, &rv->pid);

	if (err) {
		rv->r = NULL;	/* killed and freed by lm_restore_resume */
		return err;
	}
	rv->resumed = 1;
	rv->st.resume_ns = lm_realtime_ns();
	rv->t[RP_RESUMED] = rv->st.resume_ns;
	return rv->o.pidfile ? lm_write_pidfile(rv->o.pidfile, rv->pid) : 0;
}

/* Eager: everything is in; tell the source, get its BYE. */
static int finish_eager(struct receiver *rv)
{
	struct timeval tv = { .tv_sec = 10 };
	char json[2048], buf[256];
	struct lm_msg m;
	int len, err;

	rv->st.last_install_ns = rv->st.resume_ns;
	rv->st.bytes_before_resume = rv->s.bytes;
	len = lm_stats_json(&rv->st, json, sizeof(json));
	err = lm_msg_send(rv->req, LM_MSG_RESUMED, 0, 0, 0, NULL, 0);
	if (!err)
		err = lm_msg_send(rv->req, LM_MSG_DONE, 0, 0, 0, json,
				  len < (int)sizeof(json) ? len : 0);
	setsockopt(rv->req, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!err)
		err = lm_msg_recv(rv->req, &m, buf, sizeof(buf));
	if (!err && m.type != LM_MSG_BYE)
		err = -EPROTO;
	if (err)
		fprintf(stderr, "receive: pid %d: no BYE from the source (%s); it may still exist there\n",
			rv->pid, strerror(-err));
	return 0;	/* the process is complete and running here */
}

static int run_lazy(struct receiver *rv)
{
	pthread_t th;
	int err;

	err = setup_daemon(rv);
	rv->t[RP_DAEMON] = lm_realtime_ns();
	if (!err)
		err = read_eager_pages(rv);
	rv->t[RP_EAGER] = lm_realtime_ns();
	if (err)
		return err;
	rv->st.bytes_before_resume = rv->s.bytes;
	err = pthread_create(&th, NULL, daemon_main, rv);
	if (err)
		return -err;
	lm_receive_fault("receive-die-before-resume");
	err = lm_receive_fault("receive-before-resume") ? -ECANCELED : resume(rv);
	if (rv->resumed) {
		lm_guard_pid(rv->guard, rv->pid);
		lm_lazy_resumed(rv->lz, rv->pid);
	} else {
		lm_lazy_abort(rv->lz);
	}
	if (rv->resumed && getenv("LAZYMIG_FAULT") &&
	    !strncmp(getenv("LAZYMIG_FAULT"), "receive-", 8)) {
		int i;

		/*
		 * Die while the process is faulting: once some answers
		 * are in (so RESUMED reached the source, too).
		 */
		for (i = 0; i < 1000 && !strcmp(getenv("LAZYMIG_FAULT"),
						 "receive-die-after-resume") &&
			    __atomic_load_n(&rv->st.pages_faulted,
					    __ATOMIC_RELAXED) < 64; i++)
			usleep(10 * 1000);
		lm_receive_fault("receive-die-after-resume");
		usleep(200 * 1000);	/* RESUMED reaches the source */
		if (lm_receive_fault("receive-after-resume"))
			shutdown(rv->req, SHUT_RDWR);
	}
	pthread_join(th, NULL);
	if (err)
		return err;
	if (rv->daemon_err) {
		lm_kill_tree(rv->pid);	/* and every child it forked */
		fprintf(stderr, "receive: pid %d killed: its memory could not be completed (%s); the source keeps it\n",
			rv->pid, strerror(-rv->daemon_err));
		return rv->daemon_err;
	}
	return 0;
}

static int run_eager(struct receiver *rv)
{
	int err = read_eager_pages(rv);

	if (!err)
		err = resume(rv);
	if (!err)
		err = finish_eager(rv);
	return err;
}

/* LAZYMIG_PHASES=1: where the destination's part of the downtime went. */
static void print_phases(const struct receiver *rv)
{
	const __u64 *t = rv->t;

	if (!getenv("LAZYMIG_PHASES") || !t[RP_RESUMED])
		return;
	fprintf(stderr, "receive: pid %d: phases: freeze to metadata read %.2f ms, restore prepared %.2f ms, daemon %.2f ms, eager pages %.2f ms, resumed %.2f ms\n",
		rv->pid, (t[RP_META] - rv->st.freeze_ns) / 1e6,
		(t[RP_PREPARED] - t[RP_META]) / 1e6,
		(t[RP_DAEMON] - t[RP_PREPARED]) / 1e6,
		(t[RP_EAGER] - t[RP_DAEMON]) / 1e6,
		(t[RP_RESUMED] - t[RP_EAGER]) / 1e6);
}

static void report(struct receiver *rv)
{
	char json[4096];

	print_phases(rv);
	lm_stats_json(&rv->st, json, sizeof(json));
	if (rv->o.stats)
		lm_stats_write_file(rv->o.stats, json);
	fprintf(stderr, "receive: pid %d running here; downtime %.3f ms, %llu bytes before resume, %llu pages faulted, %llu pushed, %llu zero\n",
		rv->pid, (rv->st.resume_ns - rv->st.freeze_ns) / 1e6,
		(unsigned long long)rv->st.bytes_before_resume,
		(unsigned long long)rv->st.pages_faulted,
		(unsigned long long)rv->st.pages_pushed,
		(unsigned long long)rv->st.pages_zero);
}

/* Names of the mechanisms beyond plain userfaultfd, for the stats. */
#define MECH_LMDEV	"lazymig.ko fd-access"
#define MECH_REMOVE	"uffd-native-shmem-remove"

/* Does this migration restore any shm object lazily? */
static int lazy_shm(const struct lm_image *img)
{
	unsigned int i;

	for (i = 0; i < img->proc.nr_shms; i++)
		if (img->shms[i].s.flags & LM_SHM_LAZY)
			return 1;
	return 0;
}

/* How the pages of one memory kind come in this migration. */
static const char *kind_mechanism(const struct receiver *rv,
				  const struct lm_vma_img *vi, __u64 f,
				  char *buf, size_t len)
{
	const struct lm_vma *v = &vi->v;
	int dev = rv->dev.fd >= 0;
	int rm = !!(rv->caps & LM_CAP_SHMEM_REMOVE);
	const char *why;

	if ((v->flags & LM_VMA_LAZY) && (v->kind == LM_MEM_HUGETLB_PRIVATE ||
					 v->kind == LM_MEM_HUGETLB_SHARED))
		return "uffd-missing-hugetlb";
	if ((v->flags & LM_VMA_LAZY) && v->shm_id < 0)
		return "uffd-missing";
	if (v->flags & LM_VMA_LAZY) {
		if (dev && rm)
			return "uffd-missing-shmem + " MECH_LMDEV " + " MECH_REMOVE;
		if (dev)
			return "uffd-missing-shmem + " MECH_LMDEV;
		if (rm)
			return "uffd-missing-shmem + " MECH_REMOVE;
		return "uffd-missing-shmem";
	}
	switch (v->kind) {
	case LM_MEM_ANON_SHARED:
	case LM_MEM_MEMFD:
	case LM_MEM_TMPFS:
	case LM_MEM_HUGETLB_SHARED:
		return "eager (see eager_shm)";
	case LM_MEM_HUGETLB_PRIVATE:
		why = lm_huge_vma_eager_why(vi, f);
		snprintf(buf, len, "eager (%s)",
			 why ? why : "the source's kernel could not serve it lazily");
		return buf;
	case LM_MEM_FILE_PRIVATE:
		return "eager (COW pages of a file mapping)";
	case LM_MEM_FILE_SHARED:
		return "eager (dirty pages of a shared file mapping)";
	case LM_MEM_VDSO:
	case LM_MEM_VVAR:
	case LM_MEM_VSYSCALL:
		return "kernel (not migrated)";
	default:
		return "eager";
	}
}

/* Why shm object @s was restored eagerly in a lazy migration. */
static const char *eager_why(const struct receiver *rv,
			     const struct lm_shm *s, __u64 f)
{
	if (s->kind == LM_MEM_HUGETLB_SHARED)
		return lm_huge_shm_eager_why(s, f) ?:
		       "the source's kernel could not serve it lazily";
	if (s->kind == LM_MEM_MEMFD &&
	    (s->seals & ~(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW)))
		return "write-sealed memfd: the seal cannot be added while the daemon maps it";
	if (!(s->flags & LM_SHM_FD_REACHABLE))
		return "only shared anon, memfd and tmpfs (4 KiB) are restored lazily";
	if (rv->dev.fd < 0)
		return "fd-reachable, no lazymig.ko: fd access would bypass userfaultfd";
	if (s->kind != LM_MEM_MEMFD && s->kind != LM_MEM_TMPFS)
		return "fd-reachable and neither memfd nor tmpfs";
	return "the source did not make it lazy (its kernel lacks shmem missing faults?)";
}

/* Per kind and per eager shm object, for the stats. */
static void kinds_used(struct receiver *rv, __u64 f)
{
	const struct lm_image *img = &rv->img;
	char buf[160];
	unsigned int seen = 0, i, n = 0;

	for (i = 0; i < img->proc.nr_vmas; i++) {
		const struct lm_vma *v = &img->vmas[i].v;

		if (v->kind >= 32 || (seen & (1U << v->kind)))
			continue;
		seen |= 1U << v->kind;
		lm_append(rv->st.kinds, sizeof(rv->st.kinds), "%s\"%s\":\"%s\"",
		       rv->st.kinds[0] ? "," : "", lm_mem_kind_name(v->kind),
		       rv->lazy ? kind_mechanism(rv, &img->vmas[i], f, buf,
						 sizeof(buf)) :
		       "eager (--eager)");
	}
	for (i = 0; rv->lazy && i < img->proc.nr_shms; i++) {
		const struct lm_shm *s = &img->shms[i].s;

		if (s->flags & LM_SHM_LAZY)
			continue;
		if (n++ == 8) {
			lm_append(rv->st.eager_shm, sizeof(rv->st.eager_shm),
			       ",{\"more\":%u}", img->proc.nr_shms - 8);
			break;
		}
		lm_append(rv->st.eager_shm, sizeof(rv->st.eager_shm),
		       "%s{\"id\":%d,\"kind\":\"%s\",\"why\":\"%s\"}",
		       n > 1 ? "," : "", s->id, lm_mem_kind_name(s->kind),
		       eager_why(rv, s, f));
	}
}

/* What the kernel offered and what this migration used, for the stats. */
static void mechanism(struct receiver *rv, __u64 f)
{
	int shm = lazy_shm(&rv->img);

	kinds_used(rv, f);
	if (!rv->lazy) {
		snprintf(rv->st.mechanism, sizeof(rv->st.mechanism),
			 "pre-copy (--eager)");
		return;
	}
	snprintf(rv->st.mechanism, sizeof(rv->st.mechanism),
		 "userfaultfd missing faults, events:%s%s%s%s%s%s; lazy: anon, shared anon, memfd%s, hugetlb<=2M; else eager",
		 f & UFFD_FEATURE_EVENT_FORK ? " fork" : "",
		 f & UFFD_FEATURE_EVENT_REMAP ? " remap" : "",
		 f & UFFD_FEATURE_EVENT_REMOVE ? " remove" : "",
		 f & UFFD_FEATURE_EVENT_UNMAP ? " unmap" : "",
		 shm && (rv->caps & LM_CAP_SHMEM_REMOVE) ? " " MECH_REMOVE : "",
		 shm && rv->dev.fd >= 0 ? "; " MECH_LMDEV : "",
		 rv->dev.fd >= 0 ? " and tmpfs (fds too)" : " without fd");
}

/* send --tree: 1 when the tree was received (and runs), 0: one process. */
static int restore_tree(struct receiver *rv)
{
	struct lm_tree_recv a = {
		.req = rv->req, .bulk = rv->bulk, .s = &rv->s,
		.peer = rv->peer, .pidfile = rv->o.pidfile,
		.stdio = rv->o.stdio, .stats = rv->o.stats,
	};
	struct lm_tree_img t;
	int err = lm_read_tree(&rv->s, &t);

	if (err <= 0)
		return err;
	rv->tree = 1;
	err = lm_receive_tree(&a, &t);
	lm_tree_free(&t);
	return err ? err : 1;
}

static int restore(struct receiver *rv)
{
	struct lm_restore_opts ro = { .stdio = rv->o.stdio };
	int err;

	err = lm_stream_open(&rv->s, rv->req, 0, "request channel");
	if (!err)
		err = restore_tree(rv);
	if (rv->tree)
		return err > 0 ? 0 : err;
	if (!err)
		err = lm_read_meta(&rv->s, &rv->img);
	if (err && !rv->s.bytes) {
		fprintf(stderr, "receive: %s closed the connection before sending any metadata (%s); could it not freeze the process? see its messages\n",
			rv->peer, rv->s.errmsg[0] ? rv->s.errmsg : strerror(-err));
		return err;
	}
	if (err) {
		fprintf(stderr, "receive: metadata from %s: %s\n", rv->peer,
			rv->s.errmsg[0] ? rv->s.errmsg : strerror(-err));
		return err;
	}
	rv->lazy = !!(rv->img.hdr.flags & LM_HDR_LAZY);
	rv->st.freeze_ns = rv->img.hdr.created_ns;
	rv->st.eager = !rv->lazy;
	count_pages(rv);
	ro.lazy = rv->lazy;
	ro.uffd_features = rv->lazy ? lm_lazy_uffd_features() : 0;
	if (rv->lazy && (ro.uffd_features & LAZY_NEEDS) != LAZY_NEEDS) {
		fprintf(stderr, "receive: this kernel's userfaultfd lacks the fork/mremap/madvise/munmap events (features 0x%llx) that keep a lazily restored process correct; migrate with `send --eager`\n",
			(unsigned long long)ro.uffd_features);
		return -ENOTSUP;
	}
	mechanism(rv, ro.uffd_features);
	rv->t[RP_META] = lm_realtime_ns();
	err = lm_restore_prepare(&rv->img, &ro, &rv->r);
	rv->t[RP_PREPARED] = lm_realtime_ns();
	if (err)
		return err;
	err = rv->lazy ? run_lazy(rv) : run_eager(rv);
	if (err && !rv->resumed)
		lm_restore_abort(rv->r);
	else
		lm_restore_free(rv->r);
	rv->r = NULL;
	return err;
}

/* One migration on the listening socket, its state freed after. */
static int one_migration(struct receiver *rv)
{
	struct receiver keep = *rv;
	int err;

	err = accept_session(rv);
	if (!err)
		err = send_caps(rv);
	if (!err)
		err = restore(rv);
	if (!err && !rv->tree)
		report(rv);
	lm_lazy_destroy(rv->lz);
	lmdev_close(&rv->dev);
	lm_guard_free(rv->guard);
	lm_stream_close(&rv->s);
	lm_image_free(&rv->img);
	lm_stats_free(&rv->st);
	lm_net_close(rv->req);
	lm_net_close(rv->bulk);
	memset(rv, 0, sizeof(*rv));
	rv->o = keep.o;
	rv->auth = keep.auth;
	rv->lfd = keep.lfd;
	rv->req = rv->bulk = -1;
	rv->dev.fd = -1;
	return err;
}

int cmd_receive(int argc, char **argv)
{
	struct receiver rv = {
		.auth.prefix = "receive", .lfd = -1, .req = -1, .bulk = -1,
	};
	unsigned long n = 0, failed = 0;
	int err;

	if (parse(argc, argv, &rv.o))
		return 2;
	if (lm_netopts_setup(&rv.o.net, &rv.auth, 1))
		return 1;
	err = lm_net_listen(rv.o.net.addr, &rv.lfd);
	if (err)
		return 1;
	fprintf(stderr, "receive: listening on %s%s%s%s%s\n", rv.o.net.addr,
		rv.auth.token_len ? " (token required)" :
		rv.auth.tls ? "" : " (no --token-file: loopback peers only)",
		rv.auth.tls ? " (TLS 1.3, " : "",
		rv.auth.tls ? lm_tls_mode(rv.auth.tls) : "",
		rv.auth.tls ? ")" : "");
	rv.dev.fd = -1;
	do {
		err = one_migration(&rv);
		n++;
		failed += !!err;
		if (rv.o.keep)
			fprintf(stderr, "receive: migration %lu %s (%lu failed so far); listening for the next one\n",
				n, err ? "failed" : "done", failed);
		if (err && rv.o.keep)
			usleep(100 * 1000);	/* no busy loop on accept errors */
	} while (rv.o.keep);
	lm_net_close(rv.lfd);
	lm_netopts_release(&rv.auth);
	return err ? 1 : 0;
}
