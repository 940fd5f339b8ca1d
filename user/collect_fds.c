// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig dump: file descriptors, from /proc/PID/fd and fdinfo.  Regular
 * files, pipes (with their buffered bytes, copied by tee() without
 * consuming them), character devices, memfds (an shm object) and eventfds
 * are kept; everything else is refused by name, before anything else
 * touches the process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/unix_diag.h>
#include "dump.h"

#define UNIX_DATA_MAX	(16UL << 20)

#define FDINFO_CLOEXEC	02000000

struct fd_ctx {
	struct lm_dump *d;
	int fd;
	char target[LM_PATH_MAX];
	char proc_path[64];
	char *fdinfo;
};

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The fd numbers of the process, sorted. */
static int list_fds(struct lm_dump *d, int **out, unsigned int *nr)
{
	char path[64];
	struct dirent *e;
	int *v = NULL;
	unsigned int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", d->pid);
	dir = opendir(path);
	if (!dir)
		return lm_dump_fail(d, -errno, "cannot list %s: %s", path,
				    strerror(errno));
	while ((e = readdir(dir))) {
		int *nv;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			closedir(dir);
			free(v);
			return lm_dump_fail(d, -ENOMEM, "out of memory");
		}
		v = nv;
		v[n++] = atoi(e->d_name);
	}
	closedir(dir);
	if (n > LM_MAX_FDS) {
		free(v);
		return lm_dump_fail(d, -E2BIG, "PID %d has %u fds (max %d)",
				    d->pid, n, LM_MAX_FDS);
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_int);
	*out = v;
	*nr = n;
	return 0;
}

/* Which kind of socket @ino is, from the process's /proc/PID/net. */
static const char *socket_kind(pid_t pid, const char *ino)
{
	static const char *const tabs[][2] = {
		{ "tcp", "TCP" }, { "tcp6", "TCPv6" }, { "udp", "UDP" },
		{ "udp6", "UDPv6" }, { "unix", "UNIX" }, { "raw", "raw" },
		{ "raw6", "raw IPv6" }, { "netlink", "netlink" },
		{ "packet", "packet" },
	};
	size_t i, il = strlen(ino);

	for (i = 0; i < sizeof(tabs) / sizeof(tabs[0]); i++) {
		char path[64], *text, *p;
		int hit = 0;

		snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, tabs[i][0]);
		text = lm_dump_slurp(path, NULL);
		for (p = text; p && (p = strstr(p, ino)); p += il)
			if (p[-1] == ' ' && (p[il] == ' ' || p[il] == '\n' ||
					     !p[il])) {
				hit = 1;
				break;
			}
		free(text);
		if (hit)
			return tabs[i][1];
	}
	return NULL;
}

static int refuse_socket(struct fd_ctx *c)
{
	char ino[32];
	const char *kind;

	snprintf(ino, sizeof(ino), "%.*s", (int)strcspn(c->target + 8, "]"),
		 c->target + 8);
	kind = socket_kind(c->d->pid, ino);
	return lm_dump_fail(c->d, -EOPNOTSUPP,
			    "fd %d of PID %d is a %s socket; sockets are not supported",
			    c->fd, c->d->pid, kind ? kind : "(kind unknown)");
}

/*
 * Ask sock_diag about the AF_UNIX socket @ino: its peer's inode (0: none)
 * and whether it is bound to a name.  -ENOENT: not an AF_UNIX socket of
 * this network namespace.
 */
