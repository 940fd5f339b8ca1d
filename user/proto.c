// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: message framing of the two channels (see proto.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <openssl/ssl.h>
#include "proto.h"
#include "tls.h"

#define TLS_RECORD	16384	/* TLS plaintext per record, at most */

static const char *const msg_names[LM_MSG__MAX] = {
	[LM_MSG_REQ] = "REQ",		[LM_MSG_PAGES] = "PAGES",
	[LM_MSG_DROP] = "DROP",		[LM_MSG_RESUMED] = "RESUMED",
	[LM_MSG_DONE] = "DONE",		[LM_MSG_BYE] = "BYE",
	[LM_MSG_PUSH_END] = "PUSH_END",	[LM_MSG_ERROR] = "ERROR",
	[LM_MSG_SPARSE] = "SPARSE",	[LM_MSG_ZBULK] = "ZBULK",
	[LM_MSG_CAPS] = "CAPS",
};

const char *lm_msg_name(__u32 type)
{
	if (type < LM_MSG__MAX && msg_names[type])
		return msg_names[type];
	return "?";
}

/*
 * TLS: no sendmsg.  Header and the start of the payload go in one record,
 * so a small message (a request, an answer's first part) is one record
 * and one segment, as it is one sendmsg in clear.
 */
static int msg_send_tls(SSL *ssl, int fd, const struct lm_msg *m,
			const void *payload, size_t len)
{
	unsigned char rec[TLS_RECORD];
	size_t first = sizeof(rec) - sizeof(*m);
	int err;

	if (first > len)
		first = len;
	memcpy(rec, m, sizeof(*m));
	if (first)
		memcpy(rec + sizeof(*m), payload, first);
	if (len == first)
		return lm_tls_write(ssl, fd, rec, sizeof(*m) + first);
	err = lm_tls_write_more(ssl, fd, rec, sizeof(*m) + first);
	if (!err)
		err = lm_tls_write(ssl, fd, (const char *)payload + first,
				   len - first);
	return err;
}

int lm_msg_send(int fd, __u32 type, __u32 space, __u64 addr, __u64 npages,
		const void *payload, size_t len)
{
	SSL *ssl = lm_tls_of(fd);
	struct lm_msg m = {
		.magic = LM_MSG_MAGIC, .type = type, .space = space,
		.len = len, .addr = addr, .npages = npages,
	};
	struct iovec iov[2] = {
		{ &m, sizeof(m) }, { (void *)payload, len },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	if (len > LM_MSG_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (ssl)
		return msg_send_tls(ssl, fd, &m, payload, len);
	while (mh.msg_iovlen) {
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		while (mh.msg_iovlen && (size_t)n >= mh.msg_iov->iov_len) {
			n -= mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= n;
		}
	}
	return 0;
}

static int recv_full(int fd, void *buf, size_t len)
{
	SSL *ssl = lm_tls_of(fd);
	char *p = buf;

	while (len) {
		ssize_t n;

		if (ssl) {
			n = lm_tls_read(ssl, fd, p, len, 0);
			if (n < 0)
				return n;
		} else {
			n = recv(fd, p, len, 0);
		}

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= n;
	}
	return 0;
}

int lm_msg_recv(int fd, struct lm_msg *m, void *buf, size_t cap)
{
	int err = recv_full(fd, m, sizeof(*m));

	if (err)
		return err;
	if (m->magic != LM_MSG_MAGIC || !m->type || m->type >= LM_MSG__MAX ||
	    m->len > cap)
		return -EBADMSG;
	return recv_full(fd, buf, m->len);
}

int lm_rx_init(struct lm_rx *rx, int fd, size_t cap)
{
	memset(rx, 0, sizeof(*rx));
	rx->fd = fd;
	rx->cap = cap + sizeof(struct lm_msg);
	rx->buf = malloc(rx->cap);
	return rx->buf ? 0 : -ENOMEM;
}

void lm_rx_free(struct lm_rx *rx)
{
	free(rx->buf);
	rx->buf = NULL;
}

/*
 * TLS: up to @want bytes (one record may overshoot it), until the TLS
 * layer needs more from the socket.  What it still holds then, epoll
 * cannot see: lm_rx_pending() says so, and the caller comes back.
 */
static long rx_fill_tls(struct lm_rx *rx, SSL *ssl, size_t want)
{
	size_t got = 0;
	ssize_t n;

	while (rx->tail < rx->cap && got < want) {
		n = lm_tls_read(ssl, rx->fd, rx->buf + rx->tail,
				rx->cap - rx->tail, 1);
		if (n == -EAGAIN)
			break;
		if (n <= 0 && got)
			break;	/* the end again on the next call */
		if (n < 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		rx->tail += n;
		rx->bytes += n;
		got += n;
	}
	return got;
}

int lm_rx_pending(const struct lm_rx *rx)
{
	return lm_tls_pending(rx->fd);
}

long lm_rx_fill(struct lm_rx *rx)
{
	SSL *ssl = lm_tls_of(rx->fd);
	size_t want;
	ssize_t n;

	if (rx->head == rx->tail) {
		rx->head = rx->tail = 0;
	} else if (rx->head && rx->tail == rx->cap) {
		memmove(rx->buf, rx->buf + rx->head, rx->tail - rx->head);
		rx->tail -= rx->head;
		rx->head = 0;
	}
	if (rx->tail == rx->cap)
		return 0;
	want = rx->cap - rx->tail;
	if (rx->max_read && want > rx->max_read)
		want = rx->max_read;
	if (ssl)
		return rx_fill_tls(rx, ssl, want);
	do {
		n = recv(rx->fd, rx->buf + rx->tail, want, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	rx->tail += n;
	rx->bytes += n;
	return n;
}

int lm_rx_next(struct lm_rx *rx, struct lm_msg *m, const void **payload)
{
	size_t have = rx->tail - rx->head, need = sizeof(*m);

	if (have >= sizeof(*m)) {
		memcpy(m, rx->buf + rx->head, sizeof(*m));
		if (m->magic != LM_MSG_MAGIC || !m->type ||
		    m->type >= LM_MSG__MAX || m->len > LM_MSG_MAX_PAYLOAD ||
		    m->len + sizeof(*m) > rx->cap)
			return -EBADMSG;
		need += m->len;
		if (have >= need) {
			*payload = rx->buf + rx->head + sizeof(*m);
			rx->head += need;
			return 1;
		}
	}
	/* make room for the rest of a partial message */
	if (rx->head + need > rx->cap) {
		memmove(rx->buf, rx->buf + rx->head, have);
		rx->head = 0;
		rx->tail = have;
	}
	return 0;
}
