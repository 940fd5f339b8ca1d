// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig.ko events, served by a small daemon (a child process that opened
 * /dev/lazymig and registered the file, see lib/lmdev_test.c): the test
 * process accesses a memfd or tmpfs file whose pages are still "pending",
 * and sees the original data, byte for byte, as if it had always been
 * there; punches and truncates are reported and never refilled; the
 * daemon's death turns every waiting caller's access into EIO.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lmtest.h"
#include "lmdev_test.h"

#define NPAGES	8
#define SEED	0x5eed
#define P	LM_PAGE

FIXTURE(ev) {
	int fd;
	char *orig;		/* what the daemon restores */
	struct lmt_daemon d;
};

FIXTURE_VARIANT(ev) {
	const char *kind;
	int tmpfs;
};

FIXTURE_VARIANT_ADD(ev, memfd) {
	.kind = "memfd", .tmpfs = 0,
};

FIXTURE_VARIANT_ADD(ev, tmpfs) {
	.kind = "tmpfs file", .tmpfs = 1,
};

/* A memfd, or an unlinked file in /tmp (-ENOTSUP if not a tmpfs). */
static int new_file(int tmpfs)
{
	char path[] = "/tmp/lazymig-ev-XXXXXX";
	struct statfs sfs;
	int fd;

	if (!tmpfs) {
		fd = memfd_create("lm_ev", MFD_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (fstatfs(fd, &sfs) || sfs.f_type != TMPFS_MAGIC) {
		close(fd);
		return -ENOTSUP;
	}
	return fd;
}

FIXTURE_SETUP(ev)
{
	const char *why = lmt_skip_reason();

	self->fd = -1;
	self->d.pid = 0;
	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, lmt_module_load());
	self->fd = new_file(variant->tmpfs);
	if (self->fd == -ENOTSUP)
		SKIP(return, "/tmp is not a tmpfs here");
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, ftruncate(self->fd, NPAGES * P));
	self->orig = malloc(NPAGES * P);
	ASSERT_NE(NULL, self->orig);
	lm_fill(self->orig, NPAGES * P, SEED);
}

FIXTURE_TEARDOWN(ev)
{
	if (self->d.pid > 0) {
		int st = lmt_daemon_stop(&self->d);

		EXPECT_EQ(0, self->d.sh->errors) TH_LOG("%s", self->d.sh->errmsg);
		EXPECT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st));
	}
	if (self->fd >= 0)
		close(self->fd);
}

static int start(struct __test_metadata *_metadata, FIXTURE_DATA(ev) *self,
		 const uint64_t *pending, enum lmt_mode mode)
{
	int err = lmt_daemon_start(&self->d, self->fd, NPAGES, pending, SEED,
				   mode);

	if (err)
		TH_LOG("%s", self->d.sh->errmsg);
	return err;
}

/* First byte of [off, off + len) of the file that differs from @want. */
static long diff_at(int fd, off_t off, size_t len, const char *want)
{
	char *buf = malloc(len);
	long bad = -1;
	size_t i;

	if (!buf || pread(fd, buf, len, off) != (ssize_t)len) {
		free(buf);
		return -2;
	}
	for (i = 0; i < len; i++)
		if (buf[i] != want[i]) {
			bad = (long)i;
			break;
		}
	free(buf);
	return bad;
}

static const char zero[NPAGES * P];

TEST_F(ev, pread_pending)
{
	struct lazymig_event *last = NULL;
	char buf[P];

	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_SERVE));
	last = &self->d.sh->last;
	ASSERT_EQ(P, pread(self->fd, buf, P, 3 * P));
	EXPECT_EQ(0, memcmp(buf, self->orig + 3 * P, P));
	EXPECT_EQ(1, self->d.sh->nr_events);
	EXPECT_EQ(LAZYMIG_EV_ACCESS, last->type);
	EXPECT_EQ(LAZYMIG_EVF_READ, last->flags);
	EXPECT_EQ(3 * P, last->start);
	EXPECT_EQ(4 * P, last->end);
	EXPECT_EQ(getpid(), last->pid);
	EXPECT_EQ(0x1a2b3c, last->cookie);
	/* One event for a whole range, none for a restored page. */
	EXPECT_EQ(-1, diff_at(self->fd, P, 5 * P, self->orig + P));
	EXPECT_EQ(2, self->d.sh->nr_events);
	EXPECT_EQ(P, last->start);
	EXPECT_EQ(6 * P, last->end);
	EXPECT_EQ(-1, diff_at(self->fd, 3 * P, P, self->orig + 3 * P));
	EXPECT_EQ(2, self->d.sh->nr_events);
	EXPECT_EQ(-1, diff_at(self->fd, 0, NPAGES * P, self->orig));
	EXPECT_EQ(NPAGES, self->d.sh->nr_fill);
}