static int unix_diag(__u32 ino, __u32 *peer, int *named)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} q;
	union {
		struct nlmsghdr nlh;
		char buf[8192];
	} a;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct unix_diag_msg *m;
	struct rtattr *at;
	struct nlmsghdr *h;
	int fd, len, rlen, err = -ENOENT;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.req.sdiag_family = AF_UNIX;
	q.req.udiag_states = ~0U;
	q.req.udiag_ino = ino;
	q.req.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER;
	q.req.udiag_cookie[0] = q.req.udiag_cookie[1] = ~0U;
	if (sendto(fd, &q, sizeof(q), 0, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	len = recv(fd, &a, sizeof(a), 0);
	if (len < 0) {
		err = -errno;
		goto out;
	}
	*peer = 0;
	*named = 0;
	for (h = &a.nlh; NLMSG_OK(h, (unsigned int)len); h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
			break;
		m = NLMSG_DATA(h);
		if (m->udiag_ino != ino)
			continue;
		err = 0;
		rlen = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
		for (at = (struct rtattr *)(m + 1); RTA_OK(at, rlen);
		     at = RTA_NEXT(at, rlen)) {
			if (at->rta_type == UNIX_DIAG_PEER)
				*peer = *(__u32 *)RTA_DATA(at);
			else if (at->rta_type == UNIX_DIAG_NAME)
				*named = 1;
		}
	}
out:
	close(fd);
	return err;
}

/*
 * One end of an AF_UNIX socketpair (dump --tree): its type, its peer and
 * the bytes queued for it, peeked (not consumed) through a copy of the fd
 * taken with pidfd_getfd.  The peer must turn out to be in the tree too
 * (dump_tree.c checks).
 */
static int unix_fd(struct fd_ctx *c, struct lm_fd_img *f, __u32 ino)
{
	__u32 peer = 0;
	int named = 0, type = 0, inq = 0, sfd, err;
	socklen_t tl = sizeof(type);
	ssize_t n;

	err = unix_diag(ino, &peer, &named);
	if (err == -ENOENT)
		return refuse_socket(c);
	if (err)
		return lm_dump_fail(c->d, err, "cannot ask sock_diag about fd %d of PID %d (%s): %s",
				    c->fd, c->d->pid, c->target, strerror(-err));
	if (named || !peer)
		return lm_dump_fail(c->d, -EOPNOTSUPP,
				    "fd %d of PID %d is a UNIX socket %s; only socketpairs are supported",
				    c->fd, c->d->pid,
				    named ? "bound to a name" : "without a peer");
	sfd = syscall(SYS_pidfd_getfd, c->d->pidfd, c->fd, 0);
	if (sfd < 0)
		return lm_dump_fail(c->d, -errno, "cannot take fd %d of PID %d: %s",
				    c->fd, c->d->pid, strerror(errno));
	err = 0;
	if (getsockopt(sfd, SOL_SOCKET, SO_TYPE, &type, &tl) ||
	    ioctl(sfd, SIOCINQ, &inq)) {
		err = lm_dump_fail(c->d, -errno, "cannot query UNIX socket fd %d of PID %d: %s",
				   c->fd, c->d->pid, strerror(errno));
		goto out;
	}
	f->f.type = LM_FD_UNIX;
	f->f.pipe_ino = ino;
	f->f.rdev = peer;
	f->f.pos = type;
	if (inq <= 0)
		goto out;
	if (type != SOCK_STREAM || (unsigned long)inq > UNIX_DATA_MAX) {
		err = lm_dump_fail(c->d, -EOPNOTSUPP,
				   "fd %d of PID %d is a UNIX %s socket with %d bytes queued; only stream sockets with at most %lu queued bytes are supported",
				   c->fd, c->d->pid, type == SOCK_STREAM ?
				   "stream" : "datagram", inq, UNIX_DATA_MAX);
		goto out;
	}
	f->data = malloc(inq);
	if (!f->data) {
		err = lm_dump_fail(c->d, -ENOMEM, "out of memory");
		goto out;
	}
	n = recv(sfd, f->data, inq, MSG_PEEK | MSG_DONTWAIT);
	if (n != inq) {
		err = lm_dump_fail(c->d, n < 0 ? -errno : -EIO,
				   "cannot copy the %d bytes queued on UNIX socket fd %d of PID %d",
				   inq, c->fd, c->d->pid);
		goto out;
	}
	f->f.data_len = inq;
out:
	close(sfd);
	return err;
}

static int refuse_anon(struct fd_ctx *c)
{
	static const char *const names[][2] = {
		{ "[eventpoll]", "an epoll instance" },
		{ "[signalfd]", "a signalfd" },
		{ "[timerfd]", "a timerfd" },
		{ "inotify", "an inotify instance" },
		{ "[fanotify]", "a fanotify instance" },
		{ "[pidfd]", "a pidfd" },
		{ "[perf_event]", "a perf event" },
		{ "[io_uring]", "an io_uring instance" },
	};
	const char *what = c->target + 11, *name = NULL;
	size_t i;

	if (!strcmp(what, "[userfaultfd]") || !strcmp(what, "userfaultfd"))
		return lm_dump_fail(c->d, -EOPNOTSUPP,
				    "fd %d of PID %d is a userfaultfd; a process that uses userfaultfd itself cannot be dumped",
				    c->fd, c->d->pid);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(what, names[i][0]))
			name = names[i][1];
	if (name)
		return lm_dump_fail(c->d, -EOPNOTSUPP,
				    "fd %d of PID %d is %s; it is not supported",
				    c->fd, c->d->pid, name);
	return lm_dump_fail(c->d, -EOPNOTSUPP,
			    "fd %d of PID %d is %s; this kind of fd is not supported",
			    c->fd, c->d->pid, c->target);
}

