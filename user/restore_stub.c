// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig restore, stage 1: the stub.
 *
 * The stub is a clone3() child of the restorer (set_tid = the dumped PID
 * when it is free).  Before it stops it runs a few lines of plain C, on
 * the restorer's code it still shares: it maps the trampoline (one page
 * holding `syscall; jmp .` and the batch loop of restore_batch.c, plus
 * scratch pages) at an address that neither the dumped layout nor the
 * restorer uses, installs the image's fds from
 * the carriers (restore_priv.h), the cwd, root, session, umask,
 * personality and signal handlers, reports on a pipe and waits.  The restorer then seizes
 * it and everything else is done by syscalls injected through the
 * trampoline: the stub's own mappings are unmapped, its vdso/vvar moved to
 * the dumped addresses, and the dumped layout is built (restore_mem.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/sched.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "inject.h"
#include "restore_priv.h"

#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define GAP_LOW		0x10000000UL	/* never below 256 MiB */
#define GAP_HIGH	0x7ffffffde000UL

struct rseq_conf {
	__u64 rseq_abi_pointer;
	__u32 rseq_abi_size;
	__u32 signature;
	__u32 flags;
	__u32 pad;
};

/* What the stub reports on the status pipe before it waits. */
enum stub_step {
	STUB_OK,
	STUB_PDEATHSIG,
	STUB_TRAMP,
	STUB_CLOSE,
	STUB_DUP,
	STUB_CWD,
	STUB_ROOT,
	STUB_PERSONALITY,
	STUB_SIGACTION,
	STUB_PRCTL,
	STUB_CLONE,
};

struct stub_report {
	int step;
	int arg;
	int err;
};

struct kern_sigaction {
	unsigned long handler;
	unsigned long flags;
	unsigned long restorer;
	unsigned long mask;
};

struct range {
	unsigned long start, end;
};

static const unsigned char tramp_code[] = { 0x0f, 0x05, 0xeb, 0xfe };

long rst_sys(struct lm_restorer *r, pid_t tid, long nr, long a1, long a2,
	     long a3, long a4, long a5, long a6)
{
	if (!r->tramp)
		return -EFAULT;
	return lm_inject6(tid, r->tramp, nr, a1, a2, a3, a4, a5, a6);
}

/* Copy @buf into the stub's scratch area at @off; *addr is where. */
int rst_put(struct lm_restorer *r, unsigned long off, const void *buf,
	    size_t len, unsigned long *addr)
{
	unsigned long a = r->tramp + RST_SCRATCH_OFF + off;

	if (!r->tramp || off + len > RST_TRAMP_SIZE - RST_SCRATCH_OFF)
		return -E2BIG;
	*addr = a;
	return lm_remote_write(r->pid, a, buf, len);
}

int rst_add_carrier(struct lm_restorer *r, int fd)
{
	int *c, nfd, i;

	if (fd < 0)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, r->base);
	if (nfd < 0) {
		nfd = -errno;
		close(fd);
		return nfd;
	}
	close(fd);
	c = realloc(r->carriers, (r->nr_carriers + 1) * sizeof(*c));
	if (!c) {
		close(nfd);
		return -ENOMEM;
	}
	r->carriers = c;
	for (i = r->nr_carriers; i > 0 && c[i - 1] > nfd; i--)
		c[i] = c[i - 1];
	c[i] = nfd;
	r->nr_carriers++;
	return nfd;
}

/* ---- address space gaps ---- */

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Append [s, e) to *v (n used of cap); on failure free it: -ENOMEM. */
static int range_add(struct range **v, int *n, int *cap, unsigned long s,
		     unsigned long e)
{
	if (*n == *cap) {
		struct range *nv;

		*cap = *cap ? *cap * 2 : 64;
		nv = realloc(*v, *cap * sizeof(**v));
		if (!nv) {
			free(*v);
			*v = NULL;
			return -ENOMEM;
		}
		*v = nv;
	}
	(*v)[*n].start = s;
	(*v)[*n].end = e;
	(*n)++;
	return 0;
}

