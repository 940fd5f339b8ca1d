/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: freezing a process and collecting its image (source side).
 * Used by `dump` (to a file) and by `send` (to the wire + page server).
 */
#ifndef LAZYMIG_DUMP_H
#define LAZYMIG_DUMP_H

#include "image.h"

struct lm_dump {
	pid_t pid;
	int pidfd;
	int mem_fd;		/* /proc/PID/mem, for pages (or -1) */
	int frozen;		/* all threads seized and stopped */
	struct lm_image img;
	char errmsg[512];	/* why a dump was refused or failed */
};

/*
 * Seize and stop every thread of @pid (looping until no new thread
 * appears), then collect the whole image (no page data: pagemaps only).
 * Refuses unsupported state with a message naming it in d->errmsg; on any
 * failure the process is left running, untouched.  Returns 0 or -errno.
 */
int lm_dump_freeze_collect(pid_t pid, struct lm_dump *d);

/*
 * Read @npages pages of @space at @addr from the frozen process (space 0:
 * virtual addresses) or the shm object (space = id + 1, addr = offset).
 * Safe to call from several threads.  Returns 0 or -errno.
 */
int lm_dump_read_pages(struct lm_dump *d, __u32 space, __u64 addr,
		       void *buf, __u64 npages, __u64 page_size);

/* Write the eager stream (all metadata, all pages, END) of a frozen dump. */
int lm_dump_write_all(struct lm_dump *d, struct lm_stream *s);

/* Detach: resume the process (kill == 0) or SIGKILL it; frees the image. */
void lm_dump_release(struct lm_dump *d, int kill);

#endif
