/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the lazymig.ko selftests: load and unload the module, and a
 * small lazy-pages "daemon" in a child process that serves the module's
 * events for one shmem file from a known pattern.
 */
#ifndef LMDEV_TEST_H
#define LMDEV_TEST_H

#include <stdint.h>
#include <sys/types.h>
#include "lmdev.h"

#define LMT_MOD_NAME	"lazymig"

/* build/lazymig.ko, or $LAZYMIG_KO. */
const char *lmt_module_path(void);
/* 1 if loaded now, 0 if not. */
int lmt_module_loaded(void);
/* Load it unless loaded; waits for /dev/lazymig.  -errno on failure. */
int lmt_module_load(void);
/* delete_module(O_NONBLOCK): -EWOULDBLOCK while in use. */
int lmt_module_unload(void);
/* NULL if the module tests can run here, else why not (for SKIP). */
const char *lmt_skip_reason(void);

enum lmt_mode {
	LMT_SERVE,		/* fill, drop, ack */
	LMT_HANG,		/* read events, never ack */
	LMT_CLOSE,		/* close /dev/lazymig on the first event */
	LMT_SELF_READ,		/* pread a pending page itself, then serve */
	LMT_HANG_LEAK,		/* LMT_HANG, and a child keeps /dev/lazymig */
	LMT_REFUSE,		/* ack every event with -ENOLINK */
	LMT_UNREGISTER,		/* unregister on the first event, no ack */
};

/* Shared between the test and its daemon (MAP_SHARED). */
struct lmt_shared {
	volatile int ready;		/* 1: registered; -errno: failed */
	volatile int stop;
	volatile int nr_events;
	volatile int nr_type[4];	/* by LAZYMIG_EV_* */
	volatile int nr_fill, nr_drop, errors;
	volatile int self_read;		/* LMT_SELF_READ: bytes or -errno */
	struct lazymig_event last;
	char errmsg[128];
};

struct lmt_daemon {
	pid_t pid;
	struct lmt_shared *sh;
};

/*
 * Fork a daemon serving @fd (nr_pages pages; original content: lm_pat()
 * of @seed; @pending: bitmap words or NULL for all).  Returns once it has
 * registered, or -errno with sh->errmsg set.
 */
int lmt_daemon_start(struct lmt_daemon *d, int fd, uint64_t nr_pages,
		     const uint64_t *pending, uint64_t seed, enum lmt_mode mode);
/* Stop (SIGKILL if it does not stop) and reap it; returns its status. */
int lmt_daemon_stop(struct lmt_daemon *d);

#endif
