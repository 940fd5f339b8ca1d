// SPDX-License-Identifier: GPL-2.0
/*
 * `lazymig dump` of threads and signal state: every thread is in the image
 * (leader first) with the registers and xstate it holds across its
 * blocking syscall, flagged as interrupted in that syscall, with its own
 * TLS, signal mask, TID address, robust list and rseq; the signal actions,
 * the sigaltstack and the pending signals are there; and the workload,
 * left running, still checks all of it ok.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lmtest.h"
#include "wl.h"
#include "imgtest.h"

#define XSAVE_XMM0	160	/* legacy area: xmm0 at byte 160 */
#define XSAVE_MXCSR	24

FIXTURE(dump_threads) {
	struct lm_wl wl;
	struct lm_loaded img;
	char image[300];
};

FIXTURE_SETUP(dump_threads)
{
	char msg[4200];

	ASSERT_EQ(0, lm_wl_dump_load(&self->wl, "wl_mem",
				     "--threads --signals --pages 4",
				     self->image, sizeof(self->image),
				     &self->img, msg, sizeof(msg)))
		TH_LOG("%s", msg);
}

FIXTURE_TEARDOWN(dump_threads)
{
	lm_wl_dump_free(&self->wl, self->image, &self->img);
}

static const struct lm_thread_img *thread_of(const struct lm_image *img,
					     long tid)
{
	unsigned int i;

	for (i = 0; i < img->proc.nr_threads; i++)
		if (img->threads[i].t.tid == tid)
			return &img->threads[i];
	return NULL;
}

static const char *const workers[] = { "sleeper", "reader", "futex" };
static const long worker_nr[] = { SYS_nanosleep, SYS_read, SYS_futex };

TEST_F(dump_threads, every_thread_with_its_registers)
{
	const struct lm_image *img = &self->img.img;
	uint8_t want[32 + 128];
	int i, j;

	ASSERT_EQ(4, img->proc.nr_threads);
	EXPECT_EQ(self->wl.pid, img->threads[0].t.tid);
	for (i = 0; i < 3; i++) {
		long tid = lm_wl_thread(&self->wl, workers[i]);
		const struct lm_thread_img *t = thread_of(img, tid);
		const struct user_regs_struct *r;
		uint32_t mxcsr;

		ASSERT_NE(NULL, t) TH_LOG("thread %s (%ld) missing", workers[i], tid);
		r = (const void *)t->t.regs;
		lm_fill(want, sizeof(want), 0x2000 + i);
		/* r12..r15 as the thread loaded them */
		EXPECT_EQ(0, memcmp(&r->r12, want, 8)) TH_LOG("%s r12", workers[i]);
		EXPECT_EQ(0, memcmp(&r->r13, want + 8, 8));
		EXPECT_EQ(0, memcmp(&r->r14, want + 16, 8));
		EXPECT_EQ(0, memcmp(&r->r15, want + 24, 8));
		ASSERT_GE(t->t.xstate_len, 512);
		for (j = 0; j < 8; j++)
			EXPECT_EQ(0, memcmp((uint8_t *)t->xstate + XSAVE_XMM0 +
					    16 * (8 + j), want + 32 + 16 * j, 16))
				TH_LOG("%s xmm%d", workers[i], 8 + j);
		memcpy(&mxcsr, (uint8_t *)t->xstate + XSAVE_MXCSR, 4);
		EXPECT_EQ(i == 2 ? 0x9f80U : 0x1f80U | ((uint32_t)(i + 1) << 13),
			  mxcsr & 0xffff);
		/* stopped inside its blocking syscall, to be restarted */
		EXPECT_EQ(worker_nr[i], (long)r->orig_rax);
		EXPECT_TRUE(t->t.flags & LM_THR_IN_SYSCALL);
		EXPECT_EQ(i == 0, !!(t->t.flags & LM_THR_RESTART_BLOCK));
		/* all but its own signal blocked */
		EXPECT_EQ(0, !!(t->t.sigmask & (1ULL << (SIGRTMIN + 5 + i - 1))));
		EXPECT_TRUE(t->t.sigmask & (1ULL << (SIGUSR1 - 1)));
		EXPECT_NE(0, r->fs_base);
		EXPECT_NE(img->threads[0].t.regs[21], r->fs_base);
		EXPECT_NE(0, t->t.clear_child_tid) TH_LOG("%s: no TID address",
							  workers[i]);
		EXPECT_NE(NULL, lm_loaded_vma(&self->img, t->t.clear_child_tid));
		EXPECT_NE(0, t->t.robust_list);
		EXPECT_EQ(24, t->t.robust_len);
		EXPECT_STREQ("wl_mem", t->t.comm);
		if (t->t.rseq_len)
			EXPECT_NE(NULL, lm_loaded_vma(&self->img, t->t.rseq_addr));
	}
}

