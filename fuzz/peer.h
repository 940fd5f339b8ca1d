/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The far end of a channel in the protocol harnesses: the fuzzer's bytes
 * are queued on it up front (socket buffers are made large enough), then
 * a thread closes its sending side when the end under test has gone idle
 * and reads whatever comes back until EOF.
 */
#ifndef LAZYMIG_FUZZ_PEER_H
#define LAZYMIG_FUZZ_PEER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "proto.h"

struct fuzz_peer {
	int fd;			/* our end; the tested end is the other */
	int idle_first;		/* shut down only once the tested thread sleeps */
	pid_t tested;		/* that thread */
	/* each complete message read back, or NULL */
	void (*on_msg)(struct fuzz_peer *p, const struct lm_msg *m,
		       const unsigned char *payload);
	int saw_push_end;	/* for on_msg */
	pthread_t th;
	unsigned char *buf;
	size_t len;
};

/* A connected pair with big buffers: fds[0] tested end, fds[1] peer. */
int fuzz_pair(int fds[2]);
/* Queue @len bytes on @fd without blocking; returns bytes queued. */
size_t fuzz_queue(int fd, const void *data, size_t len);
int fuzz_peer_start(struct fuzz_peer *p);
void fuzz_peer_join(struct fuzz_peer *p);
/* Does thread @tid sleep (state S or D)? */
int fuzz_thread_sleeps(pid_t tid);

#endif
