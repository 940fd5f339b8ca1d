// SPDX-License-Identifier: GPL-2.0
/*
 * wl_mem: a process holding every kind of state lazymig moves, each filled
 * with a known pattern, that checks all of it byte for byte on request.
 * Used by the dump, restore and lazy-migration tests alike.
 *
 * Usage: wl_mem [OPTIONS] STATEFILE
 *   --pages N    pages per memory region (default 16, bss region max 16)
 *   --dir DIR    where files are created (default: STATEFILE's directory)
 *   --anon       private anonymous mmap (page 1 never touched, page 2 only
 *                read: both must stay zero)
 *   --heap       brk heap grown with sbrk()
 *   --bss        a 16-page array in .bss
 *   --stack      an array on the main thread's stack
 *   --shared     MAP_SHARED|MAP_ANONYMOUS (page 1 never touched)
 *   --memfd      memfd (size N pages + 100 bytes, sealed against shrink and
 *                grow) mapped shared, its fd kept open
 *   --fpriv      a file mapped MAP_PRIVATE: first half written (COW),
 *                second half only read (the file's own data)
 *   --fshared    a file mapped MAP_SHARED, written through the mapping
 *   --tmpfs      a /dev/shm file mapped MAP_SHARED
 *   --hugetlb    one private and one shared (memfd MFD_HUGETLB) 2 MiB huge
 *                page; "skip hugetlb" in STATEFILE if none can be had
 *   --threads    three threads, blocked in nanosleep (a loop of 100 ms),
 *                read() on a pipe and FUTEX_WAIT, each with its own
 *                r12-r15, xmm8-15, MXCSR, TLS value and signal mask,
 *                checked after the syscall returns
 *   --signals    SIGUSR2 handler (SA_RESTART|SA_SIGINFO, sa_mask INT+QUIT),
 *                SIGHUP ignored, SIGWINCH handler on a sigaltstack, main
 *                thread blocks SIGRTMIN+1/+2, both pending (one process-wide
 *                by kill, one thread-private by tgkill)
 *   --fds        regular file O_RDWR|O_CLOEXEC at offset 5000, the same
 *                file O_RDONLY at offset 123, a pipe with 3000 bytes
 *                buffered (both ends open), /dev/null O_WRONLY, an eventfd
 *                with count 42 (EFD_NONBLOCK)
 *   --cwd        chdir to DIR
 *   --rlimits    RLIMIT_NOFILE soft 1000, RLIMIT_CORE soft 12345, umask 027
 *   --sched      (with --threads; root, not in --all) sleeper thread
 *                SCHED_FIFO|SCHED_RESET_ON_FORK priority 7, reader
 *                SCHED_RR priority 3, futex thread SCHED_IDLE, main thread
 *                nice 4; checked after restore
 *   --clocks     (root, not in --all) enter a time namespace whose
 *                CLOCK_MONOTONIC and CLOCK_BOOTTIME are 10^6 s ahead of
 *                this machine's, as on a machine up for 11 days; after
 *                restore both must have gone on from their values at
 *                "ready": never back, less than an hour forward
 *   --spin       a thread running in user space (bursts of ~0.5 ms, then a
 *                1 ms nanosleep) whose r12-r15 and xmm8/xmm9 evolve each
 *                from its own previous value and are cross-checked every
 *                iteration: a register restored wrong at any instruction
 *                is caught
 *   --all        everything above (hugetlb only if available)
 *
 * Protocol:
 *  1. After setup the workload atomically (rename) writes STATEFILE:
 *	ready PID
 *	mem NAME KIND ADDR LEN SEED	  hex ADDR/LEN; SEED 0: must be zero
 *	file NAME PATH			  files it created (tests remove them)
 *	thread NAME TID
 *	fd NAME FD
 *	skip WHAT REASON
 *     KIND is lm_mem_kind_name()'s name of what the region should dump as.
 *     Each "mem" region is filled with lm_fill(ADDR, LEN, SEED).
 *  2. It then waits in sigsuspend() with every thread blocked in its
 *     syscall.  SIGUSR1 makes it verify everything, write STATEFILE.result
 *     (atomically): "ok" or "fail: <the first mismatch>", and exit 0 or 1.
 *     Without SIGUSR1 it waits forever; SIGTERM/SIGKILL end it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include "lmtest.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4U
#endif
#define HUGE_SZ		(2UL << 20)
#define BSS_PAGES	16
#define MAX_REGIONS	32
#define PIPE_BYTES	3000

enum {
	O_ANON = 1 << 0, O_HEAP = 1 << 1, O_BSS = 1 << 2, O_STACK = 1 << 3,
	O_SHARED = 1 << 4, O_MEMFD = 1 << 5, O_FPRIV = 1 << 6,
	O_FSHARED = 1 << 7, O_TMPFS = 1 << 8, O_HUGETLB = 1 << 9,
	O_THREADS = 1 << 10, O_SIGNALS = 1 << 11, O_FDS = 1 << 12,
	O_CWD = 1 << 13, O_RLIMITS = 1 << 14, O_SPIN = 1 << 15,
	O_SCHED = 1 << 16, O_CLOCKS = 1 << 17,
};

static const struct { const char *name; unsigned int bit; } opts[] = {
	{ "--anon", O_ANON }, { "--heap", O_HEAP }, { "--bss", O_BSS },
	{ "--stack", O_STACK }, { "--shared", O_SHARED },
	{ "--memfd", O_MEMFD }, { "--fpriv", O_FPRIV },
	{ "--fshared", O_FSHARED }, { "--tmpfs", O_TMPFS },
	{ "--hugetlb", O_HUGETLB }, { "--threads", O_THREADS },
	{ "--signals", O_SIGNALS }, { "--fds", O_FDS }, { "--cwd", O_CWD },
	{ "--rlimits", O_RLIMITS }, { "--spin", O_SPIN },
	{ "--sched", O_SCHED }, { "--clocks", O_CLOCKS },
	{ "--all", ~0U & ~(O_SCHED | O_CLOCKS) },
};

struct region {
	const char *name, *kind;
	uint8_t *addr;
	size_t len;
	uint64_t seed;
};

static struct region regions[MAX_REGIONS];
static int nr_regions;
static char manifest[16384];
static size_t man_len;
static char bss_area[BSS_PAGES * LM_PAGE] __attribute__((aligned(4096)));
static unsigned int what;
static size_t npages = 16;
static const char *dir, *statefile;
static char fail_msg[512];
static volatile sig_atomic_t got_usr1;

__attribute__((format(printf, 1, 2)))
static void man(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	man_len += vsnprintf(manifest + man_len, sizeof(manifest) - man_len,
			     fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 1, 2)))
static void failf(const char *fmt, ...)
{
	va_list ap;

	if (fail_msg[0])
		return;
	va_start(ap, fmt);
	vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
	va_end(ap);
}

static void die(const char *what_failed)
{
	fprintf(stderr, "wl_mem: %s: %s\n", what_failed, strerror(errno));
	exit(2);
}

static void add_region(const char *name, const char *kind, void *addr,
		       size_t len, uint64_t seed)
{
	struct region *r = &regions[nr_regions++];

	*r = (struct region){ name, kind, addr, len, seed };
	man("mem %s %s %lx %zx %llx\n", name, kind, (unsigned long)addr, len,
	    (unsigned long long)seed);
}

static void fill_region(const char *name, const char *kind, void *addr,
			size_t len, uint64_t seed)
{
	lm_fill(addr, len, seed);
	add_region(name, kind, addr, len, seed);
}

static void write_atomic(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, getpid());
	f = fopen(tmp, "w");
	if (!f)
		die(tmp);
	fputs(text, f);
	if (fclose(f) || rename(tmp, path))
		die(path);
}

static char *mkpath(const char *base)
{
	char *p;

	if (asprintf(&p, "%s/%s.%d", dir, base, getpid()) < 0)
		die("asprintf");
	return p;
}

/* ---- memory ---- */

