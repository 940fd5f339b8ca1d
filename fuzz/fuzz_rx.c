// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the message framing both ends read with (proto.c: lm_rx_fill,
 * lm_rx_next) against a plain reference parse of the same bytes.  The
 * bytes reach the socket in chunks of fuzzer-chosen sizes and the
 * receive buffer is small, so messages straddle reads and the buffer
 * wraps; every message lm_rx_next returns must be the reference's next
 * one (header and payload), and garbage must be refused exactly where
 * the reference finds it.
 *
 * Input: u16 buffer size, u8 chunk seed, then the stream.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "proto.h"

#define MAX_STREAM	(256 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!getenv("LM_FUZZ_VERBOSE"))
		stderr = fopen("/dev/null", "w");
	return 0;
}

/* Reference: is the header at p one lm_rx_next must refuse? */
static int bad_header(const struct lm_msg *m, size_t cap)
{
	return m->magic != LM_MSG_MAGIC || !m->type || m->type >= LM_MSG__MAX ||
	       m->len > LM_MSG_MAX_PAYLOAD || m->len + sizeof(*m) > cap;
}

static void mismatch(const char *what, size_t off)
{
	dprintf(2, "lm_rx: %s at stream offset %zu\n", what, off);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap, sent = 0, ref = 0, bufcap;
	uint32_t seed;
	struct lm_rx rx;
	int sv[2], eof = 0, shut = 0;

	if (size < 3 || size - 3 > MAX_STREAM)
		return 0;
	cap = 1 + (data[0] | data[1] << 8) % 8192;
	seed = data[2] * 2654435761U + 1;
	data += 3;
	size -= 3;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	if (lm_rx_init(&rx, sv[0], cap))
		abort();
	bufcap = cap + sizeof(struct lm_msg);
	for (;;) {
		const void *payload;
		struct lm_msg m, r;
		long n;
		int got;

		if (sent < size) {
			size_t chunk;
			ssize_t w;

			seed = seed * 1103515245U + 12345U;
			chunk = 1 + (seed >> 8) % 3000;
			if (chunk > size - sent)
				chunk = size - sent;
			w = send(sv[1], data + sent, chunk, MSG_DONTWAIT);
			if (w < 0 && errno != EAGAIN)
				abort();
			sent += w > 0 ? w : 0;
		}
		if (sent == size && !shut) {
			shutdown(sv[1], SHUT_WR);
			shut = 1;
		}
		n = lm_rx_fill(&rx);
		if (n == -ECONNRESET)
			eof = 1;
		else if (n < 0)
			abort();
		while ((got = lm_rx_next(&rx, &m, &payload)) == 1) {
			if (size - ref < sizeof(r))
				mismatch("a message the reference does not have", ref);
			memcpy(&r, data + ref, sizeof(r));
			if (bad_header(&r, bufcap))
				mismatch("a message where the reference refuses", ref);
			if (memcmp(&m, &r, sizeof(r)) ||
			    size - ref - sizeof(r) < r.len ||
			    memcmp(payload, data + ref + sizeof(r), r.len))
				mismatch("a different message", ref);
			ref += sizeof(r) + r.len;
		}
		if (got < 0) {
			if (got != -EBADMSG || size - ref < sizeof(r))
				mismatch("refused a message that is not there", ref);
			memcpy(&r, data + ref, sizeof(r));
			if (!bad_header(&r, bufcap))
				mismatch("refused a good message", ref);
			break;
		}
		if (eof && sent == size) {
			/* all read: what is left is at most a partial message */
			if (size - ref >= sizeof(r)) {
				memcpy(&r, data + ref, sizeof(r));
				if (bad_header(&r, bufcap))
					mismatch("never refused a bad header", ref);
				if (size - ref >= sizeof(r) + r.len)
					mismatch("never returned a whole message", ref);
			}
			break;
		}
	}
	lm_rx_free(&rx);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
