// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig restore: the order of the stages (RESTORER-NOTES.md, "Restore
 * order that works") and the public API of restore.h.
 *
 *  prepare: open shm objects, files and fds in the restorer (carriers);
 *           start the stub (restore_stub.c): same PID if free, trampoline,
 *           fds, cwd, handlers; seize it; [lazy: userfaultfd]; unmap the
 *           stub's own mappings; move vdso/vvar; map every VMA and
 *           register the lazy ones.
 *  write_pages: page data, any number of times.
 *  resume:  mlock, seals, threads and their state, PR_SET_MM_MAP,
 *           rlimits, close carriers, unmap the trampoline, registers,
 *           signals, detach.
 * Any failure before the detach kills the stub: there is never a
 * half-restored process left running.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "restore_priv.h"

static int raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return (int)(rl.rlim_cur > 1 << 20 ? 1 << 20 : rl.rlim_cur);
}

/*
 * Carriers go above the image's highest fd; all of them (one per fd, shm
 * object and mapped file, the exe, the status pipe) must fit below
 * RLIMIT_NOFILE, in the restorer and so in the stub.
 */
static int pick_base(struct lm_restorer *r)
{
	const struct lm_proc *p = &r->img->proc;
	int max = 2, lim = raise_nofile(), need, files = 0;
	unsigned int i, m;

	for (i = 0; i < p->nr_fds; i++)
		if (r->img->fds[i].f.fd > max)
			max = r->img->fds[i].f.fd;
	/* A tree: every member's carriers live in the restorer at once. */
	for (m = 0; r->tree && m < r->tree->nr; m++) {
		const struct lm_image *o = r->tree->rs[m]->img;

		for (i = 0; i < o->proc.nr_fds; i++)
			if (o->fds[i].f.fd > max)
				max = o->fds[i].f.fd;
		if (m != r->member)
			files += o->proc.nr_fds + o->proc.nr_shms +
				 o->proc.nr_vmas + 4;
	}
	for (i = 0; i < p->nr_vmas; i++)
		if (r->img->vmas[i].path && r->img->vmas[i].path[0] == '/')
			files++;
	r->base = max + 1;
	need = r->base + p->nr_fds + p->nr_shms + files + 16;
	if (lim < 0 || need > lim) {
		rst_err("the image has fd %d and needs %d fds while restoring; raise RLIMIT_NOFILE (now %d) to %d",
			max, need - r->base, lim, need);
		return -EMFILE;
	}
	return 0;
}

static struct lm_restorer *alloc_restorer(struct lm_image *img,
					  const struct lm_restore_opts *o)
{
	struct lm_restorer *r = calloc(1, sizeof(*r));
	unsigned int ns = img->proc.nr_shms + 1, nv = img->proc.nr_vmas + 1;
	unsigned int nt = img->proc.nr_threads + 1, i;

	if (!r)
		return NULL;
	r->img = img;
	if (o)
		r->opts = *o;
	r->pidfd = r->mem_fd = r->exe_fd = r->uffd = -1;
	r->status_rd = r->status_wr = -1;
	r->shm_fd = malloc(ns * sizeof(int));
	r->shm_map = calloc(ns, sizeof(void *));
	r->shm_native = calloc(ns, sizeof(int));
	r->vma_fd = malloc(nv * sizeof(int));
	r->registered = calloc(nv, 1);
	r->tids = calloc(nt, sizeof(pid_t));
	r->thr_seized = calloc(nt, sizeof(int));
	if (!r->shm_fd || !r->shm_map || !r->shm_native || !r->vma_fd || !r->registered ||
	    !r->tids || !r->thr_seized) {
		lm_restore_free(r);
		return NULL;
	}
	for (i = 0; i < ns; i++)
		r->shm_fd[i] = -1;
	for (i = 0; i < nv; i++)
		r->vma_fd[i] = -1;
	return r;
}

static int check_image(const struct lm_image *img)
{
	if (!img->proc.nr_threads || !img->threads) {
		rst_err("the image has no thread");
		return -EINVAL;
	}
	if (img->hdr.page_size && img->hdr.page_size != LM_PAGE_SIZE) {
		rst_err("the image has %llu-byte pages, this machine %lu",
			(unsigned long long)img->hdr.page_size, LM_PAGE_SIZE);
		return -EINVAL;
	}
	return 0;
}

