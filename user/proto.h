/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: the messages of a lazy migration after META_END, on both
 * channels.  Every message is a fixed struct lm_msg followed by len bytes
 * of payload.  Addresses are always *source* addresses (space/addr as in
 * struct lm_pagemap): the destination maps them to where the pages live
 * now (after mremap) itself.  npages always counts 4 KiB pages, also for
 * hugetlb ranges: their pages travel whole, one huge page (npages = 512
 * for 2 MiB) per PAGES message, never as SPARSE.
 *
 *	request channel		dest -> source: CAPS (first, right after
 *				authentication, before the source freezes
 *				anything), REQ, DROP, RESUMED, DONE, ERROR
 *				source -> dest: PAGES/SPARSE (answers), BYE, ERROR
 *	bulk channel		source -> dest: PAGES/SPARSE/ZBULK (push), PUSH_END
 *
 * RESUMED carries in .space the LM_FEAT_* bits the destination takes; the
 * source uses a feature only if asked to and the bit is there (the push
 * starts on RESUMED, so nothing is sent before that is known).
 */
#ifndef LAZYMIG_PROTO_H
#define LAZYMIG_PROTO_H

#include <stddef.h>
#include <linux/types.h>

#define LM_MSG_MAGIC		0x4d5a4cU	/* "LZM" + type in top byte */
#define LM_MSG_MAX_PAYLOAD	(4UL << 20)
#define LM_BULK_PAGES		64		/* 256 KiB per push message */
#define LM_AROUND_MAX		128		/* pages a REQ may ask for */
#define LM_AROUND_PAGES		16		/* answer of a short REQ, max */
#define LM_AROUND_WINDOW	64		/* ... found within this many */
#define LM_BULK_WINDOW		1024		/* a push run spans at most */
#define LM_SPARSE_WINDOW_MAX	4096		/* what a receiver accepts */
/* The largest huge page restored lazily: one message, one UFFDIO_COPY. */
#define LM_HUGE_PAGE_MAX	(2UL << 20)

/*
 * REQ: a fault at space/addr; npages is the destination's read-ahead
 * window.  Up to LM_AROUND_PAGES, the answer is the page and the unsent
 * pages with data after it, up to LM_AROUND_PAGES in all, found within
 * LM_AROUND_WINDOW pages (fault-around); above, the page and the unsent
 * pages with data among the npages - 1 after it (at most LM_AROUND_MAX).
 * One message either way.
 *
 * SPARSE: pages of space/addr..+npages, not all of them: the payload is a
 * bitmap of npages bits (LM_BITS_TO_LONGS(npages) longs, bit i = page i
 * is here) followed by the data of the pages that are, in order.  Lets
 * a run skip zero pages and pages already sent without a message each.
 */

/*
 * ZBULK (bulk channel only, LM_FEAT_ZBULK): the payload is one whole
 * PAGES or SPARSE message, header included, compressed with zlib
 * (compress2 format); npages is its size uncompressed.
 */
#define LM_FEAT_ZBULK		0x1

enum lm_msg_type {
	LM_MSG_REQ = 1,		/* page fault at space/addr: see below */
	LM_MSG_PAGES,		/* npages of data at space/addr */
	LM_MSG_DROP,		/* dest no longer needs space/addr+npages */
	LM_MSG_RESUMED,		/* dest process runs: start the push */
	LM_MSG_DONE,		/* every page is in; payload: stats JSON */
	LM_MSG_BYE,		/* source process killed; goodbye */
	LM_MSG_PUSH_END,	/* every page has been pushed */
	LM_MSG_ERROR,		/* payload: message text */
	LM_MSG_SPARSE,		/* PAGES with holes: see below */
	LM_MSG_ZBULK,		/* a zlib-deflated PAGES/SPARSE: see below */
	LM_MSG_CAPS,		/* dest -> source: addr = LM_CAP_* */
	LM_MSG__MAX,
};

/*
 * What the destination can do beyond plain userfaultfd, so that the
 * source decides which shm objects may be restored lazily.
 */
#define LM_CAP_LMDEV		(1ULL << 0)	/* lazymig.ko intercepts fd
						 * access, punch, truncate */
#define LM_CAP_SHMEM_REMOVE	(1ULL << 1)	/* uffd reports shmem punch
						 * and truncate (patched) */
#define LM_CAPS_TIMEOUT_MS	10000

struct lm_msg {
	__u32 magic;		/* LM_MSG_MAGIC */
	__u32 type;		/* enum lm_msg_type */
	__u32 space;
	__u32 len;		/* payload bytes */
	__u64 addr;
	__u64 npages;
};

/* Blocking send of one message (payload may be NULL when len == 0). */
int lm_msg_send(int fd, __u32 type, __u32 space, __u64 addr, __u64 npages,
		const void *payload, size_t len);

/*
 * Non-blocking receive: lm_rx_fill() reads what the socket has (returns
 * bytes read, 0 on EAGAIN, -ECONNRESET on EOF, -errno); lm_rx_next()
 * returns 1 and the next complete message (payload valid until the next
 * lm_rx_next or lm_rx_fill), 0 when none is complete, -EBADMSG on garbage.
 */
struct lm_rx {
	int fd;
	unsigned char *buf;
	size_t cap, head, tail;
	size_t max_read;	/* per lm_rx_fill, 0: what fits */
	__u64 bytes;
};

/*
 * Blocking receive of one message into buf (payload up to cap bytes),
 * for the few places that wait for one answer.  0 or -errno.
 */
int lm_msg_recv(int fd, struct lm_msg *m, void *buf, size_t cap);

int lm_rx_init(struct lm_rx *rx, int fd, size_t cap);
void lm_rx_free(struct lm_rx *rx);
long lm_rx_fill(struct lm_rx *rx);
/*
 * With TLS: does the TLS layer hold bytes lm_rx_fill did not take?  Then
 * call it again without waiting for the socket to become readable.
 */
int lm_rx_pending(const struct lm_rx *rx);
int lm_rx_next(struct lm_rx *rx, struct lm_msg *m, const void **payload);
const char *lm_msg_name(__u32 type);

#endif
