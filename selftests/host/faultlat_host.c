// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig faultlat on a kernel that offers neither fentry nor kprobes
 * (this project's 6.18 host: tracepoints only): it must name both reasons
 * and exit 1, without crashing.  Where attaching works, the test SKIPs
 * with what it saw (selftests/vm/faultlat covers that case).  Bad command
 * lines are refused with exit 2 everywhere.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "wl.h"

struct result {
	int status;
	char out[16384];
};

/* Run `lazymig faultlat ARGS...` to completion, stdout+stderr captured. */
static int run_faultlat(struct result *r, const char *const *args)
{
	char lm[PATH_MAX];
	const char *argv[16];
	size_t len = 0;
	ssize_t n;
	int p[2];
	pid_t pid;

	lm_lazymig_argv(argv, ARRAY_SIZE(argv), lm, sizeof(lm), "faultlat",
			args);
	if (pipe(p))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], r->out + len, sizeof(r->out) - 1 - len)) > 0)
		len += n;
	r->out[len] = '\0';
	close(p[0]);
	if (waitpid(pid, &r->status, 0) != pid)
		return -errno;
	return 0;
}

TEST(cannot_attach_says_why)
{
	const char *args[] = { "-d", "1", NULL };
	struct result r;
	char *line;

	if (geteuid())
		SKIP(return, "needs root: faultlat loads BPF programs");
	ASSERT_EQ(0, run_faultlat(&r, args));
	ASSERT_TRUE(WIFEXITED(r.status))
		TH_LOG("faultlat died of signal %d: %s", WTERMSIG(r.status), r.out);
	if (WEXITSTATUS(r.status) == 0) {
		line = strstr(r.out, "faultlat: ");
		SKIP(return, "attaching works on this kernel (%.*s): the "
		     "cannot-attach path is tested where it fails",
		     line ? (int)strcspn(line, "\n") : 0, line ? line : "");
	}
	EXPECT_EQ(1, WEXITSTATUS(r.status)) TH_LOG("%s", r.out);
	EXPECT_NE(NULL, strstr(r.out, "cannot attach to handle_userfault"))
		TH_LOG("no headline in: %s", r.out);
	/* one reason per mode, each saying what the kernel refused */
	line = strstr(r.out, "  fentry/fexit: ");
	EXPECT_NE(NULL, line) TH_LOG("no fentry reason in: %s", r.out);
	if (line)
		EXPECT_TRUE(strstr(line, "failed") || strstr(line, "not in"))
			TH_LOG("vague fentry reason: %s", line);
	line = strstr(r.out, "  kprobe/kretprobe: ");
	EXPECT_NE(NULL, line) TH_LOG("no kprobe reason in: %s", r.out);
	if (line)
		EXPECT_TRUE(strstr(line, "failed") || strstr(line, "not in"))
			TH_LOG("vague kprobe reason: %s", line);
	EXPECT_EQ(NULL, strstr(r.out, "Tracing")) TH_LOG("%s", r.out);
	TH_LOG("faultlat said:\n%s", r.out);
}

TEST(bad_command_lines)
{
	static const char *const bad[][4] = {
		{ "-p", "0", NULL },
		{ "-d", "soon", NULL },
		{ "--mode", "uprobe", NULL },
		{ "stray", NULL },
	};
	struct result r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(0, run_faultlat(&r, bad[i]));
		EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2)
			TH_LOG("faultlat %s %s: status 0x%x: %s", bad[i][0],
			       bad[i][1] ? bad[i][1] : "", r.status, r.out);
		EXPECT_NE(NULL, strstr(r.out, "faultlat: ")) TH_LOG("%s", r.out);
	}
}

TEST(help_lists_options)
{
	const char *args[] = { "--help", NULL };
	struct result r;

	ASSERT_EQ(0, run_faultlat(&r, args));
	EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	EXPECT_NE(NULL, strstr(r.out, "--pin DIR"));
	EXPECT_NE(NULL, strstr(r.out, "-p PID"));
	EXPECT_NE(NULL, strstr(r.out, "-d SECONDS"));
}

TEST_HARNESS_MAIN
