// SPDX-License-Identifier: GPL-2.0
/*
 * The far end of a channel in the protocol harnesses (see peer.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include "peer.h"

#define PEER_BUF	(32 << 20)
#define IDLE_MAX_MS	2000

int fuzz_pair(int fds[2])
{
	int sz = PEER_BUF, i;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds))
		return -errno;
	for (i = 0; i < 2; i++) {
		setsockopt(fds[i], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
		setsockopt(fds[i], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	}
	return 0;
}

size_t fuzz_queue(int fd, const void *data, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const char *)data + done, len - done,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += n;
	}
	return done;
}

int fuzz_thread_sleeps(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;	/* gone */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D');
}

static int outq(int fd)
{
	int n = 0;

	if (ioctl(fd, SIOCOUTQ, &n))
		return 0;
	return n;
}

/* Until the tested thread sleeps with nothing left to read, or a while. */
static void wait_idle(struct fuzz_peer *p)
{
	struct timespec ts = { .tv_nsec = 20000 };
	int calm = 0, i;

	for (i = 0; i < IDLE_MAX_MS * 50 && calm < 3; i++) {
		if (!outq(p->fd) && fuzz_thread_sleeps(p->tested))
			calm++;
		else
			calm = 0;
		nanosleep(&ts, NULL);
	}
}

/* Whole messages at the front of p->buf go to on_msg. */
static void parse(struct fuzz_peer *p)
{
	size_t off = 0;

	while (p->len - off >= sizeof(struct lm_msg)) {
		struct lm_msg m;

		memcpy(&m, p->buf + off, sizeof(m));
		if (p->len - off < sizeof(m) + m.len)
			break;
		if (p->on_msg)
			p->on_msg(p, &m, p->buf + off + sizeof(m));
		off += sizeof(m) + m.len;
	}
	memmove(p->buf, p->buf + off, p->len - off);
	p->len -= off;
}

static void *peer_main(void *arg)
{
	struct fuzz_peer *p = arg;
	size_t cap = sizeof(struct lm_msg) + LM_MSG_MAX_PAYLOAD;

	if (p->idle_first)
		wait_idle(p);
	shutdown(p->fd, SHUT_WR);
	p->buf = malloc(cap);
	if (!p->buf)
		abort();
	p->len = 0;
	for (;;) {
		ssize_t n = recv(p->fd, p->buf + p->len, cap - p->len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p->len += n;
		parse(p);
		if (p->len == cap)	/* not a message the tested end sends */
			p->len = 0;
	}
	free(p->buf);
	p->buf = NULL;
	return NULL;
}

int fuzz_peer_start(struct fuzz_peer *p)
{
	return -pthread_create(&p->th, NULL, peer_main, p);
}

void fuzz_peer_join(struct fuzz_peer *p)
{
	pthread_join(p->th, NULL);
}
