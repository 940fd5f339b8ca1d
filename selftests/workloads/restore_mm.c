// SPDX-License-Identifier: GPL-2.0
/*
 * restore_mm: the per-process state a restore must give back beyond the
 * page data, each checked from inside the restored process:
 *  - the brk heap: content, sbrk(0), and that it still grows and shrinks;
 *  - the PR_SET_MM_MAP fields as /proc/self/stat shows them (code, data,
 *    brk, stack, arg and env bounds), /proc/self/exe, cmdline, environ and
 *    auxv, byte for byte;
 *  - vdso/vvar: clock_gettime/gettimeofday/time/getcpu work through the
 *    vdso, CLOCK_MONOTONIC did not go back, and the [vdso] mapping sits at
 *    AT_SYSINFO_EHDR;
 *  - the thread's clear_child_tid and robust list, comm, umask, and the
 *    signal mask sigsuspend() puts back when it returns.
 *
 * Usage: restore_mm STATEFILE.  Same protocol as wl_mem: "ready PID" in
 * STATEFILE, then SIGUSR1 -> STATEFILE.result "ok" or "fail: ...", exit
 * 0 or 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include "lmtest.h"
#include "wlproto.h"

#define HEAP_LEN	(64 * 1024)
#define NR_STAT		11
#define COMM		"lm-restore-mm"

/* /proc/PID/stat fields (1-based) that PR_SET_MM_MAP restores. */
static const int stat_fields[NR_STAT] = { 26, 27, 28, 45, 46, 47, 48, 49,
					  50, 51, 52 };

struct snap {
	unsigned long long stat[NR_STAT];
	char exe[4096];
	char *cmdline, *environ, *auxv;
	size_t cmdline_len, environ_len, auxv_len;
	void *brk;
	long tid_addr;
	void *robust;
	size_t robust_len;
	struct timespec mono;
};

static struct snap before;
static char *heap;

static char *slurp(const char *path, size_t *len)
{
	char *buf = malloc(65536);
	size_t n = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((r = read(fd, buf + n, 65535 - n)) > 0)
		n += r;
	close(fd);
	buf[n] = 0;
	*len = n;
	return buf;
}

static int read_stat(unsigned long long *out)
{
	size_t len;
	char *s = slurp("/proc/self/stat", &len), *p, *save;
	int field = 3, k = 0;

	if (!s)
		return -1;
	p = strrchr(s, ')');
	if (!p) {
		free(s);
		return -1;
	}
	for (p = strtok_r(p + 2, " ", &save); p && k < NR_STAT;
	     p = strtok_r(NULL, " ", &save), field++)
		if (field == stat_fields[k])
			out[k++] = strtoull(p, NULL, 10);
	free(s);
	return k == NR_STAT ? 0 : -1;
}

static void take(struct snap *s)
{
	ssize_t n;

	read_stat(s->stat);
	n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
	s->exe[n < 0 ? 0 : n] = 0;
	s->cmdline = slurp("/proc/self/cmdline", &s->cmdline_len);
	s->environ = slurp("/proc/self/environ", &s->environ_len);
	s->auxv = slurp("/proc/self/auxv", &s->auxv_len);
	s->brk = sbrk(0);
	prctl(PR_GET_TID_ADDRESS, &s->tid_addr, 0, 0, 0);
	syscall(SYS_get_robust_list, 0, &s->robust, &s->robust_len);
	clock_gettime(CLOCK_MONOTONIC, &s->mono);
}

static void same_blob(const char *what, const char *a, size_t al,
		      const char *b, size_t bl)
{
	if (!a || !b || al != bl || memcmp(a, b, al))
		failf("/proc/self/%s differs after restore (%zu vs %zu bytes)",
		      what, al, bl);
}

static void check_snap(void)
{
	static const char *const names[NR_STAT] = {
		"start_code", "end_code", "start_stack", "start_data",
		"end_data", "start_brk", "arg_start", "arg_end", "env_start",
		"env_end", "exit_code"
	};
	struct snap now;
	int k;

	memset(&now, 0, sizeof(now));
	take(&now);
	for (k = 0; k < NR_STAT - 1; k++)
		if (now.stat[k] != before.stat[k])
			failf("%s is %#llx, was %#llx", names[k], now.stat[k],
			      before.stat[k]);
	if (strcmp(now.exe, before.exe))
		failf("exe is %s, was %s", now.exe, before.exe);
	same_blob("cmdline", now.cmdline, now.cmdline_len, before.cmdline,
		  before.cmdline_len);
	same_blob("environ", now.environ, now.environ_len, before.environ,
		  before.environ_len);
	same_blob("auxv", now.auxv, now.auxv_len, before.auxv, before.auxv_len);
	if (now.tid_addr != before.tid_addr)
		failf("clear_child_tid is %#lx, was %#lx", now.tid_addr,
		      before.tid_addr);
	if (now.robust != before.robust || now.robust_len != before.robust_len)
		failf("robust list is %p/%zu, was %p/%zu", now.robust,
		      now.robust_len, before.robust, before.robust_len);
}

