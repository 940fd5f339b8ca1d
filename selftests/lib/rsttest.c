// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the restore tests (see rsttest.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include "rsttest.h"

void lm_msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int lm_reap_pid(pid_t pid, int ms)
{
	int st, i;

	for (i = 0; i <= ms / 10; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0)
			return -1;
		lm_msleep(10);
	}
	return -1;
}

void lm_kill_unreaped(pid_t pid)
{
	if (pid > 0 && lm_reap_pid(pid, 0) < 0) {
		kill(pid, SIGKILL);
		lm_reap_pid(pid, 5000);
	}
}

pid_t lm_read_pidfile(const char *path, const char *prefix)
{
	FILE *f = fopen(path, "r");
	char fmt[32];
	int pid = -1;

	if (!f)
		return -1;
	snprintf(fmt, sizeof(fmt), "%s%%d", prefix);
	if (fscanf(f, fmt, &pid) != 1)
		pid = -1;
	fclose(f);
	return pid;
}

int lm_rewrite_image(const char *in, const char *out,
		     void (*edit)(struct lm_image *img))
{
	struct lm_stream rs, ws;
	struct lm_image img;
	int ifd, ofd, err, t;

	memset(&img, 0, sizeof(img));
	ifd = open(in, O_RDONLY);
	ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (ifd < 0 || ofd < 0)
		return -errno;
	lm_stream_open(&rs, ifd, 0, "in");
	lm_stream_open(&ws, ofd, 1, "out");
	err = lm_read_meta(&rs, &img);
	if (!err) {
		edit(&img);
		err = lm_write_meta(&ws, &img);
	}
	while (!err) {
		struct lm_pages p;
		void *data;

		t = lm_read_next(&rs, &p, &data);
		if (t == LM_REC_PAGES)
			err = lm_write_pages(&ws, &p, data);
		else if (t == LM_REC_META_END || t == LM_REC_END)
			err = lm_write_mark(&ws, t);
		else
			err = t < 0 ? t : -EBADMSG;
		if (t == LM_REC_END)
			break;
	}
	if (!err)
		err = lm_stream_flush(&ws);
	lm_image_free(&img);
	lm_stream_close(&rs);
	lm_stream_close(&ws);
	close(ifd);
	close(ofd);
	return err;
}
