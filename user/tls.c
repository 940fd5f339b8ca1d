// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: TLS 1.3 on the channels (see tls.h).
 *
 * PSK mode: the key is HMAC-SHA256(token, "lazymig TLS 1.3 external PSK
 * v1"), offered as a TLS 1.3 external PSK bound to TLS_AES_128_GCM_SHA256;
 * OpenSSL's default psk_dhe_ke mode adds an ECDHE exchange, so a token
 * that leaks later does not open recorded sessions.  A peer with another
 * token fails the binder check: the handshake ends before a byte of
 * application data.  Certificate mode: no PSK; both ends verify the
 * other's chain against --tls-ca and a peer without a certificate is
 * refused.
 *
 * Sockets are driven through a small BIO of our own instead of OpenSSL's
 * socket BIO: it buffers (see BIO_BUF), sends with MSG_NOSIGNAL (lazymig
 * never ignores SIGPIPE, since a restored process would inherit that) and
 * reports EAGAIN as a retry, which the wrappers turn into poll() for
 * blocking callers.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include "tls.h"

#define TLS_FDS		4096	/* registered fds are below this */
#define PSK_LEN		32
#define PEER_LEN	80

static const char psk_label[] = "lazymig TLS 1.3 external PSK v1";
static const unsigned char psk_id[] = "lazymig-psk-1";
static const unsigned char aes128gcm_sha256[] = { 0x13, 0x01 };

struct lm_tls {
	SSL_CTX *ctx;
	int server, certs;
	unsigned char psk[PSK_LEN];
	const char *prefix;
};

struct tls_fd {
	SSL *ssl;
	const struct lm_tls *t;
	char peer[PEER_LEN];
	int closed;		/* EOF or error seen: its result, sticky */
	ssize_t result;
};

static struct tls_fd *fds[TLS_FDS];
static BIO_METHOD *sock_meth;
static pthread_once_t meth_once = PTHREAD_ONCE_INIT;

/* ---- the socket BIO ---- */

/*
 * TLS records are at most 16 KiB: unbuffered, a 256 KiB push message
 * would cost 16 send() and 32 recv() calls (header, then body, per
 * record).  The BIO buffers both ways instead: one recv() takes whatever
 * the socket has, and records are sent together when the writer flushes
 * (lm_tls_write always does, before it returns), or the buffer is full.
 */
#define BIO_BUF		(256 * 1024)

struct sock_bio {
	int fd;
	size_t rhead, rtail, wlen;
	unsigned char rbuf[BIO_BUF], wbuf[BIO_BUF];
};

/* Send what is buffered: 0, -EAGAIN (some may be left) or -errno. */
static int bio_push(struct sock_bio *sb)
{
	size_t off = 0;
	ssize_t n;
	int err = 0;

	while (off < sb->wlen) {
		n = send(sb->fd, sb->wbuf + off, sb->wlen - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = (errno == EAGAIN || errno == EWOULDBLOCK) ?
			      -EAGAIN : -errno;
			break;
		}
		off += n;
	}
	memmove(sb->wbuf, sb->wbuf + off, sb->wlen - off);
	sb->wlen -= off;
	if (err)
		errno = -err;
	return err;
}

static int sock_write(BIO *b, const char *data, size_t len, size_t *done)
{
	struct sock_bio *sb = BIO_get_data(b);
	int err;

	BIO_clear_retry_flags(b);
	if (sb->wlen == BIO_BUF) {
		err = bio_push(sb);
		if (err == -EAGAIN && sb->wlen == BIO_BUF)
			BIO_set_retry_write(b);
		if (sb->wlen == BIO_BUF)
			return 0;
	}
	if (len > BIO_BUF - sb->wlen)
		len = BIO_BUF - sb->wlen;
	memcpy(sb->wbuf + sb->wlen, data, len);
	sb->wlen += len;
	*done = len;
	return 1;
}

static int sock_read(BIO *b, char *data, size_t len, size_t *done)
{
	struct sock_bio *sb = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (sb->rhead == sb->rtail) {
		sb->rhead = sb->rtail = 0;
		do {
			n = recv(sb->fd, sb->rbuf, BIO_BUF, 0);
		} while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			BIO_set_retry_read(b);
		if (n <= 0)
			return 0;
		sb->rtail = n;
	}
	if (len > sb->rtail - sb->rhead)
		len = sb->rtail - sb->rhead;
	memcpy(data, sb->rbuf + sb->rhead, len);
	sb->rhead += len;
	*done = len;
	return 1;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct sock_bio *sb = BIO_get_data(b);
	int err;

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		BIO_clear_retry_flags(b);
		err = bio_push(sb);
		if (err == -EAGAIN)
			BIO_set_retry_write(b);
		return !err;
	case BIO_CTRL_PENDING:
		return sb->rtail - sb->rhead;
	case BIO_CTRL_WPENDING:
		return sb->wlen;
	}
	return 0;
}