static int read_maps(pid_t pid, struct range **out, int *nr)
{
	char path[64], line[512];
	struct range *v = NULL;
	int n = 0, cap = 0;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/maps");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx", &s, &e) != 2)
			continue;
		if (range_add(&v, &n, &cap, s, e)) {
			fclose(f);
			return -ENOMEM;
		}
	}
	fclose(f);
	*out = v;
	*nr = n;
	return 0;
}

/*
 * Lowest page-aligned address >= GAP_LOW where @len bytes (plus a guard
 * page either side) touch neither the dumped layout, nor the current
 * mappings of @pid (0: the restorer), nor [avoid_start, avoid_end).
 */
int rst_find_gap(const struct lm_image *img, pid_t pid, unsigned long len,
		 unsigned long avoid_start, unsigned long avoid_end,
		 unsigned long *out)
{
	struct range *v = NULL;
	unsigned long a = GAP_LOW;
	int n = 0, i, err;

	err = read_maps(pid, &v, &n);
	if (err)
		return err;
	v = realloc(v, (n + img->proc.nr_vmas + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < (int)img->proc.nr_vmas; i++) {
		v[n].start = img->vmas[i].v.start;
		v[n].end = img->vmas[i].v.end;
		n++;
	}
	if (avoid_end > avoid_start) {
		v[n].start = avoid_start;
		v[n].end = avoid_end;
		n++;
	}
	qsort(v, n, sizeof(*v), range_cmp);
	for (i = 0; i < n; i++) {
		if (v[i].end + LM_PAGE_SIZE <= a)
			continue;
		if (a + len + LM_PAGE_SIZE <= v[i].start)
			break;
		a = v[i].end + LM_PAGE_SIZE;
	}
	free(v);
	if (a + len > GAP_HIGH)
		return -ENOMEM;
	*out = a;
	return 0;
}

/* ---- the stub's own code, between clone3 and its stop ---- */

static void stub_noop(int sig)
{
	(void)sig;
}

static __attribute__((noreturn)) void stub_fail(struct lm_restorer *r,
						int step, int arg, int err)
{
	struct stub_report rep = { step, arg, err };

	if (write(r->status_wr, &rep, sizeof(rep)) < 0)
		_exit(127);
	_exit(127);
}

/*
 * A thread's restart_block is inherited through clone; run one signal
 * handler so that rt_sigreturn resets it, and a restart_syscall of the
 * restored process never replays one of the restorer's own sleeps.
 */
static void stub_reset_restart(void)
{
	struct sigaction sa;
	sigset_t all, m;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stub_noop;
	sigaction(SIGUSR2, &sa, NULL);
	sigfillset(&all);
	m = all;
	sigdelset(&m, SIGUSR2);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2);
	sigprocmask(SIG_SETMASK, &m, NULL);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

static void stub_fds(struct lm_restorer *r)
{
	int prev = -1, i;

	for (i = 0; i < r->nr_carriers; i++) {
		int c = r->carriers[i];

		if (c > prev + 1 && syscall(SYS_close_range, prev + 1, c - 1, 0))
			stub_fail(r, STUB_CLOSE, prev + 1, errno);
		prev = c;
	}
	if (syscall(SYS_close_range, prev + 1, ~0U, 0))
		stub_fail(r, STUB_CLOSE, prev + 1, errno);
	for (i = 0; i < r->nr_plan; i++) {
		struct rst_fdplan *p = &r->plan[i];

		if (dup3(p->carrier, p->fd, p->cloexec ? O_CLOEXEC : 0) < 0)
			stub_fail(r, STUB_DUP, p->fd, errno);
	}
}

static void stub_sigactions(struct lm_restorer *r)
{
	int sig;

	for (sig = 1; sig <= 64; sig++) {
		const struct lm_sigact_one *a = &r->img->sigact.act[sig - 1];
		struct kern_sigaction k = {
			a->handler, a->flags, a->restorer, a->mask
		};

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sig, &k, NULL, 8))
			stub_fail(r, STUB_SIGACTION, sig, errno);
	}
}

