// SPDX-License-Identifier: GPL-2.0
/*
 * A restore that cannot be completed fails with a message naming the
 * thing and leaves nothing running: no half-built process, no zombie.
 * Each case breaks one thing between dump and restore: a mapped file is
 * gone, the cwd is gone, the image's vdso is not this kernel's (other
 * text, other size), one VMA's mmap or madvise fails.  The last ones
 * fail after the stub exists, so they also check that it is killed and
 * reaped.  The restorer runs the VMAs' mmap and madvise calls in one
 * batch: the failing VMA is one in the middle, and the message must name
 * it, its range and the errno, once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "image.h"
#include "rsttest.h"
#include "wl.h"

static void bad_vdso_hash(struct lm_image *img)
{
	img->hdr.vdso_hash ^= 1;
}

static void short_vdso(struct lm_image *img)
{
	unsigned int i;

	for (i = 0; i < img->proc.nr_vmas; i++)
		if (img->vmas[i].v.kind == LM_MEM_VDSO)
			img->vmas[i].v.end -= LM_PAGE_SIZE;
}

/* The file-private VMA nearest the middle of the image's VMAs. */
static struct lm_vma_img *middle_file_vma(struct lm_image *img)
{
	unsigned int i, mid = img->proc.nr_vmas / 2, best = ~0U;

	for (i = 0; i < img->proc.nr_vmas; i++)
		if (img->vmas[i].v.kind == LM_MEM_FILE_PRIVATE &&
		    (best == ~0U || (i > mid ? i - mid : mid - i) <
				    (best > mid ? best - mid : mid - best)))
			best = i;
	return best == ~0U ? NULL : &img->vmas[best];
}

static char want_msg[PATH_MAX + 200];

/* An offset no file can be mapped at: mmap fails with EOVERFLOW. */
static void bad_mmap(struct lm_image *img)
{
	struct lm_vma_img *v = middle_file_vma(img);

	if (!v)
		return;
	v->v.pgoff = 0x7ffffffffffff000ULL;
	snprintf(want_msg, sizeof(want_msg),
		 "cannot map %#llx-%#llx (%s, %s): %s",
		 (unsigned long long)v->v.start, (unsigned long long)v->v.end,
		 lm_mem_kind_name(v->v.kind), v->path, strerror(EOVERFLOW));
}

/* MADV_WIPEONFORK on a file mapping fails with EINVAL. */
static void bad_madvise(struct lm_image *img)
{
	struct lm_vma_img *v = middle_file_vma(img);

	if (!v)
		return;
	v->v.flags |= LM_VMA_WIPEONFORK;
	snprintf(want_msg, sizeof(want_msg),
		 "madvise(%d) on %#llx-%#llx (%s): %s", 18,
		 (unsigned long long)v->v.start, (unsigned long long)v->v.end,
		 v->path, strerror(EINVAL));
}

static int count(const char *s, const char *what)
{
	int n = 0;

	while ((s = strstr(s, what))) {
		n++;
		s++;
	}
	return n;
}

/* No process with this PID, and no child of ours left unreaped. */
static int nothing_left(pid_t pid)
{
	return !lm_pid_alive(pid) && waitpid(-1, NULL, WNOHANG) <= 0;
}

FIXTURE(fail)
{
	struct lm_wl w;
	char img[PATH_MAX + 16], img2[PATH_MAX + 16], sub[256];
};

FIXTURE_VARIANT(fail)
{
	const char *opts;
	const char *what;
};

FIXTURE_VARIANT_ADD(fail, mapped_file_gone) {
	.opts = "--fpriv", .what = "file",
};
FIXTURE_VARIANT_ADD(fail, cwd_gone) {
	.opts = "--cwd", .what = "cwd",
};
FIXTURE_VARIANT_ADD(fail, vdso_other_text) {
	.opts = "--anon", .what = "hash",
};
FIXTURE_VARIANT_ADD(fail, vdso_other_size) {
	.opts = "--anon", .what = "size",
};
FIXTURE_VARIANT_ADD(fail, one_mmap_fails) {
	.opts = "--anon --fpriv --shared", .what = "mmap",
};
FIXTURE_VARIANT_ADD(fail, one_madvise_fails) {
	.opts = "--anon --fpriv --shared", .what = "madvise",
};

FIXTURE_SETUP(fail)
{
	char opts[PATH_MAX + 64], tmpl[] = "/tmp/lmfail.XXXXXX";

	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	ASSERT_NE(NULL, mkdtemp(tmpl));
	snprintf(self->sub, sizeof(self->sub), "%s", tmpl);
	snprintf(opts, sizeof(opts), "%s --dir %s", variant->opts, self->sub);
	ASSERT_EQ(0, lm_wl_start(&self->w, "wl_mem", opts));
	snprintf(self->img, sizeof(self->img), "%s/img", self->w.dir);
	snprintf(self->img2, sizeof(self->img2), "%s/img2", self->w.dir);
}

FIXTURE_TEARDOWN(fail)
{
	char cmd[300];

	lm_wl_stop(&self->w);
	unlink(self->img);
	unlink(self->img2);
	rmdir(self->w.dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->sub);
	if (system(cmd))
		return;
}

TEST_F_TIMEOUT(fail, refused_nothing_left, 120)
{
	const char *img = self->img, *want;
	pid_t pid = self->w.pid;
	char out[8192], path[PATH_MAX];
	int rc;

	rc = lm_run_tool(out, sizeof(out), "dump -t %d -o %s", pid, self->img);
	ASSERT_EQ(0, rc) TH_LOG("dump: %s", out);
	ASSERT_GE(lm_wl_reap(&self->w, 5000), 0);
	if (!strcmp(variant->what, "file")) {
		snprintf(path, sizeof(path), "%s/wl_fpriv.%d", self->sub, pid);
		ASSERT_EQ(0, unlink(path));
		want = path;
	} else if (!strcmp(variant->what, "cwd")) {
		snprintf(path, sizeof(path), "rm -rf %s", self->sub);
		ASSERT_EQ(0, system(path));
		want = self->sub;
	} else if (!strcmp(variant->what, "mmap") ||
		   !strcmp(variant->what, "madvise")) {
		want_msg[0] = 0;
		ASSERT_EQ(0, lm_rewrite_image(self->img, self->img2,
					      !strcmp(variant->what, "mmap") ?
					      bad_mmap : bad_madvise));
		ASSERT_NE(0, want_msg[0]) TH_LOG("no file-private VMA");
		img = self->img2;
		want = want_msg;
	} else {
		ASSERT_EQ(0, lm_rewrite_image(self->img, self->img2,
					      !strcmp(variant->what, "hash") ?
					      bad_vdso_hash : short_vdso));
		img = self->img2;
		want = "vdso";
	}
	rc = lm_run_tool(out, sizeof(out), "restore -i %s --stdio null", img);
	EXPECT_NE(0, rc);
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("restore said: %s", out);
	/* Said once, and no other VMA blamed. */
	if (want == want_msg)
		EXPECT_EQ(1, count(out, "cannot map") + count(out, "madvise("))
			TH_LOG("restore said: %s", out);
	EXPECT_TRUE(nothing_left(pid)) TH_LOG("PID %d or a child is left", pid);
	ksft_print_msg("%s: restore exit %d, said: %s", variant->what, rc, out);
	fflush(stdout);
}

TEST_HARNESS_MAIN
