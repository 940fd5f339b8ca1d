// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig receive of a process tree (see tree_mig.h for the wire order).
 *
 *   every member's metadata -> the stubs, parents forking their children
 *   (restore.c, lm_restore_tree_prepare; lazy: one userfaultfd per
 *   member) -> every member's pages before resume -> [lazy: ONE
 *   lazy-pages daemon, in its own thread, gets every member's uffd; the
 *   guardian (guard.h) holds copies of them all] -> members resumed
 *   children first -> the daemon runs until every member's pages are
 *   in -> stats (in total and per member), exit 0.
 *
 * Never half a tree: if any member cannot be restored, or its memory
 * cannot be completed, every member is killed here (the source keeps or
 * resumes the tree).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/userfaultfd.h>
#include "guard.h"
#include "lazy.h"
#include "lazymig.h"
#include "proto.h"
#include "receive_common.h"
#include "restore.h"
#include "tree_mig.h"

#define LAZY_NEEDS	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | \
			 UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP)

struct tree_receiver {
	const struct lm_tree_recv *a;
	const struct lm_tree_img *t;
	unsigned int nr;
	struct lm_image *imgs;
	struct lm_restorer **rs;
	struct lm_lazy *lz;
	struct lm_guard *guard;	/* kills the tree if receive dies */
	struct lm_stats st;
	pid_t *pids;		/* restored PIDs */
	int lazy, resumed, daemon_err;
};

static int read_metas(struct tree_receiver *tr)
{
	struct lm_stream *s = tr->a->s;
	unsigned int i;
	int err;

	for (i = 0; i < tr->nr; i++) {
		if (i)
			lm_stream_next_member(s);
		err = lm_read_meta(s, &tr->imgs[i]);
		if (err) {
			fprintf(stderr, "receive: metadata of tree member %u from %s: %s\n",
				i, tr->a->peer,
				s->errmsg[0] ? s->errmsg : strerror(-err));
			return err;
		}
		if (!i)
			tr->lazy = !!(tr->imgs[0].hdr.flags & LM_HDR_LAZY);
		if (!(tr->imgs[i].hdr.flags & LM_HDR_LAZY) != !tr->lazy) {
			fprintf(stderr, "receive: tree member %u is %s, member 0 is not\n",
				i, tr->lazy ? "eager" : "lazy");
			return -EBADMSG;
		}
	}
	return 0;
}

/* pages_total and pages_zero, in total and per member. */
static int count_pages(struct tree_receiver *tr)
{
	unsigned int i, k;

	tr->st.members = calloc(tr->nr, sizeof(*tr->st.members));
	if (!tr->st.members)
		return -ENOMEM;
	tr->st.nr_members = tr->nr;
	for (i = 0; i < tr->nr; i++) {
		struct lm_member_stats *ms = &tr->st.members[i];

		ms->pid = tr->t->members[i].pid;
		for (k = 0; k < tr->imgs[i].nr_maps; k++) {
			const struct lm_pagemap_img *pm = &tr->imgs[i].maps[k];
			__u64 z = pm->m.npages -
				  lm_bitmap_weight(pm->bitmap, pm->m.npages);

			ms->pages_total += pm->m.npages;
			ms->pages_zero += z;
		}
		tr->st.pages_total += ms->pages_total;
		tr->st.pages_zero += ms->pages_zero;
	}
	return 0;
}

/* Member @i's pages before resume (lazy) or all of them (eager). */
static int read_pages(struct tree_receiver *tr, unsigned int i)
{
	struct lm_stream *s = tr->a->s;
	struct lm_member_stats *ms = &tr->st.members[i];

	lm_stream_member_pages(s, &tr->imgs[i]);
	for (;;) {
		struct lm_pages p;
		void *data;
		int t = lm_read_next(s, &p, &data), err;

		if (t < 0) {
			fprintf(stderr, "receive: tree member %u: %s\n", i,
				s->errmsg);
			return t;
		}
		if (t == LM_REC_META_END && tr->lazy)
			return 0;
		if (t == LM_REC_END)
			return 0;
		if (t != LM_REC_PAGES)
			continue;
		if (tr->lazy && lm_pages_in_lazy_vma(&tr->imgs[i], &p)) {
			err = lm_lazy_install(tr->lz, LM_TREE_SPACE(i, 0),
					      p.addr, p.npages, data);
		} else {
			err = lm_restore_write_pages(tr->rs[i], &p, data);
			tr->st.pages_pushed += p.npages;
			tr->st.pages_eager += p.npages;
			ms->pages_pushed += p.npages;
			ms->pages_eager += p.npages;
		}
		if (err)
			return err;
	}
}

static int shm_fd(void *ctx, int shm_id)
{
	return lm_restore_shm_fd(ctx, shm_id);
}