static int sock_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int sock_destroy(BIO *b)
{
	free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	return 1;
}

static void make_meth(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "lazymig socket");

	if (m && BIO_meth_set_write_ex(m, sock_write) &&
	    BIO_meth_set_read_ex(m, sock_read) &&
	    BIO_meth_set_ctrl(m, sock_ctrl) &&
	    BIO_meth_set_create(m, sock_create) &&
	    BIO_meth_set_destroy(m, sock_destroy)) {
		sock_meth = m;
		return;
	}
	BIO_meth_free(m);
}

/* ---- context ---- */

static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

static SSL_SESSION *psk_session(SSL *ssl, const struct lm_tls *t)
{
	const SSL_CIPHER *c = SSL_CIPHER_find(ssl, aes128gcm_sha256);
	SSL_SESSION *s = c ? SSL_SESSION_new() : NULL;

	if (s && SSL_SESSION_set1_master_key(s, t->psk, PSK_LEN) &&
	    SSL_SESSION_set_cipher(s, c) &&
	    SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION))
		return s;
	SSL_SESSION_free(s);
	return NULL;
}

static int psk_use(SSL *ssl, const EVP_MD *md, const unsigned char **id,
		   size_t *idlen, SSL_SESSION **sess)
{
	const struct lm_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	SSL_SESSION *s = psk_session(ssl, t);

	if (!s)
		return 0;
	if (md && md != SSL_CIPHER_get_handshake_digest(
				SSL_SESSION_get0_cipher(s))) {
		SSL_SESSION_free(s);	/* HRR chose another hash: no PSK */
		*sess = NULL;
		return 1;
	}
	*sess = s;
	*id = psk_id;
	*idlen = sizeof(psk_id) - 1;
	return 1;
}

static int psk_find(SSL *ssl, const unsigned char *id, size_t idlen,
		    SSL_SESSION **sess)
{
	const struct lm_tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	*sess = NULL;
	if (idlen != sizeof(psk_id) - 1 || memcmp(id, psk_id, idlen))
		return 1;	/* unknown identity: the handshake fails */
	*sess = psk_session(ssl, t);
	return *sess != NULL;
}

static int load_certs(struct lm_tls *t, const struct lm_tls_opts *o)
{
	if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert) != 1) {
		fprintf(stderr, "%s: cannot load the certificate --tls-cert %s: %s\n",
			t->prefix, o->cert, ssl_reason());
		return -EINVAL;
	}
	if (SSL_CTX_use_PrivateKey_file(t->ctx, o->key, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "%s: cannot load the private key --tls-key %s: %s\n",
			t->prefix, o->key, ssl_reason());
		return -EINVAL;
	}
	if (SSL_CTX_check_private_key(t->ctx) != 1) {
		fprintf(stderr, "%s: --tls-key %s is not the key of --tls-cert %s\n",
			t->prefix, o->key, o->cert);
		return -EINVAL;
	}
	if (SSL_CTX_load_verify_locations(t->ctx, o->ca, NULL) != 1) {
		fprintf(stderr, "%s: cannot load the CA --tls-ca %s: %s\n",
			t->prefix, o->ca, ssl_reason());
		return -EINVAL;
	}
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER |
			   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

int lm_tls_new(const struct lm_tls_opts *o, int server, const char *prefix,
	       struct lm_tls **out)
{
	struct lm_tls *t = calloc(1, sizeof(*t));
	unsigned int len = PSK_LEN;
	int err = -EIO;