static void check_heap(void)
{
	long off = lm_check(heap, HEAP_LEN, 0x4ea9);
	char *more;

	if (off >= 0) {
		failf("brk heap differs at +%#lx", off);
		return;
	}
	more = sbrk(HEAP_LEN);
	if (more == (void *)-1) {
		failf("sbrk(+%d) after restore: %s", HEAP_LEN, strerror(errno));
		return;
	}
	if (more != before.brk)
		failf("the heap grew at %p, brk was %p", more, before.brk);
	if (lm_check_zero(more, HEAP_LEN) >= 0)
		failf("new heap memory is not zero");
	lm_fill(more, HEAP_LEN, 77);
	if (lm_check(more, HEAP_LEN, 77) >= 0)
		failf("new heap memory does not keep data");
	if (sbrk(-HEAP_LEN) == (void *)-1 || sbrk(0) != before.brk)
		failf("the heap does not shrink back to %p", before.brk);
}

static void check_vdso(void)
{
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR), s, e;
	struct timespec mono, real;
	struct timeval tv;
	char line[512];
	unsigned int cpu = ~0U;
	int found = 0;
	FILE *f;

	if (clock_gettime(CLOCK_MONOTONIC, &mono) ||
	    clock_gettime(CLOCK_REALTIME, &real) || gettimeofday(&tv, NULL)) {
		failf("clock_gettime/gettimeofday after restore: %s",
		      strerror(errno));
		return;
	}
	if (mono.tv_sec < before.mono.tv_sec ||
	    (mono.tv_sec == before.mono.tv_sec &&
	     mono.tv_nsec < before.mono.tv_nsec))
		failf("CLOCK_MONOTONIC went back: %ld.%09ld < %ld.%09ld",
		      (long)mono.tv_sec, mono.tv_nsec,
		      (long)before.mono.tv_sec, before.mono.tv_nsec);
	if (labs((long)(time(NULL) - real.tv_sec)) > 2 ||
	    labs((long)(tv.tv_sec - real.tv_sec)) > 2)
		failf("time()/gettimeofday/CLOCK_REALTIME disagree");
	if (syscall(SYS_getcpu, &cpu, NULL, NULL) || getcpu(&cpu, NULL) ||
	    cpu == ~0U)
		failf("getcpu after restore failed");
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "[vdso]") &&
		    sscanf(line, "%lx-%lx", &s, &e) == 2 && s == ehdr)
			found = 1;
	if (f)
		fclose(f);
	if (!found)
		failf("[vdso] is not at AT_SYSINFO_EHDR %#lx", ehdr);
}

static void check_misc(void)
{
	char comm[32] = "";
	size_t len;
	char *c = slurp("/proc/self/comm", &len);
	mode_t m = umask(0);

	if (c) {
		snprintf(comm, sizeof(comm), "%s", c);
		comm[strcspn(comm, "\n")] = 0;
		free(c);
	}
	if (strcmp(comm, COMM))
		failf("comm is '%s', was '%s'", comm, COMM);
	if (m != 0035)
		failf("umask is %03o, was 035", m);
	umask(m);
}

int main(int argc, char **argv)
{
	sigset_t mask;

	wlp_init(argc, argv, "restore_mm");
	prctl(PR_SET_NAME, COMM, 0, 0, 0);
	umask(0035);
	heap = sbrk(HEAP_LEN);
	if (heap == (void *)-1)
		return 2;
	lm_fill(heap, HEAP_LEN, 0x4ea9);
	take(&before);
	wlp_ready("");
	wlp_wait_usr1();
	/*
	 * sigsuspend() was dumped with its temporary (empty) mask in place:
	 * when it returns, the mask it saved (SIGUSR1 blocked) is back.
	 */
	sigprocmask(SIG_BLOCK, NULL, &mask);
	if (!sigismember(&mask, SIGUSR1))
		failf("SIGUSR1 not blocked after sigsuspend: its saved mask was lost");
	/* First, before any malloc() can move it. */
	if (sbrk(0) != before.brk)
		failf("sbrk(0) is %p, was %p", sbrk(0), before.brk);
	check_heap();
	check_vdso();
	check_snap();
	check_misc();
	return wlp_result();
}