/* Only the even pages are pending; the odd ones already hold new data. */
TEST_F(ev, pending_bitmap)
{
	uint64_t pending = 0x55;
	char *want = malloc(NPAGES * P);
	int i;

	ASSERT_NE(NULL, want);
	lm_fill(want, NPAGES * P, 99);
	for (i = 1; i < NPAGES; i += 2)
		ASSERT_EQ(P, pwrite(self->fd, want + i * P, P, i * P));
	ASSERT_EQ(0, start(_metadata, self, &pending, LMT_SERVE));
	for (i = 1; i < NPAGES; i += 2)
		EXPECT_EQ(-1, diff_at(self->fd, i * P, P, want + i * P));
	EXPECT_EQ(0, self->d.sh->nr_events);
	for (i = 0; i < NPAGES; i += 2)
		memcpy(want + i * P, self->orig + i * P, P);
	EXPECT_EQ(-1, diff_at(self->fd, 0, NPAGES * P, want));
	EXPECT_EQ(NPAGES / 2, self->d.sh->nr_fill);
	free(want);
}

TEST_F(ev, pwrite_partial)
{
	char *want = malloc(NPAGES * P);
	char x[100];

	ASSERT_NE(NULL, want);
	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_SERVE));
	memset(x, 'X', sizeof(x));
	ASSERT_EQ(sizeof(x), pwrite(self->fd, x, sizeof(x), 2 * P + 50));
	EXPECT_EQ(1, self->d.sh->nr_events);
	EXPECT_EQ(LAZYMIG_EVF_WRITE, self->d.sh->last.flags);
	EXPECT_EQ(2 * P + 50, self->d.sh->last.start);
	EXPECT_EQ(2 * P + 150, self->d.sh->last.end);
	/* A write across a page boundary: one event per page. */
	ASSERT_EQ(sizeof(x), pwrite(self->fd, x, sizeof(x), 5 * P - 40));
	EXPECT_EQ(3, self->d.sh->nr_events);
	memcpy(want, self->orig, NPAGES * P);
	memset(want + 2 * P + 50, 'X', sizeof(x));
	memset(want + 5 * P - 40, 'X', sizeof(x));
	EXPECT_EQ(-1, diff_at(self->fd, 0, NPAGES * P, want));
	free(want);
}

TEST_F(ev, punch_reported)
{
	char *want = malloc(NPAGES * P);

	ASSERT_NE(NULL, want);
	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_SERVE));
	ASSERT_EQ(0, fallocate(self->fd, FALLOC_FL_PUNCH_HOLE |
			       FALLOC_FL_KEEP_SIZE, 2 * P, 2 * P));
	EXPECT_EQ(1, self->d.sh->nr_type[LAZYMIG_EV_PUNCH]);
	EXPECT_EQ(2 * P, self->d.sh->last.start);
	EXPECT_EQ(4 * P, self->d.sh->last.end);
	EXPECT_EQ(2, self->d.sh->nr_drop);
	EXPECT_EQ(0, self->d.sh->nr_fill);
	/* A punch inside one page keeps the rest of that page. */
	ASSERT_EQ(0, fallocate(self->fd, FALLOC_FL_PUNCH_HOLE |
			       FALLOC_FL_KEEP_SIZE, 5 * P + 100, 200));
	EXPECT_EQ(2, self->d.sh->nr_type[LAZYMIG_EV_PUNCH]);
	EXPECT_EQ(1, self->d.sh->nr_fill);
	memcpy(want, self->orig, NPAGES * P);
	memset(want + 2 * P, 0, 2 * P);
	memset(want + 5 * P + 100, 0, 200);
	EXPECT_EQ(-1, diff_at(self->fd, 0, NPAGES * P, want));
	/* The punched pages were never refilled: no access event for them. */
	EXPECT_EQ(-1, diff_at(self->fd, 2 * P, 2 * P, zero));
	EXPECT_EQ(2, self->d.sh->nr_drop);
	free(want);
}

