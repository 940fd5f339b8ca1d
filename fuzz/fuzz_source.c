// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the source end of the wire protocol: what `send` parses from the
 * destination.  The real page server (lm_ps_create/lm_ps_run) serves the
 * fixed image of fuzz.h; the fuzzer's bytes are what the destination
 * sends on the request channel (REQ, DROP, RESUMED, DONE, ERROR).
 *
 * Checked here: the server reads the frozen process only inside a lazy
 * range that has data, never more than a message holds; every PAGES it
 * sends (answers and push) lies in such a range with the payload its
 * header promises; PUSH_END comes once, last.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz.h"
#include "lazy.h"
#include "pageserver.h"
#include "peer.h"
#include "proto.h"

static struct lm_image img;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!getenv("LM_FUZZ_VERBOSE"))
		stderr = fopen("/dev/null", "w");
	if (fuzz_img_build(&img))
		abort();
	return 0;
}

/* Are source pages [addr, +npages) inside vma 0 and all with data? */
static int has_data(__u32 space, __u64 addr, __u64 npages, __u64 ps)
{
	const struct lm_pagemap_img *pm = &img.maps[0];
	__u64 i, first;

	if (space || ps != LM_PAGE_SIZE || !npages || addr < FUZZ_V0 ||
	    (addr - FUZZ_V0) % ps)
		return 0;
	first = (addr - FUZZ_V0) / ps;
	if (first >= FUZZ_V0_PAGES || npages > FUZZ_V0_PAGES - first)
		return 0;
	for (i = first; i < first + npages; i++)
		if (!lm_test_bit(pm->bitmap, i))
			return 0;
	return 1;
}

static int read_frozen(void *ctx, __u32 space, __u64 addr, void *buf,
		       __u64 npages, __u64 page_size)
{
	if (!has_data(space, addr, npages, page_size) ||
	    npages > LM_BULK_PAGES) {
		dprintf(2, "page server reads %llu pages at 0x%llx (space %u): not pages with data\n",
			(unsigned long long)npages, (unsigned long long)addr,
			space);
		abort();
	}
	memset(buf, 0xa5, npages * page_size);
	return 0;
}

/* SPARSE: a bitmap of npages bits, then the pages whose bit is set. */
static void check_sparse(const struct lm_msg *m, const unsigned char *payload)
{
	size_t bm = LM_BITS_TO_LONGS(m->npages) * sizeof(long);
	__u64 i, n = 0;

	if (!m->npages || m->npages > LM_SPARSE_WINDOW_MAX || m->len < bm)
		goto bad;
	for (i = 0; i < m->npages; i++) {
		if (!((payload[i / 8] >> (i % 8)) & 1))
			continue;
		if (!has_data(m->space, m->addr + i * LM_PAGE_SIZE, 1,
			      LM_PAGE_SIZE))
			goto bad;
		n++;
	}
	if (n && m->len == bm + n * LM_PAGE_SIZE)
		return;
bad:
	dprintf(2, "page server sent SPARSE 0x%llx +%llu (%u bytes): wrong\n",
		(unsigned long long)m->addr, (unsigned long long)m->npages,
		m->len);
	abort();
}

static void check_msg(struct fuzz_peer *p, const struct lm_msg *m,
		      const unsigned char *payload)
{
	if (m->magic != LM_MSG_MAGIC || p->saw_push_end) {
		dprintf(2, "page server sent %s after PUSH_END or garbage\n",
			lm_msg_name(m->type));
		abort();
	}
	if (m->type == LM_MSG_PUSH_END) {
		p->saw_push_end++;
		return;
	}
	if (m->type == LM_MSG_SPARSE) {
		check_sparse(m, payload);
		return;
	}
	if (m->type != LM_MSG_PAGES)
		return;
	if (m->len != m->npages * LM_PAGE_SIZE ||
	    !has_data(m->space, m->addr, m->npages, LM_PAGE_SIZE)) {
		dprintf(2, "page server sent PAGES 0x%llx +%llu (%u bytes): wrong\n",
			(unsigned long long)m->addr,
			(unsigned long long)m->npages, m->len);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_peer rp = { .idle_first = 1, .on_msg = check_msg };
	struct fuzz_peer bp = { .on_msg = check_msg };
	struct lm_ps_cfg c = { .img = &img, .read = read_frozen, .pid = 4242 };
	struct fuzz_proto_in in;
	struct lm_ps *ps;
	int req[2], bulk[2], err;

	if (size < sizeof(in))
		return 0;
	memcpy(&in, data, sizeof(in));
	data += sizeof(in);
	size -= sizeof(in);
	if (fuzz_pair(req) || fuzz_pair(bulk))
		abort();
	fuzz_queue(req[1], data, size);
	rp.fd = req[1];
	bp.fd = bulk[1];
	rp.tested = bp.tested = gettid();
	c.req_fd = req[0];
	c.bulk_fd = bulk[0];
	if (lm_ps_create(&c, &ps))
		abort();
	/* like send --eager: the first pages already went before resume */
	if (in.flags & FUZZ_F_LINGER)
		lm_ps_mark_sent(ps, 0, FUZZ_V0, 2);
	if (fuzz_peer_start(&bp) || fuzz_peer_start(&rp))
		abort();
	err = lm_ps_run(ps);
	if (!err)
		lm_ps_bye(ps);
	if (getenv("LM_FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_source: page server returned %d (%s)\n",
			err, strerror(-err));
	lm_ps_destroy(ps);
	close(req[0]);
	close(bulk[0]);
	fuzz_peer_join(&rp);
	fuzz_peer_join(&bp);
	close(req[1]);
	close(bulk[1]);
	return 0;
}
