/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: ptrace syscall injection, shared by dump and restore.
 *
 * The tracee must be seized (PTRACE_SEIZE) and in a ptrace stop.  A
 * syscall runs by pointing rip at a `syscall` instruction (0f 05) that is
 * mapped executable in the tracee, running it with PTRACE_SYSCALL (its
 * enter and exit stops; a single-step would reset a SIGTRAP handler),
 * and putting every register back afterwards; signals are blocked for the duration so
 * none is delivered or lost, and an interrupted syscall of the tracee is
 * restarted by the kernel on its final resume as usual.
 */
#ifndef LAZYMIG_INJECT_H
#define LAZYMIG_INJECT_H

#include <sys/types.h>
#include <sys/user.h>

/*
 * Run syscall @nr with @args (up to 6) in stopped thread @tid using the
 * instruction at @insn.  *ret gets the syscall's own return value (a
 * negative errno on failure).  Returns 0, or -errno if ptrace failed (the
 * thread is then in an unknown state).
 */
int lm_inject(pid_t tid, unsigned long insn, long *ret, long nr,
	      const long args[6]);

/*
 * What any run of injected code in a stopped thread saves and puts back:
 * its registers and signal mask.  lm_inject_save() saves them and blocks
 * every signal; lm_inject_restore() puts both back and returns @err, or
 * the first error of its own if @err is 0.  After -ESRCH (the thread is
 * gone) there is nothing to put back.
 */
struct lm_inject_saved {
	struct user_regs_struct regs;
	unsigned long long mask;
};

int lm_inject_save(pid_t tid, struct lm_inject_saved *s);
int lm_inject_restore(pid_t tid, const struct lm_inject_saved *s, int err);

/* Convenience wrappers. */
long lm_inject0(pid_t tid, unsigned long insn, long nr);
long lm_inject3(pid_t tid, unsigned long insn, long nr, long a1, long a2,
		long a3);
long lm_inject6(pid_t tid, unsigned long insn, long nr, long a1, long a2,
		long a3, long a4, long a5, long a6);

/*
 * A `syscall` instruction poked at the current rip of a stopped thread
 * (for dump, where the tracee has no trampoline); unpoke restores the
 * original bytes.
 */
struct lm_poke {
	pid_t tid;
	unsigned long addr;
	long saved;
	int active;
};

int lm_poke_syscall(pid_t tid, struct lm_poke *p);
int lm_unpoke(struct lm_poke *p);

/* Tracee memory access (process_vm_{read,write}v, falling back to /proc/PID/mem). */
int lm_remote_read(pid_t pid, unsigned long addr, void *buf, size_t len);
int lm_remote_write(pid_t pid, unsigned long addr, const void *buf,
		    size_t len);

/* Wait for @tid's next ptrace stop; returns the stop status or -errno. */
int lm_wait_stop(pid_t tid);

#endif
