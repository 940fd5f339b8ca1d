/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: TCP transport between `send` and `receive`, and the mutual
 * challenge-response authentication every connection goes through before
 * a single byte of image or page data moves.
 *
 * A migration uses two connections from the sender to the receiver: the
 * request channel (metadata, then fault requests and their answers) and
 * the bulk channel (background push).  Both authenticate; the bulk one
 * also presents the session id the receiver handed out on the first, so
 * the two are known to belong together.
 *
 * With --tls (tls.h) the first hello still goes in clear, so that a peer
 * without --tls is told so; then the TLS handshake, and the whole
 * authentication again inside TLS, then every byte of the channel.
 */
#ifndef LAZYMIG_NET_H
#define LAZYMIG_NET_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define LM_TOKEN_MAX		4096
#define LM_SESSION_LEN		16

enum lm_chan {
	LM_CHAN_REQ = 1,	/* metadata, fault requests and answers */
	LM_CHAN_BULK = 2,	/* background push */
};

struct lm_tls;

struct lm_auth {
	unsigned char token[LM_TOKEN_MAX];
	size_t token_len;	/* 0: no token, loopback peers only */
	struct lm_tls *tls;	/* --tls: every channel; NULL: clear text */
	unsigned char session[LM_SESSION_LEN];
	const char *prefix;	/* log prefix: "send" or "receive" */
};

/* Read a pre-shared token (trailing newline stripped).  0 or -errno. */
int lm_token_load(struct lm_auth *a, const char *path);

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (any address, listen only). */
int lm_net_listen(const char *spec, int *fd);
int lm_net_connect(const char *spec, int *fd);
/* Accept one connection; *peer gets its printable address. */
int lm_net_accept(int lfd, int *fd, char *peer, size_t peer_len);
int lm_net_peer_is_loopback(int fd);

/*
 * Receiver side of one connection: refuses non-loopback peers without a
 * token, then challenge-response in both directions.  For @chan ==
 * LM_CHAN_REQ a fresh session id is made and given out; for LM_CHAN_BULK
 * the peer must present a->session.  0, -EACCES (refused, said why on
 * stderr) or -errno.
 */
int lm_auth_server(int fd, struct lm_auth *a, enum lm_chan chan,
		   const char *peer);
/* Sender side; for LM_CHAN_REQ fills a->session. */
int lm_auth_client(int fd, struct lm_auth *a, enum lm_chan chan);

/*
 * Blocking full read/write (EINTR and short transfers handled), through
 * TLS when the fd has it.
 */
int lm_read_full(int fd, void *buf, size_t len);
int lm_write_full(int fd, const void *buf, size_t len);
/* read(2)/write(2) of a socket or file, through TLS when fd has it. */
ssize_t lm_net_read(int fd, void *buf, size_t len);
ssize_t lm_net_write(int fd, const void *buf, size_t len);
/* Drop fd's TLS state if any, then close it. */
void lm_net_close(int fd);

#endif
