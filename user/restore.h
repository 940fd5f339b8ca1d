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
	const char *stdio;	/* "inherit" (default), "null" or a path: fds
				 * 0-2 of the image always come from it
				 * (inherit: the restorer's own 0-2; null:
				 * /dev/null; PATH: 0 from /dev/null, 1 and 2
				 * appended to PATH) */
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

/*
 * Install page data (eager pages; space/addr as in struct lm_pages).
 * Pages inside a VMA registered with the uffd go in by UFFDIO_COPY (a
 * page already there by /proc/PID/mem), others by /proc/PID/mem (which
 * also writes read-only private mappings), shm pages through the object.
 */
int lm_restore_write_pages(struct lm_restorer *r, const struct lm_pages *p,
			   const void *data);

/*
 * The userfaultfd (taken from the stub with pidfd_getfd, UFFDIO_API done
 * with opts.uffd_features) on which the lazy ranges are registered: a
 * dup owned by the caller; -1 if none.
 * Also: fds on the restored shm objects (for lazy shm, the daemon fills
 * them through UFFDIO_COPY on a mapping, or through the module), owned by
 * the restorer, valid until lm_restore_free().
 */
int lm_restore_take_uffd(struct lm_restorer *r);
int lm_restore_shm_fd(struct lm_restorer *r, int shm_id);
/* The stub's PID: the process's once resumed. */
pid_t lm_restore_pid(const struct lm_restorer *r);

/*
 * Restore the remaining state (threads, registers, signals, mm map, vdso),
 * detach and let the process run.  *pid is its PID.  Returns 0 or -errno;
 * on failure the process is killed and reaped, and @r must still be
 * released with lm_restore_free() (or lm_restore_abort()).
 * Its injected syscalls may touch the process's memory (rseq registration
 * writes each thread's rseq area): with lazy ranges, faults must already
 * be served while it runs.
 */
int lm_restore_resume(struct lm_restorer *r, pid_t *pid);

/*
 * A process tree (image with a TREE record; @imgs[i] is member i): one
 * restorer per member in *out ([t->t.nr_members]), stubs created so that
 * every member is the child of its dumped parent (same PIDs where free),
 * each then built as lm_restore_prepare builds one process; objects
 * shared across members (pipes, socketpairs, shm objects, open file
 * descriptions) are shared again.  Then lm_restore_write_pages and
 * lm_restore_resume on each member, and lm_restore_tree_free (or
 * lm_restore_tree_abort, which kills every member not yet resumed).
 * With opts.lazy every member gets its own userfaultfd
 * (lm_restore_take_uffd on each), created once every stub exists, so no
 * FORK event is raised by the restore itself.  @t and @imgs must outlive
 * *out.
 */
int lm_restore_tree_prepare(const struct lm_tree_img *t,
			    struct lm_image *imgs,
			    const struct lm_restore_opts *o,
			    struct lm_restorer ***out);
void lm_restore_tree_abort(struct lm_restorer **rs, unsigned int nr);
void lm_restore_tree_free(struct lm_restorer **rs, unsigned int nr);

/* Kill the half-built process (any stage before resume) and free. */
void lm_restore_abort(struct lm_restorer *r);
void lm_restore_free(struct lm_restorer *r);

#endif
