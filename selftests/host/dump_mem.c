// SPDX-License-Identifier: GPL-2.0
/*
 * `lazymig dump` of each memory kind: the image names the right VMA kind
 * for every region of the workload, holds exactly its pages with data
 * (byte for byte the workload's pattern; never-touched and zero pages
 * absent, file pages of a private mapping absent, COW'd ones present),
 * and --leave-running leaves the workload running with its memory intact.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lmtest.h"
#include "wl.h"
#include "imgtest.h"

#define HUGE_PAGES_WANTED	4

static int set_hugepages(long n)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r+");
	long cur = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &cur) != 1)
		cur = -1;
	if (n >= 0) {
		rewind(f);
		fprintf(f, "%ld\n", n);
	}
	fclose(f);
	return cur;
}

FIXTURE(dump_mem) {
	struct lm_wl wl;
	struct lm_loaded img;
	char image[300];
	long saved_huge;
};

FIXTURE_VARIANT(dump_mem) {
	const char *opt;		/* wl_mem option */
	const char *regions[4];		/* manifest regions to check */
	int private_data;		/* pages live in space 0 */
};

FIXTURE_VARIANT_ADD(dump_mem, anon) {
	.opt = "--anon",
	.regions = { "anon", "anon_hole", "anon_zero", "anon_rest" },
	.private_data = 1,
};
FIXTURE_VARIANT_ADD(dump_mem, heap) {
	.opt = "--heap", .regions = { "heap" }, .private_data = 1,
};
FIXTURE_VARIANT_ADD(dump_mem, bss) {
	.opt = "--bss", .regions = { "bss" }, .private_data = 1,
};
FIXTURE_VARIANT_ADD(dump_mem, stack) {
	.opt = "--stack", .regions = { "stack" }, .private_data = 1,
};
FIXTURE_VARIANT_ADD(dump_mem, shared_anon) {
	.opt = "--shared",
	.regions = { "shared", "shared_hole", "shared_rest" },
};
FIXTURE_VARIANT_ADD(dump_mem, memfd) {
	.opt = "--memfd", .regions = { "memfd" },
};
FIXTURE_VARIANT_ADD(dump_mem, file_private) {
	.opt = "--fpriv", .regions = { "fpriv_cow", "fpriv_file" },
	.private_data = 1,
};
FIXTURE_VARIANT_ADD(dump_mem, file_shared) {
	.opt = "--fshared", .regions = { "fshared" },
};
FIXTURE_VARIANT_ADD(dump_mem, tmpfs) {
	.opt = "--tmpfs", .regions = { "tmpfs" },
};
FIXTURE_VARIANT_ADD(dump_mem, hugetlb) {
	.opt = "--hugetlb", .regions = { "huge_private", "huge_shared" },
};

FIXTURE_SETUP(dump_mem)
{
	char opts[128];
	int r;

	self->saved_huge = -1;
	if (!strcmp(variant->opt, "--hugetlb")) {
		self->saved_huge = set_hugepages(-1);
		if (self->saved_huge >= 0 && self->saved_huge < HUGE_PAGES_WANTED)
			set_hugepages(HUGE_PAGES_WANTED);
	}
	snprintf(opts, sizeof(opts), "%s --pages 8", variant->opt);
	r = lm_wl_start(&self->wl, "wl_mem", opts);
	ASSERT_EQ(0, r) TH_LOG("wl_mem %s did not start: %s", opts, strerror(-r));
	snprintf(self->image, sizeof(self->image), "%s/img", self->wl.dir);
}

FIXTURE_TEARDOWN(dump_mem)
{
	lm_loaded_free(&self->img);
	unlink(self->image);
	lm_wl_stop(&self->wl);
	if (self->saved_huge >= 0 && self->saved_huge < HUGE_PAGES_WANTED)
		set_hugepages(self->saved_huge);
}

/* Compare one region of the manifest with what the image holds. */
static void check_region(struct __test_metadata *_metadata,
			 FIXTURE_DATA(dump_mem) *self,
			 const struct lm_wl_region *r)
{
	const struct lm_vma_img *v = lm_loaded_vma(&self->img, r->addr);
	size_t npages = r->len / LM_PAGE;
	uint8_t *buf = malloc(r->len);
	long have, off;

	ASSERT_NE(NULL, v) TH_LOG("region %s at %llx is in no VMA of the image",
				  r->name, (unsigned long long)r->addr);
	EXPECT_STREQ(r->kind, lm_mem_kind_name(v->v.kind))
		TH_LOG("region %s: VMA %llx-%llx", r->name,
		       (unsigned long long)v->v.start,
		       (unsigned long long)v->v.end);
	ASSERT_LE(r->addr + r->len, v->v.end);
	have = lm_loaded_read(&self->img, r->addr, buf, r->len);
	if (!strcmp(r->kind, "file-shared") || !strcmp(r->name, "fpriv_file")) {
		/* the file holds these pages: the image must not */
		EXPECT_EQ(0, have) TH_LOG("region %s: %ld file pages in the image",
					  r->name, have);
		EXPECT_NE(NULL, v->path);
	} else if (!r->seed) {
		off = lm_check_zero(buf, r->len);
		EXPECT_EQ(-1, off) TH_LOG("region %s (zero) has data at +%ld",
					  r->name, off);
		if (!strcmp(r->name, "anon_hole") ||
		    !strcmp(r->name, "shared_hole"))
			EXPECT_EQ(0, have) TH_LOG("never-touched %s sent", r->name);
	} else {
		EXPECT_EQ((long)npages, have)
			TH_LOG("region %s: %ld of %zu pages in the image",
			       r->name, have, npages);
		off = lm_check(buf, r->len, r->seed);
		EXPECT_EQ(-1, off) TH_LOG("region %s differs at +%ld", r->name,
					  off);
	}
	free(buf);
}

TEST_F(dump_mem, image_holds_pattern)
{
	char out[4096], msg[600];
	int i, rc;

	for (i = 0; i < 4 && variant->regions[i]; i++)
		if (!lm_wl_region(&self->wl, variant->regions[i]))
			SKIP(return, "workload could not set up %s: %s",
			     variant->regions[i], self->wl.skips);
	ASSERT_EQ(0, lm_dump_load(self->wl.pid, self->image, &self->img,
				  out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_TRUE(self->img.saw_end);
	EXPECT_EQ(self->wl.pid, self->img.img.proc.pid);
	for (i = 0; i < 4 && variant->regions[i]; i++)
		check_region(_metadata, self,
			     lm_wl_region(&self->wl, variant->regions[i]));
	/* still running, memory intact */
	ASSERT_TRUE(lm_pid_alive(self->wl.pid));
	rc = lm_wl_verify(&self->wl, self->wl.pid, msg, sizeof(msg), 5000);
	EXPECT_EQ(0, rc) TH_LOG("after --leave-running: %s", msg);
}

TEST_F(dump_mem, dump_kills_by_default)
{
	char out[4096];
	int rc, st;

	rc = lm_run_tool(out, sizeof(out), "dump -t %d -o %s", self->wl.pid,
			 self->image);
	ASSERT_EQ(0, rc) TH_LOG("lazymig dump: %s", out);
	EXPECT_NE(NULL, strstr(out, "killed")) TH_LOG("%s", out);
	st = lm_wl_reap(&self->wl, 5000);
	ASSERT_NE(-1, st) TH_LOG("the workload is still running");
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ASSERT_EQ(0, lm_load_image(self->image, &self->img))
		TH_LOG("%s", self->img.err);
}

TEST_HARNESS_MAIN
