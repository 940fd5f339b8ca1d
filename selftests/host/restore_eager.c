// SPDX-License-Identifier: GPL-2.0
/*
 * Eager checkpoint/restore end to end, one memory kind or state kind per
 * variant: start a workload (wl_mem, or restore_mm for the mm fields and
 * vdso), `lazymig dump -t PID -o IMG` (which kills it), `lazymig restore
 * -i IMG --pidfile F`, then the restored process checks itself byte for
 * byte (SIGUSR1 -> STATEFILE.result) and exits 0.  The test is a child
 * subreaper, so it inherits and reaps the restored process.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "rsttest.h"
#include "wl.h"

/* On failure: what each thread of @pid is doing. */
static void show_tasks(pid_t pid)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "for t in /proc/%d/task/*; do echo \"# $t $(cat $t/comm) $(grep -E '^State' $t/status) wchan=$(cat $t/wchan) syscall=$(cut -d' ' -f1-2,9 $t/syscall)\"; grep -E '^Sig(Pnd|Blk)|^ShdPnd' $t/status | sed 's/^/#   /'; done >&2",
		 pid);
	if (system(cmd))
		return;
}

#define NR_HUGE "/proc/sys/vm/nr_hugepages"

static long read_long(const char *path, const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f))
		if (!key || !strncmp(line, key, strlen(key)))
			v = strtol(line + (key ? strlen(key) : 0), NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f)
		return -errno;
	fprintf(f, "%ld\n", v);
	err = fclose(f) ? -errno : 0;
	return err;
}

/*
 * The hugetlb variant needs two free 2 MiB pages: reserve them for the
 * test when there are none, and give them back after.  Returns the old
 * nr_hugepages to restore, or -1.
 */
static long reserve_huge(void)
{
	long free_pages = read_long("/proc/meminfo", "HugePages_Free:");
	long nr = read_long(NR_HUGE, NULL);

	if (free_pages >= 2 || nr < 0 || write_long(NR_HUGE, nr + 2))
		return -1;
	return nr;
}

FIXTURE(restore)
{
	long old_nr_huge;
	struct lm_wl w;
	char img[PATH_MAX + 16], pidfile[PATH_MAX + 16], log[PATH_MAX + 16];
	pid_t restored;
};

FIXTURE_VARIANT(restore)
{
	const char *prog;
	const char *opts;
	void (*edit)(struct lm_image *img);	/* the image, before restore */
};

/*
 * Every seventh two-page anon VMA gets a name, which a kernel without
 * CONFIG_ANON_VMA_NAME refuses: the restorer ignores that (the process
 * had no name there) and must go on with the rest of the batch.  The
 * names (~70 of 61 bytes) overflow the batch's data page: the restorer
 * runs the batch so far and starts another.
 */
static void name_some(struct lm_image *img)
{
	unsigned int i, n = 0;

	for (i = 0; i < img->proc.nr_vmas; i++) {
		struct lm_vma_img *v = &img->vmas[i];

		if (v->v.kind == LM_MEM_ANON_PRIVATE && !v->path &&
		    v->v.end - v->v.start == 2 * LM_PAGE_SIZE && !(n++ % 7))
			v->path = strdup("[anon:lm-refused-name-long-enough-to-fill-a-page-with-70-of-them]");
	}
}

FIXTURE_VARIANT_ADD(restore, private_anon) {
	.prog = "wl_mem", .opts = "--anon --heap --bss --stack",
};
FIXTURE_VARIANT_ADD(restore, shared_anon) {
	.prog = "wl_mem", .opts = "--shared",
};
FIXTURE_VARIANT_ADD(restore, memfd) {
	.prog = "wl_mem", .opts = "--memfd",
};
FIXTURE_VARIANT_ADD(restore, file_private_shared) {
	.prog = "wl_mem", .opts = "--fpriv --fshared",
};
FIXTURE_VARIANT_ADD(restore, tmpfs) {
	.prog = "wl_mem", .opts = "--tmpfs",
};
FIXTURE_VARIANT_ADD(restore, hugetlb) {
	.prog = "wl_mem", .opts = "--hugetlb",
};
FIXTURE_VARIANT_ADD(restore, threads) {
	.prog = "wl_mem", .opts = "--threads",
};
FIXTURE_VARIANT_ADD(restore, spinning_thread) {
	.prog = "wl_mem", .opts = "--spin",
};
FIXTURE_VARIANT_ADD(restore, signals) {
	.prog = "wl_mem", .opts = "--signals",
};
FIXTURE_VARIANT_ADD(restore, clocks) {
	.prog = "wl_mem", .opts = "--clocks",
};
FIXTURE_VARIANT_ADD(restore, fds) {
	.prog = "wl_mem", .opts = "--fds",
};
FIXTURE_VARIANT_ADD(restore, cwd_rlimits) {
	.prog = "wl_mem", .opts = "--cwd --rlimits",
};
FIXTURE_VARIANT_ADD(restore, everything) {
	.prog = "wl_mem", .opts = "--all",
};
FIXTURE_VARIANT_ADD(restore, mm_brk_vdso) {
	.prog = "restore_mm", .opts = "",
};
FIXTURE_VARIANT_ADD(restore, vma_flags) {
	.prog = "restore_vmflags", .opts = "",
};
/* The restorer maps and locks VMAs in batches: 500 of them. */
FIXTURE_VARIANT_ADD(restore, many_vmas) {
	.prog = "many_vmas", .opts = "",
};
FIXTURE_VARIANT_ADD(restore, many_vmas_names_refused) {
	.prog = "many_vmas", .opts = "", .edit = name_some,
};

