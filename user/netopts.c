// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: the options `send` and `receive` share (see netopts.h).
 */
#include <errno.h>
#include <stdio.h>
#include "netopts.h"
#include "tls.h"

int lm_netopts_parse(struct lm_netopts *o, int c, const char *arg)
{
	switch (c) {
	case LM_OPT_ADDR:
		o->addr = arg;
		return 1;
	case LM_OPT_TOKEN:
		o->token_file = arg;
		return 1;
	case LM_OPT_TLS:
		o->tls = 1;
		return 1;
	case LM_OPT_TLS_CERT:
		o->cert = arg;
		return 1;
	case LM_OPT_TLS_KEY:
		o->key = arg;
		return 1;
	case LM_OPT_TLS_CA:
		o->ca = arg;
		return 1;
	}
	return 0;
}

static int check(const struct lm_netopts *o, const char *prefix)
{
	int certs = !!o->cert + !!o->key + !!o->ca;

	if (certs && !o->tls) {
		fprintf(stderr, "%s: --tls-cert, --tls-key and --tls-ca go with --tls\n",
			prefix);
		return -EINVAL;
	}
	if (certs && certs != 3) {
		fprintf(stderr, "%s: certificates need all of --tls-cert, --tls-key and --tls-ca\n",
			prefix);
		return -EINVAL;
	}
	if (o->tls && !certs && !o->token_file) {
		fprintf(stderr, "%s: --tls needs key material: --token-file F (pre-shared key) or --tls-cert, --tls-key and --tls-ca\n",
			prefix);
		return -EINVAL;
	}
	return 0;
}

int lm_netopts_setup(const struct lm_netopts *o, struct lm_auth *a,
		     int server)
{
	struct lm_tls_opts t = { .cert = o->cert, .key = o->key, .ca = o->ca };
	int err = check(o, a->prefix);

	if (!err && o->token_file)
		err = lm_token_load(a, o->token_file);
	if (err || !o->tls)
		return err;
	t.token = a->token;
	t.token_len = a->token_len;
	return lm_tls_new(&t, server, a->prefix, &a->tls);
}

void lm_netopts_release(struct lm_auth *a)
{
	lm_tls_free(a->tls);
	a->tls = NULL;
}
