/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the hostile_*.c selftests: a real image to damage (dumped
 * once, before the tests fork), a walk over its records, mutations that
 * keep or break the checksums, running the tool with a hard time limit,
 * and the check that nothing was left running.
 */
#ifndef LMTEST_HOSTILE_H
#define LMTEST_HOSTILE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zlib.h>
#include "image.h"
#include "wl.h"

#define HOSTILE_LIMIT_S	30	/* no tool run may take longer */
#define HOSTILE_MAX_RECS 4096

struct hostile_rec {
	size_t off;		/* of the record header */
	__u32 type;
	__u64 len;		/* payload */
};

/* The base image: a dump of a small running wl_mem. */
static struct {
	char dir[64], path[128];
	char tool[128];		/* a private copy of build/lazymig */
	struct lm_wl w;		/* the dumped workload: its files stay */
	unsigned char *buf;
	size_t len;
	struct hostile_rec rec[HOSTILE_MAX_RECS];
	int nr;
	char err[512];
} base;

static int hostile_read_file(const char *path, unsigned char **buf,
			     size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || fstat(fd, &st))
		return -errno;
	*buf = malloc(st.st_size ? st.st_size : 1);
	if (!*buf)
		return -ENOMEM;
	n = read(fd, *buf, st.st_size);
	close(fd);
	if (n != st.st_size)
		return -EIO;
	*len = n;
	return 0;
}

static int hostile_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = len ? write(fd, buf, len) : 0;
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Record offsets of a well-formed stream; the number of records or -1. */
static int hostile_walk(const unsigned char *buf, size_t len,
			struct hostile_rec *rec, int max)
{
	size_t off = 0;
	int n = 0;

	while (off + sizeof(struct lm_rec_hdr) + 4 <= len && n < max) {
		struct lm_rec_hdr h;

		memcpy(&h, buf + off, sizeof(h));
		if (h.magic != LM_MAGIC || h.len > len - off)
			return -1;
		rec[n++] = (struct hostile_rec){ off, h.type, h.len };
		off += sizeof(h) + h.len + 4;
	}
	return off == len ? n : -1;
}

/* Index of the @nth record of @type in base, or -1. */
static int hostile_find(__u32 type, int nth)
{
	int i;

	for (i = 0; i < base.nr; i++)
		if (base.rec[i].type == type && !nth--)
			return i;
	return -1;
}

/* Recompute the crc of the record at @off (after a deliberate change). */
static void hostile_fix_crc(unsigned char *buf, size_t off)
{
	struct lm_rec_hdr h;
	__u32 c;
	uLong crc;

	memcpy(&h, buf + off, sizeof(h));
	crc = crc32(0L, buf + off, sizeof(h));
	crc = crc32(crc, buf + off + sizeof(h), h.len);
	c = (__u32)crc;
	memcpy(buf + off + sizeof(h) + h.len, &c, 4);
}

/* A private copy of the base image to damage. */
static unsigned char *hostile_copy(void)
{
	unsigned char *c = malloc(base.len);

	if (c)
		memcpy(c, base.buf, base.len);
	return c;
}

__attribute__((format(printf, 3, 4)))
static int hostile_run(char *out, size_t len, const char *fmt, ...);

/*
 * The tests run a copy of the tool: build/lazymig may be relinked by a
 * concurrent make while they run.
 */
static int hostile_copy_tool(void)
{
	char cmd[512];
	int i;

	snprintf(base.tool, sizeof(base.tool), "%s/lazymig", base.dir);
	for (i = 0; i < 50; i++) {
		struct stat st;

		if (!stat(lm_build_path("lazymig"), &st) && st.st_size &&
		    (st.st_mode & S_IXUSR))
			break;
		usleep(100000);
	}
	snprintf(cmd, sizeof(cmd), "cp %s %s", lm_build_path("lazymig"),
		 base.tool);
	return system(cmd) ? -EIO : 0;
}

static int hostile_make_base(void)
{
	struct lm_wl *w = &base.w;
	char out[4096];
	int rc;

	snprintf(base.dir, sizeof(base.dir), "/tmp/lm-hostile.XXXXXX");
	if (!mkdtemp(base.dir))
		return -errno;
	snprintf(base.path, sizeof(base.path), "%s/base.img", base.dir);
	if (hostile_copy_tool()) {
		snprintf(base.err, sizeof(base.err), "cannot copy the tool");
		return -EIO;
	}
	rc = lm_wl_start(w, "wl_mem", "--anon --heap --fds --pages 4");
	if (rc) {
		snprintf(base.err, sizeof(base.err), "cannot start wl_mem: %s",
			 strerror(-rc));
		return rc;
	}
	rc = hostile_run(out, sizeof(out), "dump -t %d -o %s", w->pid,
			 base.path);
	lm_wl_reap(w, 5000);
	if (rc) {
		snprintf(base.err, sizeof(base.err), "dump failed: %.400s", out);
		return -EIO;
	}
	if (hostile_read_file(base.path, &base.buf, &base.len))
		return -EIO;
	base.nr = hostile_walk(base.buf, base.len, base.rec, HOSTILE_MAX_RECS);
	if (base.nr < 0) {
		snprintf(base.err, sizeof(base.err), "cannot walk the dump");
		return -EBADMSG;
	}
	return 0;
}

static void hostile_drop_base(void)
{
	lm_wl_stop(&base.w);
	rmdir(base.w.dir);
	unlink(base.tool);
	unlink(base.path);
	rmdir(base.dir);
	free(base.buf);
	base.buf = NULL;
}

/*
 * Run "build/lazymig ARGS" under timeout(1): output into @out; returns
 * the exit status, 124/137 when it had to be stopped.
 */
__attribute__((format(printf, 3, 4)))
static int hostile_run(char *out, size_t len, const char *fmt, ...)
{
	char args[4096], cmd[8192];
	size_t n = 0;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "timeout -k 5 %d %s %s 2>&1 </dev/null",
		 HOSTILE_LIMIT_S, base.tool, args);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(out, 1, len - 1, p);
	out[n] = 0;
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Reap what died; then the live processes that are still our children
 * (we are a child subreaper, so a restored process whose lazymig exited
 * would be one), as "pid pid ...", killed.  0 when there were none.
 */
static int hostile_leftovers(char *buf, size_t len)
{
	char path[300], list[1024];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	buf[0] = 0;
	dir = opendir("/proc/self/task");
	if (!dir)
		return 0;
	while ((d = readdir(dir))) {
		ssize_t r;
		int fd;
		char *p, *save = NULL;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children",
			 d->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		r = read(fd, list, sizeof(list) - 1);
		close(fd);
		if (r <= 0)
			continue;
		list[r] = 0;
		for (p = strtok_r(list, " \n", &save); p;
		     p = strtok_r(NULL, " \n", &save)) {
			size_t l = strlen(buf);

			snprintf(buf + l, len - l, "%s ", p);
			kill(atoi(p), SIGKILL);
			n++;
		}
	}
	closedir(dir);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return n;
}

#endif
