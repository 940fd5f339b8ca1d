// SPDX-License-Identifier: GPL-2.0
/*
 * tree_wl DIR [events]: a four-process tree for dump --tree / restore and
 * send --tree.
 *
 *	R (root) ---- A ---- G
 *	          \-- B
 *
 * Shared by the tree: a MAP_SHARED|MAP_ANONYMOUS mapping (4 pages), a
 * pipe (R wrote "hello-pipe" into it, G reads it after the restore), a
 * socketpair between R and B (B queued "hello-sock" for R), a regular
 * file opened before the forks (one offset: R set it to 100, B moves it
 * after the restore, R sees it moved).  Private: a 64 KiB buffer filled
 * before the forks (shared copy-on-write at dump time) and one filled by
 * each member after its fork.
 *
 * B leads its own process group, G its own session; A has a second
 * thread, blocked in read() on a pipe of its own, that it wakes and joins.
 *
 * When all four are ready, R writes "R A B G" (PIDs) to DIR/ready.  On
 * SIGUSR1 R wakes A and B (A wakes G) by the PIDs it remembers; each
 * member checks its parent, its memory and its part of the shared state,
 * exits 0 or with the number of the first failed check; each parent
 * wait()s for its children and checks their status.  R writes "ok" or
 * "fail: ..." to DIR/result and exits 0 or 1.
 *
 * With "events" (for a lazy migration, its pages still arriving), every
 * member also fills an 8 MiB private mapping of its own after its fork,
 * and on SIGUSR1, after the checks above: R moves it (mremap, grown to
 * twice the size: the new half must read zeros) and verifies it; A forks
 * a child that verifies A's copy and writes its own, and wait()s for it;
 * B drops the second half (MADV_DONTNEED: must read zeros) and verifies
 * the first; G unmaps the second half and verifies the first.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define BUF	(64 << 10)
#define PG	4096

static volatile sig_atomic_t go;
static char *shared;		/* 4 pages, MAP_SHARED */
static char *mem;		/* 2 pages of a memfd, MAP_SHARED */
static unsigned char *before;	/* filled before the forks */
static unsigned char *mine;	/* filled by each member */
static int pipefd[2], sv[2], filefd;
static pid_t pid_r, pid_a, pid_b, pid_g;
static char dir[3000];
static int events;		/* argv[2] == "events" */
static unsigned char *big;	/* BIG bytes, filled by each member */
#define BIG	(8 << 20)

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static void fill(unsigned char *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 12));
}

static int check(const unsigned char *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed * 131 + i * 7 + (i >> 12)))
			return 0;
	return 1;
}

/* Bytes [from, to) of a buffer filled whole with @seed. */
static int check_from(const unsigned char *p, size_t from, size_t to,
		      unsigned int seed)
{
	size_t i;

	for (i = from; i < to; i++)
		if (p[i] != (unsigned char)(seed * 131 + i * 7 + (i >> 12)))
			return 0;
	return 1;
}

static void wait_go(void)
{
	sigset_t none;

	sigemptyset(&none);
	while (!go)
		sigsuspend(&none);
}

/* Checks common to every member; 0 or the number of the failed one. */
static int check_common(int idx, unsigned int seed)
{
	uint64_t *slots = (uint64_t *)(shared + PG);

	if (!check(before, BUF, 1))
		return 10;	/* COW-shared at dump time */
	if (!check(mine, BUF, seed))
		return 11;
	if (!check((unsigned char *)shared, PG, 2))
		return 12;
	if (slots[idx] != (uint64_t)getpid())
		return 13;
	if (!check((unsigned char *)mem, PG, 3))
		return 14;
	shared[2 * PG + idx] = (char)(0xa0 + idx);	/* seen by R later */
	mem[PG + idx] = (char)(0xb0 + idx);
	return 0;
}

