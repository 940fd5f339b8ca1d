// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig dump [--tree] -t PID -o FILE [--leave-running]
 *
 * --tree: the process and all its descendants, frozen at once, in one
 * image (dump_tree.c).
 *
 * Freezes the process, writes its whole image (metadata and every page
 * with data) to FILE, then kills it, or resumes it with --leave-running.
 * On any failure FILE is removed, the process resumes untouched and the
 * exit status is 1 (2 for a usage error).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dump.h"
#include "lazymig.h"

static void usage(void)
{
	fprintf(stderr, "usage: lazymig dump [--tree] -t PID -o FILE [--leave-running]\n");
}

static __u64 image_data_bytes(const struct lm_image *img)
{
	__u64 bytes = 0, i;
	unsigned int k;

	for (k = 0; k < img->nr_maps; k++)
		for (i = 0; i < img->maps[k].m.npages; i++)
			if ((img->maps[k].bitmap[i / 64] >> (i % 64)) & 1)
				bytes += img->maps[k].m.page_size;
	return bytes;
}

/* Say the process runs on, when there is one to speak of. */
static void left_running(pid_t pid)
{
	char path[64], buf[512], *s;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	s = strrchr(buf, ')');
	if (s && s[1] == ' ' && s[2] != 'Z' && s[2] != 'X')
		fprintf(stderr, "dump: PID %d left running, untouched\n", pid);
}

static int write_image(struct lm_dump *d, const char *out,
		       unsigned int nr, const struct lm_tree_img *t)
{
	char msg[512] = "";
	struct lm_stream s;
	int fd, err;

	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "dump: cannot create %s: %s\n", out,
			strerror(errno));
		return -errno;
	}
	err = lm_stream_open(&s, fd, 1, out);
	if (!err && t)
		err = lm_dump_tree_write(d, nr, t, &s, msg, sizeof(msg));
	else if (!err)
		err = lm_dump_write_all(d, &s);
	if (!err)
		err = lm_stream_flush(&s);
	if (!err && fsync(fd))
		err = -errno;
	if (err)
		fprintf(stderr, "%s\n", msg[0] ? msg : d->errmsg[0] ? d->errmsg :
			s.errmsg[0] ? s.errmsg : strerror(-err));
	lm_stream_close(&s);
	if (close(fd) && !err)
		err = -errno;
	if (err)
		unlink(out);
	return err;
}

static int dump_tree(pid_t pid, const char *out, int leave)
{
	struct lm_dump *m = NULL;
	struct lm_tree_img t;
	char msg[512];
	unsigned int nr = 0, i;
	__u64 pages = 0, bytes = 0;

	if (lm_dump_tree(pid, &m, &nr, &t, msg, sizeof(msg))) {
		fprintf(stderr, "%s\n", msg);
		left_running(pid);
		return 1;
	}
	if (write_image(m, out, nr, &t)) {
		lm_dump_tree_release(m, nr, &t, 0);
		left_running(pid);
		return 1;
	}
	for (i = 0; i < nr; i++) {
		const struct lm_image *img = &m[i].img;

		pages += lm_image_data_pages(img);
		bytes += image_data_bytes(img);
		printf("dump: member %u: PID %d (parent %d): %u threads, %u VMAs, %u shm objects, %u fds\n",
		       i, m[i].pid, t.members[i].parent >= 0 ?
		       t.members[t.members[i].parent].pid : img->proc.ppid,
		       img->proc.nr_threads, img->proc.nr_vmas,
		       img->proc.nr_shms, img->proc.nr_fds);
	}
	printf("dump: tree of PID %d: %u processes, %llu pages (%llu KiB) written to %s; processes %s\n",
	       pid, nr, (unsigned long long)pages,
	       (unsigned long long)(bytes >> 10), out,
	       leave ? "left running" : "killed");
	lm_dump_tree_release(m, nr, &t, !leave);
	return 0;
}

int cmd_dump(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "tree", no_argument, NULL, 'T' },
		{ "leave-running", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	struct lm_dump d;
	int leave = 0, tree = 0, c;
	__u64 pages, bytes;
	pid_t pid = 0;
	char *end;

	while ((c = getopt_long(argc, argv, "t:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			pid = strtol(optarg, &end, 10);
			if (*end || pid <= 0) {
				fprintf(stderr, "dump: -t %s is not a PID\n", optarg);
				return 2;
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 'R':
			leave = 1;
			break;
		case 'T':
			tree = 1;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (!pid || !out || optind != argc) {
		usage();
		return 2;
	}
	if (tree)
		return dump_tree(pid, out, leave);
	if (lm_dump_freeze_collect(pid, &d)) {
		fprintf(stderr, "%s\n", d.errmsg);
		left_running(pid);
		return 1;
	}
	if (write_image(&d, out, 0, NULL)) {
		lm_dump_release(&d, 0);
		left_running(pid);
		return 1;
	}
	pages = lm_image_data_pages(&d.img);
	bytes = image_data_bytes(&d.img);
	printf("dump: PID %d: %u threads, %u VMAs, %u shm objects, %u fds, %llu pages (%llu KiB) written to %s; process %s\n",
	       pid, d.img.proc.nr_threads, d.img.proc.nr_vmas,
	       d.img.proc.nr_shms, d.img.proc.nr_fds,
	       (unsigned long long)pages,
	       (unsigned long long)(bytes >> 10), out,
	       leave ? "left running" : "killed");
	lm_dump_release(&d, !leave);
	return 0;
}
