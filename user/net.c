// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: TCP transport and authentication (see net.h).
 *
 * Authentication, per connection, with a pre-shared token K:
 *	R -> S	hello   { mode, status, nonce_r }
 *	S -> R	resp    { mode, chan, nonce_s, session?, HMAC(K, "C" chan nonce_r nonce_s session) }
 *	R -> S	result  { status, session, HMAC(K, "S" chan nonce_s nonce_r session) }
 * HMAC-SHA256 from libcrypto, MACs compared in constant time.  The two
 * directions use different labels, so a MAC cannot be reflected.  A
 * receiver that refuses says why in the message and closes; nothing else
 * is read from or sent to a peer that has not proven the token.
 *
 * mode: bit 0 a token, bit 1 --tls.  With --tls the first hello goes in
 * clear; the sender answers it with a TLS handshake (or, without --tls,
 * a resp in clear, which gets it refused with the reason on both sides);
 * then hello, resp and result as above, inside TLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include "net.h"
#include "tls.h"

#define AUTH_MAGIC	0x55415a4cU	/* "LZAU" */
#define AUTH_VERSION	1
#define NONCE_LEN	32
#define MAC_LEN		32
#define MSG_LEN		160
#define AUTH_TIMEOUT_S	10

enum { AUTH_OK = 0, AUTH_REFUSED = 1 };
enum { MODE_TOKEN = 1, MODE_TLS = 2 };	/* hello/resp mode bits */
#define TLS_HANDSHAKE_RECORD	22	/* first byte of a ClientHello */

struct auth_hello {
	uint32_t magic, version, mode, status;
	unsigned char nonce[NONCE_LEN];
	char msg[MSG_LEN];
};

struct auth_resp {
	uint32_t magic, mode, chan, pad;
	unsigned char nonce[NONCE_LEN];
	unsigned char session[LM_SESSION_LEN];
	unsigned char mac[MAC_LEN];
};

struct auth_result {
	uint32_t magic, status;
	unsigned char session[LM_SESSION_LEN];
	unsigned char mac[MAC_LEN];
	char msg[MSG_LEN];
};

int lm_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = lm_net_read(fd, p, len);

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

int lm_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	SSL *ssl = lm_tls_of(fd);

	if (ssl)
		return lm_tls_write(ssl, fd, buf, len);
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

ssize_t lm_net_read(int fd, void *buf, size_t len)
{
	SSL *ssl = lm_tls_of(fd);
	ssize_t n;

	if (!ssl)
		return read(fd, buf, len);
	n = lm_tls_read(ssl, fd, buf, len, 0);
	if (n < 0) {
		errno = -n;
		return -1;
	}
	return n;
}

ssize_t lm_net_write(int fd, const void *buf, size_t len)
{
	SSL *ssl = lm_tls_of(fd);
	int err;

	if (!ssl)
		return write(fd, buf, len);
	err = lm_tls_write(ssl, fd, buf, len);
	if (err) {
		errno = -err;
		return -1;
	}
	return len;
}

void lm_net_close(int fd)
{
	if (fd < 0)
		return;
	lm_tls_drop(fd);
	close(fd);
}

int lm_token_load(struct lm_auth *a, const char *path)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot open token file %s: %s\n",
			a->prefix, path, strerror(errno));
		return -errno;
	}
	if (!fstat(fd, &st) && (st.st_mode & 0077))
		fprintf(stderr, "%s: warning: token file %s is readable by others; chmod 600 it\n",
			a->prefix, path);
	n = read(fd, a->token, sizeof(a->token));
	close(fd);
	if (n < 0)
		return -errno;
	while (n > 0 && (a->token[n - 1] == '\n' || a->token[n - 1] == '\r'))
		n--;
	if (n == 0) {
		fprintf(stderr, "%s: token file %s is empty; put a random secret in it (e.g. openssl rand -hex 32)\n",
			a->prefix, path);
		return -EINVAL;
	}
	if (n < 16)
		fprintf(stderr, "%s: warning: token in %s is only %zd bytes; use 32 random bytes or more\n",
			a->prefix, path, n);
	a->token_len = n;
	return 0;
}