static int open_exe(struct lm_restorer *r)
{
	int fd;

	if (!r->img->exe || r->img->exe[0] != '/')
		return 0;
	fd = open(r->img->exe, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rst_err("cannot open the exe %s (%s); /proc/PID/exe will not point to it",
			r->img->exe, strerror(errno));
		return 0;
	}
	fd = rst_add_carrier(r, fd);
	if (fd < 0)
		return fd;
	r->exe_fd = fd;
	return 0;
}

/* The stub holds the carriers now; the restorer keeps only the shm ones. */
static void close_restorer_carriers(struct lm_restorer *r)
{
	int i, *keep = r->carriers, n = 0;
	unsigned int k;

	for (i = 0; i < r->nr_carriers; i++) {
		int c = r->carriers[i], shm = 0;

		if (c < 0)
			continue;
		for (k = 0; k < r->img->proc.nr_shms; k++)
			if (r->shm_fd[k] == c)
				shm = 1;
		if (shm)
			keep[n++] = c;
		else
			close(c);
	}
	r->nr_carriers = n;
}

/* Everything the restorer opens before the stub exists. */
static int build_open(struct lm_restorer *r)
{
	int err;

	err = check_image(r->img);
	if (!err)
		err = pick_base(r);
	if (!err)
		err = rst_open_shms(r);
	if (!err)
		err = rst_open_vma_files(r);
	if (!err)
		err = rst_open_fds(r);
	if (!err)
		err = open_exe(r);
	if (!err)
		err = rst_find_gap(r->img, 0, RST_TRAMP_SIZE, 0, 0, &r->tramp);
	return err;
}

/* Everything done by injection once the stub is seized. */
static int build_stub(struct lm_restorer *r)
{
	int err;

	err = rst_clean_stub(r);
	if (!err && r->opts.lazy)
		err = rst_uffd_create(r);
	if (!err)
		err = rst_move_vdso(r);
	if (!err)
		err = rst_map_vmas(r);
	return err;
}

static int build(struct lm_restorer *r)
{
	int err;

	err = build_open(r);
	if (err)
		return err;
	err = rst_start_stub(r);
	close_restorer_carriers(r);
	if (!err)
		err = build_stub(r);
	return err;
}

int lm_restore_prepare(struct lm_image *img, const struct lm_restore_opts *o,
		       struct lm_restorer **out)
{
	struct lm_restorer *r = alloc_restorer(img, o);
	int err;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	err = build(r);
	if (err) {
		rst_err("restore of PID %d failed; nothing is left running",
			img->proc.pid);
		lm_restore_abort(r);
		return err < 0 ? err : -EIO;
	}
	*out = r;
	return 0;
}

pid_t lm_restore_pid(const struct lm_restorer *r)
{
	return r ? r->pid : 0;
}

int lm_restore_take_uffd(struct lm_restorer *r)
{
	int fd;

	if (!r || r->uffd < 0)
		return -1;
	fd = fcntl(r->uffd, F_DUPFD_CLOEXEC, 0);
	if (fd >= 0)
		r->uffd_taken = 1;
	return fd;
}

int lm_restore_shm_fd(struct lm_restorer *r, int shm_id)
{
	unsigned int i;

	for (i = 0; r && i < r->img->proc.nr_shms; i++)
		if (r->img->shms[i].s.id == shm_id)
			return r->shm_fd[i];
	return -1;
}

static int detach_all(struct lm_restorer *r)
{
	int i, err = 0;

	for (i = (int)r->img->proc.nr_threads - 1; i >= 0; i--) {
		if (!r->thr_seized[i])
			continue;
		if (ptrace(PTRACE_DETACH, r->tids[i], 0, 0) && !err)
			err = -errno;
		r->thr_seized[i] = 0;
	}
	r->seized = 0;
	return err;
}

/* SIGKILL the stub and reap it and its seized threads. */
static void kill_stub(struct lm_restorer *r)
{
	unsigned int i;

	if (r->pid <= 0)
		return;
	if (r->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, r->pidfd, SIGKILL, NULL, 0);
	else
		kill(r->pid, SIGKILL);
	for (i = 1; i < r->img->proc.nr_threads; i++)
		if (r->thr_seized[i])
			waitpid(r->tids[i], NULL, __WALL);
	waitpid(r->pid, NULL, __WALL);
	r->pid = 0;
}