TEST_F(dump_threads, signal_state)
{
	const struct lm_image *img = &self->img.img;
	const struct lm_sigact_one *usr2 = &img->sigact.act[SIGUSR2 - 1];
	const struct lm_thread *leader = &img->threads[0].t;
	char msg[600];

	EXPECT_NE(0, usr2->handler);
	EXPECT_EQ(SA_RESTART | SA_SIGINFO,
		  usr2->flags & (SA_RESTART | SA_SIGINFO));
	EXPECT_EQ((1ULL << (SIGINT - 1)) | (1ULL << (SIGQUIT - 1)), usr2->mask);
	EXPECT_NE(0, usr2->restorer);
	EXPECT_EQ(1, img->sigact.act[SIGHUP - 1].handler);	/* SIG_IGN */
	EXPECT_TRUE(img->sigact.act[SIGWINCH - 1].flags & SA_ONSTACK);
	EXPECT_TRUE(img->proc.shared_pending & (1ULL << (SIGRTMIN + 1 - 1)));
	EXPECT_TRUE(leader->pending & (1ULL << (SIGRTMIN + 2 - 1)));
	EXPECT_TRUE(leader->sigmask & (1ULL << (SIGRTMIN + 1 - 1)));
	EXPECT_NE(0, leader->ss_sp);
	EXPECT_EQ(4 * SIGSTKSZ, leader->ss_size);
	/* the leader waits in rt_sigsuspend */
	EXPECT_EQ(SYS_rt_sigsuspend, (long)((const struct user_regs_struct *)
					    leader->regs)->orig_rax);
	EXPECT_TRUE(leader->flags & LM_THR_IN_SYSCALL);
	EXPECT_EQ(0, lm_wl_verify(&self->wl, self->wl.pid, msg, sizeof(msg),
				  5000)) TH_LOG("after --leave-running: %s", msg);
}

TEST_F(dump_threads, info_names_threads)
{
	char out[65536], want[64];
	int i;

	ASSERT_EQ(0, lm_run_tool(out, sizeof(out), "info %s", self->image))
		TH_LOG("%s", out);
	snprintf(want, sizeof(want), "thread %d \"wl_mem\" (leader)",
		 self->wl.pid);
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("no '%s' in:\n%s", want, out);
	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "thread %ld ",
			 lm_wl_thread(&self->wl, workers[i]));
		EXPECT_NE(NULL, strstr(out, want)) TH_LOG("no '%s'", want);
	}
	EXPECT_NE(NULL, strstr(out, "in syscall 35 (restart block)"));
	EXPECT_NE(NULL, strstr(out, "threads: 4"));
	EXPECT_NE(NULL, strstr(out, "[heap]"));
	EXPECT_NE(NULL, strstr(out, "[vdso]"));
	EXPECT_NE(NULL, strstr(out, "pages: "));
}

/*
 * A thread computing in user space, caught at any instruction by repeated
 * dumps (and the injections they make), keeps every register intact.
 */
TEST(spinner_survives_repeated_dumps)
{
	struct lm_wl wl;
	char out[4096], image[300], msg[600];
	int r, i;

	r = lm_wl_start(&wl, "wl_mem", "--spin --threads --pages 4");
	ASSERT_EQ(0, r) TH_LOG("wl_mem did not start: %s", strerror(-r));
	ASSERT_LT(0, lm_wl_thread(&wl, "spinner"));
	snprintf(image, sizeof(image), "%s/img", wl.dir);
	for (i = 0; i < 10; i++) {
		r = lm_run_tool(out, sizeof(out), "dump -t %d -o %s --leave-running",
				wl.pid, image);
		EXPECT_EQ(0, r) TH_LOG("%s", out);
		usleep(3000);
	}
	EXPECT_EQ(0, lm_wl_verify(&wl, wl.pid, msg, sizeof(msg), 5000))
		TH_LOG("%s", msg);
	unlink(image);
	lm_wl_stop(&wl);
}

/* A thread ID is not a process to dump: the message names the process. */
TEST(thread_id_refused)
{
	struct lm_wl wl;
	char out[4096], want[64];
	long tid;
	int r;

	r = lm_wl_start(&wl, "wl_mem", "--threads --pages 4");
	ASSERT_EQ(0, r) TH_LOG("wl_mem did not start: %s", strerror(-r));
	tid = lm_wl_thread(&wl, "sleeper");
	r = lm_run_tool(out, sizeof(out), "dump -t %ld -o %s/img", tid, wl.dir);
	EXPECT_EQ(1, r) TH_LOG("%s", out);
	snprintf(want, sizeof(want), "%ld is a thread of process %d", tid,
		 wl.pid);
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("no '%s' in: %s", want, out);
	EXPECT_TRUE(lm_pid_alive(wl.pid));
	lm_wl_stop(&wl);
}

/* Killing after the dump must not wait forever on a traced leader. */
TEST(dump_kills_every_thread)
{
	struct lm_wl wl;
	char out[4096], image[300];
	int r, st;

	r = lm_wl_start(&wl, "wl_mem", "--threads --pages 4");
	ASSERT_EQ(0, r) TH_LOG("wl_mem did not start: %s", strerror(-r));
	snprintf(image, sizeof(image), "%s/img", wl.dir);
	r = lm_run_tool(out, sizeof(out), "dump -t %d -o %s", wl.pid, image);
	EXPECT_EQ(0, r) TH_LOG("%s", out);
	st = lm_wl_reap(&wl, 5000);
	EXPECT_TRUE(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		TH_LOG("workload not killed (wait status %d)", st);
	unlink(image);
	lm_wl_stop(&wl);
}

TEST_HARNESS_MAIN
