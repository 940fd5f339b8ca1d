/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by lazymig selftests, their workloads and bench/: known
 * data patterns, the userfaultfd feature probe, and what every workload
 * does (state files, random orders, waiting for SIGUSR1).
 */
#ifndef LMTEST_H
#define LMTEST_H

#include <stddef.h>
#include <stdint.h>
#include <linux/lazymig_uffd.h>

#define LM_PAGE 4096UL

/* Byte i of a region tagged @seed: cheap, position-dependent, never 0. */
static inline uint8_t lm_pat(uint64_t seed, size_t i)
{
	uint64_t x = (seed + i / 8) * 0x9e3779b97f4a7c15ULL;

	return (uint8_t)((x >> (8 * (i % 8))) | 1);
}

void lm_fill(void *p, size_t len, uint64_t seed);
/* Returns the offset of the first wrong byte, or -1 if all match. */
long lm_check(const void *p, size_t len, uint64_t seed);
/* Returns the offset of the first non-zero byte, or -1. */
long lm_check_zero(const void *p, size_t len);

/*
 * The memory of lazy_wl, load_wl and ra_wl: page k holds pattern k + 1,
 * but every 16th page (k % 16 == 5) is never written: it must read zero.
 */
static inline uint64_t lm_wl_seed(size_t k)
{
	return k % 16 == 5 ? 0 : k + 1;
}

/* Write every page of @npages at @mem that lm_wl_seed() gives data. */
void lm_wl_fill(char *mem, size_t npages);
/* @mib MiB of private anonymous memory so filled; NULL if not mapped. */
char *lm_wl_map(size_t mib);
/*
 * "ready PID ADDR LEN" (of the @mib MiB at @mem) to @state, then wait for
 * SIGUSR1 (lm_ready_wait_usr1).  0 or -1.
 */
int lm_wl_ready(const char *state, const char *mem, size_t mib);
/*
 * Page @k, at @p, must hold pattern @seed (0: zeros).  0, or 1 with
 * "fail: page K byte B is 0xXX" in @msg.
 */
int lm_check_page(const char *p, size_t k, uint64_t seed, char *msg,
		  size_t len);

/* userfaultfd(2) with UFFD_USER_MODE_ONLY if allowed; -errno on failure. */
int lm_uffd_open(void);
/* UFFDIO_API handshake asking for @want; returns fd or -errno, *have set. */
int lm_uffd_api(uint64_t want, uint64_t *have);

/*
 * Write @text to @path atomically (@path.tmp, then rename): a reader never
 * sees half a line.  0 or -1 with errno.
 */
int lm_write_atomic(const char *path, const char *text);

/* Shuffle @o[0..n) in place: xorshift @x (not 0), Fisher-Yates. */
void lm_shuffle(size_t *o, size_t n, uint64_t x);
/* 0..n-1 in the order lm_shuffle(x) gives, malloc'ed; NULL if out of memory. */
size_t *lm_shuffled(size_t n, uint64_t x);

/*
 * Say ready and wait for the go: block SIGUSR1 (its handler only notes
 * it), write @text to @state atomically, then sleep until SIGUSR1 has come.
 * SIGUSR1 stays blocked.  0, or -1 if @state could not be written.
 */
int lm_ready_wait_usr1(const char *state, const char *text);

#endif
