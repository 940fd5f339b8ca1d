/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: the network and security options `send` and `receive` share:
 * the address (--to / --listen), --token-file, --tls, --tls-cert,
 * --tls-key, --tls-ca.  One parser, one set of checks, one usage text.
 */
#ifndef LAZYMIG_NETOPTS_H
#define LAZYMIG_NETOPTS_H

#include "net.h"

enum {
	LM_OPT_ADDR = 0x1000,
	LM_OPT_TOKEN,
	LM_OPT_TLS,
	LM_OPT_TLS_CERT,
	LM_OPT_TLS_KEY,
	LM_OPT_TLS_CA,
};

/* struct option entries; @addr is "to" or "listen". */
#define LM_NETOPTS_LONG(addr)						\
	{ addr, required_argument, NULL, LM_OPT_ADDR },			\
	{ "token-file", required_argument, NULL, LM_OPT_TOKEN },	\
	{ "tls", no_argument, NULL, LM_OPT_TLS },			\
	{ "tls-cert", required_argument, NULL, LM_OPT_TLS_CERT },	\
	{ "tls-key", required_argument, NULL, LM_OPT_TLS_KEY },		\
	{ "tls-ca", required_argument, NULL, LM_OPT_TLS_CA }

#define LM_NETOPTS_USAGE \
	"[--token-file F] [--tls [--tls-cert F --tls-key F --tls-ca F]]"

struct lm_netopts {
	const char *addr, *token_file, *cert, *key, *ca;
	int tls;
};

/* One getopt_long result: 1 if it was one of ours, else 0. */
int lm_netopts_parse(struct lm_netopts *o, int c, const char *arg);
/*
 * After parsing: check the combination, load the token, set up TLS
 * (@server: receive).  0 or -errno, said why on stderr.
 */
int lm_netopts_setup(const struct lm_netopts *o, struct lm_auth *a,
		     int server);
void lm_netopts_release(struct lm_auth *a);

#endif
