// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig restore: many injected syscalls in one ptrace round trip.
 *
 * rst_sys() costs a full ptrace round trip per syscall (registers, signal
 * mask, its enter and exit stops).  A batch instead writes a table of
 * calls (number, six arguments, a result slot: struct rst_call) into the
 * trampoline's scratch pages and runs a small loop, copied into the
 * trampoline's code page by the stub, that executes them in order and
 * stores each result.  The loop stops after the last call or after the
 * first one that fails (-4095..-1), then stops the thread with
 * tgkill(getpid(), gettid(), SIGSTOP): a signal-delivery-stop that the
 * restorer suppresses, and one that, unlike a trap, never touches the
 * process's signal actions or mask.  r12 tells how far the loop got.
 * As in rst_sys(), every signal is blocked meanwhile and every register
 * is put back afterwards (lm_inject_save/restore).
 *
 * Callers tag each call with what it does for which item, and after the
 * run report the first call whose result is wrong with the same message
 * a single rst_sys() would have given; calls after a failed one did not
 * run (RST_NOT_RUN).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include "inject.h"
#include "restore_priv.h"

/*
 * Entry: r12 = first struct rst_call, r13 = one past the last.  Uses
 * only r12, r13 and the syscall registers (the kernel clobbers rcx, r11).
 */
const unsigned char rst_batch_code[] = {
	/* 0: loop: */
	0x4d, 0x39, 0xec,			/* cmp    %r13,%r12         */
	0x73, 0x35,				/* jae    58 (done)         */
	0x49, 0x8b, 0x04, 0x24,			/* mov    (%r12),%rax       */
	0x49, 0x8b, 0x7c, 0x24, 0x08,		/* mov    0x8(%r12),%rdi    */
	0x49, 0x8b, 0x74, 0x24, 0x10,		/* mov    0x10(%r12),%rsi   */
	0x49, 0x8b, 0x54, 0x24, 0x18,		/* mov    0x18(%r12),%rdx   */
	0x4d, 0x8b, 0x54, 0x24, 0x20,		/* mov    0x20(%r12),%r10   */
	0x4d, 0x8b, 0x44, 0x24, 0x28,		/* mov    0x28(%r12),%r8    */
	0x4d, 0x8b, 0x4c, 0x24, 0x30,		/* mov    0x30(%r12),%r9    */
	0x0f, 0x05,				/* syscall                  */
	0x49, 0x89, 0x44, 0x24, 0x38,		/* mov    %rax,0x38(%r12)   */
	0x49, 0x83, 0xc4, 0x40,			/* add    $0x40,%r12        */
	0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff,	/* cmp    $-4095,%rax       */
	0x72, 0xc6,				/* jb     0 (loop)          */
	/* 58: done: tgkill(getpid(), gettid(), SIGSTOP) */
	0xb8, 0x27, 0x00, 0x00, 0x00,		/* mov    $39,%eax (getpid) */
	0x0f, 0x05,				/* syscall                  */
	0x89, 0xc7,				/* mov    %eax,%edi         */
	0xb8, 0xba, 0x00, 0x00, 0x00,		/* mov    $186,%eax (gettid) */
	0x0f, 0x05,				/* syscall                  */
	0x89, 0xc6,				/* mov    %eax,%esi         */
	0xba, 0x13, 0x00, 0x00, 0x00,		/* mov    $19,%edx (SIGSTOP) */
	0xb8, 0xea, 0x00, 0x00, 0x00,		/* mov    $234,%eax (tgkill) */
	0x0f, 0x05,				/* syscall                  */
	/* 88: the thread stops here */
	0x0f, 0x0b,				/* ud2: tgkill failed       */
};

const size_t rst_batch_code_len = sizeof(rst_batch_code);

#define CODE_STOP	88	/* rip at the SIGSTOP: after the tgkill */

/*
 * Data the calls point to (strings, a stack_t) lives in the first scratch
 * page, the table in the others.  rst_put() callers use the same scratch,
 * but only for the one rst_sys() that follows: both are rewritten before
 * each run.
 */
#define DATA_OFF	256
#define DATA_SIZE	(LM_PAGE_SIZE - DATA_OFF)
/* The call table: every other scratch page. */
#define TABLE_OFF	LM_PAGE_SIZE
#define TABLE_CAP	((RST_TRAMP_SIZE - RST_SCRATCH_OFF - TABLE_OFF) / \
			 sizeof(struct rst_call))

_Static_assert(sizeof(struct rst_call) == 64, "the batch code's stride");