static pid_t clone3_stub(struct lm_restorer *r, pid_t want, int *pidfd);
static pid_t clone3_stub_any(struct lm_restorer *r, pid_t want, int *pidfd,
			     int *why);

/*
 * A session or group leader leads again (a daemon must not stay in the
 * restorer's session, where the terminal's signals reach it); other
 * processes stay in the restorer's group, or in a tree inherit their
 * parent's, or join the group of another member when they were in it.
 */
static void stub_session(struct lm_restorer *r)
{
	const struct lm_proc *p = &r->img->proc;
	const struct lm_tree_member *m;

	if (p->sid == p->pid) {
		setsid();
		return;
	}
	if (p->pgid == p->pid) {
		setpgid(0, 0);
		return;
	}
	if (!r->tree || !r->member)
		return;
	m = &r->tree->t->members[r->member];
	if (p->pgid != r->tree->rs[m->parent]->img->proc.pgid)
		setpgid(0, p->pgid);	/* best effort: where it exists */
}

/* The stubs of this member's children, each with its dumped PID if free. */
static void stub_children(struct lm_restorer *r)
{
	unsigned int k;

	for (k = r->member + 1; r->tree && k < r->tree->nr; k++) {
		struct lm_restorer *c = r->tree->rs[k];
		pid_t pid;

		if (r->tree->t->members[k].parent != (int)r->member)
			continue;
		pid = clone3_stub_any(c, c->img->proc.pid, NULL, NULL);
		if (pid < 0)
			stub_fail(r, STUB_CLONE, c->img->proc.pid, -pid);
	}
}

