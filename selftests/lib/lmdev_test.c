// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include "lmtest.h"
#include "lmdev_test.h"

const char *lmt_module_path(void)
{
	const char *p = getenv("LAZYMIG_KO");

	return p && *p ? p : "build/lazymig.ko";
}

int lmt_module_loaded(void)
{
	return access("/sys/module/" LMT_MOD_NAME, F_OK) == 0;
}

static void lmt_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int lmt_module_load(void)
{
	int fd, i;

	if (!lmt_module_loaded()) {
		fd = open(lmt_module_path(), O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (syscall(__NR_finit_module, fd, "", 0) && errno != EEXIST) {
			int err = -errno;

			close(fd);
			return err;
		}
		close(fd);
	}
	for (i = 0; i < 200; i++) {
		if (access("/dev/" LAZYMIG_DEV_NAME, F_OK) == 0)
			return 0;
		lmt_sleep_ms(10);
	}
	return -ENODEV;
}

int lmt_module_unload(void)
{
	if (syscall(__NR_delete_module, LMT_MOD_NAME, O_NONBLOCK))
		return -errno;
	return 0;
}

/* The kernel release @ko was built for, from its "vermagic=" string. */
static int lmt_ko_release(const char *ko, char *rel, size_t len)
{
	static const char key[] = "vermagic=";
	char *buf = NULL, *p;
	struct stat st;
	size_t n = 0;
	int fd, ret = -ENOENT;

	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!fstat(fd, &st) && st.st_size > 0)
		buf = malloc(st.st_size + 1);
	if (buf && read(fd, buf, st.st_size) == st.st_size) {
		buf[st.st_size] = 0;
		for (p = buf; p + sizeof(key) < buf + st.st_size; p++)
			if (!memcmp(p, key, sizeof(key) - 1))
				break;
		if (p + sizeof(key) < buf + st.st_size) {
			p += sizeof(key) - 1;
			while (p[n] && p[n] != ' ' && n + 1 < len)
				n++;
			memcpy(rel, p, n);
			rel[n] = 0;
			ret = 0;
		}
	}
	free(buf);
	close(fd);
	return ret;
}

const char *lmt_skip_reason(void)
{
	static char why[512];
	struct utsname u;
	char rel[128];

	if (geteuid())
		return "needs root to load lazymig.ko";
	if (lmt_module_loaded())
		return NULL;
	if (access(lmt_module_path(), R_OK)) {
		snprintf(why, sizeof(why), "%s missing (make module; run in the VM)",
			 lmt_module_path());
		return why;
	}
	if (!uname(&u) && !lmt_ko_release(lmt_module_path(), rel, sizeof(rel)) &&
	    strcmp(rel, u.release)) {
		snprintf(why, sizeof(why), "%s is built for %s, this kernel is %s (run in the VM)",
			 lmt_module_path(), rel, u.release);
		return why;
	}
	return NULL;
}

static int lmt_test(const uint64_t *bits, uint64_t i)
{
	return (bits[i / 64] >> (i % 64)) & 1;
}

static void lmt_clear(uint64_t *bits, uint64_t i)
{
	bits[i / 64] &= ~(1ULL << (i % 64));
}

static void lmt_err(struct lmt_shared *sh, const char *what, int err)
{
	sh->errors++;
	snprintf(sh->errmsg, sizeof(sh->errmsg), "daemon: %s: %s", what,
		 strerror(-err));
}

/* Fill the pending pages of [first, end), as the daemon must. */
static void lmt_fill(struct lmt_shared *sh, struct lmdev *d, uint32_t id,
		     uint64_t *bits, uint64_t nr, const char *orig,
		     uint64_t first, uint64_t end)
{
	uint64_t i;
	int n;

	if (end > nr)
		end = nr;
	if (first >= end)
		return;
	n = lmdev_fill(d, id, first, end - first, orig + first * LM_PAGE);
	if (n < 0) {
		lmt_err(sh, "fill", n);
		return;
	}
	sh->nr_fill += n;
	for (i = first; i < end; i++)
		lmt_clear(bits, i);
}
static void lmt_handle(struct lmt_shared *sh, struct lmdev *d, uint32_t id,
		       uint64_t *bits, uint64_t nr, const char *orig,
		       const struct lazymig_event *ev)
{
	struct lmdev_plan p;
	uint64_t i, end;
	int err;

	lmdev_plan(ev, LM_PAGE, &p);
	lmt_fill(sh, d, id, bits, nr, orig, p.fill[0].first, p.fill[0].end);
	lmt_fill(sh, d, id, bits, nr, orig, p.fill[1].first, p.fill[1].end);
	end = p.drop_end < nr ? p.drop_end : nr;
	if (p.drop_first < end) {
		err = lmdev_update(d, id, LAZYMIG_UPDATE_CLEAR, p.drop_first,
				   end - p.drop_first, NULL);
		if (err)
			lmt_err(sh, "update", err);
		for (i = p.drop_first; i < end; i++)
			if (lmt_test(bits, i)) {
				lmt_clear(bits, i);
				sh->nr_drop++;
			}
	}
	err = lmdev_ack(d, ev->seq, 0);
	if (err && err != -ENOENT)
		lmt_err(sh, "ack", err);
}