static void *map_anon(size_t len, int flags)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

static void setup_anon(void)
{
	size_t len = npages * LM_PAGE;
	uint8_t *p = map_anon(len, MAP_PRIVATE);
	volatile uint8_t sink;

	fill_region("anon", "anon-private", p, LM_PAGE, 0x1001);
	add_region("anon_hole", "anon-private", p + LM_PAGE, LM_PAGE, 0);
	sink = p[2 * LM_PAGE];	/* read fault: the zero page */
	(void)sink;
	add_region("anon_zero", "anon-private", p + 2 * LM_PAGE, LM_PAGE, 0);
	if (npages > 3)
		fill_region("anon_rest", "anon-private", p + 3 * LM_PAGE,
			    len - 3 * LM_PAGE, 0x1002);
}

static void setup_heap(void)
{
	uint8_t *p = sbrk(npages * LM_PAGE);

	if (p == (void *)-1)
		die("sbrk");
	fill_region("heap", "anon-private", p, npages * LM_PAGE, 0x1003);
}

static void setup_shared(void)
{
	uint8_t *p = map_anon(npages * LM_PAGE, MAP_SHARED);

	fill_region("shared", "anon-shared", p, LM_PAGE, 0x1004);
	add_region("shared_hole", "anon-shared", p + LM_PAGE, LM_PAGE, 0);
	if (npages > 2)
		fill_region("shared_rest", "anon-shared", p + 2 * LM_PAGE,
			    (npages - 2) * LM_PAGE, 0x1005);
}

static int memfd_fd = -1;
static size_t memfd_size;

static void setup_memfd(void)
{
	uint8_t *p;

	memfd_size = npages * LM_PAGE + 100;
	memfd_fd = memfd_create("wl_memfd", MFD_ALLOW_SEALING);
	if (memfd_fd < 0 || ftruncate(memfd_fd, memfd_size))
		die("memfd");
	p = mmap(NULL, npages * LM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 memfd_fd, 0);
	if (p == MAP_FAILED)
		die("mmap memfd");
	fill_region("memfd", "memfd", p, npages * LM_PAGE, 0x1006);
	if (fcntl(memfd_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		die("F_ADD_SEALS");
	man("fd memfd %d\n", memfd_fd);
}

static int make_file(const char *path, size_t len, uint64_t seed)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint8_t *buf = malloc(len);

	if (fd < 0 || !buf)
		die(path);
	if (seed)
		lm_fill(buf, len, seed);
	else
		memset(buf, 0, len);
	if (write(fd, buf, len) != (ssize_t)len)
		die(path);
	free(buf);
	man("file %s %s\n", strrchr(path, '/') + 1, path);
	return fd;
}

static void setup_fpriv(void)
{
	size_t len = npages * LM_PAGE, half = (npages / 2) * LM_PAGE;
	char *path = mkpath("wl_fpriv");
	int fd = make_file(path, len, 0x1007);
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
			  0);

	if (p == MAP_FAILED)
		die("mmap fpriv");
	close(fd);
	fill_region("fpriv_cow", "file-private", p, half, 0x1008);
	/* lm_pat(s, i + half) == lm_pat(s + half / 8, i) */
	add_region("fpriv_file", "file-private", p + half, len - half,
		   0x1007 + half / 8);
	(void)lm_check(p + half, len - half, 0x1007);	/* fault them in */
}

