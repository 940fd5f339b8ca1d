/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: the guardian of a lazily restored process (destination).
 *
 * A userfaultfd is released when its last fd closes: should `receive`
 * die (SIGKILL, OOM, a crash) while pages are still lazy, the kernel
 * would unregister the ranges and the process would read zeros where
 * its data should be.  The guardian is a small process forked by
 * receive that holds a copy of every uffd of the restored tree (the
 * root's from the fork, each forked child's passed over a socket as the
 * daemon learns of it) and does nothing else.  When its socket reports
 * that receive is gone without having released it, it kills the whole
 * restored tree, and only then lets its uffds go.  Faulting threads stay
 * blocked until they die.  Once every page is in, receive releases it
 * before the daemon closes its own uffds.
 *
 * A lazy process tree has one guardian too: it holds every member's
 * uffd (and those of their forked children) and kills every member's
 * tree, each member being slot i of its kill list.
 */
#ifndef LAZYMIG_GUARD_H
#define LAZYMIG_GUARD_H

#include <sys/types.h>

struct lm_guard;

/* Fork the guardian for the process @pid whose root uffd is @uffd. */
int lm_guard_start(int uffd, pid_t pid, struct lm_guard **out);
/* The process is known as @pid now (after resume). */
void lm_guard_pid(struct lm_guard *g, pid_t pid);
/* Tree member @idx (0 being the root, as in lm_guard_pid) is @pid. */
void lm_guard_member_pid(struct lm_guard *g, unsigned int idx, pid_t pid);
/* Keep a copy of another member's or a forked child's uffd. */
void lm_guard_uffd(struct lm_guard *g, int ufd);
/* Let go: the guardian closes its copies and exits; waited for. */
void lm_guard_release(struct lm_guard *g);
/* Release (if not yet) and free. */
void lm_guard_free(struct lm_guard *g);

#endif