/* Split "HOST:PORT" / "[V6]:PORT" / ":PORT" into host (or NULL) and port. */
static int split_spec(const char *spec, char *host, size_t hlen, char *port,
		      size_t plen)
{
	const char *colon;
	size_t n;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		n = rb - spec - 1;
		colon = rb + 1;
		spec++;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return -EINVAL;
		n = colon - spec;
	}
	if (n >= hlen || strlen(colon + 1) >= plen || !colon[1])
		return -EINVAL;
	memcpy(host, spec, n);
	host[n] = 0;
	strcpy(port, colon + 1);
	return 0;
}

static int resolve(const char *spec, int passive, struct addrinfo **res)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = passive ? AI_PASSIVE : 0,
	};
	char host[256], port[32];
	int err;

	if (split_spec(spec, host, sizeof(host), port, sizeof(port))) {
		fprintf(stderr, "lazymig: bad address '%s': want HOST:PORT, [IPV6]:PORT or :PORT\n",
			spec);
		return -EINVAL;
	}
	err = getaddrinfo(host[0] ? host : NULL, port, &hints, res);
	if (err) {
		fprintf(stderr, "lazymig: cannot resolve '%s': %s\n", spec,
			gai_strerror(err));
		return -EHOSTUNREACH;
	}
	return 0;
}

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int lm_net_listen(const char *spec, int *fd)
{
	struct addrinfo *res, *ai;
	int err, s = -1, one = 1;

	err = resolve(spec, 1, &res);
	if (err)
		return err;
	err = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (s < 0)
			continue;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(s, ai->ai_addr, ai->ai_addrlen) && !listen(s, 8))
			break;
		err = -errno;
		close(s);
		s = -1;
	}
	freeaddrinfo(res);
	if (s < 0) {
		fprintf(stderr, "lazymig: cannot listen on %s: %s\n", spec,
			strerror(-err));
		return err;
	}
	*fd = s;
	return 0;
}

int lm_net_connect(const char *spec, int *fd)
{
	struct addrinfo *res, *ai;
	int err, s = -1;

	err = resolve(spec, 0, &res);
	if (err)
		return err;
	err = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (s < 0)
			continue;
		if (!connect(s, ai->ai_addr, ai->ai_addrlen))
			break;
		err = -errno;
		close(s);
		s = -1;
	}
	freeaddrinfo(res);
	if (s < 0) {
		fprintf(stderr, "lazymig: cannot connect to %s: %s; is `lazymig receive --listen` running there?\n",
			spec, strerror(-err));
		return err;
	}
	set_nodelay(s);
	*fd = s;
	return 0;
}

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, len, "%s:%d", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, len, "[%s]:%d", host, port);
	} else {
		snprintf(buf, len, "(family %d)", ss->ss_family);
	}
}

int lm_net_accept(int lfd, int *fd, char *peer, size_t peer_len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int s;

	do {
		s = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	} while (s < 0 && errno == EINTR);
	if (s < 0)
		return -errno;
	addr_str(&ss, peer, peer_len);
	set_nodelay(s);
	*fd = s;
	return 0;
}

int lm_net_peer_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl))
		return 0;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&ss;
		const unsigned char *b = in6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
	}
	return 0;
}

