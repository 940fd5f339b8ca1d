/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: rebuilding a process from an image (destination side), by
 * ptrace syscall injection into a stub.  Used by `restore` (eager, from a
 * file) and by `receive` (lazy, memory through userfaultfd).
 */
#ifndef LAZYMIG_RESTORE_H
#define LAZYMIG_RESTORE_H

#include "image.h"

struct lm_restorer;

struct lm_restore_opts {
	const char *stdio;	/* "inherit" (default), "null" or a path */
	int lazy;		/* register VMAs flagged LM_VMA_LAZY (and lazy
				 * shm objects) with a userfaultfd instead of
				 * expecting their pages */
	__u64 uffd_features;	/* UFFD_FEATURE_* wanted for the lazy uffd */
};

/*
 * Create the stub (same PID when free via clone3 set_tid, else a new one,
 * said on stderr), build the memory layout, shm objects and fds.  The
 * process is stopped under ptrace, not yet running.  Returns 0 or -errno
 * with the reason printed.
 */
int lm_restore_prepare(struct lm_image *img, const struct lm_restore_opts *o,
		       struct lm_restorer **out);

/* Install page data (eager pages; space/addr as in struct lm_pages). */
int lm_restore_write_pages(struct lm_restorer *r, const struct lm_pages *p,
			   const void *data);

/*
 * The userfaultfd (taken from the stub with pidfd_getfd) on which the lazy
 * ranges are registered, owned by the caller after this call; -1 if none.
 * Also: fds on the restored shm objects (for lazy shm, the daemon fills
 * them through UFFDIO_COPY on a mapping, or through the module).
 */
int lm_restore_take_uffd(struct lm_restorer *r);
int lm_restore_shm_fd(struct lm_restorer *r, int shm_id);

/*
 * Restore the remaining state (threads, registers, signals, mm map, vdso),
 * detach and let the process run.  *pid is its PID.  Returns 0 or -errno.
 */
int lm_restore_resume(struct lm_restorer *r, pid_t *pid);

/* Kill the half-built process (any stage before resume) and free. */
void lm_restore_abort(struct lm_restorer *r);
void lm_restore_free(struct lm_restorer *r);

#endif
