/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig fuzzing: what the harnesses and the seed generator share.
 *
 * The protocol harnesses run one end of a lazy migration against a fixed
 * image (fuzz_img_build): three anonymous private VMAs at FUZZ_BASE,
 *	vma 0: 32 pages, lazy, pagemap with every page but 3 and 7
 *	vma 1: 16 pages, lazy, no pagemap (all zero)
 *	vma 2: 16 pages, not lazy, pagemap with every page
 * and the other end is played by the fuzzer's bytes.
 */
#ifndef LAZYMIG_FUZZ_H
#define LAZYMIG_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "image.h"

#define FUZZ_BASE	0x500000000000ULL
#define FUZZ_PAGES	96		/* mapped at FUZZ_BASE by fuzz_dest */
#define FUZZ_V0		FUZZ_BASE
#define FUZZ_V0_PAGES	32
#define FUZZ_V1		(FUZZ_BASE + 48 * LM_PAGE_SIZE)
#define FUZZ_V1_PAGES	16
#define FUZZ_V2		(FUZZ_BASE + 64 * LM_PAGE_SIZE)
#define FUZZ_V2_PAGES	16

/*
 * Input of fuzz_dest and fuzz_source: this header, then req_len bytes the
 * peer sends on the request channel, then (fuzz_dest) the rest on the
 * bulk channel.
 */
struct fuzz_proto_in {
	uint8_t flags;		/* FUZZ_F_* */
	uint8_t pad[3];
	uint32_t req_len;
};

#define FUZZ_F_RESUME	(1U << 0)	/* dest: resume before the loop */
#define FUZZ_F_RECV	(1U << 1)	/* dest: lm_msg_recv loop (eager end) */
#define FUZZ_F_LINGER	(1U << 2)	/* source: some pages count as sent
					 * before resume */
#define FUZZ_F_TOUCH	(1U << 3)	/* dest: a thread of ours reads lazy
					 * pages pad[0..2] (page numbers from
					 * FUZZ_BASE) while the daemon runs */

/* Input of fuzz_auth: this header, then what the peer sends. */
struct fuzz_auth_in {
	uint8_t side;		/* bit 0: 0 server (receive), 1 client (send) */
	uint8_t token;		/* bit 0: both sides have a token */
	uint8_t chan;		/* bit 0: 0 request channel, 1 bulk; bit 1: --tls */
	uint8_t pad;
};

#define FUZZ_TOKEN	"fuzz-token-0123456789abcdef"

static inline int fuzz_vma(struct lm_vma_img *v, uint64_t start,
			   uint64_t npages, uint32_t flags)
{
	memset(v, 0, sizeof(*v));
	v->v.start = start;
	v->v.end = start + npages * LM_PAGE_SIZE;
	v->v.kind = LM_MEM_ANON_PRIVATE;
	v->v.prot = 3;
	v->v.flags = flags;
	v->v.shm_id = -1;
	v->v.page_size = LM_PAGE_SIZE;
	return 0;
}

static inline int fuzz_map(struct lm_pagemap_img *m, uint64_t addr,
			   uint64_t npages, uint64_t holes)
{
	uint64_t i;

	memset(m, 0, sizeof(*m));
	m->m.addr = addr;
	m->m.npages = npages;
	m->m.page_size = LM_PAGE_SIZE;
	m->bitmap = calloc((npages + 63) / 64 + 1, sizeof(unsigned long));
	if (!m->bitmap)
		return -1;
	for (i = 0; i < npages; i++)
		if (!(holes & (1ULL << (i & 63))))
			m->bitmap[i / 64] |= 1UL << (i % 64);
	return 0;
}

/* The fixed image of the protocol harnesses; lm_image_free() frees it. */
static inline int fuzz_img_build(struct lm_image *img)
{
	memset(img, 0, sizeof(*img));
	img->hdr.page_size = LM_PAGE_SIZE;
	img->hdr.flags = LM_HDR_LAZY;
	img->proc.pid = 4242;
	img->proc.nr_threads = 0;
	img->proc.nr_vmas = 3;
	img->vmas = calloc(3, sizeof(*img->vmas));
	img->maps = calloc(2, sizeof(*img->maps));
	if (!img->vmas || !img->maps)
		return -1;
	fuzz_vma(&img->vmas[0], FUZZ_V0, FUZZ_V0_PAGES, LM_VMA_LAZY);
	fuzz_vma(&img->vmas[1], FUZZ_V1, FUZZ_V1_PAGES, LM_VMA_LAZY);
	fuzz_vma(&img->vmas[2], FUZZ_V2, FUZZ_V2_PAGES, 0);
	img->nr_maps = 2;
	if (fuzz_map(&img->maps[0], FUZZ_V0, FUZZ_V0_PAGES,
		     (1ULL << 3) | (1ULL << 7)) ||
	    fuzz_map(&img->maps[1], FUZZ_V2, FUZZ_V2_PAGES, 0))
		return -1;
	return 0;
}

#endif