static void guard_uffd(void *ctx, int ufd)
{
	lm_guard_uffd(ctx, ufd);
}

static void guard_release(void *ctx)
{
	lm_guard_release(ctx);
}

/*
 * One daemon; every member's uffd joins it, and the guardian holds a copy
 * of each (and of every forked child's) before the daemon can serve it.
 * It knows every member's PID (its stub's, kept at resume) before any
 * runs: should receive die midway through resume_all(), the members
 * already running die too.
 */
static int setup_daemon(struct tree_receiver *tr)
{
	struct lm_lazy_cfg c = {
		.req_fd = tr->a->req, .bulk_fd = tr->a->bulk,
		.img = &tr->imgs[0], .st = &tr->st, .shm_fd = shm_fd,
		.shm_ctx = tr->rs[0],
	};
	unsigned int i;
	int err = 0;

	c.uffd = lm_restore_take_uffd(tr->rs[0]);
	if (c.uffd >= 0) {
		err = lm_guard_start(c.uffd, lm_restore_pid(tr->rs[0]),
				     &tr->guard);
		if (err) {
			fprintf(stderr, "receive: cannot start the guardian: %s\n",
				strerror(-err));
			return err;
		}
		c.uffd_forked = guard_uffd;
		c.uffds_closing = guard_release;
		c.guard_ctx = tr->guard;
		err = lm_lazy_create(&c, &tr->lz);
	}
	for (i = 1; c.uffd >= 0 && !err && i < tr->nr; i++) {
		int u = lm_restore_take_uffd(tr->rs[i]);

		if (u < 0)
			break;
		lm_guard_uffd(tr->guard, u);
		lm_guard_member_pid(tr->guard, i, lm_restore_pid(tr->rs[i]));
		err = lm_lazy_add_member(tr->lz, i, u, &tr->imgs[i],
					 tr->rs[i]);
	}
	if (c.uffd < 0 || (!err && i < tr->nr)) {
		fprintf(stderr, "receive: tree member %u has no userfaultfd for its lazy ranges\n",
			c.uffd < 0 ? 0 : i);
		return -ENOTSUP;
	}
	return err;
}

/*
 * The daemon failed before the tree runs: the restorer may wait on a
 * stub stopped on a fault only the daemon could serve.  Kill the root's
 * stub (our only child; the others die with it, PR_SET_PDEATHSIG).
 */
static void stop_stubs(void *ctx)
{
	struct tree_receiver *tr = ctx;
	char *buf, *p, *save = NULL;

	fprintf(stderr, "receive: the lazy-pages daemon failed before the tree ran (%s); stopping it\n",
		strerror(-tr->daemon_err));
	buf = lm_main_children();
	if (!buf)
		return;
	for (p = strtok_r(buf, " \n", &save); p; p = strtok_r(NULL, " \n", &save))
		kill(atoi(p), SIGKILL);
	free(buf);
}

static void *daemon_main(void *arg)
{
	struct tree_receiver *tr = arg;

	lm_receive_daemon(tr->lz, &tr->daemon_err, &tr->resumed, stop_stubs,
			  tr);
	return NULL;
}

static void kill_members(struct tree_receiver *tr)
{
	unsigned int i;

	for (i = 0; i < tr->nr; i++)
		if (tr->pids[i] > 0)
			kill(tr->pids[i], SIGKILL);
}

/* Children first, so that no parent runs before its children exist. */
static int resume_all(struct tree_receiver *tr)
{
	unsigned int i;
	int err = 0;

	for (i = tr->nr; !err && i-- > 0;) {
		err = lm_restore_resume(tr->rs[i], &tr->pids[i]);
		if (err)
			tr->pids[i] = 0;
		else	/* the same PID as its stub's: the guardian knows it */
			lm_guard_member_pid(tr->guard, i, tr->pids[i]);
	}
	if (err) {
		kill_members(tr);
		fprintf(stderr, "receive: the tree of PID %d is not restored; nothing is left running here\n",
			tr->t->members[0].pid);
		return err;
	}
	for (i = 0; i < tr->nr; i++)
		tr->st.members[i].restored_pid = tr->pids[i];
	__atomic_store_n(&tr->resumed, 1, __ATOMIC_RELEASE);
	tr->st.resume_ns = lm_realtime_ns();
	/* the root's PID, as soon as the tree runs (its pages may not) */
	return tr->a->pidfile ? lm_write_pidfile(tr->a->pidfile, tr->pids[0]) : 0;
}

