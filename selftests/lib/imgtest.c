// SPDX-License-Identifier: GPL-2.0
/* Load a whole image for a test to inspect (see imgtest.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "imgtest.h"
#include "wl.h"

static int keep_run(struct lm_loaded *l, const struct lm_pages *p,
		    const void *data, int eager)
{
	size_t len = p->npages * p->page_size;
	struct lm_loaded_run *n;

	n = realloc(l->runs, (l->nr_runs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->runs = n;
	n = &l->runs[l->nr_runs];
	n->p = *p;
	n->eager = eager;
	n->data = malloc(len);
	if (!n->data)
		return -ENOMEM;
	memcpy(n->data, data, len);
	l->nr_runs++;
	return 0;
}

int lm_load_image(const char *path, struct lm_loaded *l)
{
	struct lm_stream s;
	int fd, err, eager = 1;

	memset(l, 0, sizeof(*l));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(l->err, sizeof(l->err), "open %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	err = lm_stream_open(&s, fd, 0, path);
	if (!err)
		err = lm_read_meta(&s, &l->img);
	while (!err) {
		struct lm_pages p;
		void *data;
		int r = lm_read_next(&s, &p, &data);

		if (r < 0) {
			err = r;
		} else if (r == LM_REC_META_END) {
			eager = 0;
		} else if (r == LM_REC_END) {
			l->saw_end = 1;
			break;
		} else {
			err = keep_run(l, &p, data, eager);
		}
	}
	if (err)
		snprintf(l->err, sizeof(l->err), "%s",
			 s.errmsg[0] ? s.errmsg : strerror(-err));
	lm_stream_close(&s);
	close(fd);
	return err;
}

void lm_loaded_free(struct lm_loaded *l)
{
	size_t i;

	for (i = 0; i < l->nr_runs; i++)
		free(l->runs[i].data);
	free(l->runs);
	lm_image_free(&l->img);
	memset(l, 0, sizeof(*l));
}

const struct lm_vma_img *lm_loaded_vma(const struct lm_loaded *l,
				       uint64_t addr)
{
	unsigned int i;

	for (i = 0; i < l->img.proc.nr_vmas; i++)
		if (addr >= l->img.vmas[i].v.start &&
		    addr < l->img.vmas[i].v.end)
			return &l->img.vmas[i];
	return NULL;
}

static const uint8_t *find_page(const struct lm_loaded *l, uint32_t space,
				uint64_t off)
{
	size_t i;

	for (i = 0; i < l->nr_runs; i++) {
		const struct lm_pages *p = &l->runs[i].p;

		if (p->space == space && off >= p->addr &&
		    off - p->addr < p->npages * p->page_size)
			return (const uint8_t *)l->runs[i].data + (off - p->addr);
	}
	return NULL;
}

long lm_loaded_read(const struct lm_loaded *l, uint64_t addr, void *buf,
		    size_t len)
{
	uint8_t *out = buf;
	long have = 0;
	size_t done;

	memset(buf, 0, len);
	for (done = 0; done < len; done += 4096) {
		uint64_t a = addr + done, off = a;
		const struct lm_vma_img *v = lm_loaded_vma(l, a);
		const uint8_t *src;
		uint32_t space = 0;

		if (!v)
			return -1;
		if (v->v.shm_id >= 0) {
			space = v->v.shm_id + 1;
			off = a - v->v.start + v->v.pgoff;
		}
		src = find_page(l, space, off);
		if (src) {
			memcpy(out + done, src, len - done < 4096 ? len - done : 4096);
			have++;
		}
	}
	return have;
}

int lm_dump_load(pid_t pid, const char *image, struct lm_loaded *l,
		 char *msg, size_t mlen)
{
	char out[4096];
	int r;

	r = lm_run_tool(out, sizeof(out), "dump -t %d -o %s --leave-running",
			pid, image);
	if (r) {
		snprintf(msg, mlen, "lazymig dump: %s", out);
		return r;
	}
	r = lm_load_image(image, l);
	if (r)
		snprintf(msg, mlen, "%s", l->err);
	return r;
}

int lm_wl_dump_load(struct lm_wl *wl, const char *prog, const char *opts,
		    char *image, size_t ilen, struct lm_loaded *l,
		    char *msg, size_t mlen)
{
	int r;

	r = lm_wl_start(wl, prog, opts);
	if (r) {
		snprintf(msg, mlen, "%s did not start: %s", prog, strerror(-r));
		return r;
	}
	snprintf(image, ilen, "%s/img", wl->dir);
	return lm_dump_load(wl->pid, image, l, msg, mlen);
}

void lm_wl_dump_free(struct lm_wl *wl, const char *image, struct lm_loaded *l)
{
	lm_loaded_free(l);
	unlink(image);
	lm_wl_stop(wl);
}
