// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig dump: per-thread state (registers, xstate, masks, pending
 * signals, TID address, robust list, rseq, sigaltstack, name, scheduling)
 * and the process state only the process itself can tell (signal actions,
 * brk, dumpable, pdeathsig), read by injecting syscalls into the frozen
 * threads (inject.h).
 *
 * Injected syscalls write their results into scratch bytes on the leader's
 * stack, well below its red zone; the bytes are saved first and put back.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sched.h>
#include "dump.h"
#include "inject.h"

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK	0x420a
#endif
#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION	0x420f
#endif
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE		0x202
#endif

#define XSTATE_BUF	(16UL << 10)
#define SCRATCH_BELOW	2048	/* bytes below rsp: past the 128-byte red zone */
#define SCRATCH_LEN	64

#define ERESTARTSYS		512
#define ERESTARTNOINTR		513
#define ERESTARTNOHAND		514
#define ERESTART_RESTARTBLOCK	516

struct rseq_conf {
	__u64 rseq_abi_pointer;
	__u32 rseq_abi_size;
	__u32 signature;
	__u32 flags;
	__u32 pad;
};

struct inj {
	struct lm_dump *d;
	struct lm_poke poke;
	unsigned long scratch;
	unsigned char saved[SCRATCH_LEN];
	int scratch_saved;
};

/* ---- what ptrace and /proc tell without injection ---- */

static void syscall_flags(struct lm_thread *t)
{
	const struct user_regs_struct *r = (const void *)t->regs;
	long rax = (long)r->rax;

	if ((long)r->orig_rax < 0)
		return;
	if (rax == -ERESTARTSYS || rax == -ERESTARTNOINTR ||
	    rax == -ERESTARTNOHAND)
		t->flags |= LM_THR_IN_SYSCALL;
	else if (rax == -ERESTART_RESTARTBLOCK)
		t->flags |= LM_THR_IN_SYSCALL | LM_THR_RESTART_BLOCK;
}

static int thread_regs(struct lm_dump *d, pid_t tid, struct lm_thread_img *t)
{
	struct iovec iov;

	if (ptrace(PTRACE_GETREGS, tid, 0, t->t.regs))
		return lm_dump_fail(d, -errno, "PTRACE_GETREGS on thread %d: %s",
				    tid, strerror(errno));
	syscall_flags(&t->t);
	t->xstate = malloc(XSTATE_BUF);
	if (!t->xstate)
		return lm_dump_fail(d, -ENOMEM, "out of memory");
	iov.iov_base = t->xstate;
	iov.iov_len = XSTATE_BUF;
	if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov))
		return lm_dump_fail(d, -errno, "cannot read the xstate of thread %d: %s",
				    tid, strerror(errno));
	t->t.xstate_len = iov.iov_len;
	if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(t->t.sigmask), &t->t.sigmask))
		return lm_dump_fail(d, -errno, "cannot read the signal mask of thread %d",
				    tid);
	return 0;
}

static void thread_proc(struct lm_dump *d, pid_t tid, struct lm_thread *t)
{
	char path[96], *s;
	const char *v;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", d->pid, tid);
	s = lm_dump_slurp(path, NULL);
	v = s ? lm_dump_field(s, "SigPnd") : NULL;
	t->pending = v ? strtoull(v, NULL, 16) : 0;
	free(s);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", d->pid, tid);
	s = lm_dump_slurp(path, NULL);
	if (s) {
		s[strcspn(s, "\n")] = 0;
		snprintf(t->comm, sizeof(t->comm), "%s", s);
		free(s);
	}
	t->sched_policy = sched_getscheduler(tid);
	if (t->sched_policy >= 0) {
		struct sched_param sp = { 0 };

		if (!sched_getparam(tid, &sp))
			t->rt_prio = sp.sched_priority;
	}
	errno = 0;
	t->nice = getpriority(PRIO_PROCESS, tid);
	if (errno)
		t->nice = 0;
}

static int thread_lists(struct lm_dump *d, pid_t tid, struct lm_thread *t)
{
	struct rseq_conf rc = { 0 };
	void *head = NULL;
	size_t len = 0;

	if (syscall(SYS_get_robust_list, tid, &head, &len))
		return lm_dump_fail(d, -errno, "get_robust_list(%d): %s", tid,
				    strerror(errno));
	t->robust_list = (unsigned long)head;
	t->robust_len = len;
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(rc), &rc) > 0) {
		t->rseq_addr = rc.rseq_abi_pointer;
		t->rseq_len = rc.rseq_abi_size;
		t->rseq_sig = rc.signature;
	}
	return 0;
}

/* ---- injection ---- */

static const struct lm_vma *vma_at(const struct lm_image *img,
				   unsigned long addr)
{
	unsigned int i;

	for (i = 0; i < img->proc.nr_vmas; i++)
		if (addr >= img->vmas[i].v.start && addr < img->vmas[i].v.end)
			return &img->vmas[i].v;
	return NULL;
}