TEST_F(ev, truncate_reported)
{
	char *want = calloc(NPAGES, P);
	off_t cut = 2 * P + 1000;

	ASSERT_NE(NULL, want);
	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_SERVE));
	ASSERT_EQ(0, ftruncate(self->fd, cut));
	EXPECT_EQ(1, self->d.sh->nr_type[LAZYMIG_EV_TRUNCATE]);
	EXPECT_EQ(cut, self->d.sh->last.start);
	EXPECT_EQ(NPAGES * P, self->d.sh->last.end);
	EXPECT_EQ(1, self->d.sh->nr_fill);	/* page 2 keeps its head */
	EXPECT_EQ(NPAGES - 3, self->d.sh->nr_drop);
	/* Regrow: zeros past the old end, never the stale image. */
	ASSERT_EQ(0, ftruncate(self->fd, NPAGES * P));
	EXPECT_EQ(1, self->d.sh->nr_events);
	memcpy(want, self->orig, cut);
	EXPECT_EQ(-1, diff_at(self->fd, 0, NPAGES * P, want));
	free(want);
}

/* splice, sendfile and copy_file_range, from and to the file. */
TEST_F(ev, splice_sendfile_copy)
{
	int out = new_file(variant->tmpfs), pfd[2];	/* same fs: no EXDEV */
	char *want = malloc(NPAGES * P), y[20];
	loff_t in_off, out_off;
	off_t off;

	ASSERT_NE(NULL, want);
	ASSERT_GE(out, 0);
	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_SERVE));

	off = P;
	ASSERT_EQ(P, sendfile(out, self->fd, &off, P));
	EXPECT_EQ(-1, diff_at(out, 0, P, self->orig + P)) TH_LOG("sendfile");

	in_off = 2 * P;
	out_off = P;
	ASSERT_EQ(P, copy_file_range(self->fd, &in_off, out, &out_off, P, 0));
	EXPECT_EQ(-1, diff_at(out, P, P, self->orig + 2 * P))
		TH_LOG("copy_file_range from the file");

	in_off = 4 * P;
	ASSERT_EQ(P, splice(self->fd, &in_off, pfd[1], NULL, P, 0));
	ASSERT_EQ(P, read(pfd[0], want, P));
	EXPECT_EQ(0, memcmp(want, self->orig + 4 * P, P)) TH_LOG("splice");
	EXPECT_EQ(3, self->d.sh->nr_type[LAZYMIG_EV_ACCESS]);

	/* Into the file: the rest of page 6 must survive. */
	memset(y, 'Y', sizeof(y));
	ASSERT_EQ(sizeof(y), pwrite(out, y, sizeof(y), 2 * P));
	in_off = 2 * P;
	out_off = 6 * P + 10;
	ASSERT_EQ(sizeof(y), copy_file_range(out, &in_off, self->fd, &out_off,
					     sizeof(y), 0));
	EXPECT_EQ(4, self->d.sh->nr_type[LAZYMIG_EV_ACCESS]);
	EXPECT_EQ(LAZYMIG_EVF_WRITE, self->d.sh->last.flags);
	memcpy(want, self->orig, NPAGES * P);
	memset(want + 6 * P + 10, 'Y', sizeof(y));
	EXPECT_EQ(-1, diff_at(self->fd, 0, NPAGES * P, want));
	close(pfd[0]);
	close(pfd[1]);
	close(out);
	free(want);
}

TEST_F(ev, fallocate_alloc)
{
	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_SERVE));
	ASSERT_EQ(0, fallocate(self->fd, 0, 6 * P, P));
	EXPECT_EQ(1, self->d.sh->nr_events);
	EXPECT_EQ(LAZYMIG_EVF_WRITE | LAZYMIG_EVF_ALLOC,
		  self->d.sh->last.flags);
	EXPECT_EQ(-1, diff_at(self->fd, 6 * P, P, self->orig + 6 * P));
	EXPECT_EQ(1, self->d.sh->nr_events);
}

/* A mapping without userfaultfd (say, mmap after the restore). */
TEST_F(ev, mmap_fault)
{
	char *want = malloc(NPAGES * P), *m;

	ASSERT_NE(NULL, want);
	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_SERVE));
	m = mmap(NULL, NPAGES * P, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(0, memcmp(m + 3 * P, self->orig + 3 * P, P));
	EXPECT_EQ(1, self->d.sh->nr_events);
	EXPECT_EQ(LAZYMIG_EVF_READ | LAZYMIG_EVF_MMAP, self->d.sh->last.flags);
	EXPECT_EQ(3 * P, self->d.sh->last.start);
	m[5 * P + 7] = 'Z';
	EXPECT_EQ(2, self->d.sh->nr_events);
	EXPECT_EQ(LAZYMIG_EVF_WRITE | LAZYMIG_EVF_MMAP,
		  self->d.sh->last.flags);
	memcpy(want, self->orig, NPAGES * P);
	want[5 * P + 7] = 'Z';
	EXPECT_EQ(0, memcmp(m, want, NPAGES * P));
	EXPECT_EQ(-1, diff_at(self->fd, 0, NPAGES * P, want));
	EXPECT_EQ(NPAGES, self->d.sh->nr_events);
	munmap(m, NPAGES * P);
	free(want);
}

