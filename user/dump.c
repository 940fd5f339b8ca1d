// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: freeze a process and collect its image (see dump.h).
 *
 * Order: refuse what /proc/PID/status already shows (traced, seccomp),
 * seize and interrupt every thread until no new one appears, collect fds
 * (refusals before anything touches the process), memory, process fields,
 * then the per-thread and signal state that needs syscall injection.  Any
 * failure detaches every thread: the process runs on as before.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include "dump.h"
#include "inject.h"
#include "stats.h"

#define RUN_MAX_DEFAULT	(4UL << 20)

int lm_dump_fail(struct lm_dump *d, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (d->errmsg[0])
		return err;
	n = snprintf(d->errmsg, sizeof(d->errmsg), "dump: ");
	va_start(ap, fmt);
	vsnprintf(d->errmsg + n, sizeof(d->errmsg) - n, fmt, ap);
	va_end(ap);
	return err;
}

char *lm_dump_slurp(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf) {
		int e = fd < 0 ? errno : ENOMEM;

		free(buf);
		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *nb = realloc(buf, 2 * cap + 1);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
	}
	close(fd);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

const char *lm_dump_field(const char *text, const char *key)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':') {
			p += kl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static unsigned long long field_ull(const char *text, const char *key,
				    int base, int *found)
{
	const char *v = lm_dump_field(text, key);

	if (found)
		*found = !!v;
	return v ? strtoull(v, NULL, base) : 0;
}

/* ---- freezing ---- */

static int has_tid(const struct lm_dump *d, pid_t tid)
{
	unsigned int i;

	for (i = 0; i < d->nr_tids; i++)
		if (d->tids[i] == tid)
			return 1;
	return 0;
}

/* Wait until @tid sits in a ptrace stop, delivering signals it meets. */
static int wait_interrupted(pid_t tid)
{
	for (;;) {
		int st = lm_wait_stop(tid);

		if (st < 0)
			return st;
		if (!WIFSTOPPED(st))
			return -ECHILD;
		if ((st >> 16) == PTRACE_EVENT_STOP)
			return 0;
		/* signal-delivery-stop: let the signal go where it was going */
		if (ptrace(PTRACE_CONT, tid, 0, WSTOPSIG(st)))
			return -errno;
	}
}

/* Has thread @tid of @pid exited (or is it exiting)? */
static int thread_gone(pid_t pid, pid_t tid)
{
	char path[96], *st, *s;
	int gone;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	st = lm_dump_slurp(path, NULL);
	if (!st)
		return 1;
	s = strrchr(st, ')');
	gone = !s || s[1] != ' ' || s[2] == 'Z' || s[2] == 'X';
	free(st);
	return gone;
}

/*
 * PTRACE_SEIZE; 1 if @tid (not the leader) turned out to be exiting: it
 * refuses with EPERM while it exits, ESRCH once gone.
 */
static int seize_retry(struct lm_dump *d, pid_t tid)
{
	int tries, e = ESRCH;

	for (tries = 0; tries < 50; tries++) {
		if (!ptrace(PTRACE_SEIZE, tid, 0, 0))
			return 0;
		e = errno;
		if (tid == d->pid || (e != EPERM && e != ESRCH))
			break;
		if (thread_gone(d->pid, tid))
			return 1;
		usleep(1000);
	}
	return -e;
}

static int seize_one(struct lm_dump *d, pid_t tid)
{
	pid_t *n;
	int err;

	err = seize_retry(d, tid);
	if (err > 0)
		return 0;	/* thread exited meanwhile */
	if (err) {
		if (err == -ESRCH)
			return lm_dump_fail(d, err, "no process with PID %d", tid);
		return lm_dump_fail(d, err,
				    "cannot trace PID %d (thread %d): %s; run as root, or check kernel.yama.ptrace_scope",
				    d->pid, tid, strerror(-err));
	}
	n = realloc(d->tids, (d->nr_tids + 1) * sizeof(*n));
	if (!n) {
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return lm_dump_fail(d, -ENOMEM, "out of memory");
	}
	d->tids = n;
	d->tids[d->nr_tids++] = tid;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) &&
	    (errno != ESRCH || tid == d->pid))
		return lm_dump_fail(d, -errno, "cannot stop thread %d: %s", tid,
				    strerror(errno));
	err = wait_interrupted(tid);	/* -ESRCH once an exiting one is gone */
	if (err == -ESRCH && tid != d->pid) {
		d->nr_tids--;	/* exited before stopping */
		return 0;
	}
	if (err)
		return lm_dump_fail(d, err, "thread %d did not stop: %s", tid,
				    strerror(-err));
	return 1;
}