static int inj_start(struct inj *j, struct lm_dump *d)
{
	const struct user_regs_struct *r = (const void *)d->img.threads[0].t.regs;
	const struct lm_vma *v;
	unsigned int i;
	int err;

	memset(j, 0, sizeof(*j));
	j->d = d;
	j->scratch = ((unsigned long)r->rsp - SCRATCH_BELOW) & ~63UL;
	v = vma_at(&d->img, j->scratch);
	if (!v || !(v->prot & PROT_WRITE) ||
	    j->scratch + SCRATCH_LEN > v->end)
		return lm_dump_fail(d, -EFAULT,
				    "the stack of thread %d (rsp %llx) has no room for scratch bytes",
				    d->pid, (unsigned long long)r->rsp);
	err = lm_remote_read(d->pid, j->scratch, j->saved, SCRATCH_LEN);
	if (err)
		return lm_dump_fail(d, err, "cannot read the stack of thread %d",
				    d->pid);
	j->scratch_saved = 1;
	/*
	 * At the rip of the first thread whose code page takes it, and is
	 * private: a poke into a shared mapping would reach the file.
	 */
	for (i = 0, err = -ESRCH; i < d->nr_tids && err; i++) {
		const struct user_regs_struct *t =
			(const void *)d->img.threads[i].t.regs;
		const struct lm_vma *code = vma_at(&d->img, t->rip);

		if (code && (code->shm_id >= 0 ||
			     code->kind == LM_MEM_FILE_SHARED))
			continue;
		err = lm_poke_syscall(d->tids[i], &j->poke);
	}
	if (err)
		return lm_dump_fail(d, err, "cannot place a syscall instruction in PID %d: %s",
				    d->pid, strerror(-err));
	d->scratch = j->scratch;
	d->insn = j->poke.addr;
	return 0;
}

static int inj_end(struct inj *j, int err)
{
	int e1 = lm_unpoke(&j->poke), e2 = 0;

	if (j->scratch_saved)
		e2 = lm_remote_write(j->d->pid, j->scratch, j->saved,
				     SCRATCH_LEN);
	if (!err && (e1 || e2))
		err = lm_dump_fail(j->d, e1 ? e1 : e2,
				   "cannot put back the bytes changed in PID %d",
				   j->d->pid);
	return err;
}

/* Run a syscall in @tid; a negative result is reported with @what. */
static long inj_call(struct inj *j, pid_t tid, const char *what, long nr,
		     long a1, long a2, long a3, long a4)
{
	long args[6] = { a1, a2, a3, a4, 0, 0 };
	long ret;
	int err = lm_inject(tid, j->poke.addr, &ret, nr, args);

	if (err)
		return lm_dump_fail(j->d, err, "injecting %s into thread %d failed: %s",
				    what, tid, strerror(-err));
	if (ret < 0 && ret > -4096)
		return lm_dump_fail(j->d, (int)ret, "%s in thread %d returned %s",
				    what, tid, strerror((int)-ret));
	return ret;
}

static int inj_read(struct inj *j, void *buf, size_t len)
{
	int err = lm_remote_read(j->d->pid, j->scratch, buf, len);

	return err ? lm_dump_fail(j->d, err, "cannot read scratch bytes") : 0;
}

static int thread_injected(struct inj *j, pid_t tid, struct lm_thread *t)
{
	stack_t ss;
	__u64 addr = 0;

	if (inj_call(j, tid, "prctl(PR_GET_TID_ADDRESS)", SYS_prctl,
		     PR_GET_TID_ADDRESS, j->scratch, 0, 0) < 0 ||
	    inj_read(j, &addr, sizeof(addr)))
		return -EIO;
	t->clear_child_tid = addr;
	if (inj_call(j, tid, "sigaltstack", SYS_sigaltstack, 0, j->scratch,
		     0, 0) < 0 || inj_read(j, &ss, sizeof(ss)))
		return -EIO;
	t->ss_sp = (unsigned long)ss.ss_sp;
	t->ss_size = ss.ss_size;
	t->ss_flags = ss.ss_flags;
	return 0;
}

/*
 * The signals whose action rt_sigaction must be asked for: those caught
 * or ignored (SigCgt, SigIgn of /proc/PID/status; the process is frozen,
 * so they cannot change), and SIGCHLD, whose SA_NOCLDSTOP and
 * SA_NOCLDWAIT matter even with SIG_DFL. Bit sig - 1 stands for sig.
 */
