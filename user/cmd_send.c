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
 * resume.  So are unsealed memfds and tmpfs files that an fd or a path
 * reaches, when the destination said (CAPS) that lazymig.ko intercepts
 * fd access there.  Every other kind goes before resume.  --eager: everything goes
 * before resume (full pre-copy over the same path, for comparison).
 *
 * If anything fails before the destination resumed, the source process
 * is resumed untouched.  If it fails after, the source is left stopped
 * (two running copies would be worse) and the message says how to go on.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/userfaultfd.h>
#include "dump.h"
#include "lazy.h"
#include "lazymig.h"
#include "net.h"
#include "pageserver.h"
#include "proto.h"

#define LM_REG_RSP		19	/* index of rsp in struct user_regs_struct */
#define RED_ZONE	128
#define RUN_BYTES	(2UL << 20)	/* eager bytes per PAGES record: 512 pages or one 2 MiB huge page */
#define MAX_SP_PAGES	512

struct send_opts {
	pid_t pid;
	const char *to, *stats, *token_file;
	int eager;
	__u64 push_rate;
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
	__u64 caps;		/* LM_CAP_* of the destination */
	char *json;
};

static void usage(void)
{
	fprintf(stderr, "usage: lazymig send -t PID --to HOST:PORT [--eager] [--stats F] [--token-file F] [--push-rate MIB_PER_S]\n");
}

