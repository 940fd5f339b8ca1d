// SPDX-License-Identifier: GPL-2.0
/*
 * shm_wl: shm objects the process reaches by fd, used through the fd
 * while their pages are still arriving (lazymig.ko at the destination),
 * every byte verified against a model of what the object must hold.
 *
 * Usage: shm_wl STATEFILE DIR NPAGES [nofd]
 *   Two objects of NPAGES pages (>= 1024), each with its fd kept open and
 *   mapped MAP_SHARED whole: a memfd and the tmpfs file DIR/shm_wl.data.
 *   Every page holds lm_pat(seed, offset) but pages with i % 16 == 5,
 *   which are holes (read zero).  The operations hit pages in the last
 *   640 (a push in offset order sends them last), 64 pages apart (the
 *   fault-around window: no operation brings the next one's pages in):
 *     (a) pread of a page              -> the dumped bytes
 *     (b) pwrite of 100 bytes mid-page -> the rest of the page as dumped
 *     (c) fallocate(PUNCH_HOLE) of two whole pages and of a range that
 *         cuts two pages                 -> zeros there, never refilled
 *     (m) MADV_DONTNEED on the mapping -> the dumped bytes again;
 *         MADV_REMOVE on the mapping   -> zeros (through the fd too)
 *     (e) a child gets the fd over a unix socket: pread of one page and a
 *         read through its own new mapping -> the dumped bytes
 *     (d) ftruncate into a page, then back to the full size -> zeros
 *         past the cut
 *   then, for both objects, the whole object through the fd and through
 *   the mapping.
 *   nofd: only the memfd, its fd closed once mapped (no fd reaches it):
 *   only (m), then the whole object through the mapping.
 *
 * STATEFILE  "ready PID" (+ "file tmpfs PATH")
 * SIGUSR1    do the above, write STATEFILE.stage "ok" or "fail: ..."
 * SIGUSR2    (once the migration is over) verify every byte again;
 *            STATEFILE.result "ok" or "fail: ...", exit 0 or 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "lmtest.h"

#define PS	LM_PAGE

struct obj {
	const char *name;
	int fd;
	char *map;
	unsigned char *exp;	/* what the object must hold */
	uint64_t seed;
};

static struct obj objs[2];
static int nr_objs = 2;
static size_t npages;
static char msg[512];
static volatile sig_atomic_t got1, got2;

static void on_sig(int sig)
{
	if (sig == SIGUSR1)
		got1 = 1;
	else
		got2 = 1;
}

__attribute__((format(printf, 1, 2)))
static int fail(const char *fmt, ...)
{
	va_list ap;

	if (msg[0])
		return 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return 1;
}

