// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig dump --tree: freeze a process and all its descendants at once,
 * then collect each of them (see dump.h).
 *
 * Freezing: the root is seized (every thread), then the children of
 * every thread of every member (/proc/PID/task/TID/children) are seized
 * in turn, and new threads too, until one whole pass finds nothing new: a
 * stopped process can neither fork nor clone, so the set is then stable.
 * Only then is anything collected.
 *
 * Across members: fds that share an open file description get the same
 * file_id (kcmp(KCMP_FILE)); both ends of every AF_UNIX socketpair must
 * be inside the tree; a shm object mapped by several members (same
 * dev/ino) carries its pages only in the first member that has it.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include "dump.h"

struct tree_ctx {
	struct lm_dump *m;
	int *parent;
	unsigned int nr;
	char *errmsg;
	size_t errlen;
};

__attribute__((format(printf, 3, 4)))
static int tree_fail(struct tree_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->errmsg[0])
		return err;
	n = snprintf(c->errmsg, c->errlen, "dump: ");
	va_start(ap, fmt);
	vsnprintf(c->errmsg + n, c->errlen - n, fmt, ap);
	va_end(ap);
	return err;
}

static int is_member(const struct tree_ctx *c, pid_t pid)
{
	unsigned int i;

	for (i = 0; i < c->nr; i++)
		if (c->m[i].pid == pid)
			return 1;
	return 0;
}

/* Seize @pid (all its threads) as a new member whose parent is @parent. */
static int add_member(struct tree_ctx *c, pid_t pid, int parent)
{
	struct lm_dump *nm, *d;
	int *np, err;

	if (c->nr >= LM_MAX_MEMBERS)
		return tree_fail(c, -E2BIG, "the tree of PID %d has more than %d processes",
				 c->m[0].pid, LM_MAX_MEMBERS);
	nm = realloc(c->m, (c->nr + 1) * sizeof(*nm));
	if (!nm)
		return tree_fail(c, -ENOMEM, "out of memory");
	c->m = nm;
	np = realloc(c->parent, (c->nr + 1) * sizeof(*np));
	if (!np)
		return tree_fail(c, -ENOMEM, "out of memory");
	c->parent = np;
	d = &c->m[c->nr];
	memset(d, 0, sizeof(*d));
	d->pid = pid;
	d->mem_fd = d->pidfd = -1;
	d->tree = 1;
	err = lm_dump_check(d);
	if (!err)
		err = lm_dump_freeze(d);
	if (err) {
		tree_fail(c, err, "%s (a process of the tree of PID %d)",
			  d->errmsg[0] ? d->errmsg + 6 : strerror(-err),
			  c->m[0].pid);
		lm_dump_release(d, 0);
		return err;
	}
	c->parent[c->nr++] = parent;
	return 0;
}

/* Seize the children of every thread of member @i not seized yet. */
static int seize_children(struct tree_ctx *c, unsigned int i)
{
	unsigned int k;
	int found = 0;

	for (k = 0; k < c->m[i].nr_tids; k++) {
		char path[96], *text, *p;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children",
			 c->m[i].pid, c->m[i].tids[k]);
		text = lm_dump_slurp(path, NULL);
		for (p = text; p && *p;) {
			char *end;
			pid_t child = strtol(p, &end, 10);
			int err;

			if (end == p)
				break;
			p = end;
			if (child <= 0 || is_member(c, child))
				continue;
			err = add_member(c, child, i);
			if (err) {
				free(text);
				return err;
			}
			found = 1;
		}
		free(text);
	}
	return found;
}

static int freeze_tree(struct tree_ctx *c, pid_t root)
{
	int err, changed, passes = 0;
	unsigned int i;

	err = add_member(c, root, -1);
	if (err)
		return err;
	do {
		changed = 0;
		for (i = 0; i < c->nr; i++) {
			err = lm_dump_freeze_more(&c->m[i]);
			if (err < 0)
				return tree_fail(c, err, "%s", c->m[i].errmsg + 6);
			changed |= err > 0;
			err = seize_children(c, i);
			if (err < 0)
				return err;
			changed |= err > 0;
		}
		if (++passes > 1000)
			return tree_fail(c, -EAGAIN, "the tree of PID %d keeps changing; cannot freeze it",
					 root);
	} while (changed);
	return 0;
}

/* Same open file description: one file_id (1, 2, ...) per description. */
static int file_ids(struct tree_ctx *c, struct lm_tree_img *t)
{
	unsigned int i, k, n = 0, j;

	for (i = 0; i < c->nr; i++)
		n += c->m[i].img.proc.nr_fds;
	t->files = calloc(n + 1, sizeof(*t->files));
	if (!t->files)
		return tree_fail(c, -ENOMEM, "out of memory");
	for (i = 0; i < c->nr; i++) {
		for (k = 0; k < c->m[i].img.proc.nr_fds; k++) {
			struct lm_tree_file *f = &t->files[t->t.nr_files];

			f->member = i;
			f->fd = c->m[i].img.fds[k].f.fd;
			for (j = 0; j < t->t.nr_files; j++) {
				const struct lm_tree_file *g = &t->files[j];

				if (!syscall(SYS_kcmp, c->m[i].pid,
					     c->m[g->member].pid, KCMP_FILE,
					     f->fd, g->fd)) {
					f->file_id = g->file_id;
					break;
				}
			}
			if (!f->file_id)
				f->file_id = t->t.nr_files + 1;
			t->t.nr_files++;
		}
	}
	return 0;
}

