// SPDX-License-Identifier: GPL-2.0
/*
 * wl_child: small target processes for the dump refusal and freeze tests,
 * exec'd (not forked from the test) so that a sanitized test binary's
 * mappings are never what gets dumped.
 *
 * Usage: wl_child MODE REP_FD CMD_FD [SHM_FD]
 *   Refusal modes set up one thing a dump must refuse, write its fd number
 *   (an int; 0 when it is not an fd, -errno when it cannot be had here) to
 *   REP_FD, then echo every byte read from CMD_FD back to REP_FD until EOF:
 *	tcp unix uffd epoll timerfd signalfd inotify io_uring seccomp guard
 *	tracer (seizes a child of its own) none
 *   Freeze modes write 0 to REP_FD and run forever, counting in the shared
 *   struct wl_child_shm at offset 0 of SHM_FD (MAP_SHARED):
 *	churn	create and join 4 threads in a loop, progress++ per round
 *	busy	progress++ every ms; SIGUSR2 handled (signals++), SA_RESTART
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

struct wl_child_shm {
	volatile unsigned long progress;
	volatile unsigned long signals;
};

static struct wl_child_shm *sh;

static int tcp(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (void *)&a, sizeof(a)) || listen(fd, 1))
		return -errno;
	return fd;
}

static int seccomp_allow_all(void)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { 1, &allow };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return -errno;
	return 0;
}

/* SCHED_DEADLINE: 1 ms of every 100 ms (glibc has no sched_setattr). */
static int deadline(void)
{
	struct {
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t prio;
		uint64_t runtime, deadline, period;
	} a = {
		.size = sizeof(a), .policy = 6 /* SCHED_DEADLINE */,
		.runtime = 1000000, .deadline = 100000000, .period = 100000000,
	};

	return syscall(SYS_sched_setattr, 0, &a, 0) ? -errno : 0;
}

static int guard(void)
{
	char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED || madvise(m + 4096, 4096, MADV_GUARD_INSTALL))
		return -errno;
	return 0;
}

static int tracer(void)
{
	pid_t gc = fork();

	if (gc < 0)
		return -errno;
	if (!gc) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return ptrace(PTRACE_SEIZE, gc, 0, 0) ? -errno : 0;
}

static int thing(const char *mode)
{
	char params[120] = { 0 };
	sigset_t set;
	int fd = -1, sv[2];

	if (!strcmp(mode, "tcp"))
		return tcp();
	if (!strcmp(mode, "unix"))
		fd = socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ? -1 : sv[0];
	else if (!strcmp(mode, "uffd"))
		fd = syscall(SYS_userfaultfd, O_CLOEXEC);
	else if (!strcmp(mode, "epoll"))
		fd = epoll_create1(0);
	else if (!strcmp(mode, "timerfd"))
		fd = timerfd_create(CLOCK_MONOTONIC, 0);
	else if (!strcmp(mode, "signalfd")) {
		sigemptyset(&set);
		sigaddset(&set, SIGUSR2);
		fd = signalfd(-1, &set, 0);
	} else if (!strcmp(mode, "inotify"))
		fd = inotify_init1(0);
	else if (!strcmp(mode, "io_uring"))
		fd = syscall(SYS_io_uring_setup, 4, params);
	else if (!strcmp(mode, "seccomp"))
		return seccomp_allow_all();
	else if (!strcmp(mode, "guard"))
		return guard();
	else if (!strcmp(mode, "tracer"))
		return tracer();
	else if (!strcmp(mode, "deadline"))
		return deadline();
	else if (!strcmp(mode, "none"))
		return 0;
	else
		return -EINVAL;
	return fd < 0 ? -errno : fd;
}

static void *short_life(void *arg)
{
	return arg;
}

static void churn(void)
{
	for (;;) {
		pthread_t t[4];
		int i;

		for (i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, short_life, NULL);
		for (i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		sh->progress++;
	}
}

static void on_usr2(int sig)
{
	sh->signals++;
}

static void busy(void)
{
	struct sigaction sa = { .sa_handler = on_usr2, .sa_flags = SA_RESTART };

	sigaction(SIGUSR2, &sa, NULL);
	for (;;) {
		usleep(1000);
		sh->progress++;
	}
}

int main(int argc, char **argv)
{
	int rep, cmd, fd = 0;
	char c;

	if (argc < 4) {
		fprintf(stderr, "usage: wl_child MODE REP_FD CMD_FD [SHM_FD]\n");
		return 2;
	}
	rep = atoi(argv[2]);
	cmd = atoi(argv[3]);
	if (!strcmp(argv[1], "churn") || !strcmp(argv[1], "busy")) {
		sh = argc > 4 ? mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				     MAP_SHARED, atoi(argv[4]), 0) : MAP_FAILED;
		if (sh == MAP_FAILED)
			return 3;
		if (!strcmp(argv[1], "busy"))
			sigaction(SIGUSR2, &(struct sigaction){
				.sa_handler = on_usr2, .sa_flags = SA_RESTART },
				NULL);
		if (write(rep, &fd, sizeof(fd)) != sizeof(fd))
			return 3;
		if (!strcmp(argv[1], "churn"))
			churn();
		busy();
	}
	fd = thing(argv[1]);
	if (write(rep, &fd, sizeof(fd)) != sizeof(fd))
		return 3;
	while (read(cmd, &c, 1) == 1)
		if (write(rep, &c, 1) != 1)
			return 4;
	return 0;
}