static int parse(int argc, char **argv, struct send_opts *o)
{
	static const struct option lo[] = {
		{ "to", required_argument, NULL, 'T' },
		{ "eager", no_argument, NULL, 'e' },
		{ "stats", required_argument, NULL, 's' },
		{ "token-file", required_argument, NULL, 'k' },
		{ "push-rate", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	while ((c = getopt_long(argc, argv, "t:h", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			o->pid = atoi(optarg);
			break;
		case 'T':
			o->to = optarg;
			break;
		case 'e':
			o->eager = 1;
			break;
		case 's':
			o->stats = optarg;
			break;
		case 'k':
			o->token_file = optarg;
			break;
		case 'r':
			o->push_rate = strtoull(optarg, NULL, 0) << 20;
			break;
		default:
			usage();
			return -EINVAL;
		}
	}
	if (o->pid <= 0 || !o->to || optind != argc) {
		usage();
		return -EINVAL;
	}
	return 0;
}

static int connect_channels(struct sender *sd)
{
	int err;

	err = lm_net_connect(sd->o.to, &sd->req);
	if (!err)
		err = lm_auth_client(sd->req, &sd->auth, LM_CHAN_REQ);
	if (!err)
		err = lm_net_connect(sd->o.to, &sd->bulk);
	if (!err)
		err = lm_auth_client(sd->bulk, &sd->auth, LM_CHAN_BULK);
	return err;
}

/*
 * The destination's first message: what it can do (LM_CAP_*).  Read
 * before anything is frozen; a destination that does not send it in time
 * is refused.
 */
static int recv_caps(struct sender *sd)
{
	struct timeval tv = { .tv_sec = LM_CAPS_TIMEOUT_MS / 1000 };
	struct timeval none = { 0 };
	char buf[64];
	struct lm_msg m;
	int err;

	setsockopt(sd->req, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	err = lm_msg_recv(sd->req, &m, buf, sizeof(buf));
	setsockopt(sd->req, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	if (!err && m.type != LM_MSG_CAPS)
		err = -EPROTO;
	if (err) {
		fprintf(stderr, "send: %s did not say what it supports (no CAPS: %s); is it a lazymig receive of this version?\n",
			sd->o.to, strerror(-err));
		return err;
	}
	sd->caps = m.addr;
	return 0;
}

static const struct lm_vma_img *vma_of(const struct lm_image *img,
				       __u64 addr)
{
	unsigned int lo = 0, hi = img->proc.nr_vmas;

	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;
		const struct lm_vma_img *v = &img->vmas[mid];

		if (addr < v->v.start)
			hi = mid;
		else if (addr >= v->v.end)
			lo = mid + 1;
		else
			return v;
	}
	return NULL;
}

static int is_lazy_map(const struct lm_image *img, const struct lm_pagemap *m)
{
	const struct lm_vma_img *v;

	if (m->space)
		return m->space <= img->proc.nr_shms &&
		       (img->shms[m->space - 1].s.flags & LM_SHM_LAZY);
	v = vma_of(img, m->addr);
	return v && v->v.start == m->addr && (v->v.flags & LM_VMA_LAZY);
}

#define LAZY_SEALS	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW)

static int shm_lazy_ok(const struct lm_shm *s, __u64 caps)
{
	if (s->page_size && s->page_size != LM_PAGE_SIZE)
		return 0;
	if (!(lm_lazy_uffd_features() & UFFD_FEATURE_MISSING_SHMEM))
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

		if (shm_lazy_ok(s, caps))
			s->flags |= LM_SHM_LAZY;
	}
	for (i = 0; i < img->proc.nr_vmas; i++) {
		struct lm_vma *v = &img->vmas[i].v;

		if (v->kind == LM_MEM_ANON_PRIVATE &&
		    (!v->page_size || v->page_size == LM_PAGE_SIZE))
			v->flags |= LM_VMA_LAZY;
		if ((v->kind == LM_MEM_ANON_SHARED || v->kind == LM_MEM_MEMFD ||
		     v->kind == LM_MEM_TMPFS) &&
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
	const struct lm_vma_img *v = vma_of(img, addr);

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
			__u64 i;

			if (!pm || !is_lazy_map(img, &pm->m) || page_seen(sd, a))
				continue;
			i = (a - pm->m.addr) / LM_PAGE_SIZE;
			if (i >= pm->m.npages || !lm_test_bit(pm->bitmap, i))
				continue;	/* zero page: nothing to send */
			err = send_map_range(sd, pm, i, i + 1);
			if (err)
				return err;
			lm_ps_mark_sent(sd->ps, 0, a, 1);
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

	err = lm_write_meta(&sd->s, img);
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
	return lm_dump_read_pages(ctx, space, addr, buf, npages, page_size);
}

static int run_lazy(struct sender *sd)
{
	struct lm_ps_cfg c = {
		.req_fd = sd->req, .bulk_fd = sd->bulk, .img = &sd->d.img,
		.read = read_frozen, .ctx = &sd->d, .push_rate = sd->o.push_rate,
		.pid = sd->o.pid,
	};
	int err;

	mark_lazy(&sd->d.img, sd->caps);
	err = lm_ps_create(&c, &sd->ps);
	if (!err)
		err = send_meta(sd);
	if (!err)
		err = lm_ps_run(sd->ps);
	if (!err)
		sd->json = strdup(lm_ps_done_json(sd->ps) ?: "{}");
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
			sd->resumed = 1;
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
		sd->o.pid, sd->o.to);
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
	fprintf(stderr, "send: pid %d: migration failed (%s) after the destination resumed it; left stopped here: `kill -CONT %d` to run it here, or `kill -9 %d`\n",
		sd->o.pid, strerror(-err), sd->o.pid, sd->o.pid);
}

int cmd_send(int argc, char **argv)
{
	struct sender sd = { .auth.prefix = "send", .req = -1, .bulk = -1 };
	int err;

	if (parse(argc, argv, &sd.o))
		return 2;
	if (kill(sd.o.pid, 0) && errno == ESRCH) {
		fprintf(stderr, "send: no process %d; nothing to migrate\n",
			sd.o.pid);
		return 1;
	}
	if (sd.o.token_file && lm_token_load(&sd.auth, sd.o.token_file))
		return 1;
	sd.buf = malloc(RUN_BYTES);
	err = sd.buf ? connect_channels(&sd) : -ENOMEM;
	if (!err)
		err = recv_caps(&sd);
	if (err)
		goto out;
	err = lm_dump_freeze_collect(sd.o.pid, &sd.d);
	if (err) {
		fprintf(stderr, "%s\n", sd.d.errmsg[0] ? sd.d.errmsg :
			"send: freezing the process failed");
		goto out;
	}
	sd.frozen = 1;
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
	free(sd.json);
	free(sd.buf);
	if (sd.req >= 0)
		close(sd.req);
	if (sd.bulk >= 0)
		close(sd.bulk);
	return err ? 1 : 0;
}