/* Both ends of every AF_UNIX socketpair are in the tree. */
static int check_peers(struct tree_ctx *c)
{
	unsigned int i, k, j, l;

	for (i = 0; i < c->nr; i++) {
		for (k = 0; k < c->m[i].img.proc.nr_fds; k++) {
			const struct lm_fd *f = &c->m[i].img.fds[k].f;
			int found = 0;

			if (f->type != LM_FD_UNIX)
				continue;
			for (j = 0; j < c->nr && !found; j++)
				for (l = 0; l < c->m[j].img.proc.nr_fds; l++)
					if (c->m[j].img.fds[l].f.type == LM_FD_UNIX &&
					    c->m[j].img.fds[l].f.pipe_ino == f->rdev)
						found = 1;
			if (!found)
				return tree_fail(c, -EOPNOTSUPP,
						 "fd %d of PID %d is a UNIX socket whose peer is outside the tree; sockets are not supported",
						 f->fd, c->m[i].pid);
		}
	}
	return 0;
}

/* A shm object already in an earlier member carries no pages here. */
static void dedup_shm_pages(struct tree_ctx *c)
{
	unsigned int i, k, j, l, x;

	for (i = 1; i < c->nr; i++) {
		struct lm_image *img = &c->m[i].img;

		for (k = 0; k < img->proc.nr_shms; k++) {
			const struct lm_shm *s = &img->shms[k].s;
			int seen = 0;

			for (j = 0; j < i && !seen; j++)
				for (l = 0; l < c->m[j].img.proc.nr_shms; l++)
					if (c->m[j].img.shms[l].s.dev == s->dev &&
					    c->m[j].img.shms[l].s.ino == s->ino)
						seen = 1;
			if (!seen)
				continue;
			for (x = 0; x < img->nr_maps; x++) {
				struct lm_pagemap_img *m = &img->maps[x];

				if (m->m.space == (__u32)s->id + 1)
					memset(m->bitmap, 0,
					       (m->m.npages + 63) / 64 * 8);
			}
		}
	}
}

static int dump_tree(pid_t pid, struct lm_dump **members, unsigned int *nr,
		     struct lm_tree_img *t, char *errmsg, size_t errlen)
{
	struct tree_ctx c = { .errmsg = errmsg, .errlen = errlen };
	unsigned int i;
	int err;

	errmsg[0] = 0;
	memset(t, 0, sizeof(*t));
	if (pid <= 0 || pid == getpid())
		return tree_fail(&c, -EINVAL, "PID %d cannot be dumped", pid);
	err = freeze_tree(&c, pid);
	for (i = 0; !err && i < c.nr; i++) {
		err = lm_dump_collect(&c.m[i]);
		if (err)
			tree_fail(&c, err, "PID %d (member %u of the tree of PID %d): %s",
				  c.m[i].pid, i, pid, c.m[i].errmsg[0] ?
				  c.m[i].errmsg + 6 : strerror(-err));
	}
	if (!err)
		err = check_peers(&c);
	if (!err) {
		t->members = calloc(c.nr, sizeof(*t->members));
		if (!t->members)
			err = tree_fail(&c, -ENOMEM, "out of memory");
	}
	if (!err)
		err = file_ids(&c, t);
	if (err) {
		lm_dump_tree_release(c.m, c.nr, t, 0);
		free(c.parent);
		return err < 0 ? err : -EIO;
	}
	t->t.nr_members = c.nr;
	for (i = 0; i < c.nr; i++) {
		t->members[i].pid = c.m[i].pid;
		t->members[i].parent = c.parent[i];
	}
	dedup_shm_pages(&c);
	free(c.parent);
	*members = c.m;
	*nr = c.nr;
	return 0;
}

int lm_dump_tree(pid_t pid, struct lm_dump **members, unsigned int *nr,
		 struct lm_tree_img *t, char *errmsg, size_t errlen)
{
	sigset_t old;
	int err;

	lm_dump_hold_signals(&old);
	err = dump_tree(pid, members, nr, t, errmsg, errlen);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

int lm_dump_tree_write(struct lm_dump *members, unsigned int nr,
		       const struct lm_tree_img *t, struct lm_stream *s,
		       char *errmsg, size_t errlen)
{
	unsigned int i;

	if (lm_write_tree(s, t)) {
		snprintf(errmsg, errlen, "%s", s->errmsg);
		return s->err;
	}
	for (i = 0; i < nr; i++) {
		int err = lm_dump_write_all(&members[i], s);

		if (err) {
			snprintf(errmsg, errlen, "%s", members[i].errmsg);
			return err;
		}
	}
	return 0;
}

void lm_dump_tree_release(struct lm_dump *members, unsigned int nr,
			  struct lm_tree_img *t, int kill)
{
	unsigned int i;

	for (i = nr; i-- > 0;)
		lm_dump_release(&members[i], kill);
	free(members);
	if (t)
		lm_tree_free(t);
}
