// SPDX-License-Identifier: GPL-2.0
/*
 * Freezing a process that does not hold still: threads that come and go,
 * signals arriving during the dump, a process already stopped by SIGSTOP.
 * The dump succeeds, names every thread alive at the freeze, and with
 * --leave-running the process carries on as before (a stopped one stays
 * stopped until SIGCONT).
 */
#include <pthread.h>
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

static void *short_life(void *arg)
{
	return arg;
}

static void on_usr2(int sig)
{
	sh->signals++;
}

/* Child: make and join threads forever, counting. */
static void churn(void)
{
	for (;;) {
		pthread_t t[4];
		int i;

		for (i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, short_life, NULL);
		for (i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		sh->progress++;
	}
}

/* Child: count handled signals and loop. */
static void busy(void)
{
	struct sigaction sa = { .sa_handler = on_usr2, .sa_flags = SA_RESTART };

	sigaction(SIGUSR2, &sa, NULL);
	for (;;) {
		usleep(1000);
		sh->progress++;
	}
}

static unsigned long progress_after(int ms)
{
	unsigned long a = sh->progress;

	usleep(ms * 1000);
	return sh->progress - a;
}

FIXTURE(freeze) {
	pid_t pid, pest;
	char image[64];
	struct lm_loaded img;
};

FIXTURE_SETUP(freeze)
{
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
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
	kill(self->pid, SIGKILL);
	waitpid(self->pid, NULL, 0);
	lm_loaded_free(&self->img);
	unlink(self->image);
	munmap(sh, sizeof(*sh));
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

	self->pid = fork();
	ASSERT_GE(self->pid, 0);
	if (!self->pid)
		churn();
	while (sh->progress < 10)
		usleep(1000);
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(0, dump_leave(self, out, sizeof(out))) TH_LOG("%s", out);
		ASSERT_EQ(0, lm_load_image(self->image, &self->img))
			TH_LOG("%s", self->img.err);
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

	self->pid = fork();
	ASSERT_GE(self->pid, 0);
	if (!self->pid)
		busy();
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
		ASSERT_EQ(0, dump_leave(self, out, sizeof(out))) TH_LOG("%s", out);
		ASSERT_EQ(0, lm_load_image(self->image, &self->img))
			TH_LOG("%s", self->img.err);
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

	self->pid = fork();
	ASSERT_GE(self->pid, 0);
	if (!self->pid)
		busy();
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
