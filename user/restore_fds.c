// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig restore: file descriptors and shm objects.
 *
 * Everything is opened here, in the restorer, and moved to a carrier fd
 * (restore_priv.h) that the stub inherits:
 *  - regular files and char devices: open(path, flags) + lseek(pos);
 *  - pipes: one pipe per pipe inode, its buffered data written back into
 *    it, each image fd a dup of the right end;
 *  - memfd fds: a fresh open of the restored shm object (own offset and
 *    flags, same inode);
 *  - eventfd: eventfd(count);
 *  - in a tree (restore_tree.c): fds sharing an open file description are
 *    dups of one open; a pipe or an AF_UNIX socketpair is created once for
 *    all members, its queued bytes written once;
 *  - fds 0-2 follow --stdio (inherit: the restorer's own, null: /dev/null,
 *    PATH: fd 0 from /dev/null, 1 and 2 appended to PATH).
 * shm objects (shared anon, memfd, hugetlb shared) are memfds created
 * here with the dumped name and size; a tmpfs file is reopened at its
 * path.  Their content is written through the restorer's fd, their seals
 * added last (rst_seal_shms).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "restore_priv.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#endif
#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif
#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#endif

/* Flags that open() may be given again; creation flags never. */
#define REOPEN_FLAGS (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT | \
		      O_NOATIME | O_DIRECTORY | O_NOFOLLOW | O_SYNC | \
		      O_DSYNC | O_LARGEFILE | O_PATH)