/* Bytes buffered in a pipe, copied with tee() so the process keeps them. */
static int pipe_data(struct fd_ctx *c, struct lm_fd_img *f)
{
	int src, p[2] = { -1, -1 }, avail = 0, err = 0;
	ssize_t n;

	src = open(c->proc_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (src < 0)
		return lm_dump_fail(c->d, -errno, "cannot open pipe fd %d of PID %d: %s",
				    c->fd, c->d->pid, strerror(errno));
	if (ioctl(src, FIONREAD, &avail) || avail <= 0)
		goto out;
	if (pipe2(p, O_CLOEXEC) ||
	    fcntl(p[1], F_SETPIPE_SZ, fcntl(src, F_GETPIPE_SZ)) < 0) {
		err = -errno;
		goto fail;
	}
	f->data = malloc(avail);
	if (!f->data) {
		err = -ENOMEM;
		goto fail;
	}
	n = tee(src, p[1], avail, SPLICE_F_NONBLOCK);
	if (n != avail) {
		err = n < 0 ? -errno : -EIO;
		goto fail;
	}
	close(p[1]);
	p[1] = -1;
	if (read(p[0], f->data, avail) != avail) {
		err = -EIO;
		goto fail;
	}
	f->f.data_len = avail;
	goto out;
fail:
	lm_dump_fail(c->d, err, "cannot copy the %d bytes buffered in pipe fd %d of PID %d: %s",
		     avail, c->fd, c->d->pid, strerror(-err));
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	close(src);
	return err;
}

static int seen_pipe(struct lm_dump *d, __u64 ino)
{
	unsigned int i;

	for (i = 0; i < d->img.proc.nr_fds; i++)
		if (d->img.fds[i].f.type == LM_FD_PIPE &&
		    d->img.fds[i].f.pipe_ino == ino)
			return 1;
	return 0;
}

static int path_fd(struct fd_ctx *c, struct lm_fd_img *f,
		   const struct stat *st)
{
	size_t n = strlen(c->target);

	if (!strncmp(c->target, "/memfd:", 7) && S_ISREG(st->st_mode)) {
		char name[LM_PATH_MAX];
		int id;

		snprintf(name, sizeof(name), "%s", c->target + 1);
		if (n > 17 && !strcmp(name + strlen(name) - 10, " (deleted)"))
			name[strlen(name) - 10] = 0;
		id = lm_dump_shm_get(c->d, c->proc_path, name, LM_MEM_MEMFD);
		if (id < 0)
			return id;
		c->d->img.shms[id].s.flags |= LM_SHM_FD_REACHABLE;
		f->f.type = LM_FD_MEMFD;
		f->f.shm_id = id;
	} else if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) {
		f->f.type = LM_FD_REG;
		if (n > 10 && !strcmp(c->target + n - 10, " (deleted)")) {
			f->f.deleted = 1;
			c->target[n - 10] = 0;
		}
	} else if (S_ISCHR(st->st_mode)) {
		f->f.type = LM_FD_CHR;
		f->f.rdev = st->st_rdev;
	} else {
		return lm_dump_fail(c->d, -EOPNOTSUPP,
				    "fd %d of PID %d is %s (%s); it is not supported",
				    c->fd, c->d->pid, c->target,
				    S_ISFIFO(st->st_mode) ? "a named FIFO" :
				    S_ISBLK(st->st_mode) ? "a block device" :
				    "an unsupported file type");
	}
	f->path = strdup(c->target);
	return f->path ? 0 : lm_dump_fail(c->d, -ENOMEM, "out of memory");
}