/* One pass over /proc/PID/task: seize the new threads; >0 if any. */
static int seize_pass(struct lm_dump *d)
{
	char path[64];
	struct dirent *e;
	int found = 0, r = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", d->pid);
	dir = opendir(path);
	if (!dir)
		return lm_dump_fail(d, -errno, "cannot list threads of PID %d: %s",
				    d->pid, strerror(errno));
	while ((e = readdir(dir))) {
		pid_t tid = atoi(e->d_name);

		if (tid <= 0 || has_tid(d, tid))
			continue;
		r = seize_one(d, tid);
		if (r < 0)
			break;
		found += r;
	}
	closedir(dir);
	return r < 0 ? r : found;
}

static int freeze(struct lm_dump *d)
{
	struct timespec ts;
	int r, passes = 0;

	r = seize_one(d, d->pid);
	if (r <= 0)
		return r ? r : lm_dump_fail(d, -ESRCH, "PID %d exited", d->pid);
	do {
		r = seize_pass(d);
		if (++passes > 1000)
			return lm_dump_fail(d, -EAGAIN,
					    "PID %d keeps creating threads; cannot freeze it",
					    d->pid);
	} while (r > 0);
	if (r < 0)
		return r;
	if (d->nr_tids > LM_MAX_THREADS)
		return lm_dump_fail(d, -E2BIG, "PID %d has %u threads (max %d)",
				    d->pid, d->nr_tids, LM_MAX_THREADS);
	d->frozen = 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	d->img.hdr.created_ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	return 0;
}

static void detach_all(struct lm_dump *d)
{
	unsigned int i;

	for (i = 0; i < d->nr_tids; i++)
		ptrace(PTRACE_DETACH, d->tids[i], 0, 0);
}

static void kill_all(struct lm_dump *d)
{
	unsigned int i;

	kill(d->pid, SIGKILL);
	/*
	 * Traced threads report their exit to us: collect every one, the
	 * leader last (it reports only once the rest of its group is gone).
	 */
	for (i = d->nr_tids; i-- > 0;) {
		int st;

		while (waitpid(d->tids[i], &st, __WALL) == d->tids[i] &&
		       !WIFEXITED(st) && !WIFSIGNALED(st))
			;
	}
}

void lm_dump_release(struct lm_dump *d, int kill)
{
	if (d->nr_tids) {
		if (kill)
			kill_all(d);
		else
			detach_all(d);
	}
	free(d->tids);
	free(d->vma_smaps);
	d->vma_smaps = NULL;
	free(d->early_smaps);
	d->early_smaps = NULL;
	lm_vmwatch_stop(&d->watch);
	d->tids = NULL;
	d->nr_tids = 0;
	d->frozen = 0;
	if (d->mem_fd >= 0)
		close(d->mem_fd);
	if (d->pidfd >= 0)
		close(d->pidfd);
	d->mem_fd = d->pidfd = -1;
	lm_image_free(&d->img);
}

/* ---- process fields ---- */

/* A process that @pid traces (a debugger being dumped), or 0. */
static pid_t tracee_of(pid_t pid)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (dir && !found && (e = readdir(dir))) {
		char path[300], *st;
		pid_t other = atoi(e->d_name);

		if (other <= 0 || other == pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/status", other);
		st = lm_dump_slurp(path, NULL);
		if (st && field_ull(st, "TracerPid", 10, NULL) == (__u64)pid)
			found = other;
		free(st);
	}
	if (dir)
		closedir(dir);
	return found;
}

static int check_status(struct lm_dump *d)
{
	char path[64], *st;
	int found;
	unsigned long long tracer, seccomp, tgid;
	pid_t tracee;

	snprintf(path, sizeof(path), "/proc/%d/status", d->pid);
	st = lm_dump_slurp(path, NULL);
	if (!st) {
		if (errno == ENOENT)
			return lm_dump_fail(d, -ESRCH, "no process with PID %d",
					    d->pid);
		return lm_dump_fail(d, -errno, "cannot read %s: %s", path,
				    strerror(errno));
	}
	if (lm_dump_field(st, "State") && *lm_dump_field(st, "State") == 'Z') {
		free(st);
		return lm_dump_fail(d, -ESRCH, "PID %d has exited (zombie)",
				    d->pid);
	}
	tgid = field_ull(st, "Tgid", 10, &found);
	if (found && tgid != (__u64)d->pid) {
		free(st);
		return lm_dump_fail(d, -EINVAL,
				    "%d is a thread of process %llu; dump the process",
				    d->pid, tgid);
	}
	tracer = field_ull(st, "TracerPid", 10, NULL);
	seccomp = field_ull(st, "Seccomp", 10, &found);
	free(st);
	if (tracer)
		return lm_dump_fail(d, -EBUSY,
				    "PID %d is already traced by PID %llu (a debugger?); detach it first",
				    d->pid, tracer);
	if (seccomp)
		return lm_dump_fail(d, -EOPNOTSUPP,
				    "PID %d uses seccomp (mode %llu); seccomp filters are not supported",
				    d->pid, seccomp);
	tracee = tracee_of(d->pid);
	if (tracee)
		return lm_dump_fail(d, -EOPNOTSUPP,
				    "PID %d traces PID %d (it is a debugger); ptrace relations are not supported",
				    d->pid, tracee);
	return 0;
}