/* Die while the members fault: once some answers are in. */
static void die_after_resume(struct tree_receiver *tr)
{
	const char *f = getenv("LAZYMIG_FAULT");
	int i;

	if (!f || strcmp(f, "receive-die-after-resume"))
		return;
	for (i = 0; i < 1000 && __atomic_load_n(&tr->st.pages_faulted,
						  __ATOMIC_RELAXED) < 64; i++)
		usleep(10 * 1000);
	lm_receive_fault("receive-die-after-resume");
}

static int run_lazy(struct tree_receiver *tr)
{
	unsigned int i;
	pthread_t th;
	int err;

	err = setup_daemon(tr);
	for (i = 0; !err && i < tr->nr; i++)
		err = read_pages(tr, i);
	if (err)
		return err;
	tr->st.bytes_before_resume = tr->a->s->bytes;
	err = pthread_create(&th, NULL, daemon_main, tr);
	if (err)
		return -err;
	err = lm_receive_fault("receive-before-resume") ? -ECANCELED :
	      resume_all(tr);
	if (!err) {
		for (i = 0; i < tr->nr; i++)
			lm_lazy_member_pid(tr->lz, i, tr->pids[i]);
		lm_lazy_resumed(tr->lz, tr->pids[0]);
		die_after_resume(tr);
	} else {
		lm_lazy_abort(tr->lz);
	}
	pthread_join(th, NULL);
	if (err)
		return err;
	if (tr->daemon_err) {
		kill_members(tr);
		fprintf(stderr, "receive: the tree of PID %d killed here: its memory could not be completed (%s); the source keeps it\n",
			tr->t->members[0].pid, strerror(-tr->daemon_err));
		return tr->daemon_err;
	}
	return 0;
}

/* Eager: everything is in; tell the source, get its BYE. */
static int run_eager(struct tree_receiver *tr)
{
	struct timeval tv = { .tv_sec = 10 };
	char *json, buf[256];
	unsigned int i;
	struct lm_msg m;
	int len = 2, err = 0;

	for (i = 0; !err && i < tr->nr; i++)
		err = read_pages(tr, i);
	if (!err)
		err = resume_all(tr);
	if (err)
		return err;
	tr->st.last_install_ns = tr->st.resume_ns;
	tr->st.bytes_before_resume = tr->a->s->bytes;
	json = lm_stats_json_alloc(&tr->st, &len);
	err = lm_msg_send(tr->a->req, LM_MSG_RESUMED, 0, 0, 0, NULL, 0);
	if (!err)
		err = lm_msg_send(tr->a->req, LM_MSG_DONE, 0, 0, 0,
				  json ? json : "{}", len);
	free(json);
	setsockopt(tr->a->req, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!err)
		err = lm_msg_recv(tr->a->req, &m, buf, sizeof(buf));
	if (!err && m.type != LM_MSG_BYE)
		err = -EPROTO;
	if (err)
		fprintf(stderr, "receive: tree of PID %d: no BYE from the source (%s); it may still exist there\n",
			tr->pids[0], strerror(-err));
	return 0;	/* the tree is complete and running here */
}

static void report(struct tree_receiver *tr)
{
	unsigned int i;
	int len;
	char *json = lm_stats_json_alloc(&tr->st, &len);

	if (tr->a->stats && json)
		lm_stats_write_file(tr->a->stats, json);
	free(json);
	for (i = 0; i < tr->nr; i++) {
		const struct lm_member_stats *m = &tr->st.members[i];

		fprintf(stderr, "receive: tree member %u: PID %d running here as PID %d, child of %d; %llu pages faulted, %llu pushed, %llu zero, %llu dropped\n",
			i, m->pid, m->restored_pid,
			tr->t->members[i].parent >= 0 ?
			tr->pids[tr->t->members[i].parent] : getpid(),
			(unsigned long long)m->pages_faulted,
			(unsigned long long)m->pages_pushed,
			(unsigned long long)m->pages_zero,
			(unsigned long long)m->pages_dropped);
	}
	fprintf(stderr, "receive: tree of %u processes running here; downtime %.3f ms, %llu bytes before resume, %llu pages faulted, %llu pushed, %llu zero\n",
		tr->nr, (tr->st.resume_ns - tr->st.freeze_ns) / 1e6,
		(unsigned long long)tr->st.bytes_before_resume,
		(unsigned long long)tr->st.pages_faulted,
		(unsigned long long)tr->st.pages_pushed,
		(unsigned long long)tr->st.pages_zero);
}

/*
 * For the stats: per memory kind, over every member, how its pages came
 * (lazy when any of its VMAs is), and the shm objects restored eagerly.
 */
