// SPDX-License-Identifier: GPL-2.0
/* What receive of one process and of a process tree share. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include "lazy.h"
#include "receive_common.h"

#define DAEMON_NICE	-10

void lm_receive_daemon(struct lm_lazy *lz, int *err, const int *resumed,
		       void (*stop)(void *ctx), void *ctx)
{
	if (setpriority(PRIO_PROCESS, gettid(), DAEMON_NICE))
		fprintf(stderr, "receive: cannot raise the daemon's priority: %s\n",
			strerror(errno));
	*err = lm_lazy_run(lz);
	if (*err && *err != -ECANCELED &&
	    !__atomic_load_n(resumed, __ATOMIC_ACQUIRE))
		stop(ctx);
}

char *lm_main_children(void)
{
	size_t cap = 0, len = 0;
	char path[64], *buf = NULL, *t;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", getpid());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	do {			/* all of it: one pid per restored process */
		if (len + 4096 + 1 > cap) {
			cap = cap ? 2 * cap : 8192;
			t = realloc(buf, cap);
			if (!t)
				break;
			buf = t;
		}
		n = read(fd, buf + len, cap - len - 1);
		len += n > 0 ? n : 0;
	} while (n > 0);
	close(fd);
	if (buf)
		buf[len] = 0;
	return buf;
}

int lm_write_pidfile(const char *path, pid_t pid)
{
	FILE *f = fopen(path, "w");

	if (!f || fprintf(f, "%d\n", pid) < 0 || fclose(f)) {
		fprintf(stderr, "receive: cannot write pidfile %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	return 0;
}

int lm_receive_fault(const char *where)
{
	const char *f = getenv("LAZYMIG_FAULT");

	if (!f || strcmp(f, where))
		return 0;
	fprintf(stderr, "receive: LAZYMIG_FAULT=%s: failing on purpose\n", f);
	if (!strncmp(f, "receive-die-", 12))
		raise(SIGKILL);
	return 1;
}

void lm_append(char *buf, size_t len, const char *fmt, ...)
{
	size_t off = strlen(buf);
	va_list ap;

	if (off + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
}
