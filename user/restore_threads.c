// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig restore: threads, per-thread and per-process state, resume.
 *
 * Threads are created by clone3 injected in the leader (set_tid = the
 * dumped TID when free), with the flags pthread_create uses.  A new thread
 * returns to the trampoline's `jmp .` and spins there until it is seized.
 * Each thread then gets, by injection in itself: set_tid_address,
 * set_robust_list, rseq, sigaltstack.  The mm fields, auxv and exe come
 * with one PR_SET_MM_MAP.  Last, the trampoline is unmapped by the last
 * injected syscall, and every thread gets its registers (an interrupted
 * syscall rewound as the kernel's signal return would do), xstate,
 * signal mask and pending signals before it is detached.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/elf.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include "inject.h"
#include "restore_priv.h"

/*
 * Scheduling policy (with SCHED_RESET_ON_FORK), real-time priority and
 * nice, where the destination allows them: a refusal (no CAP_SYS_NICE,
 * RLIMIT_RTPRIO) is said, and the thread runs on with what it has.
 */
static void restore_sched(pid_t tid, const struct lm_thread *t)
{
	struct sched_param sp = { .sched_priority = t->rt_prio };

	if (t->sched_policy > 0 &&
	    sched_setscheduler(tid, t->sched_policy, &sp))
		rst_err("warning: thread %d: cannot set scheduling policy %d priority %d: %s; it runs under SCHED_OTHER",
			tid, t->sched_policy & ~SCHED_RESET_ON_FORK, t->rt_prio,
			strerror(errno));
	if (t->nice && setpriority(PRIO_PROCESS, tid, t->nice))
		rst_err("warning: thread %d: cannot set nice %d: %s", tid,
			t->nice, strerror(errno));
}

#ifndef PTRACE_SETSIGMASK
#define PTRACE_SETSIGMASK 0x420b
#endif
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

#define ERESTARTNOHAND		514
#define ERESTART_RESTARTBLOCK	516

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

#define THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | \
		      CLONE_THREAD | CLONE_SYSVSEM)

static long clone_thread(struct lm_restorer *r, pid_t want)
{
	struct clone_args ca;
	unsigned long a_args, a_tid;
	long ret;

	memset(&ca, 0, sizeof(ca));
	ca.flags = THREAD_FLAGS;
	if (want > 0) {
		if (rst_put(r, 256, &want, sizeof(want), &a_tid))
			return -EFAULT;
		ca.set_tid = a_tid;
		ca.set_tid_size = 1;
	}
	if (rst_put(r, 0, &ca, sizeof(ca), &a_args))
		return -EFAULT;
	ret = rst_sys(r, r->pid, SYS_clone3, a_args, sizeof(ca), 0, 0, 0, 0);
	if (ret < 0 && want > 0 && ret != -ENOMEM) {
		rst_err("thread %d: TID not available (%s); it gets a new TID",
			want, strerror(-ret));
		return clone_thread(r, 0);
	}
	return ret;
}

static int seize_thread(struct lm_restorer *r, int i, pid_t tid)
{
	int st;

	r->tids[i] = tid;
	if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_EXITKILL) ||
	    ptrace(PTRACE_INTERRUPT, tid, 0, 0)) {
		rst_err("cannot seize new thread %d: %s", tid, strerror(errno));
		return -errno;
	}
	st = lm_wait_stop(tid);
	if (st < 0) {
		rst_err("new thread %d died before it stopped", tid);
		return st;
	}
	r->thr_seized[i] = 1;
	return 0;
}

static int write_comm(pid_t pid, pid_t tid, const char *comm)
{
	char path[64], c[17];
	int fd;
	ssize_t n;

	memcpy(c, comm, 16);
	c[16] = 0;
	if (!c[0])
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, c, strlen(c));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* A thread's kernel-side state, in one batch; tags say which call. */
enum { TS_TID, TS_ROBUST, TS_RSEQ, TS_ALTSTACK };