static __attribute__((noreturn)) void stub_main(struct lm_restorer *r,
						pid_t parent)
{
	const struct lm_proc *p = &r->img->proc;
	struct stub_report ok = { STUB_OK, 0, 0 };
	sigset_t all;
	void *t;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		stub_fail(r, STUB_PDEATHSIG, 0, errno);
	ok.arg = getpid();
	stub_session(r);
	stub_children(r);
	stub_reset_restart();
	t = mmap((void *)r->tramp, RST_TRAMP_SIZE,
		 PROT_READ | PROT_WRITE | PROT_EXEC,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (t != (void *)r->tramp)
		stub_fail(r, STUB_TRAMP, 0, t == MAP_FAILED ? errno : EEXIST);
	memcpy(t, tramp_code, sizeof(tramp_code));
	memcpy((char *)t + RST_BATCH_CODE_OFF, rst_batch_code,
	       rst_batch_code_len);
	stub_fds(r);
	if (r->img->cwd && r->img->cwd[0] && chdir(r->img->cwd))
		stub_fail(r, STUB_CWD, 0, errno);
	if (r->img->root && r->img->root[0] && strcmp(r->img->root, "/") &&
	    chroot(r->img->root))
		stub_fail(r, STUB_ROOT, 0, errno);
	umask(p->umask & 0777);
	if ((unsigned int)personality(0xffffffff) != p->personality &&
	    personality(p->personality) < 0)
		stub_fail(r, STUB_PERSONALITY, 0, errno);
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		stub_fail(r, STUB_PRCTL, PR_SET_NO_NEW_PRIVS, errno);
	if (p->comm[0]) {
		char comm[17];

		memcpy(comm, p->comm, 16);
		comm[16] = 0;
		prctl(PR_SET_NAME, comm, 0, 0, 0);
	}
	stub_sigactions(r);
	if (write(r->status_wr, &ok, sizeof(ok)) != sizeof(ok))
		_exit(127);
	for (;;)
		pause();
}

/* ---- the restorer's side ---- */

static void stub_report_err(struct lm_restorer *r, const struct stub_report *rep)
{
	const char *e = strerror(rep->err);

	switch (rep->step) {
	case STUB_TRAMP:
		rst_err("cannot map the trampoline at %#lx in the stub: %s",
			r->tramp, e);
		break;
	case STUB_CLOSE:
		rst_err("stub: closing inherited fds from %d: %s", rep->arg, e);
		break;
	case STUB_DUP:
		rst_err("stub: installing fd %d: %s (is RLIMIT_NOFILE high enough?)",
			rep->arg, e);
		break;
	case STUB_CWD:
		rst_err("cannot enter the dumped cwd %s: %s; create it or restore elsewhere",
			r->img->cwd, e);
		break;
	case STUB_ROOT:
		rst_err("cannot chroot to the dumped root %s: %s", r->img->root, e);
		break;
	case STUB_PERSONALITY:
		rst_err("cannot set personality %#x: %s",
			r->img->proc.personality, e);
		break;
	case STUB_SIGACTION:
		rst_err("cannot restore the action of signal %d: %s", rep->arg, e);
		break;
	case STUB_PRCTL:
		rst_err("stub: prctl(%d): %s", rep->arg, e);
		break;
	case STUB_CLONE:
		rst_err("the stub of PID %d cannot create the stub of its child %d: %s",
			r->img->proc.pid, rep->arg, e);
		break;
	default:
		rst_err("the stub failed to start (step %d): %s", rep->step, e);
	}
}

static void drop_carrier(struct lm_restorer *r, int fd)
{
	int i;

	for (i = 0; i < r->nr_carriers; i++)
		if (r->carriers[i] == fd)
			r->carriers[i] = -1;
	close(fd);
}

static pid_t clone3_stub(struct lm_restorer *r, pid_t want, int *pidfd)
{
	struct clone_args ca;
	pid_t parent = getpid();
	long ret;

	memset(&ca, 0, sizeof(ca));
	if (pidfd) {
		ca.flags = CLONE_PIDFD;
		ca.pidfd = (unsigned long)pidfd;
	}
	ca.exit_signal = SIGCHLD;
	if (want > 0) {
		ca.set_tid = (unsigned long)&want;
		ca.set_tid_size = 1;
	}
	ret = syscall(SYS_clone3, &ca, sizeof(ca));
	if (ret == 0)
		stub_main(r, parent);
	return ret < 0 ? -errno : ret;
}

static int seize_stub(struct lm_restorer *r)
{
	char path[64];
	int st;

	if (ptrace(PTRACE_SEIZE, r->pid, 0, PTRACE_O_EXITKILL) ||
	    ptrace(PTRACE_INTERRUPT, r->pid, 0, 0)) {
		rst_err("cannot seize the stub %d: %s", r->pid, strerror(errno));
		return -errno;
	}
	st = lm_wait_stop(r->pid);
	if (st < 0) {
		rst_err("the stub %d died before it stopped", r->pid);
		return st;
	}
	r->seized = 1;
	snprintf(path, sizeof(path), "/proc/%d/mem", r->pid);
	r->mem_fd = open(path, O_RDWR | O_CLOEXEC);
	if (r->mem_fd < 0) {
		rst_err("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * clone3_stub() with PID @want, or with any PID where @want cannot be
 * had; then the reason goes to *@why (when not NULL).
 */
static pid_t clone3_stub_any(struct lm_restorer *r, pid_t want, int *pidfd,
			     int *why)
{
	pid_t pid = clone3_stub(r, want, pidfd);

	if (pid == -EEXIST || pid == -EPERM || pid == -EINVAL ||
	    pid == -ENOSPC) {
		if (why)
			*why = pid;
		pid = clone3_stub(r, 0, pidfd);
	}
	return pid;
}

int rst_start_stub(struct lm_restorer *r)
{
	pid_t want = r->img->proc.pid;
	struct stub_report rep;
	int pfd[2], pidfd = -1, why = 0, timens;
	pid_t pid;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	r->status_rd = pfd[0];
	r->status_wr = rst_add_carrier(r, pfd[1]);
	if (r->status_wr < 0)
		return r->status_wr;
	timens = rst_enter_timens(r->img);
	pid = clone3_stub_any(r, want, &pidfd, &why);
	rst_leave_timens(timens);
	if (pid < 0) {
		rst_err("cannot create the stub process: %s", strerror(-pid));
		return pid;
	}
	r->pid = pid;
	r->pidfd = pidfd;
	if (pid != want && why == -EEXIST)
		rst_err("PID %d is in use: the process gets PID %d", want, pid);
	else if (pid != want)
		rst_err("PID %d cannot be chosen (%s): the process gets PID %d",
			want, strerror(-why), pid);
	drop_carrier(r, r->status_wr);
	r->status_wr = -1;
	n = read(r->status_rd, &rep, sizeof(rep));
	if (n != sizeof(rep)) {
		rst_err("the stub %d died while starting", pid);
		return -ECHILD;
	}
	if (rep.step != STUB_OK) {
		stub_report_err(r, &rep);
		return -rep.err ? -rep.err : -EIO;
	}
	return seize_stub(r);
}

/* ---- injected: the stub forgets the restorer ---- */

static int special_name(const char *line)
{
	return strstr(line, "[vdso]") || strstr(line, "[vvar]") ||
	       strstr(line, "[vvar_vclock]") || strstr(line, "[vsyscall]");
}

static int unregister_rseq(struct lm_restorer *r)
{
	struct rseq_conf c;
	long ret;

	memset(&c, 0, sizeof(c));
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, r->pid, sizeof(c), &c) < 0)
		return 0;	/* no rseq support: nothing registered */
	if (!c.rseq_abi_size)
		return 0;
	ret = rst_sys(r, r->pid, SYS_rseq, c.rseq_abi_pointer, c.rseq_abi_size,
		      1 /* RSEQ_FLAG_UNREGISTER */, c.signature, 0, 0);
	if (ret) {
		rst_err("cannot unregister the stub's rseq area: %s",
			strerror(-ret));
		return ret;
	}
	return 0;
}

/*
 * Unmap every mapping of the stub but the trampoline and vdso/vvar: one
 * munmap per run of mappings with nothing to keep between them (the holes
 * in such a run hold nothing), all of them in one batch.
 */
int rst_clean_stub(struct lm_restorer *r)
{
	char path[64], line[512];
	struct range *v = NULL;
	struct rst_batch b;
	int n = 0, cap = 0, i, err, kept = 0;
	FILE *f;

	err = unregister_rseq(r);
	if (err)
		return err;
	snprintf(path, sizeof(path), "/proc/%d/maps", r->pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx", &s, &e) != 2)
			continue;
		if (special_name(line) || s == r->tramp) {
			kept = 1;
			continue;
		}
		if (n && !kept && s >= v[n - 1].end) {
			v[n - 1].end = e;
			continue;
		}
		kept = 0;
		if (range_add(&v, &n, &cap, s, e)) {
			fclose(f);
			return -ENOMEM;
		}
	}
	fclose(f);
	rst_batch_init(&b);
	for (i = 0; i < n && !err; i++)
		err = rst_batch_add(&b, i, SYS_munmap, v[i].start,
				    v[i].end - v[i].start, 0, 0, 0, 0);
	if (!err)
		err = rst_batch_run(r, &b, 0);
	for (i = 0; i < n && !err; i++) {
		long ret = b.c[i].ret;

		if (ret) {
			rst_err("cannot unmap %#lx-%#lx of the stub: %s",
				v[i].start, v[i].end, strerror(-ret));
			err = ret;
		}
	}
	rst_batch_free(&b);
	free(v);
	return err;
}

/* ---- vdso/vvar ---- */

#define NR_SPECIAL 3
static const char *const special[NR_SPECIAL] = {
	"[vvar]", "[vvar_vclock]", "[vdso]"
};

struct special_set {
	struct range r[NR_SPECIAL];	/* by special[] index; end 0 = none */
};

static int stub_specials(pid_t pid, struct special_set *s)
{
	char path[64], line[512];
	FILE *f;
	int i;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = 0;
		if (sscanf(line, "%lx-%lx", &a, &b) != 2)
			continue;
		for (i = 0; i < NR_SPECIAL; i++) {
			size_t ln = strlen(line), lk = strlen(special[i]);

			if (ln >= lk && !strcmp(line + ln - lk, special[i])) {
				s->r[i].start = a;
				s->r[i].end = b;
			}
		}
	}
	fclose(f);
	return 0;
}

static int img_specials(const struct lm_image *img, struct special_set *s)
{
	unsigned int i;
	int k, nvvar = 0;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < img->proc.nr_vmas; i++) {
		const struct lm_vma_img *v = &img->vmas[i];

		if (v->v.kind == LM_MEM_VDSO) {
			k = 2;
		} else if (v->v.kind == LM_MEM_VVAR) {
			k = -1;
			if (v->path)
				for (k = 0; k < 2; k++)
					if (!strcmp(v->path, special[k]))
						break;
			if (k < 0 || k == 2)	/* unnamed: in address order */
				k = nvvar < 2 ? nvvar : 1;
			nvvar++;
		} else {
			continue;
		}
		s->r[k].start = v->v.start;
		s->r[k].end = v->v.end;
	}
	return 0;
}

