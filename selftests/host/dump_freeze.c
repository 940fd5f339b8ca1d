// SPDX-License-Identifier: GPL-2.0
/*
 * Freezing a process (wl_child) that does not hold still: threads that
 * come and go, signals arriving during the dump, a process already
 * stopped by SIGSTOP.
 * The dump succeeds, names every thread alive at the freeze, and with
 * --leave-running the process carries on as before (a stopped one stays
 * stopped until SIGCONT).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "wl.h"
#include "imgtest.h"

struct shared {
	volatile unsigned long progress;	/* bumped by the child */
	volatile unsigned long signals;		/* SIGUSR2 handled */
};

static struct shared *sh;

static unsigned long progress_after(int ms)
{
	unsigned long a = sh->progress;

	usleep(ms * 1000);
	return sh->progress - a;
}

FIXTURE(freeze) {
	pid_t pid, pest;
	int shm_fd, rep, cmd;
	char image[64];
	struct lm_loaded img;
};

FIXTURE_SETUP(freeze)
{
	self->shm_fd = memfd_create("lm-freeze", MFD_CLOEXEC);
	ASSERT_LE(0, self->shm_fd);
	ASSERT_EQ(0, ftruncate(self->shm_fd, 4096));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED,
		  self->shm_fd, 0);
	ASSERT_NE(MAP_FAILED, sh);
	self->pid = 0;
	self->rep = self->cmd = -1;
	self->pest = 0;
	snprintf(self->image, sizeof(self->image), "/tmp/lm-freeze.%d.img",
		 getpid());
}

FIXTURE_TEARDOWN(freeze)
{
	if (self->pest > 0) {
		kill(self->pest, SIGKILL);
		waitpid(self->pest, NULL, 0);
	}
	if (self->pid > 0) {
		kill(self->pid, SIGKILL);
		waitpid(self->pid, NULL, 0);
	}
	lm_loaded_free(&self->img);
	unlink(self->image);
	munmap(sh, sizeof(*sh));
	close(self->shm_fd);
	close(self->rep);
	close(self->cmd);
}

static pid_t start(FIXTURE_DATA(freeze) *self, const char *mode)
{
	int dummy;

	self->pid = lm_child_start(mode, self->shm_fd, &self->rep, &self->cmd,
				   &dummy);
	return self->pid;
}

static int dump_leave(FIXTURE_DATA(freeze) *self, char *out, size_t len)
{
	return lm_run_tool(out, len, "dump -t %d -o %s --leave-running",
			   self->pid, self->image);
}

TEST_F(freeze, threads_come_and_go)
{
	char out[4096];
	int i;

	ASSERT_LT(0, start(self, "churn"));
	while (sh->progress < 10)
		usleep(1000);
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(0, lm_dump_load(self->pid, self->image, &self->img,
					  out, sizeof(out))) TH_LOG("%s", out);
		EXPECT_GE(self->img.img.proc.nr_threads, 1);
		EXPECT_LE(self->img.img.proc.nr_threads, 5);
		EXPECT_EQ(self->pid, self->img.img.threads[0].t.tid);
		lm_loaded_free(&self->img);
	}
	EXPECT_LT(0, progress_after(100)) TH_LOG("the process stopped making progress");
}

TEST_F(freeze, signals_during_the_dump)
{
	unsigned long before;
	char out[4096];
	int i;

	ASSERT_LT(0, start(self, "busy"));
	while (sh->progress < 2)	/* its handler is in place */
		usleep(1000);
	self->pest = fork();
	ASSERT_GE(self->pest, 0);
	if (!self->pest) {
		while (getppid() != 1) {
			kill(self->pid, SIGUSR2);
			usleep(200);
		}
		_exit(0);
	}
	while (sh->signals < 10)
		usleep(1000);
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(0, lm_dump_load(self->pid, self->image, &self->img,
					  out, sizeof(out))) TH_LOG("%s", out);
		EXPECT_NE(0, self->img.img.sigact.act[SIGUSR2 - 1].handler);
		lm_loaded_free(&self->img);
	}
	before = sh->signals;
	EXPECT_LT(0, progress_after(100));
	EXPECT_LT(before, sh->signals) TH_LOG("signals no longer handled");
}

TEST_F(freeze, stopped_process_stays_stopped)
{
	char out[4096];
	int st;

	ASSERT_LT(0, start(self, "busy"));
	while (sh->progress < 5)
		usleep(1000);
	kill(self->pid, SIGSTOP);
	ASSERT_EQ(self->pid, waitpid(self->pid, &st, WUNTRACED));
	ASSERT_TRUE(WIFSTOPPED(st));
	ASSERT_EQ(0, dump_leave(self, out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_EQ(0, progress_after(100)) TH_LOG("a stopped process ran");
	kill(self->pid, SIGCONT);
	EXPECT_LT(0, progress_after(100)) TH_LOG("SIGCONT did not resume it");
}

TEST_HARNESS_MAIN