static void *map_file_shared(const char *path, size_t len)
{
	int fd = make_file(path, len, 0);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		die("mmap shared file");
	close(fd);
	return p;
}

static void setup_fshared(void)
{
	uint8_t *p = map_file_shared(mkpath("wl_fshared"), npages * LM_PAGE);

	fill_region("fshared", "file-shared", p, npages * LM_PAGE, 0x1009);
}

static void setup_tmpfs(void)
{
	char *path;
	uint8_t *p;

	if (asprintf(&path, "/dev/shm/wl_tmpfs.%d", getpid()) < 0)
		die("asprintf");
	p = map_file_shared(path, npages * LM_PAGE);
	fill_region("tmpfs", "tmpfs", p, npages * LM_PAGE, 0x100a);
}

static void setup_hugetlb(void)
{
	void *p = mmap(NULL, HUGE_SZ, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	int fd;

	if (p == MAP_FAILED) {
		man("skip hugetlb no-huge-pages\n");
		return;
	}
	fill_region("huge_private", "hugetlb-private", p, HUGE_SZ, 0x100b);
	fd = memfd_create("wl_huge", MFD_HUGETLB);
	if (fd < 0 || ftruncate(fd, HUGE_SZ)) {
		man("skip hugetlb_shared memfd-hugetlb\n");
		return;
	}
	p = mmap(NULL, HUGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		man("skip hugetlb_shared only-one-huge-page\n");
		return;
	}
	fill_region("huge_shared", "hugetlb-shared", p, HUGE_SZ, 0x100c);
	man("fd huge_memfd %d\n", fd);
}

static int check_regions(void)
{
	int i;

	for (i = 0; i < nr_regions; i++) {
		struct region *r = &regions[i];
		long off = r->seed ? lm_check(r->addr, r->len, r->seed) :
				     lm_check_zero(r->addr, r->len);

		if (off >= 0) {
			failf("mem %s (%s) at %p + %ld: byte 0x%02x, expected 0x%02x",
			      r->name, r->kind, r->addr, off, r->addr[off],
			      r->seed ? lm_pat(r->seed, off) : 0);
			return -1;
		}
	}
	return 0;
}

static int check_memfd(void)
{
	uint8_t *buf;
	struct stat st;
	int seals;

	if (memfd_fd < 0)
		return 0;
	if (fstat(memfd_fd, &st) || (size_t)st.st_size != memfd_size) {
		failf("memfd size %lld, expected %zu", (long long)st.st_size,
		      memfd_size);
		return -1;
	}
	seals = fcntl(memfd_fd, F_GET_SEALS);
	if (seals != (F_SEAL_SHRINK | F_SEAL_GROW)) {
		failf("memfd seals 0x%x, expected 0x%x", seals,
		      F_SEAL_SHRINK | F_SEAL_GROW);
		return -1;
	}
	buf = malloc(memfd_size);
	if (pread(memfd_fd, buf, memfd_size, 0) != (ssize_t)memfd_size ||
	    lm_check(buf, npages * LM_PAGE, 0x1006) >= 0 ||
	    lm_check_zero(buf + npages * LM_PAGE, 100) >= 0) {
		failf("memfd content read through its fd differs");
		free(buf);
		return -1;
	}
	free(buf);
	return 0;
}

/* ---- threads ---- */

/* Registers a worker holds across its blocking syscall. */
struct regset {
	uint64_t gpr[4];		/* r12..r15 */
	uint8_t xmm[8][16];		/* xmm8..xmm15 */
	uint32_t mxcsr;
	uint32_t pad;
} __attribute__((aligned(16)));

struct worker {
	const char *name;
	pthread_t th;
	pid_t tid;
	int idx;
	char err[256];
	int done;
};

static struct worker workers[3] = {
	{ .name = "sleeper" }, { .name = "reader" }, { .name = "futex" },
};
static volatile int stop_workers;
static int started;
static int wake_pipe[2] = { -1, -1 };
static uint32_t futex_word;
static __thread uint64_t tls_tag;

/* syscall(nr, a1..a4) with r12-r15, xmm8-15 and MXCSR loaded from *in
 * before and stored to *out after. */
static long regs_syscall(long nr, long a1, long a2, long a3, long a4,
			 const struct regset *in, struct regset *out)
{
	register long rax asm("rax") = nr;
	register long rdi asm("rdi") = a1;
	register long rsi asm("rsi") = a2;
	register long rdx asm("rdx") = a3;
	register long r10 asm("r10") = a4;
	uint32_t def_mxcsr = 0x1f80;

	asm volatile(
		"mov 0(%[in]), %%r12\n\t"
		"mov 8(%[in]), %%r13\n\t"
		"mov 16(%[in]), %%r14\n\t"
		"mov 24(%[in]), %%r15\n\t"
		"movdqa 32(%[in]), %%xmm8\n\t"
		"movdqa 48(%[in]), %%xmm9\n\t"
		"movdqa 64(%[in]), %%xmm10\n\t"
		"movdqa 80(%[in]), %%xmm11\n\t"
		"movdqa 96(%[in]), %%xmm12\n\t"
		"movdqa 112(%[in]), %%xmm13\n\t"
		"movdqa 128(%[in]), %%xmm14\n\t"
		"movdqa 144(%[in]), %%xmm15\n\t"
		"ldmxcsr 160(%[in])\n\t"
		"syscall\n\t"
		"mov %%r12, 0(%[out])\n\t"
		"mov %%r13, 8(%[out])\n\t"
		"mov %%r14, 16(%[out])\n\t"
		"mov %%r15, 24(%[out])\n\t"
		"movdqa %%xmm8, 32(%[out])\n\t"
		"movdqa %%xmm9, 48(%[out])\n\t"
		"movdqa %%xmm10, 64(%[out])\n\t"
		"movdqa %%xmm11, 80(%[out])\n\t"
		"movdqa %%xmm12, 96(%[out])\n\t"
		"movdqa %%xmm13, 112(%[out])\n\t"
		"movdqa %%xmm14, 128(%[out])\n\t"
		"movdqa %%xmm15, 144(%[out])\n\t"
		"stmxcsr 160(%[out])\n\t"
		"ldmxcsr %[def]\n\t"
		: "+r"(rax)
		: [in] "r"(in), [out] "r"(out), [def] "m"(def_mxcsr),
		  "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10)
		: "rcx", "r11", "r12", "r13", "r14", "r15", "xmm8", "xmm9",
		  "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
		  "memory", "cc");
	return rax;
}

static void make_regset(struct regset *r, int idx)
{
	lm_fill(r, offsetof(struct regset, mxcsr), 0x2000 + idx);
	r->mxcsr = 0x1f80 | ((uint32_t)(idx + 1) << 13);	/* rounding */
	if (idx == 2)
		r->mxcsr = 0x1f80 | (1U << 15);			/* FTZ */
}

static int sig_for(int idx)
{
	return SIGRTMIN + 5 + idx;
}

/* Every worker blocks all signals but one of its own. */
static void worker_mask(int idx, sigset_t *set)
{
	sigfillset(set);
	sigdelset(set, sig_for(idx));
}

/* Signals a thread can block (glibc keeps 32 and 33 for itself). */
static int same_mask(const sigset_t *a, const sigset_t *b)
{
	int sig;

	for (sig = 1; sig < 65; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33)
			continue;
		if (sigismember(a, sig) != sigismember(b, sig))
			return 0;
	}
	return 1;
}