	if (!t)
		return -ENOMEM;
	t->server = server;
	t->prefix = prefix;
	t->certs = !!o->cert;
	pthread_once(&meth_once, make_meth);
	t->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!sock_meth || !t->ctx ||
	    !SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(t->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(t->ctx,
				      "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384")) {
		fprintf(stderr, "%s: cannot set up TLS 1.3: %s\n", prefix,
			ssl_reason());
		goto fail;
	}
	SSL_CTX_set_app_data(t->ctx, t);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(t->ctx, 0);	/* nothing to resume */
	if (t->certs) {
		err = load_certs(t, o);
		if (err)
			goto fail;
	} else {
		if (!o->token_len ||
		    !HMAC(EVP_sha256(), o->token, o->token_len,
			  (const unsigned char *)psk_label,
			  sizeof(psk_label) - 1, t->psk, &len)) {
			fprintf(stderr, "%s: --tls needs key material: --token-file F (pre-shared key) or --tls-cert, --tls-key and --tls-ca\n",
				prefix);
			err = -EINVAL;
			goto fail;
		}
		if (server)
			SSL_CTX_set_psk_find_session_callback(t->ctx, psk_find);
		else
			SSL_CTX_set_psk_use_session_callback(t->ctx, psk_use);
	}
	*out = t;
	return 0;
fail:
	lm_tls_free(t);
	return err;
}

void lm_tls_free(struct lm_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	OPENSSL_cleanse(t->psk, sizeof(t->psk));
	free(t);
}

const char *lm_tls_mode(const struct lm_tls *t)
{
	return t->certs ? "certificates" : "pre-shared key";
}

int lm_tls_peer_verified(const struct lm_tls *t)
{
	return t && t->certs;
}

/* ---- connections ---- */

static const char *hint(const struct lm_tls *t)
{
	if (t->certs)
		return "both ends need a certificate signed by the other's --tls-ca";
	return "wrong token? the pre-shared key comes from --token-file, which must be the same on both sides";
}

static int handshake(struct lm_tls *t, int fd, const char *peer)
{
	struct sock_bio *sb;
	struct tls_fd *f;
	int r, e, fl;
	BIO *b;

	if (fd < 0 || fd >= TLS_FDS || fds[fd]) {
		fprintf(stderr, "%s: cannot use TLS on fd %d (limit %d)\n",
			t->prefix, fd, TLS_FDS);
		return -EBADF;
	}
	f = calloc(1, sizeof(*f));
	sb = malloc(sizeof(*sb));
	b = BIO_new(sock_meth);
	if (!f || !sb || !b || !(f->ssl = SSL_new(t->ctx))) {
		BIO_free(b);
		free(sb);
		free(f);
		return -ENOMEM;
	}
	sb->fd = fd;
	sb->rhead = sb->rtail = sb->wlen = 0;
	BIO_set_data(b, sb);
	SSL_set_bio(f->ssl, b, b);
	f->t = t;
	snprintf(f->peer, sizeof(f->peer), "%s", peer);
	ERR_clear_error();
	errno = 0;
	r = t->server ? SSL_accept(f->ssl) : SSL_connect(f->ssl);
	if (r != 1) {
		e = SSL_get_error(f->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			fprintf(stderr, "%s: TLS handshake with %s timed out; refused\n",
				t->prefix, peer);
		else if (e == SSL_ERROR_SSL)
			fprintf(stderr, "%s: TLS handshake with %s failed: %s; refused (%s)\n",
				t->prefix, peer, ssl_reason(), hint(t));
		else
			fprintf(stderr, "%s: TLS handshake with %s failed: %s; refused\n",
				t->prefix, peer,
				errno ? strerror(errno) : "connection closed");
		SSL_free(f->ssl);
		free(f);
		return -EACCES;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK)) {
		SSL_free(f->ssl);
		free(f);
		return -errno;
	}
	__atomic_store_n(&fds[fd], f, __ATOMIC_RELEASE);
	return 0;
}

int lm_tls_accept(struct lm_tls *t, int fd, const char *peer)
{
	return handshake(t, fd, peer);
}

int lm_tls_connect(struct lm_tls *t, int fd, const char *peer)
{
	return handshake(t, fd, peer);
}

static struct tls_fd *fd_of(int fd)
{
	if (fd < 0 || fd >= TLS_FDS)
		return NULL;
	return __atomic_load_n(&fds[fd], __ATOMIC_ACQUIRE);
}

SSL *lm_tls_of(int fd)
{
	struct tls_fd *f = fd_of(fd);

	return f ? f->ssl : NULL;
}

