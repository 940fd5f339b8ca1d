// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig restore: the memory layout.
 *
 * Each dumped VMA is mapped at its address by an injected mmap with
 * MAP_FIXED_NOREPLACE and its final protection: private anon, shared
 * kinds through the restored shm object's carrier at the VMA's offset,
 * files through a carrier opened on their path.  Page data goes through
 * /proc/PID/mem (it writes read-only private mappings too, breaking COW
 * like the process's own writes did), through UFFDIO_COPY inside ranges
 * registered with the uffd, and through the object's fd for shm.
 * madvise flags and names are set right after mmap; mlock comes last,
 * once the data is in (restore.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/lazymig_uffd.h>
#include "restore_priv.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
#define MAP_HUGE_SHIFT_ 26

const char *rst_vma_name(const struct lm_vma_img *v)
{
	if (v->path && v->path[0])
		return v->path;
	return lm_mem_kind_name(v->v.kind);
}

static int is_file_kind(const struct lm_vma_img *v)
{
	return v->v.kind == LM_MEM_FILE_PRIVATE ||
	       v->v.kind == LM_MEM_FILE_SHARED ||
	       (v->v.kind == LM_MEM_HUGETLB_PRIVATE && v->path &&
		v->path[0] == '/' && !strstr(v->path, " (deleted)"));
}

/* Carriers for file-backed VMAs, one per path. */
int rst_open_vma_files(struct lm_restorer *r)
{
	unsigned int i, j;

	for (i = 0; i < r->img->proc.nr_vmas; i++) {
		const struct lm_vma_img *v = &r->img->vmas[i];
		int fd;

		r->vma_fd[i] = -1;
		if (!is_file_kind(v))
			continue;
		for (j = 0; j < i; j++)
			if (r->vma_fd[j] >= 0 && !strcmp(r->img->vmas[j].path, v->path) &&
			    r->img->vmas[j].v.kind == v->v.kind)
				break;
		if (j < i) {
			r->vma_fd[i] = r->vma_fd[j];
			continue;
		}
		fd = -1;
		if (v->v.kind == LM_MEM_FILE_SHARED)
			fd = open(v->path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			fd = open(v->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rst_err("cannot open %s, mapped at %#llx-%#llx: %s",
				v->path, (unsigned long long)v->v.start,
				(unsigned long long)v->v.end, strerror(errno));
			return -errno;
		}
		fd = rst_add_carrier(r, fd);
		if (fd < 0)
			return fd;
		r->vma_fd[i] = fd;
	}
	return 0;
}

static int shm_index(const struct lm_image *img, int id)
{
	unsigned int i;

	for (i = 0; i < img->proc.nr_shms; i++)
		if (img->shms[i].s.id == id)
			return i;
	return -1;
}

static int huge_shift(__u64 page_size)
{
	int shift = 0;

	while ((1ULL << shift) < page_size)
		shift++;
	return shift;
}

/* Does the image hold data for any page of VMA @i? */
static int has_data(const struct lm_restorer *r, unsigned int i)
{
	const struct lm_vma *v = &r->img->vmas[i].v;
	struct lm_pagemap_img *m = lm_image_pagemap(r->img, 0, v->start);
	__u64 w, n;

	if (!m || !m->bitmap)
		return 0;
	n = (m->m.npages + 8 * sizeof(long) - 1) / (8 * sizeof(long));
	for (w = 0; w < n; w++)
		if (m->bitmap[w])
			return 1;
	return 0;
}

/*
 * A private VMA that is read-only now but holds written (COW) pages was
 * writable once, so the kernel accounts it (VM_ACCOUNT) and never merges
 * it with a neighbour that was always read-only (a RELRO next to
 * .rodata).  Map it writable and mprotect it back to get the same flags
 * and so the same VMAs.
 */
static int was_writable(const struct lm_restorer *r, unsigned int i)
{
	const struct lm_vma *v = &r->img->vmas[i].v;

	return (v->kind == LM_MEM_ANON_PRIVATE ||
		v->kind == LM_MEM_FILE_PRIVATE) &&
	       !(v->prot & PROT_WRITE) && has_data(r, i);
}

/* The stub opens /proc/self/map_files of a native shared anon object. */
static long open_native(struct lm_restorer *r, int k)
{
	const struct lm_vma *nv = &r->img->vmas[r->shm_native[k] - 1].v;
	char path[96];
	unsigned long a;

	snprintf(path, sizeof(path), "/proc/self/map_files/%llx-%llx",
		 (unsigned long long)nv->start, (unsigned long long)nv->end);
	if (rst_put(r, 0, path, strlen(path) + 1, &a))
		return -EFAULT;
	return rst_sys(r, r->pid, SYS_open, a, O_RDWR | O_CLOEXEC, 0, 0, 0, 0);
}

/*
 * A VMA of a native shared anon object other than the one it was made
 * with: the stub opens the object by path, maps it and closes it.
 */
static long map_by_path(struct lm_restorer *r, unsigned int i,
			const long a[6])
{
	const struct lm_vma_img *v = &r->img->vmas[i];
	long fd, ret;

	fd = open_native(r, shm_index(r->img, v->v.shm_id));
	if (fd < 0)
		return fd;
	ret = rst_sys(r, r->pid, SYS_mmap, a[0], a[1], a[2], a[3], fd,
		      v->v.pgoff);
	rst_sys(r, r->pid, SYS_close, fd, 0, 0, 0, 0, 0);
	return ret;
}

/* After its mmap: the restorer's fd on a native shared anon object. */
static int take_native(struct lm_restorer *r, unsigned int i)
{
	const struct lm_vma *v = &r->img->vmas[i].v;
	char path[96];
	int k = shm_index(r->img, v->shm_id), fd, *c;

	if (k < 0 || r->shm_native[k] != (int)i + 1)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", r->pid,
		 (unsigned long long)v->start, (unsigned long long)v->end);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rst_err("cannot open %s for the shared anon object: %s", path,
			strerror(errno));
		return -errno;
	}
	c = realloc(r->carriers, (r->nr_carriers + 1) * sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	r->carriers = c;
	c[r->nr_carriers++] = fd;	/* closed with the restorer */
	r->shm_fd[k] = fd;
	return 0;
}

/*
 * The arguments of VMA @i's mmap: 0; 1 if it maps a native shared anon
 * object through a path the stub must open first (map_by_path, the fd
 * left out); or -errno.
 */
static int mmap_args(const struct lm_restorer *r, unsigned int i, long a[6])
{
	const struct lm_vma_img *v = &r->img->vmas[i];
	long flags = MAP_FIXED_NOREPLACE, fd = -1, prot = v->v.prot;
	int k, by_path = 0;

	if (was_writable(r, i))
		prot |= PROT_WRITE;
	switch (v->v.kind) {
	case LM_MEM_ANON_PRIVATE:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		if (v->v.flags & LM_VMA_GROWSDOWN)
			flags |= MAP_GROWSDOWN;
		break;
	case LM_MEM_ANON_SHARED:
	case LM_MEM_MEMFD:
	case LM_MEM_TMPFS:
	case LM_MEM_HUGETLB_SHARED:
		k = shm_index(r->img, v->v.shm_id);
		if (k < 0)
			return -ENOENT;
		flags |= MAP_SHARED;
		if (r->shm_native[k] == (int)i + 1) {
			flags |= MAP_ANONYMOUS;
		} else if (!r->shm_native[k]) {
			fd = r->shm_fd[k];
		} else {
			by_path = 1;
		}
		break;
	case LM_MEM_FILE_PRIVATE:
		flags |= MAP_PRIVATE;
		fd = r->vma_fd[i];
		break;
	case LM_MEM_FILE_SHARED:
		flags |= MAP_SHARED;
		fd = r->vma_fd[i];
		break;
	case LM_MEM_HUGETLB_PRIVATE:
		/* /proc/PID/mem cannot force-write hugetlb: map writable. */
		prot |= PROT_WRITE;
		flags |= MAP_PRIVATE;
		fd = r->vma_fd[i];
		if (fd < 0)
			flags |= MAP_ANONYMOUS | MAP_HUGETLB |
				 (huge_shift(v->v.page_size) << MAP_HUGE_SHIFT_);
		break;
	default:
		return -EINVAL;
	}
	a[0] = v->v.start;
	a[1] = v->v.end - v->v.start;
	a[2] = prot;
	a[3] = flags;
	a[4] = fd;
	a[5] = fd >= 0 ? (long)v->v.pgoff : 0;
	return by_path;
}

static long map_one(struct lm_restorer *r, unsigned int i)
{
	long a[6];
	int ret = mmap_args(r, i, a);

	if (ret < 0)
		return ret;
	if (ret)
		return map_by_path(r, i, a);
	return rst_sys(r, r->pid, SYS_mmap, a[0], a[1], a[2], a[3], a[4],
		       a[5]);
}

static const struct { __u32 flag; int advice; } adv[] = {
	{ LM_VMA_DONTFORK, MADV_DONTFORK },
	{ LM_VMA_WIPEONFORK, MADV_WIPEONFORK },
	{ LM_VMA_HUGEPAGE, MADV_HUGEPAGE },
	{ LM_VMA_NOHUGEPAGE, MADV_NOHUGEPAGE },
	{ LM_VMA_DONTDUMP, MADV_DONTDUMP },
};
#define NR_ADV (sizeof(adv) / sizeof(adv[0]))

static void say_advise(const struct lm_vma_img *v, int advice, long ret)
{
	rst_err("madvise(%d) on %#llx-%#llx (%s): %s", advice,
		(unsigned long long)v->v.start, (unsigned long long)v->v.end,
		rst_vma_name(v), strerror(-ret));
}

/* The name of an [anon:NAME] VMA, or NULL. */
static const char *anon_name(const struct lm_vma_img *v, char *name,
			     size_t size)
{
	size_t n;

	if (!v->path || strncmp(v->path, "[anon:", 6))
		return NULL;
	snprintf(name, size, "%s", v->path + 6);
	n = strlen(name);
	if (n && name[n - 1] == ']')
		name[n - 1] = 0;
	return name;
}

static int advise_one(struct lm_restorer *r, unsigned int i)
{
	const struct lm_vma_img *v = &r->img->vmas[i];
	unsigned long len = v->v.end - v->v.start, a;
	unsigned int k;
	long ret;

	char name[80];

	for (k = 0; k < NR_ADV; k++) {
		if (!(v->v.flags & adv[k].flag))
			continue;
		ret = rst_sys(r, r->pid, SYS_madvise, v->v.start, len,
			      adv[k].advice, 0, 0, 0);
		if (ret) {
			say_advise(v, adv[k].advice, ret);
			return ret;
		}
	}
	if (anon_name(v, name, sizeof(name)) &&
	    !rst_put(r, 0, name, strlen(name) + 1, &a))
		rst_sys(r, r->pid, SYS_prctl, PR_SET_VMA, PR_SET_VMA_ANON_NAME,
			v->v.start, len, a, 0);
	return 0;
}

static int register_one(struct lm_restorer *r, unsigned int i)
{
	const struct lm_vma_img *v = &r->img->vmas[i];
	struct uffdio_register reg;

	memset(&reg, 0, sizeof(reg));
	reg.range.start = v->v.start;
	reg.range.len = v->v.end - v->v.start;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(r->uffd, UFFDIO_REGISTER, &reg)) {
		rst_err("cannot register %#llx-%#llx (%s) with userfaultfd: %s",
			(unsigned long long)v->v.start,
			(unsigned long long)v->v.end, rst_vma_name(v),
			strerror(errno));
		return -errno;
	}
	r->registered[i] = 1;
	return 0;
}

/* 0 if VMA @i's mmap returned its start, else -errno (and says so). */
static long mapped(const struct lm_restorer *r, unsigned int i, long ret)
{
	const struct lm_vma_img *v = &r->img->vmas[i];

	if (ret == (long)v->v.start)
		return 0;
	if (ret >= 0)
		ret = -EEXIST;
	rst_err("cannot map %#llx-%#llx (%s, %s): %s",
		(unsigned long long)v->v.start, (unsigned long long)v->v.end,
		lm_mem_kind_name(v->v.kind), rst_vma_name(v), strerror(-ret));
	return ret;
}

/* What follows a VMA's mmap in the restorer: shm fd, uffd registration. */
static int after_map(struct lm_restorer *r, unsigned int i)
{
	int err = take_native(r, i);

	if (!err && r->opts.lazy && r->uffd >= 0 &&
	    (r->img->vmas[i].v.flags & LM_VMA_LAZY))
		err = register_one(r, i);
	return err;
}

/* One VMA, one injected syscall at a time (a native object by path). */
static int map_vma(struct lm_restorer *r, unsigned int i)
{
	int err = mapped(r, i, map_one(r, i));

	if (!err)
		err = take_native(r, i);
	if (!err)
		err = advise_one(r, i);
	if (!err && r->opts.lazy && r->uffd >= 0 &&
	    (r->img->vmas[i].v.flags & LM_VMA_LAZY))
		err = register_one(r, i);
	return err;
}

/*
 * Batched: every VMA's mmap, madvise and name calls in one table; a
 * call's tag is (VMA << 3) | step, step 0 the mmap, 1 + k the madvise of
 * adv[k], MB_NAME the name (whose failure is ignored, as in advise_one).
 */
#define MB_NAME		(NR_ADV + 1)
#define MB_TAG(i, s)	((i) << 3 | (s))

_Static_assert(MB_NAME < 8, "steps fit in three bits");

static int batch_vma(struct lm_restorer *r, struct rst_batch *b,
		     unsigned int i, const long a[6])
{
	const struct lm_vma_img *v = &r->img->vmas[i];
	unsigned long len = v->v.end - v->v.start, s = 0;
	const char *nm;
	unsigned int k;
	char name[80];
	int err;

	/* The name's room first: -ENOSPC leaves the batch as it was. */
	nm = anon_name(v, name, sizeof(name));
	if (nm) {
		err = rst_batch_str(r, b, nm, &s);
		if (err)
			return err;
	}
	err = rst_batch_add(b, MB_TAG(i, 0), SYS_mmap, a[0], a[1], a[2], a[3],
			    a[4], a[5]);
	for (k = 0; k < NR_ADV && !err; k++)
		if (v->v.flags & adv[k].flag)
			err = rst_batch_add(b, MB_TAG(i, 1 + k), SYS_madvise,
					    v->v.start, len, adv[k].advice, 0,
					    0, 0);
	if (!err && nm)
		err = rst_batch_add(b, MB_TAG(i, MB_NAME), SYS_prctl,
				    PR_SET_VMA, PR_SET_VMA_ANON_NAME,
				    v->v.start, len, s, 0);
	return err;
}

/* Run the batch, check every call in order, then what follows each mmap. */
static int flush_vmas(struct lm_restorer *r, struct rst_batch *b)
{
	unsigned int j;
	int err = 0;

	if (!b->n)
		return 0;
	err = rst_batch_run(r, b, 0);
	for (j = 0; j < b->n && !err; j++) {
		unsigned int i = b->tag[j] >> 3, step = b->tag[j] & 7;
		long ret;

		if (j >= b->next) {
			/* Stopped at an ignored failure: on from here. */
			err = rst_batch_run(r, b, j);
			if (err)
				break;
		}
		ret = b->c[j].ret;
		if (step == 0)
			err = mapped(r, i, ret);
		else if (step != MB_NAME && ret) {
			say_advise(&r->img->vmas[i], adv[step - 1].advice,
				   ret);
			err = ret;
		}
	}
	for (j = 0; j < b->n && !err; j++)
		if (!(b->tag[j] & 7))
			err = after_map(r, b->tag[j] >> 3);
	rst_batch_reset(b);
	return err;
}

static int is_native(const struct lm_restorer *r, unsigned int i)
{
	int k = shm_index(r->img, r->img->vmas[i].v.shm_id);

	return r->img->vmas[i].v.kind == LM_MEM_ANON_SHARED && k >= 0 &&
	       r->shm_native[k] == (int)i + 1;
}

/*
 * Native shared anon objects first: other VMAs may map them by path.
 * Everything goes into batches, but for a VMA that maps such an object
 * by path: its open, mmap and close depend on each other.
 */
int rst_map_vmas(struct lm_restorer *r)
{
	struct rst_batch b;
	unsigned int i, pass;
	int err = 0;

	rst_batch_init(&b);
	for (pass = 0; pass < 2 && !err; pass++) {
		for (i = 0; i < r->img->proc.nr_vmas && !err; i++) {
			unsigned int kind = r->img->vmas[i].v.kind;
			long a[6];

			if (kind == LM_MEM_VDSO || kind == LM_MEM_VVAR ||
			    kind == LM_MEM_VSYSCALL || is_native(r, i) != !pass)
				continue;
			if (mmap_args(r, i, a)) {
				err = flush_vmas(r, &b);
				if (!err)
					err = map_vma(r, i);
				continue;
			}
			err = batch_vma(r, &b, i, a);
			if (err == -ENOSPC) {	/* names full: run first */
				err = flush_vmas(r, &b);
				if (!err)
					err = batch_vma(r, &b, i, a);
			}
		}
		if (!err)
			err = flush_vmas(r, &b);
	}
	rst_batch_free(&b);
	return err;
}

/*
 * Called once the eager pages are in: the final protection of VMAs that
 * were mapped writable (an anonymous one keeps VM_ACCOUNT only if it has
 * pages by then), and mlock, which then populates nothing lazily.
 */
int rst_lock_vmas(struct lm_restorer *r)
{
	struct rst_batch b;
	unsigned int i, j;
	int err = 0;

	/* Tags: VMA << 1, | 1 for the mlock. */
	rst_batch_init(&b);
	for (i = 0; i < r->img->proc.nr_vmas && !err; i++) {
		const struct lm_vma_img *v = &r->img->vmas[i];
		unsigned long len = v->v.end - v->v.start;

		if (was_writable(r, i) || (v->v.kind == LM_MEM_HUGETLB_PRIVATE &&
					   !(v->v.prot & PROT_WRITE)))
			err = rst_batch_add(&b, i << 1, SYS_mprotect,
					    v->v.start, len, v->v.prot, 0, 0,
					    0);
		if (!err && (v->v.flags & LM_VMA_LOCKED))
			err = rst_batch_add(&b, i << 1 | 1, SYS_mlock2,
					    v->v.start, len, r->registered[i] ?
					    MLOCK_ONFAULT : 0, 0, 0, 0);
	}
	if (!err && b.n)
		err = rst_batch_run(r, &b, 0);
	for (j = 0; j < b.n && !err; j++) {
		const struct lm_vma_img *v = &r->img->vmas[b.tag[j] >> 1];
		long ret = b.c[j].ret;

		if (!ret)
			continue;
		if (b.tag[j] & 1)
			rst_err("cannot mlock %#llx-%#llx (%s): %s",
				(unsigned long long)v->v.start,
				(unsigned long long)v->v.end, rst_vma_name(v),
				strerror(-ret));
		else
			rst_err("cannot mprotect %#llx-%#llx (%s) to %#x: %s",
				(unsigned long long)v->v.start,
				(unsigned long long)v->v.end, rst_vma_name(v),
				v->v.prot, strerror(-ret));
		err = ret;
	}
	rst_batch_free(&b);
	return err;
}

/* The uffd is created by the stub itself: it binds to the stub's mm. */
int rst_uffd_create(struct lm_restorer *r)
{
	struct uffdio_api api = { .api = UFFD_API };
	long sfd;
	int fd;

	sfd = rst_sys(r, r->pid, SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK,
		      0, 0, 0, 0, 0);
	if (sfd < 0) {
		rst_err("userfaultfd() in the stub failed: %s%s", strerror(-sfd),
			sfd == -EPERM ? " (needs root or vm.unprivileged_userfaultfd=1)" : "");
		return sfd;
	}
	fd = syscall(SYS_pidfd_getfd, r->pidfd, (int)sfd, 0);
	if (fd < 0)
		fd = -errno;
	rst_sys(r, r->pid, SYS_close, sfd, 0, 0, 0, 0, 0);
	if (fd < 0) {
		rst_err("pidfd_getfd of the stub's userfaultfd: %s", strerror(-fd));
		return fd;
	}
	api.features = r->opts.uffd_features;
	if (ioctl(fd, UFFDIO_API, &api)) {
		rst_err("UFFDIO_API with features %#llx: %s (this kernel lacks some of them)",
			(unsigned long long)r->opts.uffd_features, strerror(errno));
		close(fd);
		return -EINVAL;
	}
	r->uffd = fd;
	return 0;
}

/* ---- page data ---- */

static int find_vma(const struct lm_image *img, __u64 addr)
{
	int lo = 0, hi = (int)img->proc.nr_vmas - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		const struct lm_vma *v = &img->vmas[mid].v;

		if (addr < v->start)
			hi = mid - 1;
		else if (addr >= v->end)
			lo = mid + 1;
		else
			return mid;
	}
	return -1;
}