static int remap_all(struct lm_restorer *r, struct special_set *from,
		     unsigned long from_base, unsigned long to_base)
{
	int i;

	for (i = 0; i < NR_SPECIAL; i++) {
		unsigned long len = from->r[i].end - from->r[i].start;
		unsigned long to = to_base + (from->r[i].start - from_base);
		long ret;

		if (!from->r[i].end)
			continue;
		ret = rst_sys(r, r->pid, SYS_mremap, from->r[i].start, len, len,
			      MREMAP_MAYMOVE | MREMAP_FIXED, to, 0);
		if (ret != (long)to) {
			rst_err("cannot move %s to %#lx: %s", special[i], to,
				strerror(ret < 0 ? -ret : EFAULT));
			return ret < 0 ? ret : -EFAULT;
		}
		from->r[i].end = to + len;
		from->r[i].start = to;
	}
	return 0;
}

static unsigned long span_lo(const struct special_set *s)
{
	unsigned long lo = ~0UL;
	int i;

	for (i = 0; i < NR_SPECIAL; i++)
		if (s->r[i].end && s->r[i].start < lo)
			lo = s->r[i].start;
	return lo;
}

static unsigned long span_hi(const struct special_set *s)
{
	unsigned long hi = 0;
	int i;

	for (i = 0; i < NR_SPECIAL; i++)
		if (s->r[i].end > hi)
			hi = s->r[i].end;
	return hi;
}

