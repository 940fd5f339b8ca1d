// SPDX-License-Identifier: GPL-2.0
/*
 * Clocks across machines: CLOCK_MONOTONIC and CLOCK_BOOTTIME count from
 * each machine's boot, so a process moved to another machine would see
 * them jump (backwards, often).  The restorer starts the stub in a new
 * time namespace whose offsets make both clocks go on from the values
 * the process read at the freeze: the migration's downtime is not seen
 * by them, as if the process had been stopped (CLOCK_REALTIME is the
 * machines' business: keep them in sync).
 *
 * Offsets are relative to the host's clocks, not to the restorer's own
 * time namespace, and a namespace takes offsets only before its first
 * process enters it: unshare(CLONE_NEWTIME) (for the children of this
 * thread), write /proc/self/timens_offsets, then clone3 the stub.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "restore_priv.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static long long now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Our own time namespace's offsets (ns); -1 if they cannot be told. */
static int own_offsets(long long *mono, long long *boot)
{
	struct stat a, c;
	char line[128];
	FILE *f;

	*mono = *boot = 0;
	/* timens_offsets shows time_for_children: it must be our own */
	if (stat("/proc/self/ns/time", &a) ||
	    stat("/proc/self/ns/time_for_children", &c) ||
	    a.st_ino != c.st_ino)
		return -1;
	f = fopen("/proc/self/timens_offsets", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char name[32];
		long long sec;
		long nsec;

		if (sscanf(line, "%31s %lld %ld", name, &sec, &nsec) != 3)
			continue;
		if (!strcmp(name, "monotonic"))
			*mono = sec * 1000000000LL + nsec;
		else if (!strcmp(name, "boottime"))
			*boot = sec * 1000000000LL + nsec;
	}
	fclose(f);
	return 0;
}

static int threads(void)
{
	char line[128];
	int n = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

static void put_offset(char *buf, size_t len, const char *clock,
		       long long off)
{
	long long sec = off / 1000000000LL, nsec = off % 1000000000LL;

	if (nsec < 0) {
		nsec += 1000000000LL;
		sec--;
	}
	snprintf(buf + strlen(buf), len - strlen(buf), "%s %lld %lld\n",
		 clock, sec, nsec);
}

static const char follow[] =
	"; CLOCK_MONOTONIC and CLOCK_BOOTTIME of the restored process follow this machine's";

int rst_enter_timens(const struct lm_image *img)
{
	long long own_mono, own_boot;
	char buf[160] = "";
	int fd, own, err = 0;
	ssize_t n;

	if (img->proc.clock_mono_ns <= 0 || img->proc.clock_boot_ns <= 0)
		return -1;	/* not recorded */
	/*
	 * Until rst_leave_timens(), this thread cannot create threads
	 * (6.1 refuses CLONE_VM while time_for_children differs: EINVAL), and
	 * only a single-threaded process may go back with setns().
	 */
	if (threads() != 1) {
		rst_err("warning: the restorer runs %d threads and cannot enter a time namespace%s",
			threads(), follow);
		return -1;
	}
	if (own_offsets(&own_mono, &own_boot)) {
		rst_err("warning: cannot read this restorer's time namespace offsets%s",
			follow);
		return -1;
	}
	own = open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC);
	if (own < 0 || unshare(CLONE_NEWTIME)) {
		rst_err("warning: no time namespace (%s)%s", strerror(errno),
			follow);
		if (own >= 0)
			close(own);
		return -1;
	}
	put_offset(buf, sizeof(buf), "monotonic", img->proc.clock_mono_ns -
		   (now_ns(CLOCK_MONOTONIC) - own_mono));
	put_offset(buf, sizeof(buf), "boottime", img->proc.clock_boot_ns -
		   (now_ns(CLOCK_BOOTTIME) - own_boot));
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
	} else {
		n = write(fd, buf, strlen(buf));
		if (n != (ssize_t)strlen(buf))
			err = n < 0 ? errno : EIO;
		close(fd);
	}
	if (err) {
		rst_err("warning: cannot set the time namespace offsets (%s)%s",
			strerror(err), follow);
		rst_leave_timens(own);
		return -1;
	}
	return own;
}

void rst_leave_timens(int own)
{
	if (own < 0)
		return;
	if (setns(own, CLONE_NEWTIME))
		rst_err("warning: cannot go back to the restorer's time namespace: %s",
			strerror(errno));
	close(own);
}
