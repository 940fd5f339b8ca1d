/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The workload side of the wl_mem protocol, for the small workloads that
 * check themselves after a restore (restore_mm, restore_vmflags): "ready
 * PID" in STATEFILE, then SIGUSR1 -> STATEFILE.result "ok" or "fail: ...",
 * exit 0 or 1.  Header only: workloads link nothing but lmtest.c.
 */
#ifndef LMTEST_WLPROTO_H
#define LMTEST_WLPROTO_H

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *statefile;
static char fail_msg[512];
static volatile sig_atomic_t got_usr1;

/* Remember the first failure. */
__attribute__((format(printf, 1, 2)))
static inline void failf(const char *fmt, ...)
{
	va_list ap;

	if (fail_msg[0])
		return;
	va_start(ap, fmt);
	vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
	va_end(ap);
}

static inline void write_atomic(const char *path, const char *text)
{
	char tmp[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		exit(2);
	close(fd);
	rename(tmp, path);
}

static inline void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

/*
 * Take STATEFILE from the command line (or exit 2 with a usage line
 * naming @prog) and block SIGUSR1 until wlp_wait_usr1().
 */
static inline void wlp_init(int argc, char **argv, const char *prog)
{
	struct sigaction sa;
	sigset_t mask;

	if (argc != 2) {
		fprintf(stderr, "usage: %s STATEFILE\n", prog);
		exit(2);
	}
	statefile = argv[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
}

/* "ready PID\n" and then @extra in STATEFILE. */
static inline void wlp_ready(const char *extra)
{
	char text[4200];

	snprintf(text, sizeof(text), "ready %d\n%s", getpid(), extra);
	write_atomic(statefile, text);
}

static inline void wlp_wait_usr1(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	while (!got_usr1)
		sigsuspend(&mask);
}

/* Write STATEFILE.result; the exit status: 0 if ok, 1 if not. */
static inline int wlp_result(void)
{
	char text[4200];

	snprintf(text, sizeof(text), "%s%s\n", fail_msg[0] ? "fail: " : "ok",
		 fail_msg);
	snprintf(fail_msg, sizeof(fail_msg), "%s.result", statefile);
	write_atomic(fail_msg, text);
	return text[0] == 'o' ? 0 : 1;
}

#endif