static long worker_wait(struct worker *w, const struct regset *in,
			struct regset *out)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	char c;

	switch (w->idx) {
	case 0:
		return regs_syscall(SYS_nanosleep, (long)&ts, 0, 0, 0, in, out);
	case 1:
		return regs_syscall(SYS_read, wake_pipe[0], (long)&c, 1, 0, in,
				    out);
	default:
		return regs_syscall(SYS_futex, (long)&futex_word,
				    FUTEX_WAIT_PRIVATE, 0, 0, in, out);
	}
}

static void worker_check(struct worker *w, const struct regset *in,
			 const struct regset *out, long ret)
{
	sigset_t want, cur;

	if (memcmp(in, out, offsetof(struct regset, pad)))
		snprintf(w->err, sizeof(w->err),
			 "thread %s: r12-r15/xmm8-15/mxcsr changed across its syscall",
			 w->name);
	else if (ret < 0 && ret != -EAGAIN)
		snprintf(w->err, sizeof(w->err), "thread %s: syscall returned %ld",
			 w->name, ret);
	else if (tls_tag != 0x3000ULL + w->idx)
		snprintf(w->err, sizeof(w->err), "thread %s: TLS value %llx",
			 w->name, (unsigned long long)tls_tag);
	worker_mask(w->idx, &want);
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	if (!w->err[0] && !same_mask(&want, &cur))
		snprintf(w->err, sizeof(w->err), "thread %s: signal mask changed",
			 w->name);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct regset in, out;
	sigset_t set;

	worker_mask(w->idx, &set);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	tls_tag = 0x3000ULL + w->idx;
	w->tid = syscall(SYS_gettid);
	make_regset(&in, w->idx);
	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	while (!w->err[0]) {
		long ret;

		memset(&out, 0, sizeof(out));
		ret = worker_wait(w, &in, &out);
		worker_check(w, &in, &out, ret);
		if (stop_workers)
			break;
	}
	w->done = 1;
	return NULL;
}