/* Check that the dumped vdso/vvar can be this kernel's, at the same offsets. */
static int specials_match(struct special_set *st, struct special_set *im)
{
	unsigned long sb = span_lo(st), ib = span_lo(im);
	int i;

	for (i = 0; i < NR_SPECIAL; i++) {
		unsigned long sl = st->r[i].end - st->r[i].start;
		unsigned long il = im->r[i].end - im->r[i].start;

		if (!im->r[i].end && !st->r[i].end)
			continue;
		if (sl != il || st->r[i].start - sb != im->r[i].start - ib) {
			rst_err("the dumped %s (%lu bytes at offset %#lx) differs from this kernel's (%lu bytes at offset %#lx); restore on a kernel with the same vdso",
				special[i], il, im->r[i].start - ib, sl,
				st->r[i].start - sb);
			return -EINVAL;
		}
	}
	return 0;
}

#define FNV_BASIS 0xcbf29ce484222325ULL

/*
 * The dump hashes the vdso text (FNV-1a, 64 bits): glibc caches entry
 * points into it, so a vdso with other bytes than the dumped one cannot
 * serve the restored process.
 */
static int vdso_same_text(struct lm_restorer *r, const struct range *v)
{
	size_t len = v->end - v->start, i;
	__u64 h = FNV_BASIS, want = r->img->hdr.vdso_hash;
	unsigned char *buf;

	if (!want || want == FNV_BASIS || len > (1 << 20))
		return 0;	/* not recorded */
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	if (lm_remote_read(r->pid, v->start, buf, len)) {
		free(buf);
		return -EIO;
	}
	for (i = 0; i < len; i++)
		h = (h ^ buf[i]) * 0x100000001b3ULL;
	free(buf);
	if (h == want)
		return 0;
	rst_err("the dumped vdso (kernel %s) differs from this kernel's vdso; glibc's cached vdso entry points would be wrong: restore on the kernel it was dumped on",
		r->img->hdr.kernel);
	return -EINVAL;
}