static void set_timeout(int fd, int secs)
{
	struct timeval tv = { .tv_sec = secs };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* HMAC(K, label || chan || n1 || n2 || session) */
static int auth_mac(const struct lm_auth *a, char label, uint32_t chan,
		    const unsigned char *n1, const unsigned char *n2,
		    const unsigned char *session, unsigned char *mac)
{
	unsigned char msg[1 + 4 + 2 * NONCE_LEN + LM_SESSION_LEN];
	unsigned int len = MAC_LEN;

	msg[0] = label;
	memcpy(msg + 1, &chan, 4);
	memcpy(msg + 5, n1, NONCE_LEN);
	memcpy(msg + 5 + NONCE_LEN, n2, NONCE_LEN);
	memcpy(msg + 5 + 2 * NONCE_LEN, session, LM_SESSION_LEN);
	if (!HMAC(EVP_sha256(), a->token, a->token_len, msg, sizeof(msg),
		  mac, &len) || len != MAC_LEN)
		return -EIO;
	return 0;
}

static int server_refuse(int fd, struct auth_hello *h, const char *why)
{
	h->status = AUTH_REFUSED;
	snprintf(h->msg, sizeof(h->msg), "%s", why);
	lm_write_full(fd, h, sizeof(*h));
	return -EACCES;
}

static int result_refuse(int fd, const char *why)
{
	struct auth_result r = { .magic = AUTH_MAGIC, .status = AUTH_REFUSED };

	snprintf(r.msg, sizeof(r.msg), "%s", why);
	lm_write_full(fd, &r, sizeof(r));
	return -EACCES;
}

static int server_check_resp(struct lm_auth *a, const struct auth_hello *h,
			     const struct auth_resp *r, enum lm_chan chan,
			     const char *peer, int fd)
{
	unsigned char mac[MAC_LEN];

	if (r->magic != AUTH_MAGIC || r->chan != chan) {
		fprintf(stderr, "%s: peer %s speaks no lazymig protocol; refused\n",
			a->prefix, peer);
		return result_refuse(fd, "protocol error");
	}
	if ((r->mode ^ h->mode) & MODE_TLS) {
		fprintf(stderr, "%s: peer %s %s --tls but this side %s; refused (give --tls on both sides or on neither)\n",
			a->prefix, peer, r->mode & MODE_TLS ? "uses" : "does not use",
			h->mode & MODE_TLS ? "requires it" : "does not use it");
		return result_refuse(fd, h->mode & MODE_TLS ?
				     "receiver requires --tls" :
				     "receiver does not use --tls");
	}
	if (r->mode != h->mode) {
		fprintf(stderr, "%s: peer %s %s a token but this side %s; refused (give --token-file on both sides)\n",
			a->prefix, peer, r->mode & MODE_TOKEN ? "has" : "has no",
			h->mode & MODE_TOKEN ? "requires one" : "has none");
		return result_refuse(fd, h->mode & MODE_TOKEN ?
				     "receiver requires --token-file" :
				     "receiver has no --token-file");
	}
	if (chan == LM_CHAN_BULK &&
	    CRYPTO_memcmp(r->session, a->session, LM_SESSION_LEN)) {
		fprintf(stderr, "%s: peer %s presented an unknown session; refused\n",
			a->prefix, peer);
		return result_refuse(fd, "unknown session");
	}
	if (!(h->mode & MODE_TOKEN))
		return 0;
	if (auth_mac(a, 'C', chan, h->nonce, r->nonce, r->session, mac))
		return -EIO;
	if (CRYPTO_memcmp(mac, r->mac, MAC_LEN)) {
		fprintf(stderr, "%s: peer %s failed authentication (wrong token); refused, nothing restored\n",
			a->prefix, peer);
		return result_refuse(fd, "authentication failed: wrong token");
	}
	return 0;
}

/*
 * --tls: the clear hello went out.  A TLS client answers with its
 * ClientHello (a handshake record, first byte 22); anything else is a
 * sender without --tls, told why in clear.  After the handshake, a fresh
 * hello inside TLS starts the authentication proper.
 */
static int server_tls(int fd, struct lm_auth *a, struct auth_hello *h,
		      enum lm_chan chan, const char *peer)
{
	struct auth_resp r;
	unsigned char first;
	ssize_t n;
	int err;

	do {
		n = recv(fd, &first, 1, MSG_PEEK);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		fprintf(stderr, "%s: peer %s: %s during authentication\n",
			a->prefix, peer, n ? strerror(errno) : "EOF");
		return n ? -errno : -ECONNRESET;
	}
	if (first != TLS_HANDSHAKE_RECORD) {
		err = lm_read_full(fd, &r, sizeof(r));
		if (!err)
			err = server_check_resp(a, h, &r, chan, peer, fd);
		if (err)
			return err;
		fprintf(stderr, "%s: peer %s answered in clear text instead of starting TLS; refused\n",
			a->prefix, peer);
		return result_refuse(fd, "receiver requires --tls");
	}
	err = lm_tls_accept(a->tls, fd, peer);
	if (!err && RAND_bytes(h->nonce, NONCE_LEN) != 1)
		err = -EIO;
	if (!err)
		err = lm_write_full(fd, h, sizeof(*h));
	return err;
}

static int auth_server(int fd, struct lm_auth *a, enum lm_chan chan,
		       const char *peer)
{
	struct auth_hello h = { .magic = AUTH_MAGIC, .version = AUTH_VERSION };
	struct auth_result res = { .magic = AUTH_MAGIC, .status = AUTH_OK };
	struct auth_resp r;
	int err;

	set_timeout(fd, AUTH_TIMEOUT_S);
	h.mode = (a->token_len ? MODE_TOKEN : 0) | (a->tls ? MODE_TLS : 0);
	if (!a->token_len && !lm_tls_peer_verified(a->tls) &&
	    !lm_net_peer_is_loopback(fd)) {
		fprintf(stderr, "%s: refused %s: without --token-file only loopback peers are accepted\n",
			a->prefix, peer);
		return server_refuse(fd, &h, "receiver without --token-file accepts loopback peers only");
	}
	if (RAND_bytes(h.nonce, NONCE_LEN) != 1)
		return -EIO;
	err = lm_write_full(fd, &h, sizeof(h));
	if (!err && a->tls) {
		err = server_tls(fd, a, &h, chan, peer);
		if (err)
			return err;
	}
	if (!err)
		err = lm_read_full(fd, &r, sizeof(r));
	if (err) {
		fprintf(stderr, "%s: peer %s: %s during authentication\n",
			a->prefix, peer, strerror(-err));
		return err;
	}
	err = server_check_resp(a, &h, &r, chan, peer, fd);
	if (err)
		return err;
	if (chan == LM_CHAN_REQ && RAND_bytes(a->session, LM_SESSION_LEN) != 1)
		return -EIO;
	memcpy(res.session, a->session, LM_SESSION_LEN);
	if ((h.mode & MODE_TOKEN) &&
	    auth_mac(a, 'S', chan, r.nonce, h.nonce, res.session, res.mac))
		return -EIO;
	err = lm_write_full(fd, &res, sizeof(res));
	set_timeout(fd, 0);
	return err;
}

int lm_auth_server(int fd, struct lm_auth *a, enum lm_chan chan,
		   const char *peer)
{
	int err = auth_server(fd, a, chan, peer);

	if (err)
		lm_tls_drop(fd);
	return err;
}

/* The receiver's --tls differs from ours: say so to both ends. */
static int client_tls_mismatch(int fd, struct lm_auth *a,
			       const struct auth_hello *h, enum lm_chan chan)
{
	struct auth_resp r = {
		.magic = AUTH_MAGIC, .chan = chan,
		.mode = (a->token_len ? MODE_TOKEN : 0) | (a->tls ? MODE_TLS : 0),
	};

	lm_write_full(fd, &r, sizeof(r));
	if (h->mode & MODE_TLS)
		fprintf(stderr, "%s: the receiver requires --tls; refused (give --tls and the same key material on both sides)\n",
			a->prefix);
	else
		fprintf(stderr, "%s: the receiver does not use --tls; refused to send in clear text (give it --tls too)\n",
			a->prefix);
	return -EACCES;
}

static int client_check_hello(int fd, struct lm_auth *a,
			      const struct auth_hello *h, enum lm_chan chan)
{
	if (h->magic != AUTH_MAGIC || h->version != AUTH_VERSION) {
		fprintf(stderr, "%s: the peer is not a lazymig receiver of this version\n",
			a->prefix);
		return -EPROTO;
	}
	if (h->status != AUTH_OK) {
		fprintf(stderr, "%s: receiver refused: %.*s\n", a->prefix,
			MSG_LEN, h->msg);
		return -EACCES;
	}
	if (!(h->mode & MODE_TLS) != !a->tls)
		return client_tls_mismatch(fd, a, h, chan);
	if ((h->mode & MODE_TOKEN) && !a->token_len) {
		fprintf(stderr, "%s: receiver requires a token; give --token-file with the receiver's secret\n",
			a->prefix);
		return -EACCES;
	}
	if (!(h->mode & MODE_TOKEN) && a->token_len) {
		fprintf(stderr, "%s: receiver has no token, so it cannot prove who it is; refusing to send (give it --token-file too)\n",
			a->prefix);
		return -EACCES;
	}
	return 0;
}

static int client_check_result(struct lm_auth *a, const struct auth_hello *h,
			       const struct auth_resp *r,
			       const struct auth_result *res, enum lm_chan chan)
{
	unsigned char mac[MAC_LEN];

	if (res->magic != AUTH_MAGIC)
		return -EPROTO;
	if (res->status != AUTH_OK) {
		fprintf(stderr, "%s: receiver refused: %.*s\n", a->prefix,
			MSG_LEN, res->msg);
		return -EACCES;
	}
	if (!(h->mode & MODE_TOKEN))
		return 0;
	if (auth_mac(a, 'S', chan, r->nonce, h->nonce, res->session, mac))
		return -EIO;
	if (CRYPTO_memcmp(mac, res->mac, MAC_LEN)) {
		fprintf(stderr, "%s: receiver failed to prove the token (wrong token on the receiver?); refusing to send\n",
			a->prefix);
		return -EACCES;
	}
	return 0;
}

/* --tls: handshake, then the receiver's hello again, inside TLS. */
static int client_tls(int fd, struct lm_auth *a, struct auth_hello *h,
		      enum lm_chan chan)
{
	int err = lm_tls_connect(a->tls, fd, "the receiver");

	if (err)
		return err;
	err = lm_read_full(fd, h, sizeof(*h));
	if (err) {
		fprintf(stderr, "%s: the receiver refused the TLS connection (%s)\n",
			a->prefix, strerror(-err));
		return -EACCES;
	}
	return client_check_hello(fd, a, h, chan);
}

static int auth_client(int fd, struct lm_auth *a, enum lm_chan chan)
{
	struct auth_resp r = { .magic = AUTH_MAGIC, .chan = chan };
	struct auth_result res;
	struct auth_hello h;
	int err;

	set_timeout(fd, AUTH_TIMEOUT_S);
	err = lm_read_full(fd, &h, sizeof(h));
	if (err) {
		fprintf(stderr, "%s: receiver closed the connection before authentication: %s\n",
			a->prefix, strerror(-err));
		return err;
	}
	err = client_check_hello(fd, a, &h, chan);
	if (!err && a->tls)
		err = client_tls(fd, a, &h, chan);
	if (err)
		return err;
	r.mode = h.mode;
	if (chan == LM_CHAN_BULK)
		memcpy(r.session, a->session, LM_SESSION_LEN);
	if (RAND_bytes(r.nonce, NONCE_LEN) != 1)
		return -EIO;
	if ((h.mode & MODE_TOKEN) &&
	    auth_mac(a, 'C', chan, h.nonce, r.nonce, r.session, r.mac))
		return -EIO;
	err = lm_write_full(fd, &r, sizeof(r));
	if (!err)
		err = lm_read_full(fd, &res, sizeof(res));
	if (err) {
		fprintf(stderr, "%s: receiver closed the connection during authentication: %s\n",
			a->prefix, strerror(-err));
		return err;
	}
	err = client_check_result(a, &h, &r, &res, chan);
	if (err)
		return err;
	if (chan == LM_CHAN_REQ)
		memcpy(a->session, res.session, LM_SESSION_LEN);
	set_timeout(fd, 0);
	return 0;
}

int lm_auth_client(int fd, struct lm_auth *a, enum lm_chan chan)
{
	int err = auth_client(fd, a, chan);

	if (err)
		lm_tls_drop(fd);
	return err;
}