static int mem_write(struct lm_restorer *r, __u64 addr, const void *data,
		     size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(r->mem_fd, (const char *)data + done,
				   len - done, addr + done);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += n;
	}
	return 0;
}

static int uffd_write(struct lm_restorer *r, __u64 addr, const void *data,
		      size_t len, __u64 page_size)
{
	struct uffdio_copy c;
	size_t off;

	memset(&c, 0, sizeof(c));
	c.dst = addr;
	c.src = (unsigned long)data;
	c.len = len;
	if (!ioctl(r->uffd, UFFDIO_COPY, &c))
		return 0;
	if (errno != EEXIST)
		return -errno;
	/* Some pages are there already: go page by page. */
	for (off = 0; off < len; off += page_size) {
		memset(&c, 0, sizeof(c));
		c.dst = addr + off;
		c.src = (unsigned long)data + off;
		c.len = page_size;
		if (!ioctl(r->uffd, UFFDIO_COPY, &c))
			continue;
		if (errno != EEXIST)
			return -errno;
		if (mem_write(r, addr + off, (const char *)data + off, page_size))
			return -EIO;
	}
	return 0;
}

static int write_vm(struct lm_restorer *r, const struct lm_pages *p,
		    const void *data, size_t len)
{
	int a = find_vma(r->img, p->addr);
	int b = find_vma(r->img, p->addr + len - 1);

	if (a < 0 || b < 0) {
		rst_err("pages at %#llx (+%zu bytes) are outside every dumped VMA",
			(unsigned long long)p->addr, len);
		return -EINVAL;
	}
	if (a == b && r->registered[a])
		return uffd_write(r, p->addr, data, len, p->page_size);
	return mem_write(r, p->addr, data, len);
}