/*
 * Move the stub's own vdso/vvar (never the dumped bytes) to the dumped
 * addresses, through a free area when the old and new places overlap.
 */
int rst_move_vdso(struct lm_restorer *r)
{
	struct special_set st, im;
	unsigned long lo, hi, ilo, ihi, tmp;
	int err;

	err = stub_specials(r->pid, &st);
	if (err)
		return err;
	img_specials(r->img, &im);
	lo = span_lo(&st);
	hi = span_hi(&st);
	if (!im.r[2].end) {
		/* The process had unmapped its vdso: so does the restored one. */
		if (hi && rst_sys(r, r->pid, SYS_munmap, lo, hi - lo, 0, 0, 0, 0))
			return -EFAULT;
		return 0;
	}
	if (!st.r[2].end) {
		rst_err("this kernel gives the stub no vdso, the dumped process had one");
		return -ENOENT;
	}
	err = specials_match(&st, &im);
	if (!err)
		err = vdso_same_text(r, &st.r[2]);
	if (err)
		return err;
	ilo = span_lo(&im);
	ihi = span_hi(&im);
	if (ilo == lo)
		return 0;
	if (ilo < hi && lo < ihi) {
		err = rst_find_gap(r->img, r->pid, hi - lo, 0, 0, &tmp);
		if (err)
			return err;
		err = remap_all(r, &st, lo, tmp);
		if (err)
			return err;
		lo = tmp;
	}
	return remap_all(r, &st, lo, ilo);
}

/* ---- a process tree: the root's stub creates the others ---- */

static int tree_pipes(struct rst_tree *tr)
{
	unsigned int i;

	for (i = 0; i < tr->nr; i++) {
		struct lm_restorer *r = tr->rs[i];
		int pfd[2];

		if (pipe2(pfd, O_CLOEXEC))
			return -errno;
		r->status_rd = pfd[0];
		r->status_wr = rst_add_carrier(r, pfd[1]);
		if (r->status_wr < 0)
			return r->status_wr;
	}
	return 0;
}

/* Member @i's report: its PID; then seize it. */
static int tree_member_started(struct lm_restorer *r, unsigned int i)
{
	struct stub_report rep;
	pid_t want = r->img->proc.pid;
	ssize_t n;

	n = read(r->status_rd, &rep, sizeof(rep));
	if (n != sizeof(rep)) {
		rst_err("the stub of PID %d (member %u of the tree) died while starting",
			want, i);
		return -ECHILD;
	}
	if (rep.step != STUB_OK) {
		stub_report_err(r, &rep);
		return rep.err ? -rep.err : -EIO;
	}
	if (i) {
		r->pid = rep.arg;
		r->pidfd = syscall(SYS_pidfd_open, r->pid, 0);
		if (r->pidfd < 0) {
			rst_err("cannot open a pidfd on the stub %d: %s", r->pid,
				strerror(errno));
			return -errno;
		}
	}
	if (r->pid != want)
		rst_err("PID %d cannot be kept (in use?): the process gets PID %d",
			want, r->pid);
	return seize_stub(r);
}

int rst_start_tree(struct rst_tree *tr)
{
	struct lm_restorer *root = tr->rs[0];
	pid_t want = root->img->proc.pid, pid;
	unsigned int i;
	int pidfd = -1, err, timens;

	err = tree_pipes(tr);
	if (err)
		return err;
	timens = rst_enter_timens(root->img);
	pid = clone3_stub_any(root, want, &pidfd, NULL);
	rst_leave_timens(timens);
	if (pid < 0) {
		rst_err("cannot create the stub process: %s", strerror(-pid));
		return pid;
	}
	root->pid = pid;
	root->pidfd = pidfd;
	for (i = 0; i < tr->nr; i++) {
		drop_carrier(tr->rs[i], tr->rs[i]->status_wr);
		tr->rs[i]->status_wr = -1;
	}
	for (i = 0; i < tr->nr; i++) {
		err = tree_member_started(tr->rs[i], i);
		if (err)
			return err;
	}
	return 0;
}