void rst_batch_init(struct rst_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void rst_batch_reset(struct rst_batch *b)
{
	b->n = 0;
	b->next = 0;
	b->data_len = 0;
}

void rst_batch_free(struct rst_batch *b)
{
	free(b->c);
	free(b->tag);
	free(b->data);
	rst_batch_init(b);
}

int rst_batch_add(struct rst_batch *b, unsigned int tag, long nr, long a1,
		  long a2, long a3, long a4, long a5, long a6)
{
	struct rst_call *c;

	if (b->n == b->cap) {
		unsigned int cap = b->cap ? 2 * b->cap : 64, *t;

		c = realloc(b->c, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		b->c = c;
		t = realloc(b->tag, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		b->tag = t;
		b->cap = cap;
	}
	c = &b->c[b->n];
	c->nr = nr;
	c->a[0] = a1;
	c->a[1] = a2;
	c->a[2] = a3;
	c->a[3] = a4;
	c->a[4] = a5;
	c->a[5] = a6;
	c->ret = RST_NOT_RUN;
	b->tag[b->n++] = tag;
	return 0;
}

int rst_batch_data(struct lm_restorer *r, struct rst_batch *b,
		   const void *buf, size_t len, unsigned long *addr)
{
	size_t off = (b->data_len + 7) & ~7UL;

	if (!b->data) {
		b->data = malloc(DATA_SIZE);
		if (!b->data)
			return -ENOMEM;
	}
	if (off + len > DATA_SIZE)
		return -ENOSPC;
	memcpy(b->data + off, buf, len);
	*addr = r->tramp + RST_SCRATCH_OFF + DATA_OFF + off;
	b->data_len = off + len;
	return 0;
}

int rst_batch_str(struct lm_restorer *r, struct rst_batch *b, const char *s,
		  unsigned long *addr)
{
	return rst_batch_data(r, b, s, strlen(s) + 1, addr);
}

/* Let the loop run until it stops itself at CODE_STOP. */
static int wait_done(pid_t pid, unsigned long stop)
{
	struct user_regs_struct regs;
	int tries, st;

	for (tries = 0; tries < 16; tries++) {
		if (ptrace(PTRACE_CONT, pid, 0, 0))
			return -errno;
		st = lm_wait_stop(pid);
		if (st < 0)
			return st;
		if (!WIFSTOPPED(st))
			return -ECHILD;
		if (WSTOPSIG(st) != SIGSTOP)
			return -EIO;	/* a fault: the ud2 or worse */
		if (st >> 16)
			continue;	/* a group-stop */
		if (ptrace(PTRACE_GETREGS, pid, 0, &regs))
			return -errno;
		if (regs.rip == stop)
			return 0;
		/* Someone else's SIGSTOP mid-way: suppressed, as rst_sys. */
	}
	return -EIO;
}

/* Run calls [from, from + n) of @b, all of which fit in the table. */
static int run_chunk(struct lm_restorer *r, pid_t pid, struct rst_batch *b,
		     unsigned int from, unsigned int n, unsigned int *done)
{
	unsigned long table = r->tramp + RST_SCRATCH_OFF + TABLE_OFF;
	unsigned long code = r->tramp + RST_BATCH_CODE_OFF;
	struct lm_inject_saved saved;
	struct user_regs_struct regs;
	int err;

	err = lm_remote_write(pid, table, &b->c[from], n * sizeof(*b->c));
	if (!err)
		err = lm_inject_save(pid, &saved);
	if (err)
		return err;
	regs = saved.regs;
	regs.rip = code;
	regs.orig_rax = -1;	/* no syscall restart on this resume */
	regs.r12 = table;
	regs.r13 = table + n * sizeof(*b->c);
	if (ptrace(PTRACE_SETREGS, pid, 0, &regs))
		err = -errno;
	if (!err)
		err = wait_done(pid, code + CODE_STOP);
	if (!err && ptrace(PTRACE_GETREGS, pid, 0, &regs))
		err = -errno;
	if (!err) {
		unsigned long ran = (regs.r12 - table) / sizeof(*b->c);

		if (regs.r12 < table || ran > n ||
		    (regs.r12 - table) % sizeof(*b->c))
			err = -EFAULT;
		else
			*done = ran;
	}
	if (!err && *done)
		err = lm_remote_read(pid, table, &b->c[from],
				     *done * sizeof(*b->c));
	return lm_inject_restore(pid, &saved, err);
}

int rst_batch_run(struct lm_restorer *r, struct rst_batch *b,
		  unsigned int from)
{
	return rst_batch_run_tid(r, r->pid, b, from);
}

int rst_batch_run_tid(struct lm_restorer *r, pid_t tid, struct rst_batch *b,
		      unsigned int from)
{
	unsigned int done;
	int err;

	if (!r->tramp)
		return -EFAULT;
	b->next = from;
	if (b->data_len) {
		err = lm_remote_write(tid, r->tramp + RST_SCRATCH_OFF +
				      DATA_OFF, b->data, b->data_len);
		if (err)
			goto fail;
	}
	while (from < b->n) {
		unsigned int n = b->n - from;

		if (n > TABLE_CAP)
			n = TABLE_CAP;
		done = 0;
		err = run_chunk(r, tid, b, from, n, &done);
		if (err)
			goto fail;
		from += done;
		b->next = from;
		if (done && RST_FAILED(b->c[from - 1].ret))
			break;	/* the loop stopped at the failed call */
		if (done < n) {
			err = -EFAULT;
			goto fail;
		}
	}
	return 0;
fail:
	rst_err("injecting %u syscalls into thread %d: %s", b->n, tid,
		strerror(-err));
	return err;
}