static int send_fd(int sock, int fd)
{
	char c = 0, cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
	char c, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &m, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&m);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* A process that got the fd over a unix socket sees the original data. */
TEST_F(ev, fd_over_unix_socket)
{
	int sv[2], st;
	pid_t pid;

	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_SERVE));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fd;

		close(self->fd);
		fd = recv_fd(sv[1]);
		_exit(fd < 0 ? 3 :
		      diff_at(fd, 0, NPAGES * P, self->orig) == -1 ? 0 : 1);
	}
	ASSERT_EQ(0, send_fd(sv[0], self->fd));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("receiver status 0x%x", st);
	EXPECT_EQ(pid, self->d.sh->last.pid);
	close(sv[0]);
	close(sv[1]);
}

/* The daemon's own access is exempt: it reads the hole, no event. */
TEST_F(ev, daemon_exempt)
{
	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_SELF_READ));
	EXPECT_EQ(P, self->d.sh->self_read);
	EXPECT_EQ(0, self->d.sh->nr_events);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A reader child blocks on a pending page; the daemon then dies (or just
 * closes /dev/lazymig).  The reader must get EIO within two seconds, and
 * the registration must be gone.
 */
static void daemon_gone(struct __test_metadata *_metadata,
			FIXTURE_DATA(ev) *self, enum lmt_mode mode)
{
	int pfd[2], res[2] = { 0, 0 }, st, i;
	double t0, t1;
	char buf[P];
	pid_t pid;

	ASSERT_EQ(0, start(_metadata, self, NULL, mode));
	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		ssize_t n = pread(self->fd, buf, P, 2 * P);

		res[0] = n < 0 ? errno : 0;
		res[1] = (int)n;
		_exit(write(pfd[1], res, sizeof(res)) == sizeof(res) ? 0 : 1);
	}
	for (i = 0; i < 500 && !self->d.sh->nr_events; i++)
		usleep(10000);
	ASSERT_EQ(1, self->d.sh->nr_events);
	t0 = now();
	if (mode != LMT_CLOSE)
		kill(self->d.pid, SIGKILL);
	ASSERT_EQ(sizeof(res), read(pfd[0], res, sizeof(res)));
	t1 = now();
	EXPECT_EQ(EIO, res[0]) TH_LOG("pread returned %d", res[1]);
	EXPECT_LT(t1 - t0, 2.0);
	TH_LOG("caller woke %.3f s after the daemon went", t1 - t0);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	lmt_daemon_stop(&self->d);
	self->d.pid = 0;
	/*
	 * Dropped: the hole reads as zeros and a new daemon may register.
	 * When the daemon's death was found by a waiter (its fd lived on in
	 * a child), a work item drops the registrations: EIO until then.
	 */
	for (i = 0; i < 100 && diff_at(self->fd, 2 * P, P, zero) == -2; i++)
		usleep(10000);
	EXPECT_EQ(-1, diff_at(self->fd, 2 * P, P, zero));
	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_SERVE));
	EXPECT_EQ(-1, diff_at(self->fd, 3 * P, P, self->orig + 3 * P));
	close(pfd[0]);
	close(pfd[1]);
}

TEST_F(ev, daemon_death_eio)
{
	daemon_gone(_metadata, self, LMT_HANG);
}

TEST_F(ev, daemon_close_eio)
{
	daemon_gone(_metadata, self, LMT_CLOSE);
}

/* The daemon dies but a child of it keeps /dev/lazymig open. */
TEST_F(ev, daemon_death_fd_leaked_eio)
{
	daemon_gone(_metadata, self, LMT_HANG_LEAK);
}