FIXTURE_SETUP(restore)
{
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	self->restored = -1;
	self->old_nr_huge = -1;
	if (strstr(variant->opts, "--hugetlb"))
		self->old_nr_huge = reserve_huge();
	ASSERT_EQ(0, lm_wl_start(&self->w, variant->prog, variant->opts))
		TH_LOG("cannot start %s %s", variant->prog, variant->opts);
	snprintf(self->img, sizeof(self->img), "%s/img", self->w.dir);
	snprintf(self->pidfile, sizeof(self->pidfile), "%s/pid", self->w.dir);
	snprintf(self->log, sizeof(self->log), "%s/restored.log", self->w.dir);
}

FIXTURE_TEARDOWN(restore)
{
	lm_kill_unreaped(self->restored);
	lm_wl_stop(&self->w);
	if (self->old_nr_huge >= 0)
		write_long(NR_HUGE, self->old_nr_huge);
	unlink(self->img);
	unlink(self->pidfile);
	unlink(self->log);
	rmdir(self->w.dir);
}

TEST_F_TIMEOUT(restore, dump_restore_verify, 120)
{
	char out[8192], msg[600];
	pid_t pid = self->w.pid;
	int rc, st;

	if (self->w.skips[0])
		TH_LOG("workload skips: %s", self->w.skips);
	if (strstr(variant->opts, "--hugetlb") && strstr(self->w.skips, "hugetlb"))
		SKIP(return, "no huge pages: %s", self->w.skips);
	rc = lm_run_tool(out, sizeof(out), "dump -t %d -o %s", pid, self->img);
	ASSERT_EQ(0, rc) TH_LOG("dump: %s", out);
	/* The dump killed it: reap it so that its PID is free again. */
	ASSERT_GE(lm_wl_reap(&self->w, 5000), 0);
	if (variant->edit) {
		char img2[PATH_MAX + 32];

		if (!strstr(self->w.skips, "named"))
			SKIP(return, "this kernel names VMAs: no name is refused");
		snprintf(img2, sizeof(img2), "%s2", self->img);
		ASSERT_EQ(0, lm_rewrite_image(self->img, img2, variant->edit));
		ASSERT_EQ(0, rename(img2, self->img));
	}
	rc = lm_run_tool(out, sizeof(out), "restore -i %s --pidfile %s --stdio %s",
			 self->img, self->pidfile, self->log);
	ASSERT_EQ(0, rc) TH_LOG("restore: %s", out);
	self->restored = lm_read_pidfile(self->pidfile, "");
	ASSERT_GT(self->restored, 0);
	EXPECT_EQ(pid, self->restored) TH_LOG("restore said: %s", out);
	ASSERT_TRUE(lm_pid_alive(self->restored));
	rc = lm_wl_verify(&self->w, self->restored, msg, sizeof(msg), 20000);
	EXPECT_EQ(0, rc) TH_LOG("restored %s %s: %s", variant->prog,
				variant->opts, msg);
	if (rc)
		show_tasks(self->restored);
	st = lm_reap_pid(self->restored, 10000);
	ASSERT_NE(-1, st) TH_LOG("the restored process did not exit");
	self->restored = -1;
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("restored process: status %#x", st);
	if (!rc) {
		ksft_print_msg("%s %s: restored as PID %d, verified: %s",
			       variant->prog, variant->opts, pid, msg);
		fflush(stdout);
	}
}

TEST_HARNESS_MAIN
