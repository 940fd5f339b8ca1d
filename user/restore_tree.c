// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig restore of a process tree: the objects that several fds or
 * members share (restore_priv.h, struct rst_tree).  The stages
 * themselves are those of a single process (restore.c), run for every
 * member, except that the stubs are created together (restore_stub.c,
 * rst_start_tree): the root's by the restorer, every other one by its
 * parent's stub, so that parent/child relations are the dumped ones.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "restore_priv.h"

struct rst_share *rst_share_find(struct rst_tree *tr, int kind, __u64 key,
				 __u64 key2)
{
	int i;

	for (i = 0; i < tr->nr_shares; i++) {
		struct rst_share *sh = &tr->shares[i];

		if (sh->kind == kind && sh->key == key && sh->key2 == key2)
			return sh;
	}
	return NULL;
}

/* Takes fd0 and fd1 (-1: none); NULL (fds closed) on failure. */
struct rst_share *rst_share_add(struct rst_tree *tr, int kind, __u64 key,
				__u64 key2, int fd0, int fd1)
{
	struct rst_share *n;

	if (fd0 < 0)
		goto fail;
	n = realloc(tr->shares, (tr->nr_shares + 1) * sizeof(*n));
	if (!n)
		goto fail;
	tr->shares = n;
	n = &n[tr->nr_shares++];
	n->kind = kind;
	n->key = key;
	n->key2 = key2;
	n->fd[0] = fd0;
	n->fd[1] = fd1;
	n->filled = 0;
	return n;
fail:
	if (fd0 >= 0)
		close(fd0);
	if (fd1 >= 0)
		close(fd1);
	return NULL;
}

/* Every stub holds its own carriers now: the restorer's copies go. */
void rst_share_close(struct rst_tree *tr)
{
	int i;

	for (i = 0; i < tr->nr_shares; i++) {
		close(tr->shares[i].fd[0]);
		if (tr->shares[i].fd[1] >= 0)
			close(tr->shares[i].fd[1]);
	}
	free(tr->shares);
	tr->shares = NULL;
	tr->nr_shares = 0;
}
