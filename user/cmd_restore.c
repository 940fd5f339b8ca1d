// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig restore -i FILE [--pidfile F] [--stdio inherit|null|PATH]
 *
 * Reads the image stream, rebuilds the process (restore.h), installs
 * every page, lets it run and exits 0.  The restored process is a child
 * of this command; when the command exits it is reparented (to the
 * nearest PR_SET_CHILD_SUBREAPER, e.g. a test harness, else init), so it
 * outlives lazymig and whoever started lazymig can wait for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lazymig.h"
#include "restore.h"

static void usage(void)
{
	fprintf(stderr, "usage: lazymig restore -i FILE [--pidfile F] [--stdio inherit|null|PATH]\n");
}

static int write_pidfile(const char *path, pid_t pid)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", pid);
	if (fclose(f) || rename(tmp, path))
		return -errno;
	return 0;
}

static int install_pages(struct lm_stream *s, struct lm_restorer *r)
{
	for (;;) {
		struct lm_pages p;
		void *data;
		int t = lm_read_next(s, &p, &data), err;

		if (t == LM_REC_END)
			return 0;
		if (t == LM_REC_META_END)
			continue;
		if (t != LM_REC_PAGES) {
			fprintf(stderr, "restore: %s: %s\n", s->what,
				s->errmsg[0] ? s->errmsg : strerror(-t));
			return t < 0 ? t : -EBADMSG;
		}
		err = lm_restore_write_pages(r, &p, data);
		if (err)
			return err;
	}
}

/* Read every member's metadata; *off[i]: where its pages start. */
static int read_members(struct lm_stream *s, const struct lm_tree_img *t,
			struct lm_image *imgs, __u64 *off)
{
	unsigned int i;

	for (i = 0; i < t->t.nr_members; i++) {
		struct lm_pages p;
		void *data;
		int r;

		if (i)
			lm_stream_next_member(s);
		r = lm_read_meta(s, &imgs[i]);
		if (r)
			goto bad;
		off[i] = lm_stream_pos(s);
		do
			r = lm_read_next(s, &p, &data);
		while (r == LM_REC_PAGES || r == LM_REC_META_END);
		if (r != LM_REC_END)
			goto bad;
		continue;
bad:
		fprintf(stderr, "restore: %s, member %u: %s\n", s->what, i,
			s->errmsg[0] ? s->errmsg : strerror(r < 0 ? -r : EBADMSG));
		return r < 0 ? r : -EBADMSG;
	}
	return 0;
}

/*
 * A tree image: every member's metadata first (its pages are skipped,
 * then read again once every stub exists), the members resumed children
 * first.
 */
static int restore_tree(struct lm_stream *s, struct lm_tree_img *t,
			const char *pidfile, struct lm_restore_opts *o)
{
	unsigned int nr = t->t.nr_members, i, resumed = 0;
	struct lm_image *imgs = calloc(nr, sizeof(*imgs));
	struct lm_restorer **rs = NULL;
	__u64 *off = calloc(nr, sizeof(*off));
	pid_t *pids = calloc(nr, sizeof(*pids));
	int err = -ENOMEM;

	if (!imgs || !off || !pids)
		goto out;
	err = read_members(s, t, imgs, off);
	if (!err)
		err = lm_restore_tree_prepare(t, imgs, o, &rs);
	for (i = 0; !err && i < nr; i++) {
		err = lm_stream_seek_pages(s, off[i], &imgs[i]);
		if (err)
			fprintf(stderr, "restore: %s\n", s->errmsg);
		else
			err = install_pages(s, rs[i]);
	}
	for (i = nr; !err && i-- > 0; resumed++)
		err = lm_restore_resume(rs[i], &pids[i]);
	if (err) {
		/* Those already running go too: never half a tree. */
		for (i = nr - resumed; i < nr; i++)
			if (pids[i] > 0)
				kill(pids[i], SIGKILL);
		if (rs)
			lm_restore_tree_abort(rs, nr);
		fprintf(stderr, "restore: the tree of PID %d is not restored; nothing is left running\n",
			t->members[0].pid);
		goto out;
	}
	lm_restore_tree_free(rs, nr);
	for (i = 0; i < nr; i++)
		printf("restore: member %u: PID %d restored as PID %d, child of %d\n",
		       i, t->members[i].pid, pids[i],
		       t->members[i].parent >= 0 ? pids[t->members[i].parent] :
		       getpid());
	if (pidfile) {
		err = write_pidfile(pidfile, pids[0]);
		if (err)
			fprintf(stderr, "restore: cannot write pidfile %s: %s (PID %d runs)\n",
				pidfile, strerror(-err), pids[0]);
	}
out:
	for (i = 0; imgs && i < nr; i++)
		lm_image_free(&imgs[i]);
	free(imgs);
	free(off);
	free(pids);
	return err;
}

static int do_restore(const char *in, const char *pidfile,
		      struct lm_restore_opts *o)
{
	struct lm_tree_img tree;
	struct lm_image img;
	struct lm_stream s;
	struct lm_restorer *r = NULL;
	char what[4200];
	pid_t pid;
	int fd, err;

	memset(&img, 0, sizeof(img));
	fd = open(in, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "restore: cannot open image %s: %s\n", in,
			strerror(errno));
		return 1;
	}
	snprintf(what, sizeof(what), "image %s", in);
	err = lm_stream_open(&s, fd, 0, what);
	if (err)
		goto out_fd;
	err = lm_read_tree(&s, &tree);
	if (err > 0) {
		err = restore_tree(&s, &tree, pidfile, o);
		lm_tree_free(&tree);
		goto out_stream;
	}
	if (!err)
		err = lm_read_meta(&s, &img);
	if (err) {
		fprintf(stderr, "restore: %s: %s\n", what,
			s.errmsg[0] ? s.errmsg : strerror(-err));
		goto out_stream;
	}
	err = lm_restore_prepare(&img, o, &r);
	if (err)
		goto out_img;
	err = install_pages(&s, r);
	if (err) {
		lm_restore_abort(r);
		fprintf(stderr, "restore: PID %d not restored; nothing is left running\n",
			img.proc.pid);
		goto out_img;
	}
	err = lm_restore_resume(r, &pid);
	lm_restore_free(r);
	if (err)
		goto out_img;
	if (pidfile) {
		err = write_pidfile(pidfile, pid);
		if (err)
			fprintf(stderr, "restore: cannot write pidfile %s: %s (PID %d runs)\n",
				pidfile, strerror(-err), pid);
	}
out_img:
	lm_image_free(&img);
out_stream:
	lm_stream_close(&s);
out_fd:
	close(fd);
	return err ? 1 : 0;
}

int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "stdio", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lm_restore_opts o = { .stdio = "inherit" };
	const char *in = NULL, *pidfile = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			in = optarg;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 's':
			o.stdio = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (!in || optind != argc) {
		usage();
		return 2;
	}
	return do_restore(in, pidfile, &o);
}