static void kinds_used(struct tree_receiver *tr)
{
	unsigned int seen = 0, lazy = 0, shm = 0, i, k, n = 0;

	for (i = 0; i < tr->nr; i++) {
		const struct lm_image *img = &tr->imgs[i];

		for (k = 0; k < img->proc.nr_vmas; k++) {
			const struct lm_vma *v = &img->vmas[k].v;

			if (v->kind >= 32)
				continue;
			seen |= 1U << v->kind;
			if (v->flags & LM_VMA_LAZY)
				lazy |= 1U << v->kind;
			if ((v->flags & LM_VMA_LAZY) && v->shm_id >= 0)
				shm |= 1U << v->kind;
		}
	}
	for (k = 0; k < 32; k++) {
		const char *how = "eager";

		if (!(seen & (1U << k)))
			continue;
		if (!tr->lazy)
			how = "eager (--eager)";
		else if ((lazy & (1U << k)) && (k == LM_MEM_HUGETLB_PRIVATE ||
						k == LM_MEM_HUGETLB_SHARED))
			how = "uffd-missing-hugetlb";	/* as cmd_receive.c */
		else if (shm & (1U << k))
			how = "uffd-missing-shmem";
		else if (lazy & (1U << k))
			how = "uffd-missing";
		else if (k == LM_MEM_VDSO || k == LM_MEM_VVAR ||
			 k == LM_MEM_VSYSCALL)
			how = "kernel (not migrated)";
		lm_append(tr->st.kinds, sizeof(tr->st.kinds), "%s\"%s\":\"%s\"",
		       tr->st.kinds[0] ? "," : "", lm_mem_kind_name(k), how);
	}
	for (i = 0; tr->lazy && i < tr->nr; i++) {
		const struct lm_image *img = &tr->imgs[i];

		for (k = 0; k < img->proc.nr_shms && n < 8; k++) {
			const struct lm_shm *sh = &img->shms[k].s;

			if (sh->flags & LM_SHM_LAZY)
				continue;
			lm_append(tr->st.eager_shm, sizeof(tr->st.eager_shm),
			       "%s{\"member\":%u,\"id\":%d,\"kind\":\"%s\",\"why\":\"%s\"}",
			       n++ ? "," : "", i, sh->id,
			       lm_mem_kind_name(sh->kind),
			       sh->flags & LM_SHM_FD_REACHABLE ?
			       "fd-reachable (in a member of the tree)" :
			       "only shared anon and unsealed memfd (4 KiB) are lazy");
		}
	}
}

static int receive_tree(struct tree_receiver *tr)
{
	struct lm_restore_opts ro = { .stdio = tr->a->stdio };
	int err;

	err = read_metas(tr);
	if (!err)
		err = count_pages(tr);
	if (err)
		return err;
	tr->st.freeze_ns = tr->imgs[0].hdr.created_ns;
	tr->st.eager = !tr->lazy;
	ro.lazy = tr->lazy;
	ro.uffd_features = tr->lazy ? lm_lazy_uffd_features() : 0;
	if (tr->lazy && (ro.uffd_features & LAZY_NEEDS) != LAZY_NEEDS) {
		fprintf(stderr, "receive: this kernel's userfaultfd lacks the fork/mremap/madvise/munmap events (features 0x%llx) that keep a lazily restored tree correct; migrate with `send --tree --eager`\n",
			(unsigned long long)ro.uffd_features);
		return -ENOTSUP;
	}
	snprintf(tr->st.mechanism, sizeof(tr->st.mechanism), "%s",
		 tr->lazy ? "process tree: one lazy-pages daemon, one userfaultfd per member; anon private, anon shared, memfd without fd lazy; others eager" :
		 "pre-copy (--eager), process tree");
	kinds_used(tr);
	err = lm_restore_tree_prepare(tr->t, tr->imgs, &ro, &tr->rs);
	if (err)
		return err;
	err = tr->lazy ? run_lazy(tr) : run_eager(tr);
	if (err && !tr->resumed)
		lm_restore_tree_abort(tr->rs, tr->nr);
	else
		lm_restore_tree_free(tr->rs, tr->nr);
	tr->rs = NULL;
	return err;
}

int lm_receive_tree(const struct lm_tree_recv *a, const struct lm_tree_img *t)
{
	struct tree_receiver tr = { .a = a, .t = t, .nr = t->t.nr_members };
	unsigned int i;
	int err = -ENOMEM;

	tr.imgs = calloc(tr.nr, sizeof(*tr.imgs));
	tr.pids = calloc(tr.nr, sizeof(*tr.pids));
	if (tr.imgs && tr.pids)
		err = receive_tree(&tr);
	if (!err)
		report(&tr);
	lm_lazy_destroy(tr.lz);
	lm_guard_free(tr.guard);
	for (i = 0; tr.imgs && i < tr.nr; i++)
		lm_image_free(&tr.imgs[i]);
	free(tr.imgs);
	free(tr.pids);
	lm_stats_free(&tr.st);
	return err;
}