static int sigs_to_ask(struct lm_dump *d, __u64 *ask)
{
	const char *cgt, *ign;
	char path[64], *s;

	snprintf(path, sizeof(path), "/proc/%d/status", d->pid);
	s = lm_dump_slurp(path, NULL);
	cgt = s ? lm_dump_field(s, "SigCgt") : NULL;
	ign = s ? lm_dump_field(s, "SigIgn") : NULL;
	if (!cgt || !ign) {
		free(s);
		lm_dump_fail(d, -EIO, "no SigCgt/SigIgn in %s", path);
		return -EIO;
	}
	*ask = strtoull(cgt, NULL, 16) | strtoull(ign, NULL, 16) |
	       1ULL << (SIGCHLD - 1);
	free(s);
	return 0;
}

/*
 * One injected rt_sigaction (a ptrace stop and resume) per signal that is
 * not at its plain default; the others get SIG_DFL, no flags, empty mask,
 * no restorer, which is what rt_sigaction returns for a disposition never
 * changed since exec (flush_signal_handlers() clears them all).
 *
 * Limitation: /proc cannot tell SIG_DFL set by sigaction with sa_flags or
 * sa_mask from the plain default, so for signals other than SIGCHLD such
 * flags and mask are lost: a later sigaction() reading the old action
 * sees them cleared. Delivery does not change, as with SIG_DFL no handler
 * runs, so the mask is never applied and of the flags only SIGCHLD's have
 * an effect, and SIGCHLD is always asked.
 */
static int sigactions(struct inj *j)
{
	struct lm_sigact *sa = &j->d->img.sigact;
	__u64 ask;
	int sig;

	if (sigs_to_ask(j->d, &ask))
		return -EIO;
	for (sig = 1; sig <= 64; sig++) {
		if (!(ask & 1ULL << (sig - 1))) {
			memset(&sa->act[sig - 1], 0, sizeof(sa->act[0]));
			continue;
		}
		if (inj_call(j, j->d->pid, "rt_sigaction", SYS_rt_sigaction,
			     sig, 0, j->scratch, 8) < 0 ||
		    inj_read(j, &sa->act[sig - 1], sizeof(sa->act[0])))
			return -EIO;
	}
	return 0;
}

/*
 * A clock as the process itself reads it: in its time namespace, which
 * may not be ours.  The restorer continues it from there (timens.c).
 */
static long long clock_seen(struct inj *j, clockid_t id)
{
	struct timespec ts;

	if (inj_call(j, j->d->pid, "clock_gettime", SYS_clock_gettime, id,
		     j->scratch, 0, 0) < 0 ||
	    inj_read(j, &ts, sizeof(ts)))
		return -1;
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int proc_injected(struct inj *j)
{
	struct lm_proc *p = &j->d->img.proc;
	long r;
	int sig = 0;

	r = inj_call(j, j->d->pid, "brk(0)", SYS_brk, 0, 0, 0, 0);
	if (r < 0)
		return -EIO;
	p->brk = r;
	r = inj_call(j, j->d->pid, "prctl(PR_GET_DUMPABLE)", SYS_prctl,
		     PR_GET_DUMPABLE, 0, 0, 0);
	if (r < 0)
		return -EIO;
	p->dumpable = r;
	if (inj_call(j, j->d->pid, "prctl(PR_GET_PDEATHSIG)", SYS_prctl,
		     PR_GET_PDEATHSIG, j->scratch, 0, 0) < 0 ||
	    inj_read(j, &sig, sizeof(sig)))
		return -EIO;
	p->pdeathsig = sig;
	p->clock_mono_ns = clock_seen(j, CLOCK_MONOTONIC);
	p->clock_boot_ns = clock_seen(j, CLOCK_BOOTTIME);
	if (p->clock_mono_ns < 0 || p->clock_boot_ns < 0)
		return -EIO;
	return sigactions(j);
}

int lm_collect_threads(struct lm_dump *d)
{
	struct lm_image *img = &d->img;
	struct inj j;
	unsigned int i;
	int err = 0;

	img->threads = calloc(d->nr_tids, sizeof(*img->threads));
	if (!img->threads)
		return lm_dump_fail(d, -ENOMEM, "out of memory");
	img->proc.nr_threads = d->nr_tids;
	for (i = 0; i < d->nr_tids && !err; i++) {
		struct lm_thread_img *t = &img->threads[i];

		t->t.tid = d->tids[i];
		err = thread_regs(d, d->tids[i], t);
		if (!err)
			err = thread_lists(d, d->tids[i], &t->t);
		thread_proc(d, d->tids[i], &t->t);
		if (!err && (t->t.sched_policy & ~SCHED_RESET_ON_FORK) ==
			    SCHED_DEADLINE)
			err = lm_dump_fail(d, -EOPNOTSUPP,
					   "thread %d runs under SCHED_DEADLINE, which lazymig does not carry",
					   d->tids[i]);
	}
	if (err)
		return err;
	err = inj_start(&j, d);
	if (err)
		return inj_end(&j, err);
	for (i = 0; i < d->nr_tids && !err; i++)
		err = thread_injected(&j, d->tids[i], &img->threads[i].t);
	if (!err)
		err = proc_injected(&j);
	return inj_end(&j, err);
}
