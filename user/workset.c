// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig send: the working set, by soft-dirty bits or asynchronous
 * userfaultfd write-protection (see workset.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <linux/userfaultfd.h>
#include <linux/lazymig_uffd.h>
#include <linux/lazymig_pagemap.h>
#include "dump.h"
#include "inject.h"
#include "lazy.h"
#include "workset.h"

#define PM_SOFT_DIRTY	(1ULL << 55)
#define PM_CHUNK	4096		/* pagemap entries per pread */
#define SCAN_VEC	1024		/* ranges per PAGEMAP_SCAN call */
#define WP_FEATURES	(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd	438
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY	1
#endif

static int add_range(struct lm_ws_range **v, size_t *nr, __u64 start,
		     __u64 end)
{
	struct lm_ws_range *n;

	if (*nr && (*v)[*nr - 1].end == start) {
		(*v)[*nr - 1].end = end;
		return 0;
	}
	if (!*nr || (*nr >= 16 && !(*nr & (*nr - 1)))) {	/* full */
		n = realloc(*v, (*nr ? 2 * *nr : 16) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		*v = n;
	}
	(*v)[(*nr)++] = (struct lm_ws_range){ start, end };
	return 0;
}

static int clear_refs(pid_t pid)
{
	char path[64];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "4", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

/*
 * Does this kernel track soft-dirty bits?  Without CONFIG_MEM_SOFT_DIRTY
 * clear_refs takes "4" and bit 55 stays 0: try it on a page of our own.
 */
static int softdirty_works(void)
{
	volatile char *p = mmap(NULL, LM_PAGE_SIZE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	__u64 e = 0;
	int fd, ok = 0;

	if (p == MAP_FAILED)
		return 0;
	p[0] = 1;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && !clear_refs(getpid())) {
		p[0] = 2;
		ok = pread(fd, &e, 8, (unsigned long)p / LM_PAGE_SIZE * 8) == 8 &&
		     (e & PM_SOFT_DIRTY);
	}
	if (fd >= 0)
		close(fd);
	munmap((void *)p, LM_PAGE_SIZE);
	return ok;
}

static int uffd_wp_async_works(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	int ok;

	if (fd < 0)
		return 0;
	ok = !ioctl(fd, UFFDIO_API, &api) &&
	     (api.features & WP_FEATURES) == WP_FEATURES;
	close(fd);
	return ok;
}

/* A thread of @d whose rip is in private code (a poke must not reach a file). */
static int poke_private(struct lm_dump *d, struct lm_poke *pk)
{
	char path[64], line[512];
	unsigned int i;
	int err = -ESRCH;

	snprintf(path, sizeof(path), "/proc/%d/maps", d->pid);
	for (i = 0; i < d->nr_tids && err; i++) {
		struct user_regs_struct r;
		unsigned long lo, hi;
		char perms[5] = "";
		FILE *f;

		if (ptrace(PTRACE_GETREGS, d->tids[i], 0, &r))
			continue;
		f = fopen(path, "re");
		if (!f)
			return -errno;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 &&
			    r.rip >= lo && r.rip < hi)
				break;
		fclose(f);
		if (perms[3] == 'p' && perms[2] == 'x')
			err = lm_poke_syscall(d->tids[i], pk);
	}
	return err;
}

/* Register and write-protect the private anonymous writable VMAs. */
static int wp_register(struct lm_ws *ws)
{
	char path[64], line[512];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", ws->pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!err && fgets(line, sizeof(line), f)) {
		struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
		struct uffdio_writeprotect wp = {
			.mode = UFFDIO_WRITEPROTECT_MODE_WP
		};
		unsigned long lo, hi, ino;
		char perms[5], name[256] = "";
		int pos = 0;

		if (sscanf(line, "%lx-%lx %4s %*x %*x:%*x %lu %n", &lo, &hi,
			   perms, &ino, &pos) < 4)
			continue;
		sscanf(line + pos, "%255s", name);
		if (strcmp(perms, "rw-p") || ino ||
		    (name[0] && strcmp(name, "[heap]") &&
		     strcmp(name, "[stack]") && strncmp(name, "[anon:", 6)))
			continue;
		reg.range = (struct uffdio_range){ lo, hi - lo };
		wp.range = reg.range;
		if (ioctl(ws->uffd, UFFDIO_REGISTER, &reg) ||
		    ioctl(ws->uffd, UFFDIO_WRITEPROTECT, &wp)) {
			ws->untracked++;	/* e.g. already registered */
			continue;
		}
		err = add_range(&ws->reg, &ws->nr_reg, lo, hi);
	}
	fclose(f);
	return err;
}

/* Freeze briefly, make the userfaultfd in the process, take it, close it. */
static int wp_begin(struct lm_ws *ws, char *why, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API, .features = WP_FEATURES };
	struct lm_dump d = { .pid = ws->pid, .mem_fd = -1, .pidfd = -1 };
	struct lm_poke pk = { 0 };
	sigset_t old;
	long rfd = -1;
	int err, pidfd;

	lm_dump_hold_signals(&old);	/* no dying in an injection */
	err = lm_dump_check(&d);
	if (!err)
		err = lm_dump_freeze(&d);
	if (!err)
		err = poke_private(&d, &pk);
	if (!err) {
		rfd = lm_inject3(pk.tid, pk.addr, SYS_userfaultfd,
				 O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY,
				 0, 0);
		if (rfd < 0)
			err = rfd;
	}
	if (!err) {
		pidfd = syscall(SYS_pidfd_open, ws->pid, 0);
		ws->uffd = pidfd < 0 ? -1 :
			   syscall(SYS_pidfd_getfd, pidfd, (int)rfd, 0);
		if (ws->uffd < 0)
			err = -errno;
		if (pidfd >= 0)
			close(pidfd);
	}
	if (rfd >= 0)
		lm_inject3(pk.tid, pk.addr, SYS_close, rfd, 0, 0);
	if (pk.active && lm_unpoke(&pk) && !err)
		err = -EIO;
	if (!err && ioctl(ws->uffd, UFFDIO_API, &api))
		err = -errno;
	if (!err)
		err = wp_register(ws);
	lm_dump_release(&d, 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		snprintf(why, len, "%s", d.errmsg[0] ? d.errmsg :
			 strerror(-err));
	return err;
}

int lm_ws_begin(struct lm_ws *ws, pid_t pid, char *why, size_t len)
{
	int err;

	memset(ws, 0, sizeof(*ws));
	ws->pid = pid;
	ws->uffd = -1;
	if (softdirty_works()) {
		err = clear_refs(pid);
		if (err) {
			snprintf(why, len, "cannot clear its soft-dirty bits: %s",
				 strerror(-err));
			return err;
		}
		ws->mode = LM_WS_SOFTDIRTY;
		return 0;
	}
	if (!uffd_wp_async_works()) {
		snprintf(why, len, "this kernel has neither soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY) nor userfaultfd WP_ASYNC (Linux >= 6.7)");
		return -EOPNOTSUPP;
	}
	err = wp_begin(ws, why, len);
	if (err) {
		lm_ws_free(ws);
		return err;
	}
	ws->mode = LM_WS_UFFD_WP;
	return 0;
}

/* The written pages of [start, end) by PAGEMAP_SCAN. */
static int scan(int fd, __u64 start, __u64 end, __u64 cat,
		int (*found)(void *arg, __u64 start, __u64 end), void *arg)
{
	struct lm_page_region vec[SCAN_VEC];
	struct lm_pm_scan_arg a;
	long n, i;
	int err;

	while (start < end) {
		a = (struct lm_pm_scan_arg){
			.size = sizeof(a), .start = start, .end = end,
			.vec = (unsigned long)vec, .vec_len = SCAN_VEC,
			.category_mask = cat, .return_mask = cat,
		};
		n = ioctl(fd, LM_PAGEMAP_SCAN, &a);
		if (n < 0)
			return -errno;
		for (i = 0; i < n; i++) {
			err = found(arg, vec[i].start, vec[i].end);
			if (err)
				return err;
		}
		if (a.walk_end <= start)
			return -EIO;	/* no progress */
		start = a.walk_end;
	}
	return 0;
}

static int found_wp(void *arg, __u64 start, __u64 end)
{
	struct lm_ws *ws = arg;

	ws->seen += (end - start) / LM_PAGE_SIZE;
	return add_range(&ws->hot, &ws->nr_hot, start, end);
}

void lm_ws_end(struct lm_ws *ws)
{
	char path[64];
	size_t i;
	int fd;

	if (ws->mode != LM_WS_UFFD_WP)
		return;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", ws->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	for (i = 0; fd >= 0 && i < ws->nr_reg; i++)
		if (scan(fd, ws->reg[i].start, ws->reg[i].end,
			 LM_PAGE_IS_WRITTEN, found_wp, ws))
			break;	/* e.g. unmapped meanwhile: what we have */
	if (fd >= 0)
		close(fd);
	close(ws->uffd);	/* unregisters every VMA */
	ws->uffd = -1;
}

struct sd_arg {
	struct lm_ws *ws;
	struct lm_ps *ps;
};

static int found_sd(void *arg, __u64 start, __u64 end)
{
	struct sd_arg *a = arg;

	lm_ps_mark_hot(a->ps, 0, start, (end - start) / LM_PAGE_SIZE);
	a->ws->seen += (end - start) / LM_PAGE_SIZE;
	return 0;
}

/* Soft-dirty pages from pagemap entries (bit 55), for kernels < 6.7. */
static int scan_pread(int fd, __u64 start, __u64 end, struct sd_arg *a)
{
	__u64 buf[PM_CHUNK], n = (end - start) / LM_PAGE_SIZE, i, j, k;

	for (i = 0; i < n; i += PM_CHUNK) {
		__u64 cnt = n - i < PM_CHUNK ? n - i : PM_CHUNK;
		off_t off = (start / LM_PAGE_SIZE + i) * 8;

		if (pread(fd, buf, cnt * 8, off) != (ssize_t)(cnt * 8))
			return -EIO;
		for (j = 0; j < cnt; j = k) {
			for (k = j; k < cnt && (buf[k] & PM_SOFT_DIRTY); k++)
				;
			if (k > j)
				found_sd(a, start + (i + j) * LM_PAGE_SIZE,
					 start + (i + k) * LM_PAGE_SIZE);
			else
				k = j + 1;
		}
	}
	return 0;
}

static int mark_softdirty(struct lm_ws *ws, const struct lm_image *img,
			  struct lm_ps *ps)
{
	struct sd_arg a = { ws, ps };
	int fd, err = 0, use_ioctl = 1;
	char path[64];
	unsigned int i;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", ws->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (i = 0; i < img->proc.nr_vmas && !err; i++) {
		const struct lm_vma *v = &img->vmas[i].v;

		/* the page server's space 0: private anonymous memory */
		if (!(v->flags & LM_VMA_LAZY) ||
		    v->kind != LM_MEM_ANON_PRIVATE)
			continue;
		if (use_ioctl) {
			err = scan(fd, v->start, v->end, LM_PAGE_IS_SOFT_DIRTY,
				   found_sd, &a);
			if (err != -ENOTTY && err != -EINVAL)
				continue;
			use_ioctl = 0;	/* no PAGEMAP_SCAN: Linux < 6.7 */
		}
		err = scan_pread(fd, v->start, v->end, &a);
	}
	close(fd);
	return err;
}

int lm_ws_mark(struct lm_ws *ws, const struct lm_image *img,
	       struct lm_ps *ps)
{
	size_t i;

	switch (ws->mode) {
	case LM_WS_SOFTDIRTY:
		return mark_softdirty(ws, img, ps);
	case LM_WS_UFFD_WP:
		for (i = 0; i < ws->nr_hot; i++)
			lm_ps_mark_hot(ps, 0, ws->hot[i].start,
				       (ws->hot[i].end - ws->hot[i].start) /
				       LM_PAGE_SIZE);
		return 0;
	default:
		return 0;
	}
}

const char *lm_ws_mode_name(const struct lm_ws *ws)
{
	switch (ws->mode) {
	case LM_WS_SOFTDIRTY:
		return "soft-dirty";
	case LM_WS_UFFD_WP:
		return "uffd-wp-async";
	default:
		return "off";
	}
}

void lm_ws_free(struct lm_ws *ws)
{
	if (ws->uffd >= 0)
		close(ws->uffd);
	ws->uffd = -1;
	free(ws->reg);
	free(ws->hot);
	ws->reg = ws->hot = NULL;
	ws->nr_reg = ws->nr_hot = 0;
}