static void setup_threads(void)
{
	int i;

	if (pipe(wake_pipe))
		die("pipe");
	for (i = 0; i < 3; i++) {
		workers[i].idx = i;
		if (pthread_create(&workers[i].th, NULL, worker_main,
				   &workers[i]))
			die("pthread_create");
	}
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < 3)
		usleep(1000);
	usleep(50 * 1000);	/* let them block */
	for (i = 0; i < 3; i++)
		man("thread %s %d\n", workers[i].name, workers[i].tid);
	man("fd wake_pipe_r %d\nfd wake_pipe_w %d\n", wake_pipe[0],
	    wake_pipe[1]);
}

static int check_threads(void)
{
	int i;

	if (wake_pipe[0] < 0)
		return 0;
	stop_workers = 1;
	if (write(wake_pipe[1], "x", 1) != 1)
		failf("wake pipe write: %s", strerror(errno));
	__atomic_store_n(&futex_word, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	for (i = 0; i < 3; i++) {
		pthread_join(workers[i].th, NULL);	/* clear_child_tid */
		if (workers[i].err[0])
			failf("%s", workers[i].err);
	}
	return fail_msg[0] ? -1 : 0;
}

/* ---- clocks ---- */

#define CLOCK_AHEAD	1000000LL	/* s */
static long long clock_ready[2];
static const clockid_t clock_ids[2] = { CLOCK_MONOTONIC, CLOCK_BOOTTIME };

static long long clock_now(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Single-threaded, before anything else: a namespace takes offsets only
 * before its first process enters it. */
static void setup_clocks(void)
{
	char buf[96];
	int fd, n;

	if (unshare(0x80 /* CLONE_NEWTIME */))
		die("unshare(CLONE_NEWTIME)");
	n = snprintf(buf, sizeof(buf), "monotonic %lld 0\nboottime %lld 0\n",
		     CLOCK_AHEAD, CLOCK_AHEAD);
	fd = open("/proc/self/timens_offsets", O_WRONLY);
	if (fd < 0 || write(fd, buf, n) != n)
		die("timens_offsets");
	close(fd);
	fd = open("/proc/self/ns/time_for_children", O_RDONLY);
	if (fd < 0 || setns(fd, 0x80))
		die("setns(time_for_children)");
	close(fd);
}

static void mark_clocks(void)
{
	int i;

	for (i = 0; i < 2; i++)
		clock_ready[i] = clock_now(clock_ids[i]);
}

static int check_clocks(void)
{
	static const char *const names[2] = { "CLOCK_MONOTONIC",
					      "CLOCK_BOOTTIME" };
	int i;

	for (i = 0; i < 2; i++) {
		long long now = clock_now(clock_ids[i]);
		long long d = now - clock_ready[i];

		if (d < 0 || d > 3600 * 1000000000LL)
			failf("%s went from %lld s to %lld s", names[i],
			      clock_ready[i] / 1000000000LL,
			      now / 1000000000LL);
	}
	return fail_msg[0] ? -1 : 0;
}

/* ---- scheduling ---- */

static const struct { int policy, prio; } sched_want[3] = {
	{ SCHED_FIFO | SCHED_RESET_ON_FORK, 7 }, { SCHED_RR, 3 },
	{ SCHED_IDLE, 0 },
};

static void setup_sched(void)
{
	int i;

	for (i = 0; i < 3; i++) {
		struct sched_param sp = { .sched_priority = sched_want[i].prio };

		if (sched_setscheduler(workers[i].tid, sched_want[i].policy, &sp))
			die("sched_setscheduler");
	}
	if (setpriority(PRIO_PROCESS, 0, 4))
		die("setpriority");
}

static int check_sched(void)
{
	int i;

	for (i = 0; i < 3; i++) {
		struct sched_param sp = { 0 };
		int pol = sched_getscheduler(workers[i].tid);

		sched_getparam(workers[i].tid, &sp);
		if (pol != sched_want[i].policy ||
		    sp.sched_priority != sched_want[i].prio)
			failf("thread %s: policy %#x priority %d, expected %#x %d",
			      workers[i].name, pol, sp.sched_priority,
			      sched_want[i].policy, sched_want[i].prio);
	}
	errno = 0;
	i = getpriority(PRIO_PROCESS, 0);
	if (i != 4)
		failf("main thread nice %d, expected 4", i);
	return fail_msg[0] ? -1 : 0;
}

/* ---- a thread computing in user space ---- */

static volatile int spin_stop;
static pthread_t spin_th;
static pid_t spin_tid;
static long spin_bad = -1;

/*
 * Invariants after each iteration n (r12 == n): r13 == n * 0x12345,
 * r14 == -7 * n, r15 == -n, both halves of xmm8 == n, xmm9 == {1, 1}.
 * Returns 0, or the iteration at which one broke.
 */
static long spin_loop(void)
{
	struct timespec ts = { 0, 1000 * 1000 };
	long bad;

	asm volatile(
		"xor %%r12, %%r12\n\t"
		"xor %%r13, %%r13\n\t"
		"xor %%r14, %%r14\n\t"
		"xor %%r15, %%r15\n\t"
		"pxor %%xmm8, %%xmm8\n\t"
		"mov $1, %%eax\n\t"
		"movq %%rax, %%xmm9\n\t"
		"punpcklqdq %%xmm9, %%xmm9\n\t"
		"1:\n\t"
		"inc %%r12\n\t"
		"add $0x12345, %%r13\n\t"
		"sub $7, %%r14\n\t"
		"dec %%r15\n\t"
		"paddq %%xmm9, %%xmm8\n\t"
		"imul $0x12345, %%r12, %%rax\n\t"
		"cmp %%rax, %%r13\n\t"
		"jne 8f\n\t"
		"imul $-7, %%r12, %%rax\n\t"
		"cmp %%rax, %%r14\n\t"
		"jne 8f\n\t"
		"mov %%r15, %%rax\n\t"
		"add %%r12, %%rax\n\t"
		"jnz 8f\n\t"
		"movq %%xmm8, %%rax\n\t"
		"cmp %%rax, %%r12\n\t"
		"jne 8f\n\t"
		"pshufd $0x4e, %%xmm8, %%xmm10\n\t"
		"movq %%xmm10, %%rax\n\t"
		"cmp %%rax, %%r12\n\t"
		"jne 8f\n\t"
		"test $0x7ffff, %%r12\n\t"	/* every 512 Ki iterations: */
		"jnz 1b\n\t"
		"cmpl $0, %[stop]\n\t"
		"jne 9f\n\t"
		"mov $35, %%eax\n\t"		/* nanosleep(&ts, NULL) */
		"mov %[ts], %%rdi\n\t"
		"xor %%esi, %%esi\n\t"
		"syscall\n\t"
		"jmp 1b\n\t"
		"8:\n\t"
		"mov %%r12, %[bad]\n\t"
		"jmp 7f\n\t"
		"9:\n\t"
		"xor %[bad], %[bad]\n\t"
		"7:\n\t"
		: [bad] "=&r"(bad)
		: [stop] "m"(spin_stop), [ts] "r"(&ts)
		: "rax", "rcx", "rdi", "rsi", "r11", "r12", "r13", "r14", "r15",
		  "xmm8", "xmm9", "xmm10", "cc", "memory");
	return bad;
}

static void *spin_main(void *arg)
{
	sigset_t set;

	sigfillset(&set);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	tls_tag = 0x3100;
	spin_tid = syscall(SYS_gettid);
	spin_bad = spin_loop();
	if (!spin_bad && tls_tag != 0x3100)
		spin_bad = -2;
	return arg;
}

static void setup_spin(void)
{
	if (pthread_create(&spin_th, NULL, spin_main, NULL))
		die("pthread_create");
	while (!__atomic_load_n(&spin_tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	man("thread spinner %d\n", spin_tid);
}

static int check_spin(void)
{
	if (!spin_tid)
		return 0;
	spin_stop = 1;
	pthread_join(spin_th, NULL);
	if (spin_bad == -2)
		failf("thread spinner: TLS value changed");
	else if (spin_bad)
		failf("thread spinner: r12-r15/xmm8/xmm9 invariant broken at iteration %ld",
		      spin_bad);
	return fail_msg[0] ? -1 : 0;
}

/* ---- signals ---- */

static void on_usr1(int sig)
{
	got_usr1 = 1;
}

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
}

static void on_winch(int sig)
{
}

/* A debugger-like SIGTRAP handler: injection must not reset it. */
static void on_trap(int sig)
{
}

static stack_t altstack;

static void setup_signals(void)
{
	struct sigaction sa = { .sa_sigaction = on_usr2 };
	sigset_t set;

	sa.sa_flags = SA_RESTART | SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGQUIT);
	if (sigaction(SIGUSR2, &sa, NULL))
		die("sigaction");
	signal(SIGHUP, SIG_IGN);
	altstack.ss_size = 4 * SIGSTKSZ;
	altstack.ss_sp = malloc(altstack.ss_size);
	if (sigaltstack(&altstack, NULL))
		die("sigaltstack");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_winch;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGWINCH, &sa, NULL);
	sa.sa_handler = on_trap;
	sa.sa_flags = 0;
	sigaction(SIGTRAP, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGRTMIN + 2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	kill(getpid(), SIGRTMIN + 1);
	syscall(SYS_tgkill, getpid(), getpid(), SIGRTMIN + 2);
}

static int check_signals(void)
{
	struct sigaction sa;
	sigset_t pend, cur;
	stack_t ss;

	if (sigaction(SIGUSR2, NULL, &sa) || sa.sa_sigaction != on_usr2 ||
	    (sa.sa_flags & (SA_RESTART | SA_SIGINFO)) !=
	    (SA_RESTART | SA_SIGINFO) || !sigismember(&sa.sa_mask, SIGINT) ||
	    !sigismember(&sa.sa_mask, SIGQUIT) ||
	    sigismember(&sa.sa_mask, SIGTERM))
		failf("SIGUSR2 action changed (handler %p flags %x)",
		      (void *)sa.sa_sigaction, sa.sa_flags);
	else if (sigaction(SIGHUP, NULL, &sa) || sa.sa_handler != SIG_IGN)
		failf("SIGHUP is no longer ignored");
	else if (sigaction(SIGWINCH, NULL, &sa) || sa.sa_handler != on_winch ||
		 !(sa.sa_flags & SA_ONSTACK))
		failf("SIGWINCH action changed");
	else if (sigaction(SIGTRAP, NULL, &sa) || sa.sa_handler != on_trap)
		failf("SIGTRAP action changed (handler %p): reset by a ptrace single-step?",
		      (void *)sa.sa_handler);
	if (fail_msg[0])
		return -1;
	if (sigaltstack(NULL, &ss) || ss.ss_sp != altstack.ss_sp ||
	    ss.ss_size != altstack.ss_size)
		failf("sigaltstack changed: %p+%zu", ss.ss_sp, ss.ss_size);
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	if (!sigismember(&cur, SIGRTMIN + 1) || !sigismember(&cur, SIGRTMIN + 2))
		failf("main thread signal mask lost SIGRTMIN+1/+2");
	sigpending(&pend);
	if (!sigismember(&pend, SIGRTMIN + 1))
		failf("process-wide pending SIGRTMIN+1 lost");
	else if (!sigismember(&pend, SIGRTMIN + 2))
		failf("thread pending SIGRTMIN+2 lost");
	return fail_msg[0] ? -1 : 0;
}

/* ---- fds, cwd, limits ---- */

static struct {
	int rw, ro, pipe_r, pipe_w, null, efd;
} fds = { -1, -1, -1, -1, -1, -1 };

static void setup_fds(void)
{
	char *path = mkpath("wl_fdfile");
	uint8_t buf[PIPE_BYTES];
	int p[2];

	close(make_file(path, 3 * LM_PAGE, 0x100d));
	fds.rw = open(path, O_RDWR | O_CLOEXEC);
	fds.ro = open(path, O_RDONLY);
	if (fds.rw < 0 || fds.ro < 0 || lseek(fds.rw, 5000, SEEK_SET) != 5000 ||
	    lseek(fds.ro, 123, SEEK_SET) != 123)
		die(path);
	if (pipe(p))
		die("pipe");
	fds.pipe_r = p[0];
	fds.pipe_w = p[1];
	lm_fill(buf, sizeof(buf), 0x100e);
	if (write(fds.pipe_w, buf, sizeof(buf)) != sizeof(buf))
		die("pipe write");
	fds.null = open("/dev/null", O_WRONLY);
	fds.efd = eventfd(42, EFD_NONBLOCK);
	if (fds.null < 0 || fds.efd < 0)
		die("/dev/null or eventfd");
	man("fd file_rw %d\nfd file_ro %d\nfd pipe_r %d\nfd pipe_w %d\n"
	    "fd devnull %d\nfd eventfd %d\n", fds.rw, fds.ro, fds.pipe_r,
	    fds.pipe_w, fds.null, fds.efd);
}

static int check_file_fds(void)
{
	uint8_t buf[64];

	if (lseek(fds.rw, 0, SEEK_CUR) != 5000 ||
	    lseek(fds.ro, 0, SEEK_CUR) != 123)
		failf("file offsets changed");
	else if ((fcntl(fds.rw, F_GETFL) & O_ACCMODE) != O_RDWR ||
		 (fcntl(fds.ro, F_GETFL) & O_ACCMODE) != O_RDONLY)
		failf("file access modes changed");
	else if (!(fcntl(fds.rw, F_GETFD) & FD_CLOEXEC) ||
		 (fcntl(fds.ro, F_GETFD) & FD_CLOEXEC))
		failf("close-on-exec flags changed");
	else if (read(fds.ro, buf, sizeof(buf)) != sizeof(buf))
		failf("read file_ro: %s", strerror(errno));
	if (!fail_msg[0]) {
		int i;

		for (i = 0; i < 64; i++)
			if (buf[i] != lm_pat(0x100d, 123 + i)) {
				failf("file_ro content at offset %d", 123 + i);
				break;
			}
	}
	return fail_msg[0] ? -1 : 0;
}

static int check_fds(void)
{
	uint8_t buf[PIPE_BYTES + 1];
	struct stat st;
	uint64_t cnt;
	ssize_t n;

	if (fds.rw < 0)
		return 0;
	if (check_file_fds())
		return -1;
	fcntl(fds.pipe_r, F_SETFL, O_NONBLOCK);
	n = read(fds.pipe_r, buf, sizeof(buf));
	if (n != PIPE_BYTES || lm_check(buf, PIPE_BYTES, 0x100e) >= 0)
		failf("pipe held %zd bytes, expected %d of the pattern", n,
		      PIPE_BYTES);
	else if (fstat(fds.null, &st) || !S_ISCHR(st.st_mode) ||
		 st.st_rdev != makedev(1, 3))
		failf("fd %d is not /dev/null", fds.null);
	else if (read(fds.efd, &cnt, 8) != 8 || cnt != 42)
		failf("eventfd count %llu, expected 42",
		      (unsigned long long)cnt);
	else if (!(fcntl(fds.efd, F_GETFL) & O_NONBLOCK))
		failf("eventfd lost O_NONBLOCK");
	return fail_msg[0] ? -1 : 0;
}

static char cwd_want[PATH_MAX];

static void setup_cwd(void)
{
	if (!realpath(dir, cwd_want) || chdir(cwd_want))
		die(dir);
}

static int check_cwd(void)
{
	char cwd[PATH_MAX];

	if (!cwd_want[0])
		return 0;
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, cwd_want))
		failf("cwd is %s, expected %s", cwd, cwd_want);
	return fail_msg[0] ? -1 : 0;
}

