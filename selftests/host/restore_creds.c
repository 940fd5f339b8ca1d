// SPDX-License-Identifier: GPL-2.0
/*
 * A process that ran as nobody comes back as nobody, not as the root
 * that restored it: uid, gid, no supplementary groups, no capabilities,
 * in every thread; and it still checks its own memory byte for byte.
 * Two variants: wl_mem really run as nobody (the dump reads its limits,
 * which needs CAP_SYS_RESOURCE: skipped without it), and a root wl_mem
 * whose image is rewritten to say uid/gid nobody.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "image.h"
#include "rsttest.h"
#include "wl.h"

#define NOBODY 65534

/* Every "Uid:"/"Gid:"/"Groups:"/"CapEff:" line of each thread, joined. */
static void creds_of(pid_t pid, char *out, size_t len)
{
	char cmd[256];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd),
		 "grep -hE '^(Uid|Gid|Groups|CapEff):' /proc/%d/task/*/status | sort | uniq -c",
		 pid);
	p = popen(cmd, "r");
	n = p ? fread(out, 1, len - 1, p) : 0;
	out[n] = 0;
	if (p)
		pclose(p);
}

/* The image says uid and gid nobody. */
static void as_nobody(struct lm_image *img)
{
	img->proc.uid = NOBODY;
	img->proc.gid = NOBODY;
}

/* Each thread: uid and gid nobody, no groups, no capabilities. */
static int all_nobody(const char *creds)
{
	char copy[1024], *l, *save;
	int n = 0;

	snprintf(copy, sizeof(copy), "%s", creds);
	for (l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *v = strchr(l, ':');

		if (!v)
			return 0;
		if ((strstr(l, "Uid:") || strstr(l, "Gid:")) &&
		    !strstr(v, "65534\t65534\t65534\t65534"))
			return 0;
		if (strstr(l, "CapEff:") && !strstr(v, "0000000000000000"))
			return 0;
		if (strstr(l, "Groups:") && strpbrk(v, "0123456789"))
			return 0;
		n++;
	}
	return n == 4;	/* one line per field: all threads alike */
}

FIXTURE(creds)
{
	struct lm_wl w;		/* dir and state only: spawned here */
	char img[PATH_MAX + 16], pidfile[PATH_MAX + 16];
	pid_t pid, restored;
};

FIXTURE_VARIANT(creds)
{
	int run_as_nobody;	/* else: run as root, image rewritten */
};

FIXTURE_VARIANT_ADD(creds, real) {
	.run_as_nobody = 1,
};
FIXTURE_VARIANT_ADD(creds, rewritten_image) {
	.run_as_nobody = 0,
};

FIXTURE_SETUP(creds)
{
	char prog[PATH_MAX];
	int i;

	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	memset(&self->w, 0, sizeof(self->w));
	self->restored = -1;
	snprintf(self->w.dir, sizeof(self->w.dir), "/tmp/lmcred.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->w.dir));
	ASSERT_EQ(0, chmod(self->w.dir, 0777));
	snprintf(self->w.state, sizeof(self->w.state), "%s/state", self->w.dir);
	snprintf(self->img, sizeof(self->img), "%s/img", self->w.dir);
	snprintf(self->pidfile, sizeof(self->pidfile), "%s/pid", self->w.dir);
	snprintf(prog, sizeof(prog), "%s",
		 lm_build_path("selftests/workloads/wl_mem"));
	self->pid = fork();
	ASSERT_GE(self->pid, 0);
	if (!self->pid) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		if (variant->run_as_nobody &&
		    (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		     setresuid(NOBODY, NOBODY, NOBODY)))
			_exit(126);
		execl(prog, prog, "--anon", "--threads", self->w.state, NULL);
		_exit(127);
	}
	for (i = 0; i < 1000 && lm_read_pidfile(self->w.state, "ready ") != self->pid; i++)
		lm_msleep(10);
	ASSERT_EQ(self->pid, lm_read_pidfile(self->w.state, "ready "));
}

FIXTURE_TEARDOWN(creds)
{
	char cmd[300];

	lm_kill_unreaped(self->restored);
	lm_kill_unreaped(self->pid);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->w.dir);
	if (system(cmd))
		return;
}

TEST_F_TIMEOUT(creds, nobody_stays_nobody, 120)
{
	char out[8192], before[1024], after[1024], msg[600];
	int rc, st;

	lm_msleep(100);
	creds_of(self->pid, before, sizeof(before));
	rc = lm_run_tool(out, sizeof(out), "dump -t %d -o %s", self->pid,
			 self->img);
	if (rc && variant->run_as_nobody && strstr(out, "prlimit") &&
	    strstr(out, "not permitted"))
		SKIP(return, "the dump cannot read another user's limits here (no CAP_SYS_RESOURCE): %.200s",
		     out);
	ASSERT_EQ(0, rc) TH_LOG("dump: %s", out);
	ASSERT_NE(-1, lm_reap_pid(self->pid, 5000));
	if (!variant->run_as_nobody) {
		char img2[PATH_MAX + 32];

		snprintf(img2, sizeof(img2), "%s.nobody", self->img);
		ASSERT_EQ(0, lm_rewrite_image(self->img, img2, as_nobody));
		ASSERT_EQ(0, rename(img2, self->img));
	}
	ASSERT_TRUE(variant->run_as_nobody == all_nobody(before))
		TH_LOG("creds: %s", before);
	rc = lm_run_tool(out, sizeof(out), "restore -i %s --pidfile %s --stdio null",
			 self->img, self->pidfile);
	ASSERT_EQ(0, rc) TH_LOG("restore: %s", out);
	self->restored = lm_read_pidfile(self->pidfile, "");
	ASSERT_EQ(self->pid, self->restored);
	creds_of(self->restored, after, sizeof(after));
	EXPECT_TRUE(all_nobody(after)) TH_LOG("after restore:\n%s", after);
	if (variant->run_as_nobody)
		EXPECT_STREQ(before, after);
	rc = lm_wl_verify(&self->w, self->restored, msg, sizeof(msg), 20000);
	EXPECT_EQ(0, rc) TH_LOG("restored wl_mem as nobody: %s", msg);
	st = lm_reap_pid(self->restored, 10000);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && !WEXITSTATUS(st));
	if (st != -1)
		self->restored = -1;
	ksft_print_msg("credentials of every thread before and after:\n%s", after);
	fflush(stdout);
}

TEST_HARNESS_MAIN