static int thread_state(struct lm_restorer *r, int i)
{
	const struct lm_thread *t = &r->img->threads[i].t;
	pid_t tid = r->tids[i];
	struct rst_batch b;
	unsigned long a;
	unsigned int j;
	int err;

	rst_batch_init(&b);
	err = rst_batch_add(&b, TS_TID, SYS_set_tid_address,
			    t->clear_child_tid, 0, 0, 0, 0, 0);
	if (!err)
		err = rst_batch_add(&b, TS_ROBUST, SYS_set_robust_list,
				    t->robust_list,
				    t->robust_len ? t->robust_len : 24, 0, 0,
				    0, 0);
	if (!err && t->rseq_addr && t->rseq_len)
		err = rst_batch_add(&b, TS_RSEQ, SYS_rseq, t->rseq_addr,
				    t->rseq_len, 0, t->rseq_sig, 0, 0);
	if (!err && !(t->ss_flags & SS_DISABLE) && t->ss_size) {
		stack_t ss = {
			.ss_sp = (void *)(unsigned long)t->ss_sp,
			.ss_flags = t->ss_flags & SS_AUTODISARM,
			.ss_size = t->ss_size,
		};

		err = rst_batch_data(r, &b, &ss, sizeof(ss), &a);
		if (!err)
			err = rst_batch_add(&b, TS_ALTSTACK, SYS_sigaltstack, a,
					    0, 0, 0, 0, 0);
	}
	if (!err)
		err = rst_batch_run_tid(r, tid, &b, 0);
	for (j = 0; j < b.n && !err; j++) {
		long ret = b.c[j].ret;

		/* set_tid_address returns the caller's TID. */
		if (b.tag[j] == TS_TID ? ret >= 0 : !ret)
			continue;
		switch (b.tag[j]) {
		case TS_TID:
			rst_err("thread %d: set_tid_address: %s", tid,
				strerror(-ret));
			break;
		case TS_ROBUST:
			rst_err("thread %d: set_robust_list(%#llx): %s", tid,
				(unsigned long long)t->robust_list,
				strerror(-ret));
			break;
		case TS_RSEQ:
			rst_err("thread %d: rseq(%#llx, %u): %s", tid,
				(unsigned long long)t->rseq_addr, t->rseq_len,
				strerror(-ret));
			break;
		default:
			rst_err("thread %d: sigaltstack: %s", tid,
				strerror(-ret));
		}
		err = ret;
	}
	rst_batch_free(&b);
	if (err)
		return err;
	write_comm(r->pid, tid, t->comm);
	restore_sched(tid, t);
	return 0;
}

int rst_threads(struct lm_restorer *r)
{
	unsigned int i, n = r->img->proc.nr_threads;
	int err;

	r->tids[0] = r->pid;
	r->thr_seized[0] = 1;
	for (i = 1; i < n; i++) {
		long tid = clone_thread(r, r->img->threads[i].t.tid);

		if (tid < 0) {
			rst_err("cannot create thread %d of %u: %s",
				r->img->threads[i].t.tid, n, strerror(-tid));
			return tid;
		}
		err = seize_thread(r, i, tid);
		if (err)
			return err;
	}
	for (i = 0; i < n; i++) {
		err = thread_state(r, i);
		if (err)
			return err;
	}
	return 0;
}

int rst_mm_map(struct lm_restorer *r)
{
	const struct lm_proc *p = &r->img->proc;
	struct prctl_mm_map m;
	unsigned long a_auxv = 0, a_map;
	long ret;

	if (!p->start_code && !p->end_code)
		return 0;	/* nothing dumped */
	memset(&m, 0, sizeof(m));
	m.start_code = p->start_code;
	m.end_code = p->end_code;
	m.start_data = p->start_data;
	m.end_data = p->end_data;
	m.start_brk = p->start_brk;
	m.brk = p->brk;
	m.start_stack = p->start_stack;
	m.arg_start = p->arg_start;
	m.arg_end = p->arg_end;
	m.env_start = p->env_start;
	m.env_end = p->env_end;
	m.exe_fd = r->exe_fd >= 0 ? (__u32)r->exe_fd : (__u32)-1;
	if (p->auxv_len) {
		if (rst_put(r, 1024, p->auxv, p->auxv_len * 8, &a_auxv))
			return -EFAULT;
		m.auxv = (__u64 *)a_auxv;
		m.auxv_size = p->auxv_len * 8;
	}
	if (rst_put(r, 0, &m, sizeof(m), &a_map))
		return -EFAULT;
	ret = rst_sys(r, r->pid, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, a_map,
		      sizeof(m), 0, 0);
	if (ret) {
		rst_err("PR_SET_MM_MAP (code %#llx-%#llx, brk %#llx-%#llx, exe %s): %s%s",
			(unsigned long long)p->start_code,
			(unsigned long long)p->end_code,
			(unsigned long long)p->start_brk,
			(unsigned long long)p->brk, r->img->exe ? r->img->exe : "-",
			strerror(-ret), ret == -EPERM ?
			" (restore needs CAP_CHECKPOINT_RESTORE or CAP_SYS_RESOURCE)" : "");
		return ret;
	}
	return 0;
}