/* Fields of /proc/PID/stat after the comm: index 0 is field 3 (state). */
static int read_stat(struct lm_dump *d)
{
	struct lm_proc *p = &d->img.proc;
	unsigned long long f[64] = { 0 };
	char path[64], *st, *s;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", d->pid);
	st = lm_dump_slurp(path, NULL);
	s = st ? strrchr(st, ')') : NULL;
	if (!s) {
		free(st);
		return lm_dump_fail(d, -EIO, "cannot parse %s", path);
	}
	s += 2;
	for (i = 3; i < 64 && *s; i++) {
		char *end;

		f[i] = strtoull(s, &end, 10);
		if (i == 3 && *s == 'Z') {
			free(st);
			return lm_dump_fail(d, -ESRCH, "PID %d is a zombie",
					    d->pid);
		}
		s = strchr(s, ' ');
		if (!s)
			break;
		s++;
	}
	free(st);
	p->ppid = f[4];
	p->pgid = f[5];
	p->sid = f[6];
	p->start_code = f[26];
	p->end_code = f[27];
	p->start_stack = f[28];
	p->start_data = f[45];
	p->end_data = f[46];
	p->start_brk = f[47];
	p->arg_start = f[48];
	p->arg_end = f[49];
	p->env_start = f[50];
	p->env_end = f[51];
	return 0;
}

static int read_status(struct lm_dump *d)
{
	struct lm_proc *p = &d->img.proc;
	char path[64], *st;
	const char *v;

	snprintf(path, sizeof(path), "/proc/%d/status", d->pid);
	st = lm_dump_slurp(path, NULL);
	if (!st)
		return lm_dump_fail(d, -errno, "cannot read %s", path);
	p->umask = field_ull(st, "Umask", 8, NULL);
	p->no_new_privs = field_ull(st, "NoNewPrivs", 10, NULL);
	p->shared_pending = field_ull(st, "ShdPnd", 16, NULL);
	v = lm_dump_field(st, "Uid");
	p->uid = v ? strtoul(v, NULL, 10) : 0;
	v = lm_dump_field(st, "Gid");
	p->gid = v ? strtoul(v, NULL, 10) : 0;
	free(st);
	return 0;
}

static char *read_link(struct lm_dump *d, const char *what)
{
	char path[64], buf[LM_PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", d->pid, what);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0) {
		lm_dump_fail(d, -errno, "cannot read %s: %s", path,
			     strerror(errno));
		return NULL;
	}
	buf[n] = 0;
	return strdup(buf);
}

static int read_misc(struct lm_dump *d)
{
	struct lm_proc *p = &d->img.proc;
	char path[64], *s;
	size_t len;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/auxv", d->pid);
	s = lm_dump_slurp(path, &len);
	if (!s)
		return lm_dump_fail(d, -errno, "cannot read %s", path);
	len = len / 8 > 128 ? 128 * 8 : len & ~15UL;
	memcpy(p->auxv, s, len);
	p->auxv_len = len / 8;
	free(s);
	snprintf(path, sizeof(path), "/proc/%d/personality", d->pid);
	s = lm_dump_slurp(path, NULL);
	p->personality = s ? strtoul(s, NULL, 16) : 0;
	free(s);
	snprintf(path, sizeof(path), "/proc/%d/comm", d->pid);
	s = lm_dump_slurp(path, NULL);
	if (s) {
		s[strcspn(s, "\n")] = 0;
		snprintf(p->comm, sizeof(p->comm), "%s", s);
		free(s);
	}
	for (i = 0; i < 16; i++) {
		struct rlimit r;

		if (prlimit(d->pid, i, NULL, &r))
			return lm_dump_fail(d, -errno, "prlimit(%d) of PID %d: %s",
					    i, d->pid, strerror(errno));
		p->rlim_cur[i] = r.rlim_cur;
		p->rlim_max[i] = r.rlim_max;
	}
	d->img.exe = read_link(d, "exe");
	d->img.cwd = read_link(d, "cwd");
	d->img.root = read_link(d, "root");
	if (!d->img.exe || !d->img.cwd || !d->img.root)
		return -EIO;
	return 0;
}