/* The daemon may fail an operation with an errno of its choice. */
TEST_F(ev, ack_error)
{
	char buf[P];

	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_REFUSE));
	EXPECT_EQ(-1, pread(self->fd, buf, P, 0));
	EXPECT_EQ(ENOLINK, errno);
	EXPECT_EQ(-1, pwrite(self->fd, buf, 10, P));
	EXPECT_EQ(ENOLINK, errno);
	EXPECT_EQ(-1, ftruncate(self->fd, P));
	EXPECT_EQ(ENOLINK, errno);
	EXPECT_EQ(NPAGES * P, lseek(self->fd, 0, SEEK_END));
	EXPECT_EQ(3, self->d.sh->nr_events);
}

/* Unregistering lets the waiting callers go; the page stays a hole. */
TEST_F(ev, unregister_releases)
{
	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_UNREGISTER));
	EXPECT_EQ(-1, diff_at(self->fd, 0, P, zero));
	EXPECT_EQ(1, self->d.sh->nr_events);
	EXPECT_EQ(-1, diff_at(self->fd, P, P, zero));
	EXPECT_EQ(1, self->d.sh->nr_events);
}

static int set_timeout(const char *ms)
{
	int fd = open("/sys/module/" LMT_MOD_NAME "/parameters/timeout_ms",
		      O_WRONLY | O_CLOEXEC);
	int ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, ms, strlen(ms)) == (ssize_t)strlen(ms);
	close(fd);
	return ok ? 0 : -EIO;
}

/* A daemon alive but silent: the caller gives up after timeout_ms. */
TEST_F(ev, ack_timeout)
{
	double t0, dt;
	char buf[P];

	ASSERT_EQ(0, set_timeout("1000"));
	ASSERT_EQ(0, start(_metadata, self, NULL, LMT_HANG));
	t0 = now();
	EXPECT_EQ(-1, pread(self->fd, buf, P, 0));
	EXPECT_EQ(EIO, errno);
	dt = now() - t0;
	EXPECT_EQ(0, set_timeout("120000"));
	EXPECT_GT(dt, 0.9);
	EXPECT_LT(dt, 4.0);
	TH_LOG("gave up after %.3f s", dt);
}

#define BIG	256
#define WORKERS	4

/* Worker @w reads every page of @fd once, in its own order; 0 if all good. */
static int worker(int fd, const char *orig, int w)
{
	char *m = NULL, buf[2 * P];
	int i, p, bad = 0;

	if (w % 2) {
		m = mmap(NULL, BIG * P, PROT_READ, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			return 2;
	}
	for (i = 0; i < BIG; i++) {
		p = (i * (2 * w + 1) * 37 + w * 11) % BIG;
		if (m) {
			bad |= memcmp(m + p * P, orig + p * P, P) != 0;
		} else if (p + 1 < BIG) {
			bad |= pread(fd, buf, 2 * P, p * P) != 2 * P ||
			       memcmp(buf, orig + p * P, 2 * P);
		} else {
			bad |= pread(fd, buf, P, p * P) != P ||
			       memcmp(buf, orig + p * P, P);
		}
	}
	return bad;
}

/* Several processes fault and read the same pending pages at once. */
TEST(concurrent_access)
{
	const char *why = lmt_skip_reason();
	struct lmt_daemon d = { 0 };
	pid_t pid[WORKERS];
	char *orig;
	int fd, w, st;

	if (why)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, lmt_module_load());
	fd = memfd_create("lm_conc", MFD_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, BIG * P));
	orig = malloc(BIG * P);
	ASSERT_NE(NULL, orig);
	lm_fill(orig, BIG * P, SEED);
	ASSERT_EQ(0, lmt_daemon_start(&d, fd, BIG, NULL, SEED, LMT_SERVE))
		TH_LOG("%s", d.sh->errmsg);
	for (w = 0; w < WORKERS; w++) {
		pid[w] = fork();
		ASSERT_GE(pid[w], 0);
		if (!pid[w])
			_exit(worker(fd, orig, w));
	}
	for (w = 0; w < WORKERS; w++) {
		ASSERT_EQ(pid[w], waitpid(pid[w], &st, 0));
		EXPECT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st))
			TH_LOG("worker %d (%s) status 0x%x", w,
			       w % 2 ? "mmap" : "pread", st);
	}
	EXPECT_EQ(BIG, d.sh->nr_fill);
	TH_LOG("%d events for %d pages and %d workers", d.sh->nr_events, BIG,
	       WORKERS);
	st = lmt_daemon_stop(&d);
	EXPECT_EQ(0, d.sh->errors) TH_LOG("%s", d.sh->errmsg);
	EXPECT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st));
	close(fd);
	free(orig);
}

TEST_HARNESS_MAIN