static int rlimits_set;

static void setup_rlimits(void)
{
	struct rlimit r;

	getrlimit(RLIMIT_NOFILE, &r);
	r.rlim_cur = 1000;
	if (setrlimit(RLIMIT_NOFILE, &r))
		die("RLIMIT_NOFILE");
	getrlimit(RLIMIT_CORE, &r);
	r.rlim_cur = 12345;
	if (r.rlim_max != RLIM_INFINITY && r.rlim_max < 12345)
		r.rlim_cur = r.rlim_max;
	if (setrlimit(RLIMIT_CORE, &r))
		die("RLIMIT_CORE");
	umask(027);
	rlimits_set = 1;
}

static int check_rlimits(void)
{
	struct rlimit r;
	mode_t m;

	if (!rlimits_set)
		return 0;
	getrlimit(RLIMIT_NOFILE, &r);
	if (r.rlim_cur != 1000)
		failf("RLIMIT_NOFILE soft %llu", (unsigned long long)r.rlim_cur);
	m = umask(0);
	umask(m);
	if (m != 027)
		failf("umask %o, expected 027", m);
	return fail_msg[0] ? -1 : 0;
}

/* ---- main ---- */

static int verify(void)
{
	if ((what & O_CLOCKS) && check_clocks())
		return -1;
	/* before check_threads() ends the threads */
	if ((what & (O_THREADS | O_SCHED)) == (O_THREADS | O_SCHED) &&
	    check_sched())
		return -1;
	if (check_regions() || check_memfd() || check_threads() ||
	    check_spin() ||
	    check_fds() || check_cwd() || check_rlimits())
		return -1;
	if ((what & O_SIGNALS) && check_signals())
		return -1;
	return 0;
}

