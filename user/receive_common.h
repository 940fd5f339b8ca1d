/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What receive of one process (cmd_receive.c) and of a process tree
 * (receive_tree.c) share: the body of the lazy-pages daemon's thread, the
 * list of our children (the stubs to stop), the pidfile.
 */
#ifndef LM_RECEIVE_COMMON_H
#define LM_RECEIVE_COMMON_H

#include <stddef.h>
#include <sys/types.h>

struct lm_lazy;

/*
 * The daemon's thread: raise its priority (best effort: the faulting
 * threads wait for it), run @lz until every page is in or it fails, and
 * set *@err to what lm_lazy_run() returned.  If it failed (not cancelled)
 * before *@resumed was set (__ATOMIC_RELEASE), call @stop(@ctx): the
 * restorer may be waiting on a stub stopped on a fault that only the
 * daemon could serve.
 */
void lm_receive_daemon(struct lm_lazy *lz, int *err, const int *resumed,
		       void (*stop)(void *ctx), void *ctx);

/*
 * The children of our main thread (the restorer's stubs, and processes
 * restored earlier), as /proc/self/task/PID/children lists them: PIDs
 * separated by spaces, malloc'ed; NULL if it cannot be read.
 */
char *lm_main_children(void);

/*
 * Fault injection for the tests of the failure paths: 1 when
 * LAZYMIG_FAULT is @where (said on stderr): receive-before-resume,
 * receive-after-resume (the destination gives up: no reconnect).  For
 * receive-die-before-resume and receive-die-after-resume it does not
 * return: SIGKILL, as a crash would.
 */
int lm_receive_fault(const char *where);

/* printf at the end of the string in @buf (@len bytes); cut to fit. */
void lm_append(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write "PID\n" to @path; 0, or -errno said on stderr. */
int lm_write_pidfile(const char *path, pid_t pid);

#endif