static int plan_add(struct lm_restorer *r, int fd, int target, int cloexec)
{
	struct rst_fdplan *p;
	int c = rst_add_carrier(r, fd);

	if (c < 0)
		return c;
	p = realloc(r->plan, (r->nr_plan + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	r->plan = p;
	p[r->nr_plan].carrier = c;
	p[r->nr_plan].fd = target;
	p[r->nr_plan].cloexec = cloexec;
	r->nr_plan++;
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

/* ---- shm objects ---- */

static const char *memfd_name(const char *name, char *buf, size_t len)
{
	const char *p = name ? name : "";
	char *d;

	if (*p == '/')
		p++;
	if (!strncmp(p, "memfd:", 6))
		p += 6;
	snprintf(buf, len, "%s", *p ? p : "lazymig-shm");
	d = strstr(buf, " (deleted)");
	if (d)
		*d = 0;
	return buf;
}

static int huge_flags(__u64 page_size)
{
	int shift = 0;

	while ((1ULL << shift) < page_size)
		shift++;
	return MFD_HUGETLB | (shift << 26);	/* MFD_HUGE_SHIFT */
}

/*
 * A tmpfs file is reopened (or created) at its path; one that was
 * deleted becomes an unnamed O_TMPFILE in the same directory.
 */
static int open_tmpfs(const char *name)
{
	char path[LM_PATH_MAX], *del, *slash;

	snprintf(path, sizeof(path), "%s", name);
	del = strstr(path, " (deleted)");
	if (!del)
		return open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	*del = 0;
	slash = strrchr(path, '/');
	if (!slash)
		return -1;
	slash[slash == path] = 0;
	return open(path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

static int open_shm(const struct lm_shm_img *s)
{
	char name[250];
	unsigned int fl = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	int fd;

	if (s->s.kind == LM_MEM_TMPFS && s->name && s->name[0] == '/') {
		fd = open_tmpfs(s->name);
		if (fd >= 0)
			goto size;
		rst_err("cannot open tmpfs file %s (%s); restoring it as a memfd",
			s->name, strerror(errno));
	}
	if (s->s.kind == LM_MEM_HUGETLB_SHARED)
		fl = MFD_CLOEXEC | huge_flags(s->s.page_size);
	if (s->s.kind == LM_MEM_ANON_SHARED)
		snprintf(name, sizeof(name), "lazymig-anon-shared");
	else
		memfd_name(s->name, name, sizeof(name));
	fd = memfd_create(name, fl);
	if (fd < 0)
		return -errno;
size:
	if (ftruncate(fd, s->s.size)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * A shared anon object mapped whole by one VMA is created by an mmap in
 * the stub, so that it stays what it was ("/dev/zero (deleted)" in maps,
 * MAP_SHARED|MAP_ANONYMOUS semantics); the restorer then reaches it
 * through /proc/PID/map_files (restore_mem.c).  Returns the VMA index or
 * -1 (then it becomes a memfd like the other kinds).
 */
/* Does another member of the tree have the shm object @s too? */
static int shm_in_other_member(const struct lm_restorer *r,
			       const struct lm_shm *s)
{
	unsigned int m, k;

	for (m = 0; r->tree && m < r->tree->nr; m++) {
		const struct lm_image *img = r->tree->rs[m]->img;

		if (m == r->member)
			continue;
		for (k = 0; k < img->proc.nr_shms; k++)
			if (img->shms[k].s.dev == s->dev &&
			    img->shms[k].s.ino == s->ino)
				return 1;
	}
	return 0;
}

int rst_native_anon(const struct lm_restorer *r, int k)
{
	const struct lm_shm_img *s = &r->img->shms[k];
	unsigned int i;

	if (s->s.kind != LM_MEM_ANON_SHARED || shm_in_other_member(r, &s->s))
		return -1;
	for (i = 0; i < r->img->proc.nr_vmas; i++) {
		const struct lm_vma *v = &r->img->vmas[i].v;

		if (v->kind == LM_MEM_ANON_SHARED && v->shm_id == s->s.id &&
		    !v->pgoff && v->end - v->start ==
		    ((s->s.size + LM_PAGE_SIZE - 1) & ~(LM_PAGE_SIZE - 1)))
			return i;
	}
	return -1;
}

int rst_open_shms(struct lm_restorer *r)
{
	unsigned int i;

	for (i = 0; i < r->img->proc.nr_shms; i++) {
		const struct lm_shm_img *s = &r->img->shms[i];
		int fd, v = rst_native_anon(r, i);

		if (v >= 0) {
			r->shm_native[i] = v + 1;
			continue;
		}
		fd = -1;
		if (r->tree) {
			struct rst_share *sh = rst_share_find(r->tree, RST_SH_SHM,
							      s->s.dev, s->s.ino);

			if (sh)
				fd = fcntl(sh->fd[0], F_DUPFD_CLOEXEC, 0);
		}
		if (fd < 0) {
			fd = open_shm(s);
			if (fd >= 0 && r->tree &&
			    !rst_share_add(r->tree, RST_SH_SHM, s->s.dev,
					   s->s.ino, fcntl(fd, F_DUPFD_CLOEXEC, 0), -1))
				fd = -ENOMEM;
		}
		if (fd < 0) {
			rst_err("cannot create shm object %d (%s, %s, %llu bytes): %s",
				s->s.id, lm_mem_kind_name(s->s.kind),
				s->name ? s->name : "", (unsigned long long)s->s.size,
				strerror(-fd));
			return fd;
		}
		if (r->opts.lazy && (s->s.flags & LM_SHM_LAZY) &&
		    s->s.kind == LM_MEM_TMPFS && !lm_shm_same_file(r->img, &s->s, fd) &&
		    (ftruncate(fd, 0) || ftruncate(fd, s->s.size))) {
			/*
			 * Lazy: no page of an older file at that path may
			 * pass for restored data.
			 */
			rst_err("cannot empty tmpfs file %s for its lazy restore: %s",
				s->name ? s->name : "", strerror(errno));
			close(fd);
			return -errno;
		}
		fd = rst_add_carrier(r, fd);
		if (fd < 0)
			return fd;
		r->shm_fd[i] = fd;
		if (s->s.kind == LM_MEM_HUGETLB_SHARED && s->s.size) {
			void *m = mmap(NULL, s->s.size, PROT_READ | PROT_WRITE,
				       MAP_SHARED, fd, 0);

			if (m == MAP_FAILED) {
				rst_err("cannot map hugetlb shm object %d: %s",
					s->s.id, strerror(errno));
				return -errno;
			}
			r->shm_map[i] = m;
		}
	}
	return 0;
}

int rst_seal_shms(struct lm_restorer *r)
{
	unsigned int i;

	for (i = 0; i < r->img->proc.nr_shms; i++) {
		const struct lm_shm_img *s = &r->img->shms[i];

		int cur;

		if (s->s.kind != LM_MEM_MEMFD || !s->s.seals)
			continue;
		/* In a tree, another member may have sealed it already. */
		cur = fcntl(r->shm_fd[i], F_GET_SEALS);
		if (cur >= 0 && ((__u32)cur & s->s.seals) == s->s.seals)
			continue;
		if (fcntl(r->shm_fd[i], F_ADD_SEALS, s->s.seals)) {
			rst_err("cannot add seals %#x to memfd %s: %s",
				s->s.seals, s->name ? s->name : "",
				strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* ---- fds ---- */

static int open_stdio(struct lm_restorer *r, int fd, int acc)
{
	const char *how = r->opts.stdio ? r->opts.stdio : "inherit";

	int nfd;

	if (!strcmp(how, "inherit")) {
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (nfd >= 0)
			return nfd;
		how = "null";	/* the restorer's own is closed */
	}
	if (!strcmp(how, "null") || fd == 0)
		nfd = open("/dev/null", acc | O_CLOEXEC);
	else
		nfd = open(how, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	return nfd < 0 ? -errno : nfd;
}

static int open_reg(const struct lm_fd_img *f)
{
	int fd;

	if (!f->path || !f->path[0])
		return -ENOENT;
	if (f->f.deleted)
		return -ENOENT;
	fd = open(f->path, (f->f.flags & REOPEN_FLAGS) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (f->f.type == LM_FD_REG && f->f.pos &&
	    lseek(fd, f->f.pos, SEEK_SET) != (off_t)f->f.pos) {
		int err = -errno;

		close(fd);
		return err ? err : -EIO;
	}
	return fd;
}

static int fill_pipe(int wfd, const struct lm_fd_img *f)
{
	size_t done = 0;

	if (!f->f.data_len)
		return 0;
	if (f->f.data_len > 65536 &&
	    fcntl(wfd, F_SETPIPE_SZ, f->f.data_len) < 0)
		return -errno;
	while (done < f->f.data_len) {
		ssize_t n = write(wfd, (char *)f->data + done,
				  f->f.data_len - done);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += n;
	}
	return 0;
}

/* Returns an fd on the end of the pipe @f refers to; pipes[] caches them. */
static int open_pipe(const struct lm_restorer *r, int idx, int (*pipes)[2])
{
	const struct lm_fd_img *f = &r->img->fds[idx];
	int acc = f->f.flags & O_ACCMODE, end, i, err;

	for (i = 0; i < idx; i++) {
		const struct lm_fd_img *g = &r->img->fds[i];

		if (g->f.type == LM_FD_PIPE && g->f.pipe_ino == f->f.pipe_ino &&
		    pipes[i][0] >= 0)
			break;
	}
	if (i == idx) {
		int j;

		if (pipe2(pipes[idx], O_CLOEXEC))
			return -errno;
		/* The data comes with whichever end was seen first. */
		for (j = idx; j < (int)r->img->proc.nr_fds; j++) {
			const struct lm_fd_img *g = &r->img->fds[j];

			if (g->f.type != LM_FD_PIPE || g->f.pipe_ino != f->f.pipe_ino)
				continue;
			err = fill_pipe(pipes[idx][1], g);
			if (err)
				return err;
		}
		i = idx;
	} else {
		pipes[idx][0] = pipes[i][0];
		pipes[idx][1] = pipes[i][1];
	}
	end = acc == O_RDONLY ? pipes[i][0] : pipes[i][1];
	end = fcntl(end, F_DUPFD_CLOEXEC, 0);
	if (end < 0)
		return -errno;
	if (fcntl(end, F_SETFL, f->f.flags & (O_NONBLOCK | O_DIRECT)) < 0) {
		err = -errno;
		close(end);
		return err;
	}
	return end;
}

static int set_fl(int fd, const struct lm_fd_img *f)
{
	int err;

	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETFL, f->f.flags & (O_NONBLOCK | O_DIRECT)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* A pipe between members: one pipe per inode for the whole tree. */
static int open_tree_pipe(struct lm_restorer *r, int idx)
{
	const struct lm_fd_img *f = &r->img->fds[idx];
	struct rst_share *sh;
	unsigned int j;
	int p[2], err;

	sh = rst_share_find(r->tree, RST_SH_PIPE, f->f.pipe_ino, 0);
	if (!sh) {
		if (pipe2(p, O_CLOEXEC))
			return -errno;
		sh = rst_share_add(r->tree, RST_SH_PIPE, f->f.pipe_ino, 0,
				   p[0], p[1]);
		if (!sh)
			return -ENOMEM;
		/* Each member saw the same bytes: write one copy. */
		for (j = idx; j < r->img->proc.nr_fds; j++) {
			const struct lm_fd_img *g = &r->img->fds[j];

			if (g->f.type != LM_FD_PIPE || g->f.pipe_ino != f->f.pipe_ino)
				continue;
			err = fill_pipe(sh->fd[1], g);
			if (err)
				return err;
		}
	}
	return set_fl(fcntl(sh->fd[(f->f.flags & O_ACCMODE) != O_RDONLY],
			    F_DUPFD_CLOEXEC, 0), f);
}

/*
 * One end of a socketpair between members (tree images only): one
 * socketpair per pair of inodes; the bytes queued for an end are written
 * into the other end.
 */
static int open_unix(struct lm_restorer *r, const struct lm_fd_img *f)
{
	__u64 lo = f->f.pipe_ino < f->f.rdev ? f->f.pipe_ino : f->f.rdev;
	int end = f->f.pipe_ino != lo, sv[2];
	struct rst_share *sh;
	size_t done = 0;

	if (!r->tree)
		return -EOPNOTSUPP;
	sh = rst_share_find(r->tree, RST_SH_SOCK, lo, 0);
	if (!sh) {
		if (socketpair(AF_UNIX, (int)f->f.pos | SOCK_CLOEXEC, 0, sv))
			return -errno;
		sh = rst_share_add(r->tree, RST_SH_SOCK, lo, 0, sv[0], sv[1]);
		if (!sh)
			return -ENOMEM;
	}
	if (f->f.data_len && !(sh->filled & (1 << end))) {
		while (done < f->f.data_len) {
			ssize_t n = send(sh->fd[!end], (char *)f->data + done,
					 f->f.data_len - done, MSG_DONTWAIT);

			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			done += n;
		}
		sh->filled |= 1 << end;
	}
	return set_fl(fcntl(sh->fd[end], F_DUPFD_CLOEXEC, 0), f);
}

static int open_memfd(struct lm_restorer *r, const struct lm_fd_img *f)
{
	int k = shm_index(r->img, f->f.shm_id);
	char path[64];
	int fd;

	if (k < 0)
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r->shm_fd[k]);
	fd = open(path, (f->f.flags & (O_ACCMODE | O_APPEND | O_NONBLOCK |
				       O_LARGEFILE)) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (f->f.pos && lseek(fd, f->f.pos, SEEK_SET) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int open_kind(struct lm_restorer *r, int idx, int (*pipes)[2])
{
	const struct lm_fd_img *f = &r->img->fds[idx];
	int fl = 0, fd;

	switch (f->f.type) {
	case LM_FD_REG:
	case LM_FD_CHR:
		return open_reg(f);
	case LM_FD_PIPE:
		if (r->tree)
			return open_tree_pipe(r, idx);
		return open_pipe(r, idx, pipes);
	case LM_FD_UNIX:
		return open_unix(r, f);
	case LM_FD_MEMFD:
		return open_memfd(r, f);
	case LM_FD_EVENTFD:
		if (f->f.flags & O_NONBLOCK)
			fl |= EFD_NONBLOCK;
		fd = eventfd(f->f.eventfd_count, fl | EFD_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	return -EOPNOTSUPP;
}

/*
 * In a tree, fds with one file_id share one open file description: the
 * first one opened is kept and the others are dups of it.
 */
static int open_one(struct lm_restorer *r, int idx, int (*pipes)[2])
{
	const struct lm_fd_img *f = &r->img->fds[idx];
	struct rst_share *sh;
	__u64 id;
	int fd;

	if (f->f.fd <= 2)
		return open_stdio(r, f->f.fd, f->f.flags & O_ACCMODE);
	if (!r->tree)
		return open_kind(r, idx, pipes);
	id = lm_tree_file_id(r->tree->t, r->member, f->f.fd);
	sh = id ? rst_share_find(r->tree, RST_SH_FILE, id, 0) : NULL;
	if (sh) {
		fd = fcntl(sh->fd[0], F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	fd = open_kind(r, idx, pipes);
	if (fd >= 0 && id &&
	    !rst_share_add(r->tree, RST_SH_FILE, id, 0,
			   fcntl(fd, F_DUPFD_CLOEXEC, 0), -1)) {
		close(fd);
		return -ENOMEM;
	}
	return fd;
}

int rst_open_fds(struct lm_restorer *r)
{
	unsigned int n = r->img->proc.nr_fds, i;
	int (*pipes)[2];
	int err = 0;

	pipes = malloc((n + 1) * sizeof(*pipes));
	if (!pipes)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		pipes[i][0] = pipes[i][1] = -1;
	for (i = 0; i < n && !err; i++) {
		const struct lm_fd_img *f = &r->img->fds[i];
		int fd = open_one(r, i, pipes);

		if (fd < 0) {
			err = fd;
			rst_err("cannot reopen fd %d (%s %s): %s", f->f.fd,
				lm_fd_type_name(f->f.type), f->path ? f->path : "",
				strerror(-err));
			if (f->f.deleted)
				rst_err("fd %d: the file was deleted; deleted files are not supported",
					f->f.fd);
			break;
		}
		err = plan_add(r, fd, f->f.fd, !!f->f.cloexec);
	}
	/* Close the restorer's own pipe ends: only the carriers keep them. */
	for (i = 0; i < n; i++) {
		unsigned int j;
		int dup = 0;

		for (j = 0; j < i; j++)
			if (pipes[j][0] == pipes[i][0])
				dup = 1;
		if (!dup && pipes[i][0] >= 0) {
			close(pipes[i][0]);
			close(pipes[i][1]);
		}
	}
	free(pipes);
	return err;
}