static int write_atomic(const char *path, const char *text)
{
	char tmp[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		return -1;
	close(fd);
	return rename(tmp, path);
}

static int report(const char *state, const char *what, int rc)
{
	char path[4200], text[600];

	snprintf(path, sizeof(path), "%s.%s", state, what);
	snprintf(text, sizeof(text), "%s%s\n", rc ? "fail: " : "ok", msg);
	write_atomic(path, text);
	return rc;
}

/* Compare @len bytes at offset @off of @o read as @got with the model. */
static int cmp(struct obj *o, const char *how, size_t off, const void *got,
	       size_t len)
{
	const unsigned char *g = got;
	size_t i;

	for (i = 0; i < len; i++)
		if (g[i] != o->exp[off + i])
			return fail("%s: %s: byte 0x%zx (page %zu) is 0x%02x, not 0x%02x",
				    o->name, how, off + i, (off + i) / PS, g[i],
				    o->exp[off + i]);
	return 0;
}

static int check_pread(struct obj *o, const char *how, size_t off,
		       size_t len)
{
	unsigned char *buf = malloc(len);
	ssize_t n;
	int rc;

	if (!buf)
		return fail("out of memory");
	n = pread(o->fd, buf, len, off);
	if (n != (ssize_t)len) {
		free(buf);
		return fail("%s: %s: pread of %zu bytes at 0x%zx: %zd (%s)",
			    o->name, how, len, off, n, strerror(errno));
	}
	rc = cmp(o, how, off, buf, len);
	free(buf);
	return rc;
}

static int check_all(struct obj *o, const char *when)
{
	char how[96];

	snprintf(how, sizeof(how), "%s, whole object by pread", when);
	if (o->fd >= 0 && check_pread(o, how, 0, npages * PS))
		return 1;
	snprintf(how, sizeof(how), "%s, whole object by its mapping", when);
	return cmp(o, how, 0, o->map, npages * PS);
}

static void model_zero(struct obj *o, size_t off, size_t len)
{
	memset(o->exp + off, 0, len);
}

static int punch(struct obj *o, size_t off, size_t len)
{
	if (fallocate(o->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
		      len))
		return fail("%s: punch 0x%zx+0x%zx: %s", o->name, off, len,
			    strerror(errno));
	model_zero(o, off, len);
	return 0;
}

/* (e): a child gets the fd over a unix socket and reads two pages. */
static int child_reads(struct obj *o, size_t pg_read, size_t pg_map)
{
	char cbuf[CMSG_SPACE(sizeof(int))], one = 'f', res[256] = "";
	struct iovec iov = { &one, 1 };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	int sv[2], st;
	pid_t pid;
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return fail("socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (pid == 0) {
		unsigned char *buf = malloc(PS);
		char *m;
		int fd = -1;
		long bad;

		close(sv[0]);
		if (recvmsg(sv[1], &mh, 0) == 1 && (c = CMSG_FIRSTHDR(&mh)) &&
		    c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
		if (fd < 0 || !buf) {
			snprintf(res, sizeof(res), "child: no fd received");
		} else if (pread(fd, buf, PS, pg_read * PS) != (ssize_t)PS) {
			snprintf(res, sizeof(res), "child: pread: %s",
				 strerror(errno));
		} else if ((bad = memcmp(buf, o->exp + pg_read * PS, PS))) {
			snprintf(res, sizeof(res),
				 "child: page %zu read through the received fd differs",
				 pg_read);
		} else if ((m = mmap(NULL, npages * PS, PROT_READ, MAP_SHARED,
				     fd, 0)) == MAP_FAILED) {
			snprintf(res, sizeof(res), "child: mmap: %s",
				 strerror(errno));
		} else if (memcmp(m + pg_map * PS, o->exp + pg_map * PS, PS)) {
			snprintf(res, sizeof(res),
				 "child: page %zu read through its own mapping of the received fd differs",
				 pg_map);
		}
		n = write(sv[1], res, strlen(res) + 1);
		_exit(n > 0 && !res[0] ? 0 : 1);
	}
	close(sv[1]);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &o->fd, sizeof(int));
	if (sendmsg(sv[0], &mh, 0) != 1)
		fail("%s: sendmsg of the fd: %s", o->name, strerror(errno));
	n = read(sv[0], res, sizeof(res) - 1);
	res[n > 0 ? n : 0] = 0;
	close(sv[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st))
		return fail("%s: %s", o->name, res[0] ? res :
			    "child reading the received fd failed");
	return 0;
}

static int stage(struct obj *o)
{
	size_t N = npages, A = N - 640, B = A + 64, C = B + 64, D = C + 64;
	size_t J = D + 64, K = J + 64, G = K + 64, H = G + 64, E = N - 100;
	static const char w[100] = "written by shm_wl after its restore";

	if (o->fd < 0)
		goto madv;
	/* (a) */
	if (check_pread(o, "(a) pread of a pending page", A * PS, PS))
		return 1;
	/* (b) */
	if (pwrite(o->fd, w, sizeof(w), B * PS + 1000) != sizeof(w))
		return fail("%s: pwrite: %s", o->name, strerror(errno));
	memcpy(o->exp + B * PS + 1000, w, sizeof(w));
	if (check_pread(o, "(b) after a partial pwrite", B * PS, PS))
		return 1;
	/* (c) */
	if (punch(o, C * PS, 2 * PS) || punch(o, D * PS + 512, PS + 512))
		return 1;
	if (check_pread(o, "(c) after punching", C * PS, 2 * PS) ||
	    check_pread(o, "(c) after punching", D * PS, 2 * PS))
		return 1;
madv:	/* (m) */
	if (madvise(o->map + J * PS, 2 * PS, MADV_DONTNEED))
		return fail("%s: MADV_DONTNEED: %s", o->name, strerror(errno));
	if (cmp(o, "(m) after MADV_DONTNEED", J * PS, o->map + J * PS, 2 * PS))
		return 1;
	if (madvise(o->map + K * PS, 2 * PS, MADV_REMOVE))
		return fail("%s: MADV_REMOVE: %s", o->name, strerror(errno));
	model_zero(o, K * PS, 2 * PS);
	if (cmp(o, "(m) after MADV_REMOVE", K * PS, o->map + K * PS, 2 * PS))
		return 1;
	if (o->fd < 0)
		return 0;
	if (check_pread(o, "(m) after MADV_REMOVE", K * PS, 2 * PS))
		return 1;
	/* (e) */
	if (child_reads(o, G, H))
		return 1;
	/* (d) */
	if (ftruncate(o->fd, E * PS + 300) || ftruncate(o->fd, N * PS))
		return fail("%s: ftruncate: %s", o->name, strerror(errno));
	model_zero(o, E * PS + 300, (N - E) * PS - 300);
	return check_pread(o, "(d) after truncate and regrow", E * PS, 2 * PS);
}

static int make_obj(struct obj *o, int fd, const char *name, uint64_t seed)
{
	size_t i;

	o->name = name;
	o->fd = fd;
	o->seed = seed;
	o->exp = malloc(npages * PS);
	if (fd < 0 || !o->exp || ftruncate(fd, npages * PS))
		return -1;
	o->map = mmap(NULL, npages * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
		      fd, 0);
	if (o->map == MAP_FAILED)
		return -1;
	for (i = 0; i < npages * PS; i++)
		o->exp[i] = (i / PS) % 16 == 5 ? 0 : lm_pat(seed, i);
	for (i = 0; i < npages; i++)
		if (i % 16 != 5)
			memcpy(o->map + i * PS, o->exp + i * PS, PS);
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096], ready[4300];
	sigset_t block, old;
	int rc = 0, i;

	if ((argc != 4 && (argc != 5 || strcmp(argv[4], "nofd"))) ||
	    (npages = strtoul(argv[3], NULL, 0)) < 1024) {
		fprintf(stderr, "usage: shm_wl STATEFILE DIR NPAGES [nofd] (NPAGES >= 1024)\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/shm_wl.data", argv[2]);
	unlink(path);
	if (argc == 5)
		nr_objs = 1;
	if (make_obj(&objs[0], memfd_create("shm_wl", 0), "memfd", 11) ||
	    (nr_objs == 2 &&
	     make_obj(&objs[1], open(path, O_RDWR | O_CREAT, 0600), "tmpfs",
		      12))) {
		fprintf(stderr, "shm_wl: cannot set up the objects: %s\n",
			strerror(errno));
		return 1;
	}
	if (nr_objs == 1) {
		close(objs[0].fd);
		objs[0].fd = -1;
		path[0] = 0;
	}
	signal(SIGUSR1, on_sig);
	signal(SIGUSR2, on_sig);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, &old);
	snprintf(ready, sizeof(ready), "ready %d\n%s%s%s", getpid(),
		 path[0] ? "file tmpfs " : "", path, path[0] ? "\n" : "");
	if (write_atomic(argv[1], ready))
		return 1;
	while (!got1)
		sigsuspend(&old);
	for (i = 0; i < nr_objs && !rc; i++)
		rc = stage(&objs[i]);
	for (i = 0; i < nr_objs && !rc; i++)
		rc = check_all(&objs[i], "after the operations");
	report(argv[1], "stage", rc);
	while (!got2)
		sigsuspend(&old);
	for (i = 0; i < nr_objs && !rc; i++)
		rc = check_all(&objs[i], "after the migration");
	return report(argv[1], "result", rc);
}