static void parse(int argc, char **argv)
{
	int i;
	size_t j;

	for (i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "--pages") && i + 1 < argc - 1) {
			npages = strtoul(argv[++i], NULL, 0);
			continue;
		}
		if (!strcmp(argv[i], "--dir") && i + 1 < argc - 1) {
			dir = argv[++i];
			continue;
		}
		for (j = 0; j < sizeof(opts) / sizeof(opts[0]); j++)
			if (!strcmp(argv[i], opts[j].name))
				break;
		if (j == sizeof(opts) / sizeof(opts[0])) {
			fprintf(stderr, "wl_mem: unknown option %s (see the top of wl_mem.c)\n",
				argv[i]);
			exit(2);
		}
		what |= opts[j].bit;
	}
	if (argc < 2 || argv[argc - 1][0] == '-') {
		fprintf(stderr, "usage: wl_mem [OPTIONS] STATEFILE\n");
		exit(2);
	}
	statefile = argv[argc - 1];
	if (npages < 4)
		npages = 4;
	if (!dir) {
		char *d = strdup(statefile), *s = strrchr(d, '/');

		if (s)
			*s = 0;
		dir = s ? (s == d ? "/" : d) : ".";
	}
}

static void setup_memory(void)
{
	if (what & O_ANON)
		setup_anon();
	if (what & O_HEAP)
		setup_heap();
	if (what & O_BSS)
		fill_region("bss", "anon-private", bss_area, sizeof(bss_area),
			    0x100f);
	if (what & O_SHARED)
		setup_shared();
	if (what & O_MEMFD)
		setup_memfd();
	if (what & O_FPRIV)
		setup_fpriv();
	if (what & O_FSHARED)
		setup_fshared();
	if (what & O_TMPFS)
		setup_tmpfs();
	if (what & O_HUGETLB)
		setup_hugetlb();
}

