// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz both ends of the authentication every connection starts with
 * (net.c): as the receiver (lm_auth_server) the fuzzer's bytes are the
 * sender's response; as the sender (lm_auth_client) they are the
 * receiver's hello and result.  Without the token nobody may get
 * through: a server that accepts a response whose MAC was not made with
 * the token is a crash here.  Bit 1 of chan turns on --tls (PSK from the
 * token): the bytes then also meet the clear-text refusal of a peer
 * without --tls and the TLS handshake.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz.h"
#include "net.h"
#include "peer.h"
#include "tls.h"

static struct lm_tls *tls[2];	/* client, server */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct lm_tls_opts o = {
		.token = (const unsigned char *)FUZZ_TOKEN,
		.token_len = strlen(FUZZ_TOKEN),
	};

	if (!getenv("LM_FUZZ_VERBOSE"))
		stderr = fopen("/dev/null", "w");
	if (lm_tls_new(&o, 0, "fuzz", &tls[0]) ||
	    lm_tls_new(&o, 1, "fuzz", &tls[1]))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_peer p = { .idle_first = 1 };
	struct lm_auth a = { .prefix = "fuzz" };
	struct fuzz_auth_in in;
	enum lm_chan chan;
	int sv[2], err;

	if (size < sizeof(in))
		return 0;
	memcpy(&in, data, sizeof(in));
	data += sizeof(in);
	size -= sizeof(in);
	chan = (in.chan & 1) ? LM_CHAN_BULK : LM_CHAN_REQ;
	if ((in.token & 1) || !(in.side & 1)) {
		/* a server without a token refuses a non-loopback peer */
		a.token_len = strlen(FUZZ_TOKEN);
		memcpy(a.token, FUZZ_TOKEN, a.token_len);
	}
	if (in.chan & 2)
		a.tls = tls[!(in.side & 1)];
	if (fuzz_pair(sv))
		abort();
	fuzz_queue(sv[1], data, size);
	p.fd = sv[1];
	p.tested = gettid();
	if (fuzz_peer_start(&p))
		abort();
	if (in.side & 1) {
		err = lm_auth_client(sv[0], &a, chan);
	} else {
		err = lm_auth_server(sv[0], &a, chan, "fuzz peer");
		/* the peer never saw our nonce: it cannot have the MAC */
		if (!err) {
			dprintf(2, "receiver accepted a sender that cannot know its nonce\n");
			abort();
		}
	}
	lm_net_close(sv[0]);
	fuzz_peer_join(&p);
	close(sv[1]);
	return 0;
}