static int write_shm(struct lm_restorer *r, const struct lm_pages *p,
		     const void *data, size_t len)
{
	int k = shm_index(r->img, (int)p->space - 1);
	const struct lm_shm *s;
	size_t done = 0;

	if (k < 0)
		return -ENOENT;
	s = &r->img->shms[k].s;
	if (p->addr + len > ((s->size + p->page_size - 1) & ~(p->page_size - 1)))
		return -EINVAL;
	if (r->shm_map[k]) {
		memcpy((char *)r->shm_map[k] + p->addr, data, len);
		return 0;
	}
	while (done < len) {
		ssize_t n = pwrite(r->shm_fd[k], (const char *)data + done,
				   len - done, p->addr + done);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += n;
	}
	return 0;
}

int lm_restore_write_pages(struct lm_restorer *r, const struct lm_pages *p,
			   const void *data)
{
	size_t len;
	int err;

	if (!p->npages)
		return 0;
	if (!p->page_size || p->npages > (1ULL << 40) / p->page_size)
		return -EINVAL;
	len = p->npages * p->page_size;
	if (p->space == 0)
		err = write_vm(r, p, data, len);
	else
		err = write_shm(r, p, data, len);
	if (err)
		rst_err("cannot install %llu pages of space %u at %#llx: %s",
			(unsigned long long)p->npages, p->space,
			(unsigned long long)p->addr, strerror(-err));
	return err;
}