static int classify_fd(struct fd_ctx *c, struct lm_fd_img *f)
{
	const char *t = c->target;
	struct stat st;

	if (!strncmp(t, "socket:[", 8)) {
		if (c->d->tree && c->d->pidfd >= 0)
			return unix_fd(c, f, strtoul(t + 8, NULL, 10));
		return refuse_socket(c);
	}
	if (!strcmp(t, "anon_inode:[eventfd]")) {
		f->f.type = LM_FD_EVENTFD;
		f->f.eventfd_count = strtoull(lm_dump_field(c->fdinfo, "eventfd-count") ?:
					      "0", NULL, 16);
		return 0;
	}
	if (!strncmp(t, "anon_inode:", 11))
		return refuse_anon(c);
	if (stat(c->proc_path, &st))
		return lm_dump_fail(c->d, -errno, "cannot stat fd %d of PID %d (%s): %s",
				    c->fd, c->d->pid, t, strerror(errno));
	if (!strncmp(t, "pipe:[", 6) && S_ISFIFO(st.st_mode)) {
		f->f.type = LM_FD_PIPE;
		f->f.pipe_ino = st.st_ino;
		if (seen_pipe(c->d, st.st_ino))
			return 0;
		return pipe_data(c, f);
	}
	if (t[0] == '/')
		return path_fd(c, f, &st);
	return lm_dump_fail(c->d, -EOPNOTSUPP,
			    "fd %d of PID %d is %s; this kind of fd is not supported",
			    c->fd, c->d->pid, t);
}

static int one_fd(struct lm_dump *d, int fd, struct lm_fd_img *f)
{
	struct fd_ctx c = { .d = d, .fd = fd };
	char info[64];
	ssize_t n;
	int err;

	snprintf(c.proc_path, sizeof(c.proc_path), "/proc/%d/fd/%d", d->pid,
		 fd);
	n = readlink(c.proc_path, c.target, sizeof(c.target) - 1);
	if (n < 0)
		return errno == ENOENT ? 1 : lm_dump_fail(d, -errno,
			"cannot read %s: %s", c.proc_path, strerror(errno));
	c.target[n] = 0;
	snprintf(info, sizeof(info), "/proc/%d/fdinfo/%d", d->pid, fd);
	c.fdinfo = lm_dump_slurp(info, NULL);
	if (!c.fdinfo)
		return errno == ENOENT ? 1 : lm_dump_fail(d, -errno,
			"cannot read %s", info);
	memset(f, 0, sizeof(*f));
	f->f.fd = fd;
	f->f.shm_id = -1;
	f->f.pos = strtoull(lm_dump_field(c.fdinfo, "pos") ?: "0", NULL, 10);
	f->f.flags = strtoul(lm_dump_field(c.fdinfo, "flags") ?: "0", NULL, 8);
	f->f.cloexec = !!(f->f.flags & FDINFO_CLOEXEC);
	err = classify_fd(&c, f);
	free(c.fdinfo);
	return err;
}

int lm_collect_fds(struct lm_dump *d)
{
	unsigned int nr = 0, i;
	int *fds = NULL, err;

	err = list_fds(d, &fds, &nr);
	if (err)
		return err;
	d->img.fds = nr ? calloc(nr, sizeof(*d->img.fds)) : NULL;
	if (nr && !d->img.fds) {
		free(fds);
		return lm_dump_fail(d, -ENOMEM, "out of memory");
	}
	for (i = 0; i < nr; i++) {
		struct lm_fd_img *f = &d->img.fds[d->img.proc.nr_fds];

		err = one_fd(d, fds[i], f);
		if (err < 0) {
			free(f->path);
			free(f->data);
			memset(f, 0, sizeof(*f));
			break;
		}
		if (!err)	/* 1: closed meanwhile */
			d->img.proc.nr_fds++;
		err = 0;
	}
	free(fds);
	return err;
}