static __u64 hash64(__u64 h, const unsigned char *p, size_t len)
{
	while (len--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static void fill_header(struct lm_dump *d)
{
	struct lm_header *h = &d->img.hdr;
	struct utsname u;
	unsigned int i;

	h->version = LM_STREAM_VERSION;
	h->page_size = LM_PAGE_SIZE;
	if (!uname(&u)) {
		snprintf(h->kernel, sizeof(h->kernel), "%s", u.release);
		snprintf(h->hostname, sizeof(h->hostname), "%s", u.nodename);
	}
	h->vdso_hash = 0xcbf29ce484222325ULL;
	for (i = 0; i < d->img.proc.nr_vmas; i++) {
		const struct lm_vma *v = &d->img.vmas[i].v;
		size_t len = v->end - v->start;
		unsigned char *buf;

		if (v->kind != LM_MEM_VDSO || len > (1 << 20))
			continue;
		buf = malloc(len);
		if (buf && !lm_remote_read(d->pid, v->start, buf, len))
			h->vdso_hash = hash64(h->vdso_hash, buf, len);
		free(buf);
	}
}

static void dump_phase(struct lm_dump *d, enum lm_dump_phase ph)
{
	d->phase_ns[ph] = lm_now_ns();
}

void lm_dump_phases(const struct lm_dump *d, char *buf, size_t len)
{
	static const char *const name[LM_DUMP_NR_PHASES] = {
		[LM_DUMP_EARLY] = "smaps before the freeze",
		[LM_DUMP_FROZEN] = "freeze", [LM_DUMP_PROC] = "/proc",
		[LM_DUMP_FDS] = "fds", [LM_DUMP_VMAS] = "VMAs (smaps)",
		[LM_DUMP_PAGEMAP] = "page scan",
		[LM_DUMP_THREADS] = "threads + injected syscalls",
	};
	size_t n = 0;
	int i;

	buf[0] = 0;
	for (i = LM_DUMP_EARLY; i < LM_DUMP_NR_PHASES && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s %.2f ms%s", n ? ", " : "",
			      name[i], (d->phase_ns[i] - d->phase_ns[i - 1]) / 1e6,
			      i != LM_DUMP_VMAS || !d->smaps_early ? "" :
			      d->smaps_early > 0 ? " (maps; smaps from before held)" :
			      " (smaps read again)");
}

static int collect(struct lm_dump *d)
{
	struct lm_proc *p = &d->img.proc;
	char path[64];
	int err;

	p->pid = d->pid;
	snprintf(path, sizeof(path), "/proc/%d/mem", d->pid);
	d->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	d->pidfd = syscall(SYS_pidfd_open, d->pid, 0);
	if (read_stat(d) || read_status(d) || read_misc(d))
		return -EIO;
	dump_phase(d, LM_DUMP_PROC);
	err = lm_collect_fds(d);
	dump_phase(d, LM_DUMP_FDS);
	if (!err)
		err = lm_collect_mm(d);
	dump_phase(d, LM_DUMP_VMAS);
	if (!err)
		err = lm_collect_shm_maps(d);
	dump_phase(d, LM_DUMP_PAGEMAP);
	if (!err)
		err = lm_collect_threads(d);
	dump_phase(d, LM_DUMP_THREADS);
	if (err)
		return err < 0 ? err : -EIO;
	fill_header(d);
	return 0;
}

int lm_dump_check(struct lm_dump *d)
{
	return check_status(d);
}

int lm_dump_freeze(struct lm_dump *d)
{
	return freeze(d);
}

int lm_dump_freeze_more(struct lm_dump *d)
{
	return seize_pass(d);
}

int lm_dump_collect(struct lm_dump *d)
{
	return collect(d);
}

static int freeze_collect(pid_t pid, struct lm_dump *d)
{
	int err;

	memset(d, 0, sizeof(*d));
	d->pid = pid;
	d->mem_fd = d->pidfd = -1;
	if (pid <= 0)
		return lm_dump_fail(d, -EINVAL, "PID %d is not a process ID", pid);
	if (pid == getpid())
		return lm_dump_fail(d, -EINVAL, "PID %d is lazymig itself", pid);
	err = check_status(d);
	dump_phase(d, LM_DUMP_START);
	if (!err)
		err = lm_collect_mm_early(d);
	dump_phase(d, LM_DUMP_EARLY);
	if (!err)
		err = freeze(d);
	dump_phase(d, LM_DUMP_FROZEN);
	if (!err)
		err = collect(d);
	if (err) {
		if (!d->errmsg[0])
			lm_dump_fail(d, err, "PID %d: %s", pid, strerror(-err));
		lm_dump_release(d, 0);
		return err < 0 ? err : -EIO;
	}
	return 0;
}

void lm_dump_hold_signals(sigset_t *old)
{
	sigset_t quiet;

	sigemptyset(&quiet);
	sigaddset(&quiet, SIGINT);
	sigaddset(&quiet, SIGTERM);
	sigaddset(&quiet, SIGHUP);
	sigaddset(&quiet, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &quiet, old);
}

int lm_dump_freeze_collect(pid_t pid, struct lm_dump *d)
{
	sigset_t old;
	int err;

	lm_dump_hold_signals(&old);
	err = freeze_collect(pid, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

/* ---- pages ---- */

static const struct lm_shm_img *shm_of(const struct lm_dump *d, __u32 space)
{
	if (!space || space > d->img.proc.nr_shms)
		return NULL;
	return &d->img.shms[space - 1];
}

int lm_dump_read_pages(struct lm_dump *d, __u32 space, __u64 addr,
		       void *buf, __u64 npages, __u64 page_size)
{
	size_t len = npages * page_size, done = 0;
	const struct lm_shm_img *m;
	int fd = d->mem_fd;

	if (space) {
		m = shm_of(d, space);
		if (!m || m->fd < 0)
			return -EINVAL;
		fd = m->fd;
	} else {
		struct iovec l = { buf, len }, r = { (void *)addr, len };

		if (process_vm_readv(d->pid, &l, 1, &r, 1, 0) == (ssize_t)len)
			return 0;
	}
	if (fd < 0)
		return -EBADF;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  addr + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n) {	/* past the end of a shm object: zeros */
			memset((char *)buf + done, 0, len - done);
			break;
		}
		done += n;
	}
	return 0;
}

static int test_bit(const unsigned long *map, __u64 i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

long lm_dump_write_map(struct lm_dump *d, struct lm_stream *s,
		       const struct lm_pagemap_img *m, __u64 max_run_bytes)
{
	__u64 ps = m->m.page_size, max_run, i = 0, total = 0;
	void *buf;
	int err = 0;

	if (!max_run_bytes)
		max_run_bytes = RUN_MAX_DEFAULT;
	max_run = max_run_bytes / ps ? max_run_bytes / ps : 1;
	buf = malloc(max_run * ps);
	if (!buf)
		return -ENOMEM;
	while (i < m->m.npages && !err) {
		struct lm_pages p = { .space = m->m.space, .page_size = ps };
		__u64 n = 0;

		if (!test_bit(m->bitmap, i)) {
			i++;
			continue;
		}
		while (i + n < m->m.npages && n < max_run &&
		       test_bit(m->bitmap, i + n))
			n++;
		p.addr = m->m.addr + i * ps;
		p.npages = n;
		err = lm_dump_read_pages(d, p.space, p.addr, buf, n, ps);
		if (err)
			lm_dump_fail(d, err, "cannot read %llu pages at %llx (space %u): %s",
				     (unsigned long long)n,
				     (unsigned long long)p.addr, p.space,
				     strerror(-err));
		else
			err = lm_write_pages(s, &p, buf);
		i += n;
		total += n;
	}
	free(buf);
	return err ? err : (long)total;
}

__u64 lm_image_data_pages(const struct lm_image *img)
{
	__u64 total = 0, i;
	unsigned int k;

	for (k = 0; k < img->nr_maps; k++)
		for (i = 0; i < img->maps[k].m.npages; i++)
			total += test_bit(img->maps[k].bitmap, i);
	return total;
}

int lm_dump_write_all(struct lm_dump *d, struct lm_stream *s)
{
	unsigned int i;
	long r;

	if (lm_write_meta(s, &d->img) || lm_write_mark(s, LM_REC_META_END))
		return lm_dump_fail(d, s->err, "%s", s->errmsg);
	for (i = 0; i < d->img.nr_maps; i++) {
		r = lm_dump_write_map(d, s, &d->img.maps[i], 0);
		if (r < 0)
			return lm_dump_fail(d, (int)r, "%s", s->errmsg[0] ?
					    s->errmsg : strerror((int)-r));
	}
	if (lm_write_mark(s, LM_REC_END))
		return lm_dump_fail(d, s->err, "%s", s->errmsg);
	return 0;
}
