/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Selftest helpers: load a whole image file (metadata and every page run)
 * and read back what it holds for a virtual address range of the dumped
 * process, through shm objects where the range is shared memory.
 */
#ifndef LMTEST_IMGTEST_H
#define LMTEST_IMGTEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "image.h"

struct lm_loaded_run {
	struct lm_pages p;
	void *data;
	int eager;			/* came before META_END */
};

struct lm_loaded {
	struct lm_image img;
	struct lm_loaded_run *runs;
	size_t nr_runs;
	int saw_end;
	char err[300];			/* the reader's message on failure */
};

/* 0, or -errno with l->err set. */
int lm_load_image(const char *path, struct lm_loaded *l);
void lm_loaded_free(struct lm_loaded *l);

/* The VMA holding @addr, or NULL. */
const struct lm_vma_img *lm_loaded_vma(const struct lm_loaded *l,
				       uint64_t addr);

/*
 * Copy the image's bytes for [addr, addr + len) into @buf (zeros where the
 * image has no data) and count the 4 KiB pages that had data.  Returns
 * that count, or -1 if part of the range is in no VMA.
 */
long lm_loaded_read(const struct lm_loaded *l, uint64_t addr, void *buf,
		    size_t len);

/*
 * `lazymig dump -t @pid -o @image --leave-running` and load the image.
 * Returns 0, or nonzero with what failed in @msg.
 */
int lm_dump_load(pid_t pid, const char *image, struct lm_loaded *l,
		 char *msg, size_t mlen);

struct lm_wl;

/*
 * Start workload @prog with @opts (lm_wl_start), `lazymig dump
 * --leave-running` it to @image (DIR/img in its directory) and load that.
 * Returns 0, or nonzero with what failed in @msg.
 */
int lm_wl_dump_load(struct lm_wl *wl, const char *prog, const char *opts,
		    char *image, size_t ilen, struct lm_loaded *l,
		    char *msg, size_t mlen);

/* Undo lm_wl_dump_load: free @l, remove @image, stop the workload. */
void lm_wl_dump_free(struct lm_wl *wl, const char *image, struct lm_loaded *l);

#endif