static int run(void)
{
	uint8_t stack_area[8 * LM_PAGE] __attribute__((aligned(4096)));
	struct sigaction sa = { .sa_handler = on_usr1 };
	char result[600];
	sigset_t mask;
	int ok;

	if (what & O_CLOCKS)
		setup_clocks();
	sigaction(SIGUSR1, &sa, NULL);
	if (what & O_STACK)
		fill_region("stack", "anon-private", stack_area,
			    sizeof(stack_area), 0x1010);
	setup_memory();
	if (what & O_FDS)
		setup_fds();
	if (what & O_SIGNALS)
		setup_signals();
	if (what & O_CWD)
		setup_cwd();
	if (what & O_RLIMITS)
		setup_rlimits();
	if (what & O_THREADS)
		setup_threads();
	if ((what & (O_THREADS | O_SCHED)) == (O_THREADS | O_SCHED))
		setup_sched();
	if (what & O_SPIN)
		setup_spin();
	{
		char head[64];
		char *all;

		if (what & O_CLOCKS)
			mark_clocks();
		snprintf(head, sizeof(head), "ready %d\n", getpid());
		if (asprintf(&all, "%s%s", head, manifest) < 0)
			die("asprintf");
		write_atomic(statefile, all);
		free(all);
	}
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	sigdelset(&mask, SIGUSR1);
	while (!got_usr1)
		sigsuspend(&mask);
	ok = !verify();
	snprintf(result, sizeof(result), "%s%s\n", ok ? "ok" : "fail: ",
		 ok ? "" : fail_msg);
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s.result", statefile);
		write_atomic(path, result);
	}
	asm volatile("" : : "r"(stack_area) : "memory");
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	parse(argc, argv);
	return run();
}
