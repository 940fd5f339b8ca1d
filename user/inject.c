// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: ptrace syscall injection (see inject.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include "inject.h"

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#define PTRACE_SETSIGMASK 0x420b
#endif

int lm_wait_stop(pid_t tid)
{
	int st;

	for (;;) {
		pid_t r = waitpid(tid, &st, __WALL);

		if (r == tid)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : -ECHILD;
	}
	if (WIFEXITED(st) || WIFSIGNALED(st))
		return -ESRCH;
	return st;
}

/*
 * From a ptrace stop, run exactly the syscall instruction at rip: on to
 * the syscall-enter-stop, then to the syscall-exit-stop (PTRACE_SYSCALL).
 * Not PTRACE_SINGLESTEP: its trap is a forced SIGTRAP, and the kernel
 * resets the action of a forced signal that is blocked (every signal is,
 * here) to SIG_DFL: the process would lose its SIGTRAP handler.
 */
static int step_over_syscall(pid_t tid)
{
	int tries, stops = 0;

	for (tries = 0; tries < 16 && stops < 2; tries++) {
		int st;

		if (ptrace(PTRACE_SYSCALL, tid, 0, 0))
			return -errno;
		st = lm_wait_stop(tid);
		if (st < 0)
			return st;
		if (!WIFSTOPPED(st))
			return -ECHILD;
		/*
		 * A syscall stop is SIGTRAP (| 0x80 with TRACESYSGOOD) and
		 * no event.  All signals are blocked, so anything else is
		 * a group-stop or SIGSTOP: go on without delivering it.
		 */
		if ((WSTOPSIG(st) & 0x7f) == SIGTRAP && !(st >> 16))
			stops++;
	}
	return stops == 2 ? 0 : -EIO;
}

int lm_inject_save(pid_t tid, struct lm_inject_saved *s)
{
	unsigned long long all = ~0ULL;

	if (ptrace(PTRACE_GETREGS, tid, 0, &s->regs) ||
	    ptrace(PTRACE_GETSIGMASK, tid, sizeof(s->mask), &s->mask) ||
	    ptrace(PTRACE_SETSIGMASK, tid, sizeof(all), &all))
		return -errno;
	return 0;
}

int lm_inject_restore(pid_t tid, const struct lm_inject_saved *s, int err)
{
	if (err == -ESRCH)
		return err;
	if (ptrace(PTRACE_SETREGS, tid, 0, &s->regs) && !err)
		err = -errno;
	if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(s->mask), &s->mask) && !err)
		err = -errno;
	return err;
}

int lm_inject(pid_t tid, unsigned long insn, long *ret, long nr,
	      const long args[6])
{
	struct lm_inject_saved saved;
	struct user_regs_struct regs;
	int err;

	err = lm_inject_save(tid, &saved);
	if (err)
		return err;
	regs = saved.regs;
	regs.rip = insn;
	regs.rax = nr;
	regs.orig_rax = -1;	/* no syscall restart on this resume */
	regs.rdi = args[0];
	regs.rsi = args[1];
	regs.rdx = args[2];
	regs.r10 = args[3];
	regs.r8 = args[4];
	regs.r9 = args[5];
	if (ptrace(PTRACE_SETREGS, tid, 0, &regs))
		err = -errno;
	if (!err)
		err = step_over_syscall(tid);
	if (!err) {
		if (ptrace(PTRACE_GETREGS, tid, 0, &regs))
			err = -errno;
		else if (regs.rip != insn + 2)
			err = -EFAULT;	/* did not execute our instruction */
		else
			*ret = (long)regs.rax;
	}
	return lm_inject_restore(tid, &saved, err);
}

long lm_inject6(pid_t tid, unsigned long insn, long nr, long a1, long a2,
		long a3, long a4, long a5, long a6)
{
	long args[6] = { a1, a2, a3, a4, a5, a6 };
	long ret;
	int err = lm_inject(tid, insn, &ret, nr, args);

	return err ? err : ret;
}

long lm_inject3(pid_t tid, unsigned long insn, long nr, long a1, long a2,
		long a3)
{
	return lm_inject6(tid, insn, nr, a1, a2, a3, 0, 0, 0);
}

long lm_inject0(pid_t tid, unsigned long insn, long nr)
{
	return lm_inject6(tid, insn, nr, 0, 0, 0, 0, 0, 0);
}

int lm_poke_syscall(pid_t tid, struct lm_poke *p)
{
	struct user_regs_struct regs;
	long word;

	memset(p, 0, sizeof(*p));
	if (ptrace(PTRACE_GETREGS, tid, 0, &regs))
		return -errno;
	errno = 0;
	word = ptrace(PTRACE_PEEKTEXT, tid, regs.rip, 0);
	if (errno)
		return -errno;
	p->tid = tid;
	p->addr = regs.rip;
	p->saved = word;
	word = (word & ~0xffffL) | 0x050f;	/* syscall */
	if (ptrace(PTRACE_POKETEXT, tid, p->addr, word))
		return -errno;
	p->active = 1;
	return 0;
}

int lm_unpoke(struct lm_poke *p)
{
	if (!p->active)
		return 0;
	p->active = 0;
	if (ptrace(PTRACE_POKETEXT, p->tid, p->addr, p->saved))
		return -errno;
	return 0;
}

static int mem_io(pid_t pid, unsigned long addr, void *buf, size_t len,
		  int write)
{
	char path[64];
	size_t done = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write ?
			pwrite(fd, (char *)buf + done, len - done, addr + done) :
			pread(fd, (char *)buf + done, len - done, addr + done);

		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;

			close(fd);
			return err;
		}
		done += n;
	}
	close(fd);
	return 0;
}

int lm_remote_read(pid_t pid, unsigned long addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)addr, len };
	ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);

	if (n == (ssize_t)len)
		return 0;
	return mem_io(pid, addr, buf, len, 0);
}

int lm_remote_write(pid_t pid, unsigned long addr, const void *buf,
		    size_t len)
{
	struct iovec l = { (void *)buf, len }, r = { (void *)addr, len };
	ssize_t n = process_vm_writev(pid, &l, 1, &r, 1, 0);

	if (n == (ssize_t)len)
		return 0;
	/* /proc/PID/mem writes also reach read-only mappings (FOLL_FORCE). */
	return mem_io(pid, addr, (void *)buf, len, 1);
}