int lm_restore_resume(struct lm_restorer *r, pid_t *pid)
{
	int err;

	err = rst_lock_vmas(r);
	if (!err)
		err = rst_seal_shms(r);
	if (!err)
		err = rst_threads(r);
	if (!err)
		err = rst_mm_map(r);
	if (!err)
		err = rst_finish(r);
	if (!err)
		err = detach_all(r);
	if (err) {
		rst_err("restore of PID %d failed before it resumed; killed it",
			r->img->proc.pid);
		kill_stub(r);
		return err < 0 ? err : -EIO;
	}
	*pid = r->pid;
	return 0;
}

void lm_restore_abort(struct lm_restorer *r)
{
	if (!r)
		return;
	kill_stub(r);
	lm_restore_free(r);
}

void lm_restore_free(struct lm_restorer *r)
{
	unsigned int i;

	if (!r)
		return;
	for (i = 0; r->shm_map && i < r->img->proc.nr_shms; i++)
		if (r->shm_map[i])
			munmap(r->shm_map[i], r->img->shms[i].s.size);
	for (i = 0; i < (unsigned int)r->nr_carriers; i++)
		close(r->carriers[i]);
	if (r->uffd >= 0)
		close(r->uffd);
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	if (r->pidfd >= 0)
		close(r->pidfd);
	if (r->status_rd >= 0)
		close(r->status_rd);
	free(r->carriers);
	free(r->plan);
	free(r->shm_fd);
	free(r->shm_map);
	free(r->shm_native);
	free(r->vma_fd);
	free(r->registered);
	free(r->tids);
	free(r->thr_seized);
	free(r);
}

/* ---- a process tree ---- */

static void kill_tree(struct lm_restorer **rs, unsigned int nr)
{
	unsigned int i;

	/* The root first: the others die with it (PR_SET_PDEATHSIG) anyway. */
	for (i = 0; i < nr; i++)
		if (rs[i])
			kill_stub(rs[i]);
}

void lm_restore_tree_free(struct lm_restorer **rs, unsigned int nr)
{
	struct rst_tree *tr = NULL;
	unsigned int i;

	if (!rs)
		return;
	for (i = 0; i < nr; i++) {
		if (!rs[i])
			continue;
		tr = rs[i]->tree;
		lm_restore_free(rs[i]);
	}
	if (tr) {
		rst_share_close(tr);
		free(tr);
	}
	free(rs);
}

void lm_restore_tree_abort(struct lm_restorer **rs, unsigned int nr)
{
	if (!rs)
		return;
	kill_tree(rs, nr);
	lm_restore_tree_free(rs, nr);
}

int lm_restore_tree_prepare(const struct lm_tree_img *t,
			    struct lm_image *imgs,
			    const struct lm_restore_opts *o,
			    struct lm_restorer ***out)
{
	unsigned int nr = t->t.nr_members, i;
	struct lm_restorer **rs;
	struct rst_tree *tr;
	int err = 0;

	*out = NULL;
	rs = calloc(nr, sizeof(*rs));
	tr = calloc(1, sizeof(*tr));
	if (!rs || !tr) {
		free(rs);
		free(tr);
		return -ENOMEM;
	}
	tr->t = t;
	tr->nr = nr;
	tr->rs = rs;
	for (i = 0; i < nr && !err; i++) {
		rs[i] = alloc_restorer(&imgs[i], o);
		if (!rs[i]) {
			err = -ENOMEM;
			break;
		}
		rs[i]->tree = tr;
		rs[i]->member = i;
	}
	for (i = 0; i < nr && !err; i++)
		err = build_open(rs[i]);
	if (!err)
		err = rst_start_tree(tr);
	for (i = 0; i < nr; i++)
		if (rs[i])
			close_restorer_carriers(rs[i]);
	rst_share_close(tr);
	for (i = 0; i < nr && !err; i++)
		err = build_stub(rs[i]);
	if (err) {
		rst_err("restore of the tree of PID %d failed; nothing is left running",
			imgs[0].proc.pid);
		if (rs[0]) {
			lm_restore_tree_abort(rs, nr);
		} else {
			free(tr);
			free(rs);
		}
		return err < 0 ? err : -EIO;
	}
	*out = rs;
	return 0;
}