static int zeros(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* The events of member @idx on its big mapping; 0 or the failed check. */
static int big_events(int idx, unsigned int seed)
{
	unsigned char *p;
	pid_t c;
	int st;

	if (!events)
		return 0;
	switch (idx) {
	case 0:			/* R: mremap (moved, grown), every byte */
		p = mremap(big, BIG, 2 * BIG, MREMAP_MAYMOVE);
		if (p == MAP_FAILED)
			return 61;
		big = p;
		if (!zeros(big + BIG, BIG))
			return 62;
		return check(big, BIG, seed) ? 0 : 50;
	case 1:			/* A: fork while pages are pending */
		c = fork();
		if (c < 0)
			return 51;
		if (!c) {
			if (!check(big, BIG, seed))
				_exit(52);
			fill(big, BIG / 4, seed + 50);	/* its own copy now */
			_exit(check(big, BIG / 4, seed + 50) &&
			      check_from(big, BIG / 4, BIG, seed) ? 0 : 53);
		}
		if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
			return 54;
		if (WEXITSTATUS(st))
			return WEXITSTATUS(st);
		return check(big, BIG, seed) ? 0 : 55;	/* A's untouched */
	case 2:			/* B: MADV_DONTNEED on the second half */
		if (madvise(big + BIG / 2, BIG / 2, MADV_DONTNEED))
			return 56;
		if (!zeros(big + BIG / 2, BIG / 2))
			return 57;
		return check(big, BIG / 2, seed) ? 0 : 58;
	case 3:			/* G: munmap of the second half */
		if (munmap(big + BIG / 2, BIG / 2))
			return 59;
		return check(big, BIG / 2, seed) ? 0 : 60;
	}
	return 0;
}

static int child_status(pid_t pid, int *code)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	*code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

static int member_g(void)
{
	char buf[16] = { 0 };
	int r;

	wait_go();
	if (getppid() != pid_a)
		return 20;
	r = check_common(3, 7);
	if (!r)
		r = big_events(3, 7);
	if (r)
		return r;
	if (read(pipefd[0], buf, 10) != 10 || memcmp(buf, "hello-pipe", 10))
		return 21;
	return 0;
}

static int apipe[2];
static pthread_t athread;

static void *a_thread(void *arg)
{
	char c = 0;

	(void)arg;
	if (read(apipe[0], &c, 1) != 1 || c != 'w')
		return (void *)1;
	return (void *)2;
}

static int member_a(void)
{
	void *ret = NULL;
	int r, code;

	wait_go();
	if (write(apipe[1], "w", 1) != 1 || pthread_join(athread, &ret) ||
	    ret != (void *)2)
		return 32;	/* the thread, its syscall, its join */
	if (getppid() != pid_r)
		return 30;
	r = check_common(1, 5);
	if (!r)
		r = big_events(1, 5);
	if (r)
		return r;
	kill(pid_g, SIGUSR1);
	if (child_status(pid_g, &code))
		return 31;	/* wait() for its child failed */
	return code ? code : 0;
}

static int member_b(void)
{
	char buf[16] = { 0 };
	int r;

	wait_go();
	if (getppid() != pid_r)
		return 40;
	r = check_common(2, 6);
	if (!r)
		r = big_events(2, 6);
	if (r)
		return r;
	if (lseek(filefd, 0, SEEK_CUR) != 100)
		return 41;	/* the shared offset */
	if (write(filefd, "B", 1) != 1)
		return 42;
	if (read(sv[1], buf, 5) != 5 || memcmp(buf, "reply", 5))
		return 43;
	return 0;
}

static void result(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void result(const char *fmt, ...)
{
	char path[3100], tmp[3100];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/result", dir);
	snprintf(tmp, sizeof(tmp), "%s/result.tmp", dir);
	f = fopen(tmp, "w");
	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	rename(tmp, path);
}

static int member_r(void)
{
	char buf[16] = { 0 };
	int r, ca, cb, i;

	wait_go();
	r = check_common(0, 4);
	if (!r)
		r = big_events(0, 4);
	if (r) {
		result("fail: R check %d", r);
		return 1;
	}
	kill(pid_a, SIGUSR1);
	kill(pid_b, SIGUSR1);
	if (recv(sv[0], buf, 10, MSG_WAITALL) != 10 ||
	    memcmp(buf, "hello-sock", 10)) {
		result("fail: R did not read the socketpair's queued bytes");
		return 1;
	}
	if (send(sv[0], "reply", 5, 0) != 5) {
		result("fail: R cannot write to the socketpair");
		return 1;
	}
	if (child_status(pid_a, &ca) || child_status(pid_b, &cb)) {
		result("fail: wait() for a child: %s", strerror(errno));
		return 1;
	}
	if (ca || cb) {
		result("fail: A (and G) exit %d, B exit %d", ca, cb);
		return 1;
	}
	for (i = 1; i < 4; i++)
		if ((unsigned char)shared[2 * PG + i] != 0xa0 + i ||
		    (unsigned char)mem[PG + i] != 0xb0 + i) {
			result("fail: member %d's write to the shared anon or memfd mapping is not seen by R",
			       i);
			return 1;
		}
	if (lseek(filefd, 0, SEEK_CUR) != 101) {
		result("fail: file offset %ld after B's write, not 101 (offset not shared)",
		       (long)lseek(filefd, 0, SEEK_CUR));
		return 1;
	}
	result("ok: 4 processes: parents, private and COW memory, shared anon and memfd mappings, pipe, socketpair, shared offset%s",
	       events ? "; mremap, fork, MADV_DONTNEED, munmap" : "");
	return 0;
}

/* Each member tells R it is ready (one byte on @ready). */
static void ready_one(int ready, int idx, unsigned int seed)
{
	uint64_t *slots = (uint64_t *)(shared + PG);
	char c = (char)idx;

	mine = malloc(BUF);
	fill(mine, BUF, seed);
	if (events) {
		big = mmap(NULL, BIG, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (big == MAP_FAILED)
			_exit(95);
		fill(big, BIG, seed);
	}
	slots[idx] = getpid();
	if (write(ready, &c, 1) != 1)
		_exit(99);
}

int main(int argc, char **argv)
{
	char path[3100];
	int ready[2], i;
	struct sigaction sa;
	FILE *f;

	if (argc != 2 && !(argc == 3 && !strcmp(argv[2], "events")))
		return 2;
	events = argc == 3;
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	shared = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	before = malloc(BUF);
	i = memfd_create("tree-memfd", 0);
	if (i < 0 || ftruncate(i, 2 * PG))
		return 3;
	mem = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, i, 0);
	if (shared == MAP_FAILED || mem == MAP_FAILED || !before)
		return 3;
	fill((unsigned char *)mem, PG, 3);
	fill((unsigned char *)shared, PG, 2);
	fill(before, BUF, 1);
	snprintf(path, sizeof(path), "%s/file", dir);
	filefd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (filefd < 0 || pipe(pipefd) || pipe(ready) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 4;
	if (lseek(filefd, 100, SEEK_SET) != 100 ||
	    write(pipefd[1], "hello-pipe", 10) != 10)
		return 5;
	pid_r = getpid();
	pid_a = fork();
	if (pid_a == 0) {
		pid_a = getpid();
		pid_g = fork();
		if (pid_g == 0) {
			if (setsid() < 0)
				_exit(97);
			ready_one(ready[1], 3, 7);
			_exit(member_g());
		}
		if (pipe(apipe) || pthread_create(&athread, NULL, a_thread, NULL))
			_exit(96);
		ready_one(ready[1], 1, 5);
		_exit(member_a());
	}
	pid_b = fork();
	if (pid_b == 0) {
		if (setpgid(0, 0))
			_exit(97);
		ready_one(ready[1], 2, 6);
		if (send(sv[1], "hello-sock", 10, 0) != 10)
			_exit(98);
		_exit(member_b());
	}
	ready_one(ready[1], 0, 4);
	for (i = 0; i < 4; i++) {
		char c;

		if (read(ready[0], &c, 1) != 1)
			return 6;
	}
	/* G's PID went only to A: R learns it from the shared slots. */
	pid_g = (pid_t)((uint64_t *)(shared + PG))[3];
	snprintf(path, sizeof(path), "%s/ready.tmp", dir);
	f = fopen(path, "w");
	if (!f)
		return 7;
	fprintf(f, "%d %d %d %d\n", pid_r, pid_a, pid_b, pid_g);
	fclose(f);
	{
		char final[3100];

		snprintf(final, sizeof(final), "%s/ready", dir);
		if (rename(path, final))
			return 8;
	}
	return member_r();
}