static void lmt_self_read(struct lmt_shared *sh, int fd, const uint64_t *bits,
			  uint64_t nr)
{
	char buf[LM_PAGE];
	uint64_t i;
	ssize_t n;

	for (i = 0; i < nr && !lmt_test(bits, i); i++)
		;
	n = pread(fd, buf, sizeof(buf), i * LM_PAGE);
	sh->self_read = n < 0 ? -errno : (int)n;
}

static void lmt_serve(struct lmt_shared *sh, int fd, uint64_t nr,
		      const uint64_t *pending, uint64_t seed, enum lmt_mode mode)
{
	size_t words = (nr + 63) / 64;
	uint64_t *bits = calloc(words, sizeof(*bits));
	char *orig = malloc(nr * LM_PAGE);
	struct lazymig_event ev[8];
	struct lmdev d;
	uint32_t id;
	int err, n, i;

	if (!bits || !orig)
		_exit(3);
	if (pending)
		memcpy(bits, pending, words * sizeof(*bits));
	else
		memset(bits, 0xff, words * sizeof(*bits));
	lm_fill(orig, nr * LM_PAGE, seed);
	err = lmdev_open(&d, NULL, 1);
	if (!err)
		err = lmdev_register(&d, fd, nr, pending, 0x1a2b3c, &id);
	if (err) {
		snprintf(sh->errmsg, sizeof(sh->errmsg),
			 "daemon: open/register: %s", strerror(-err));
		sh->ready = err;
		_exit(1);
	}
	if (mode == LMT_SELF_READ)
		lmt_self_read(sh, fd, bits, nr);
	if (mode == LMT_HANG_LEAK && fork() == 0) {
		while (!sh->stop)
			lmt_sleep_ms(10);
		_exit(0);
	}
	sh->ready = 1;
	while (!sh->stop) {
		struct pollfd pfd = { .fd = d.fd, .events = POLLIN };

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		n = lmdev_read(&d, ev, 8);
		if (n == -EAGAIN)
			continue;
		if (n < 0) {
			lmt_err(sh, "read", n);
			break;
		}
		for (i = 0; i < n; i++) {
			if (ev[i].type < 4)
				sh->nr_type[ev[i].type]++;
			sh->last = ev[i];
			sh->nr_events++;
			if (mode == LMT_HANG || mode == LMT_HANG_LEAK)
				continue;
			if (mode == LMT_UNREGISTER) {
				err = lmdev_unregister(&d, id);
				if (err)
					lmt_err(sh, "unregister", err);
				err = lmdev_ack(&d, ev[i].seq, 0);
				if (err != -ENOENT)
					lmt_err(sh, "ack after unregister", err);
				continue;
			}
			if (mode == LMT_REFUSE) {
				err = lmdev_ack(&d, ev[i].seq, -ENOLINK);
				if (err)
					lmt_err(sh, "ack", err);
				continue;
			}
			if (mode == LMT_CLOSE) {
				lmdev_close(&d);
				while (!sh->stop)
					lmt_sleep_ms(10);
				_exit(0);
			}
			lmt_handle(sh, &d, id, bits, nr, orig, &ev[i]);
		}
	}
	_exit(sh->errors ? 2 : 0);
}

int lmt_daemon_start(struct lmt_daemon *d, int fd, uint64_t nr_pages,
		     const uint64_t *pending, uint64_t seed, enum lmt_mode mode)
{
	int i;

	d->sh = mmap(NULL, sizeof(*d->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (d->sh == MAP_FAILED)
		return -errno;
	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0)
		lmt_serve(d->sh, fd, nr_pages, pending, seed, mode);
	for (i = 0; i < 500 && !d->sh->ready; i++)
		lmt_sleep_ms(10);
	if (d->sh->ready == 1)
		return 0;
	if (!d->sh->ready)
		snprintf(d->sh->errmsg, sizeof(d->sh->errmsg),
			 "daemon: not ready after 5 s");
	return d->sh->ready < 0 ? d->sh->ready : -ETIMEDOUT;
}

int lmt_daemon_stop(struct lmt_daemon *d)
{
	int st = 0, i;

	if (d->pid <= 0)
		return 0;
	d->sh->stop = 1;
	for (i = 0; i < 300; i++) {
		if (waitpid(d->pid, &st, WNOHANG) == d->pid)
			goto out;
		lmt_sleep_ms(10);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &st, 0);
out:
	d->pid = 0;
	return st;
}
