/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: TLS 1.3 (OpenSSL) under every channel of `send --tls` and
 * `receive --tls`.
 *
 * Key material: a pre-shared key derived from the token file (TLS 1.3
 * external PSK, with (EC)DHE for forward secrecy), or certificates with
 * mutual authentication (--tls-cert, --tls-key, --tls-ca: both ends must
 * present a certificate signed by the CA).
 *
 * The channels stay file descriptors: once a connection has completed its
 * handshake (lm_tls_accept / lm_tls_connect) its fd is registered here,
 * made non-blocking, and every reader and writer of the sockets (net.c,
 * proto.c, image.c) goes through lm_tls_read / lm_tls_write when
 * lm_tls_of() finds it.  Those keep the calling conventions of the plain
 * paths: blocking callers still block (poll() inside, honouring
 * SO_RCVTIMEO / SO_SNDTIMEO), non-blocking ones get -EAGAIN.  An fd's TLS
 * state is used by one thread at a time, as the plain sockets are.
 */
#ifndef LAZYMIG_TLS_H
#define LAZYMIG_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct lm_tls;
struct ssl_st;

struct lm_tls_opts {
	const unsigned char *token;	/* PSK mode: the shared secret */
	size_t token_len;
	const char *cert, *key, *ca;	/* certificate mode: all three */
};

/*
 * A context for one side (@server: receive).  Certificates when o->cert is
 * set, else a PSK from o->token.  0 or -errno (said why on stderr).
 */
int lm_tls_new(const struct lm_tls_opts *o, int server, const char *prefix,
	       struct lm_tls **out);
void lm_tls_free(struct lm_tls *t);
/* "pre-shared key" or "certificates" */
const char *lm_tls_mode(const struct lm_tls *t);
/* Does the handshake itself prove who the peer is (certificates)? */
int lm_tls_peer_verified(const struct lm_tls *t);

/*
 * Handshake on a connected socket (blocking; SO_RCVTIMEO bounds it).
 * On success the fd is non-blocking and registered.  0, or -EACCES /
 * -errno with the reason on stderr.
 */
int lm_tls_accept(struct lm_tls *t, int fd, const char *peer);
int lm_tls_connect(struct lm_tls *t, int fd, const char *peer);

/* The TLS state of a registered fd, or NULL. */
struct ssl_st *lm_tls_of(int fd);
/*
 * Like recv(): bytes read, 0 on EOF, -EAGAIN (only when @nonblock) or
 * -errno.  Blocking reads wait up to the socket's SO_RCVTIMEO.
 */
ssize_t lm_tls_read(struct ssl_st *ssl, int fd, void *buf, size_t len,
		    int nonblock);
/*
 * Write all of buf and put it on the wire; 0 or -errno.  Waits up to
 * SO_SNDTIMEO per step.  _more: may keep it buffered for the next write.
 */
int lm_tls_write(struct ssl_st *ssl, int fd, const void *buf, size_t len);
int lm_tls_write_more(struct ssl_st *ssl, int fd, const void *buf,
		      size_t len);
/*
 * Does the TLS layer hold bytes of fd (decrypted, or read from the socket
 * and not yet decrypted) that poll/epoll on the socket cannot see?
 */
int lm_tls_pending(int fd);
/* " (TLS 1.3, cipher, key mode)" for a registered fd, else "". */
const char *lm_tls_describe(int fd, char *buf, size_t len);
/* Forget fd's TLS state (close_notify if it can go now); before close. */
void lm_tls_drop(int fd);

#endif