/* Block until fd is ready for @ev, up to its SO_RCVTIMEO/SO_SNDTIMEO. */
static int wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	struct timeval tv = { 0 };
	socklen_t l = sizeof(tv);
	int ms = -1, n;

	if (!getsockopt(fd, SOL_SOCKET, ev == POLLIN ? SO_RCVTIMEO :
			SO_SNDTIMEO, &tv, &l) && (tv.tv_sec || tv.tv_usec))
		ms = tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	do {
		n = poll(&p, 1, ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n ? 0 : -EAGAIN;
}

/* The end of a connection: say why once, and stay ended. */
static ssize_t io_end(struct tls_fd *f, int e, int saved_errno,
		      const char *dir)
{
	unsigned long ec = ERR_peek_error();
	ssize_t res;

	if (e == SSL_ERROR_ZERO_RETURN) {
		res = 0;
	} else if (e == SSL_ERROR_SSL &&
		   ERR_GET_REASON(ec) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		res = 0;	/* framing above says whether that was early */
	} else if (e == SSL_ERROR_SSL) {
		fprintf(stderr, "%s: TLS %s %s: %s; connection closed\n",
			f->t->prefix, dir, f->peer, ssl_reason());
		res = -EPROTO;
	} else {
		res = saved_errno ? -saved_errno : 0;
	}
	ERR_clear_error();
	f->closed = 1;
	f->result = res;
	return res;
}

ssize_t lm_tls_read(SSL *ssl, int fd, void *buf, size_t len, int nonblock)
{
	struct tls_fd *f = fd_of(fd);

	if (f->closed)
		return f->result;
	for (;;) {
		size_t n = 0;
		int r, e, err;

		ERR_clear_error();
		errno = 0;
		r = SSL_read_ex(ssl, buf, len, &n);
		if (r)
			return n;
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return io_end(f, e, errno, "from");
		if (nonblock)
			return -EAGAIN;
		err = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
		if (err)
			return err;
	}
}

/* Out of the BIO's buffer onto the wire. */
static int flush_out(struct tls_fd *f, SSL *ssl, int fd)
{
	BIO *b = SSL_get_wbio(ssl);
	int err;

	for (;;) {
		errno = 0;
		if (BIO_flush(b) > 0)
			return 0;
		if (!BIO_should_retry(b)) {
			err = errno ? -errno : -EIO;
			f->closed = 1;
			f->result = err;
			return err;
		}
		err = wait_fd(fd, POLLOUT);
		if (err)
			return err;
	}
}

static int tls_write(SSL *ssl, int fd, const void *buf, size_t len,
		     int flush)
{
	struct tls_fd *f = fd_of(fd);
	const char *p = buf;

	if (f->closed)
		return f->result < 0 ? (int)f->result : -EPIPE;
	while (len) {
		size_t n = 0;
		int r, e, err;
		ssize_t end;

		ERR_clear_error();
		errno = 0;
		r = SSL_write_ex(ssl, p, len, &n);
		if (r) {
			p += n;
			len -= n;
			continue;
		}
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			end = io_end(f, e, errno, "to");
			return end < 0 ? (int)end : -EPIPE;
		}
		err = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
		if (err)
			return err;
	}
	return flush ? flush_out(f, ssl, fd) : 0;
}

int lm_tls_write(SSL *ssl, int fd, const void *buf, size_t len)
{
	return tls_write(ssl, fd, buf, len, 1);
}

int lm_tls_write_more(SSL *ssl, int fd, const void *buf, size_t len)
{
	return tls_write(ssl, fd, buf, len, 0);
}

const char *lm_tls_describe(int fd, char *buf, size_t len)
{
	struct tls_fd *f = fd_of(fd);

	if (!f)
		return "";
	snprintf(buf, len, " (%s, %s, %s)", SSL_get_version(f->ssl),
		 SSL_get_cipher_name(f->ssl), lm_tls_mode(f->t));
	return buf;
}

int lm_tls_pending(int fd)
{
	struct tls_fd *f = fd_of(fd);

	return f && !f->closed && (SSL_pending(f->ssl) > 0 ||
				   BIO_ctrl_pending(SSL_get_rbio(f->ssl)) > 0);
}

void lm_tls_drop(int fd)
{
	struct tls_fd *f = fd_of(fd);

	if (!f)
		return;
	__atomic_store_n(&fds[fd], NULL, __ATOMIC_RELEASE);
	if (!f->closed && SSL_shutdown(f->ssl) >= 0)	/* best effort */
		BIO_flush(SSL_get_wbio(f->ssl));
	SSL_free(f->ssl);
	free(f);
}
