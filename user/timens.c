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

/* Our own time namespace's offsets (ns), read once, before any unshare. */
static int own_offsets(long long *mono, long long *boot)
{
	static int done, ok;
	static long long m, b;
	struct stat a, c;
	char line[128];
	FILE *f;

	if (done)
		goto out;
	done = 1;
	/* timens_offsets shows time_for_children: it must be our own */
	if (stat("/proc/self/ns/time", &a) ||
	    stat("/proc/self/ns/time_for_children", &c) ||
	    a.st_ino != c.st_ino)
		goto out;
	f = fopen("/proc/self/timens_offsets", "r");
	if (!f)
		goto out;
	while (fgets(line, sizeof(line), f)) {
		char name[32];
		long long sec;
		long nsec;

		if (sscanf(line, "%31s %lld %ld", name, &sec, &nsec) != 3)
			continue;
		if (!strcmp(name, "monotonic"))
			m = sec * 1000000000LL + nsec;
		else if (!strcmp(name, "boottime"))
			b = sec * 1000000000LL + nsec;
	}
	fclose(f);
	ok = 1;
out:
	*mono = m;
	*boot = b;
	return ok ? 0 : -1;
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

void rst_enter_timens(const struct lm_image *img)
{
	long long own_mono, own_boot;
	char buf[160] = "";
	int fd, err = 0;
	ssize_t n;

	if (img->proc.clock_mono_ns <= 0 || img->proc.clock_boot_ns <= 0)
		return;		/* not recorded */
	if (own_offsets(&own_mono, &own_boot)) {
		rst_err("warning: cannot read this restorer's time namespace offsets; CLOCK_MONOTONIC and CLOCK_BOOTTIME of the restored process follow this machine's");
		return;
	}
	if (unshare(CLONE_NEWTIME)) {
		rst_err("warning: no time namespace (%s); CLOCK_MONOTONIC and CLOCK_BOOTTIME of the restored process follow this machine's",
			strerror(errno));
		return;
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
	if (err)
		rst_err("warning: cannot set the time namespace offsets (%s); CLOCK_MONOTONIC and CLOCK_BOOTTIME of the restored process follow this machine's",
			strerror(err));
}
