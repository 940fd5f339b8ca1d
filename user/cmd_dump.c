// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig dump -t PID -o FILE [--leave-running]
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
	fprintf(stderr, "usage: lazymig dump -t PID -o FILE [--leave-running]\n");
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

static int write_image(struct lm_dump *d, const char *out)
{
	struct lm_stream s;
	int fd, err;

	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "dump: cannot create %s: %s\n", out,
			strerror(errno));
		return -errno;
	}
	err = lm_stream_open(&s, fd, 1, out);
	if (!err)
		err = lm_dump_write_all(d, &s);
	if (!err)
		err = lm_stream_flush(&s);
	if (!err && fsync(fd))
		err = -errno;
	if (err)
		fprintf(stderr, "%s\n", d->errmsg[0] ? d->errmsg :
			s.errmsg[0] ? s.errmsg : strerror(-err));
	lm_stream_close(&s);
	if (close(fd) && !err)
		err = -errno;
	if (err)
		unlink(out);
	return err;
}

int cmd_dump(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "leave-running", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	struct lm_dump d;
	int leave = 0, c;
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
	if (lm_dump_freeze_collect(pid, &d)) {
		fprintf(stderr, "%s\n", d.errmsg);
		left_running(pid);
		return 1;
	}
	if (write_image(&d, out)) {
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