/* ---- the end: registers, signals, detach ---- */

/*
 * A thread stopped in an interrupted syscall has orig_rax = the syscall
 * and rax = -ERESTART*.  Its registers are restored as they are: the
 * restored thread resumes out of the same ptrace stop inside get_signal(),
 * so the kernel's own signal-return code rewinds rip by 2 and reloads rax
 * exactly as it would have on the source, and also knows whether a
 * handler runs first (then -EINTR, or a restart for SA_RESTART).  A
 * manual rewind would lose that: a signal arriving right after resume
 * would return from its handler into the syscall again.
 *
 * -ERESTART_RESTARTBLOCK is the exception: it becomes restart_syscall,
 * whose restart block (the remaining time of nanosleep, futex, poll) is
 * kernel state of the dumped task; in the new task it could only fail
 * with -EINTR.  It is turned into -ERESTARTNOHAND: the original syscall
 * runs again with its own arguments (an absolute timeout is exact, a
 * relative one starts over), or -EINTR if a handler runs first, as the
 * kernel does for -ERESTART_RESTARTBLOCK.
 */
/*
 * A thread stopped again inside restart_syscall (it had been stopped in
 * nanosleep before, by a debugger, SIGSTOP or an earlier dump) has lost
 * the number of its syscall: orig_rax is __NR_restart_syscall.  Its
 * argument registers are still those of the original call, made by the
 * `syscall` at rip - 2; when the instruction before it is the usual
 * `mov $NR, %eax` of one of the syscalls that use a restart block, that
 * syscall is run again.  Otherwise the thread sees -EINTR.
 */
static long restart_nr(struct lm_restorer *r, unsigned long rip)
{
	unsigned char code[7];
	int nr;

	if (rip < sizeof(code) ||
	    lm_remote_read(r->pid, rip - sizeof(code), code, sizeof(code)) ||
	    code[0] != 0xb8 || code[5] != 0x0f || code[6] != 0x05)
		return -1;
	memcpy(&nr, code + 1, sizeof(nr));
	switch (nr) {
	case SYS_nanosleep:
	case SYS_clock_nanosleep:
	case SYS_futex:
	case SYS_poll:
		return nr;
	}
	return -1;
}

static void fix_restart(struct lm_restorer *r, struct user_regs_struct *regs)
{
	long nr;

	if ((long)regs->orig_rax < 0 ||
	    (long)regs->rax != -ERESTART_RESTARTBLOCK)
		return;
	regs->rax = -ERESTARTNOHAND;
	if (regs->orig_rax != SYS_restart_syscall)
		return;
	nr = restart_nr(r, regs->rip);
	if (nr >= 0)
		regs->orig_rax = nr;
	else
		regs->rax = -EINTR;
}

static int set_thread_regs(struct lm_restorer *r, int i)
{
	const struct lm_thread_img *ti = &r->img->threads[i];
	struct user_regs_struct regs;
	unsigned long long mask = ti->t.sigmask;
	pid_t tid = r->tids[i];

	memcpy(&regs, ti->t.regs, sizeof(regs));
	fix_restart(r, &regs);
	if (ptrace(PTRACE_SETREGS, tid, 0, &regs)) {
		rst_err("thread %d: cannot set registers: %s", tid, strerror(errno));
		return -errno;
	}
	if (ti->xstate && ti->t.xstate_len) {
		struct iovec iov = { ti->xstate, ti->t.xstate_len };

		if (ptrace(PTRACE_SETREGSET, tid, NT_X86_XSTATE, &iov)) {
			rst_err("thread %d: cannot set FPU/xstate (%u bytes): %s; the CPU features differ?",
				tid, ti->t.xstate_len, strerror(errno));
			return -errno;
		}
	}
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(mask), &mask)) {
		rst_err("thread %d: cannot set the signal mask: %s", tid,
			strerror(errno));
		return -errno;
	}
	return 0;
}

