/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Checks shared by the migration selftests, in the kselftest harness's
 * terms: include after kselftest_harness.h.
 */
#ifndef MIGCHECK_H
#define MIGCHECK_H

#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "migtest.h"

/*
 * The source workload (lazy_wl, *wl_pid, its files in dir) must run on,
 * whole: woken if stopped, told to verify itself (SIGUSR1), it must exit
 * 0 having written "ok ..." to dir/state.result.
 */
static void lm_source_verifies(struct __test_metadata *_metadata,
			       const char *dir, pid_t *wl_pid)
{
	char buf[256];
	int st;

	unlink(lm_in_dir(dir, "state.result"));
	ASSERT_EQ(0, kill(*wl_pid, SIGCONT));
	ASSERT_EQ(0, kill(*wl_pid, SIGUSR1));
	st = lm_wait_exit(wl_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("source: status 0x%x", st);
	ASSERT_EQ(0, lm_wait_file(dir, "state.result", "\n", 10, buf,
				  sizeof(buf)));
	EXPECT_EQ(0, strncmp(buf, "ok ", 3)) TH_LOG("source: %s", buf);
}

#endif
