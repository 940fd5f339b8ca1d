/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Selftest helpers shared by the restore tests: sleep, reap a child (or an
 * adopted process, for a subreaper), read a pidfile, copy an image with
 * its metadata edited.
 */
#ifndef LMTEST_RSTTEST_H
#define LMTEST_RSTTEST_H

#include <sys/types.h>
#include "image.h"

void lm_msleep(int ms);

/* Wait up to @ms for @pid (our child or adopted); its status or -1. */
int lm_reap_pid(pid_t pid, int ms);

/* If @pid (> 0) has not exited yet: SIGKILL it and reap it (up to 5 s). */
void lm_kill_unreaped(pid_t pid);

/* The number after @prefix at the start of file @path, or -1. */
pid_t lm_read_pidfile(const char *path, const char *prefix);

/* Copy image @in to @out, letting @edit change the metadata. */
int lm_rewrite_image(const char *in, const char *out,
		     void (*edit)(struct lm_image *img));

#endif