/* Pending signals are queued again, from the restorer, while stopped. */
static void requeue_signals(struct lm_restorer *r)
{
	unsigned int i;
	int sig;

	for (i = 0; i < r->img->proc.nr_threads; i++) {
		__u64 p = r->img->threads[i].t.pending;

		for (sig = 1; sig <= 64; sig++)
			if ((p & (1ULL << (sig - 1))) && sig != SIGKILL &&
			    sig != SIGSTOP &&
			    syscall(SYS_tgkill, r->pid, r->tids[i], sig))
				rst_err("thread %d: cannot re-raise signal %d: %s",
					r->tids[i], sig, strerror(errno));
	}
	for (sig = 1; sig <= 64; sig++)
		if ((r->img->proc.shared_pending & (1ULL << (sig - 1))) &&
		    sig != SIGKILL && sig != SIGSTOP && kill(r->pid, sig))
			rst_err("cannot re-raise process signal %d: %s", sig,
				strerror(errno));
}

/*
 * A process that did not run as root does not come back as root: every
 * thread (credentials are per thread) drops its supplementary groups,
 * then its gid, then its uid, which also drops its capabilities.  Done
 * after everything that needs privileges in the stub.
 */
static int drop_creds(struct lm_restorer *r)
{
	const struct lm_proc *p = &r->img->proc;
	struct rst_batch b;
	unsigned int i, j;
	long ret = 0;

	if (!p->uid && !p->gid)
		return 0;
	rst_batch_init(&b);
	for (i = 0; i < p->nr_threads && !ret; i++) {
		pid_t tid = r->tids[i];

		rst_batch_reset(&b);
		ret = rst_batch_add(&b, 0, SYS_setgroups, 0, 0, 0, 0, 0, 0);
		if (!ret)
			ret = rst_batch_add(&b, 0, SYS_setresgid, p->gid,
					    p->gid, p->gid, 0, 0, 0);
		if (!ret)
			ret = rst_batch_add(&b, 0, SYS_setresuid, p->uid,
					    p->uid, p->uid, 0, 0, 0);
		if (!ret)
			ret = rst_batch_run_tid(r, tid, &b, 0);
		for (j = 0; j < b.n && !ret; j++)
			ret = b.c[j].ret;
		if (ret)
			rst_err("thread %d: cannot become uid %u gid %u: %s",
				tid, p->uid, p->gid, strerror(-ret));
	}
	rst_batch_free(&b);
	return ret;
}

int rst_finish(struct lm_restorer *r)
{
	const struct lm_proc *p = &r->img->proc;
	unsigned int i, n = p->nr_threads;
	struct rst_batch b;
	long ret;
	int err;

	for (i = 0; i < 16; i++) {
		struct rlimit rl = { p->rlim_cur[i], p->rlim_max[i] };

		if (!p->rlim_cur[i] && !p->rlim_max[i] && i != RLIMIT_CORE)
			continue;
		if (prlimit(r->pid, i, &rl, NULL))
			rst_err("cannot set rlimit %u to %llu/%llu: %s", i,
				(unsigned long long)rl.rlim_cur,
				(unsigned long long)rl.rlim_max, strerror(errno));
	}
	ret = drop_creds(r);
	if (ret)
		return ret;
	/* After the uid change, which resets both. */
	rst_batch_init(&b);
	ret = rst_batch_add(&b, 0, SYS_prctl, PR_SET_PDEATHSIG, p->pdeathsig,
			    0, 0, 0, 0);
	if (!ret)
		ret = rst_batch_add(&b, 0, SYS_prctl, PR_SET_DUMPABLE,
				    !!p->dumpable, 0, 0, 0, 0);
	if (!ret)
		ret = rst_batch_add(&b, 0, SYS_close_range, r->base, ~0U, 0, 0,
				    0, 0);
	if (!ret)
		ret = rst_batch_run(r, &b, 0);
	for (i = 0; i < b.n && !ret; i++)
		ret = b.c[i].ret;
	rst_batch_free(&b);
	if (ret) {
		rst_err("final prctl/close_range in the stub: %s", strerror(-ret));
		return ret;
	}
	/* The last injected syscall: the trampoline goes. */
	ret = rst_sys(r, r->pid, SYS_munmap, r->tramp, RST_TRAMP_SIZE, 0, 0, 0, 0);
	if (ret) {
		rst_err("cannot unmap the trampoline: %s", strerror(-ret));
		return ret;
	}
	r->tramp = 0;
	for (i = 0; i < n; i++) {
		err = set_thread_regs(r, i);
		if (err)
			return err;
	}
	requeue_signals(r);
	return 0;
}
