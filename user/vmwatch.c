// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig dump: did the process change its memory map while smaps was
 * read before the freeze (see vmwatch.h)?
 *
 * One counting perf event per thread on the raw_syscalls sys_enter and
 * sys_exit tracepoints, filtered in the kernel to the syscalls that can
 * change a VMA or its flags (mmap, madvise, mlock, prctl, ioctl for
 * userfaultfd, io_uring_enter, execve, ...), with `inherit` so that
 * threads born meanwhile count too.  Entry and exit both count: a call
 * begun before the watch and ending after it is seen at its exit; one
 * begun inside it and still in the kernel at the freeze, at its entry.
 *
 * The tracepoint IDs come from tracefs; where it is not mounted, a child
 * mounts it in a mount namespace of its own, so nothing is left mounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/perf_event.h>
#include "dump.h"
#include "vmwatch.h"

/*
 * x86_64 syscall numbers: mmap, mprotect, munmap, brk, ioctl (userfaultfd
 * registration), mremap, madvise, shmat, execve, shmdt, mlock, munlock,
 * mlockall, munlockall, prctl, arch_prctl, remap_file_pages, execveat,
 * userfaultfd, mlock2, pkey_mprotect, io_uring_enter, process_madvise,
 * memfd_secret, map_shadow_stack, mseal.
 *
 * Limitation: i386 calls made through int 0x80 by a 64-bit process are
 * not told apart (the tracepoint carries the number only, and i386's
 * numbers are common x86_64 ones: 219, i386 madvise, is x86_64's
 * restart_syscall, which the freeze itself causes); such a process that
 * changed a VMA's flags that way in the moment before the freeze would
 * be dumped with the flags it had just before.
 */
static const int watched[] = {
	9, 10, 11, 12, 16, 25, 28, 30, 59, 67, 149, 150, 151, 152, 157, 158,
	216, 322, 323, 325, 329, 426, 440, 447, 453, 462,
};

static const char *const tracefs_dirs[] = {
	"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
};

static int read_ids_in(const char *dir, int ids[2])
{
	static const char *const ev[2] = { "sys_enter", "sys_exit" };
	char path[128], *t;
	int i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/events/raw_syscalls/%s/id",
			 dir, ev[i]);
		t = lm_dump_slurp(path, NULL);
		ids[i] = t ? atoi(t) : 0;
		free(t);
		if (ids[i] <= 0)
			return -1;
	}
	return 0;
}

/* Mount tracefs privately in a child, only to read the two IDs. */
static int read_ids_mounted(int ids[2])
{
	int pfd[2], st, got[2];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (!pid) {
		close(pfd[0]);
		if (unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("tracefs", tracefs_dirs[0], "tracefs", 0, NULL) ||
		    read_ids_in(tracefs_dirs[0], got) ||
		    write(pfd[1], got, sizeof(got)) != sizeof(got))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	st = read(pfd[0], got, sizeof(got)) == sizeof(got);
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	if (!st)
		return -1;
	ids[0] = got[0];
	ids[1] = got[1];
	return 0;
}

static int tracepoint_ids(int ids[2])
{
	static int cached[2], state;	/* 0 unknown, 1 found, -1 none */
	size_t i;

	if (!state) {
		state = -1;
		for (i = 0; i < sizeof(tracefs_dirs) / sizeof(tracefs_dirs[0]); i++)
			if (!read_ids_in(tracefs_dirs[i], cached)) {
				state = 1;
				break;
			}
		if (state < 0 && !read_ids_mounted(cached))
			state = 1;
	}
	if (state < 0)
		return -1;
	ids[0] = cached[0];
	ids[1] = cached[1];
	return 0;
}

static const char *filter(void)
{
	static char f[1024];
	size_t i, n = 0;

	if (f[0])
		return f;
	for (i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
		n += snprintf(f + n, sizeof(f) - n, "%sid == %d",
			      i ? " || " : "", watched[i]);
	return f;
}

static int watch_one(struct lm_vmwatch *w, pid_t tid, int id)
{
	struct perf_event_attr a;
	int fd, *n;

	if (w->nr == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 16;
		n = realloc(w->fds, w->cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		w->fds = n;
	}
	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_TRACEPOINT;
	a.size = sizeof(a);
	a.config = id;
	a.inherit = 1;
	fd = syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, PERF_EVENT_IOC_SET_FILTER, filter())) {
		close(fd);
		return -errno;
	}
	w->fds[w->nr++] = fd;
	return 0;
}

static int watched_tid(const struct lm_vmwatch *w, pid_t tid)
{
	unsigned int i;

	for (i = 0; i < w->nr_tids; i++)
		if (w->tids[i] == tid)
			return 1;
	return 0;
}

/* Watch every thread not yet watched; the number added, or -errno. */
static int watch_pass(struct lm_vmwatch *w, pid_t pid, const int ids[2])
{
	char path[64];
	struct dirent *e;
	int added = 0, err = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while (!err && (e = readdir(dir))) {
		pid_t tid = atoi(e->d_name), *t;

		if (tid <= 0 || watched_tid(w, tid))
			continue;
		t = realloc(w->tids, (w->nr_tids + 1) * sizeof(*t));
		if (!t) {
			err = -ENOMEM;
			break;
		}
		w->tids = t;
		err = watch_one(w, tid, ids[0]);
		if (!err)
			err = watch_one(w, tid, ids[1]);
		if (err == -ESRCH) {	/* it exited: nothing to watch */
			err = 0;
			continue;
		}
		w->tids[w->nr_tids++] = tid;
		added++;
	}
	closedir(dir);
	return err ? err : added;
}

int lm_vmwatch_start(struct lm_vmwatch *w, pid_t pid)
{
	int ids[2], r, passes = 0;

	memset(w, 0, sizeof(*w));
	if (tracepoint_ids(ids))
		return -ENOENT;
	do {
		r = watch_pass(w, pid, ids);
	} while (r > 0 && ++passes < 100);
	if (r) {
		lm_vmwatch_stop(w);
		return r < 0 ? r : -EAGAIN;
	}
	/*
	 * What counts is what comes from here on, while smaps is read:
	 * a call in flight now shows at its exit.
	 */
	w->base = calloc(w->nr, sizeof(*w->base));
	if (!w->base) {
		lm_vmwatch_stop(w);
		return -ENOMEM;
	}
	for (r = 0; r < (int)w->nr; r++)
		if (read(w->fds[r], &w->base[r], sizeof(w->base[r])) !=
		    sizeof(w->base[r])) {
			lm_vmwatch_stop(w);
			return -EIO;
		}
	w->on = 1;
	return 0;
}

int lm_vmwatch_quiet(const struct lm_vmwatch *w)
{
	unsigned int i;

	if (!w->on)
		return 0;
	for (i = 0; i < w->nr; i++) {
		__u64 v = ~0ULL;

		if (read(w->fds[i], &v, sizeof(v)) != sizeof(v) ||
		    v != w->base[i])
			return 0;
	}
	return 1;
}

struct closer {
	int *fds;
	unsigned int nr;
};

static void *close_all(void *arg)
{
	struct closer *c = arg;
	unsigned int i;

	for (i = 0; i < c->nr; i++)
		close(c->fds[i]);
	free(c->fds);
	free(c);
	return NULL;
}

/*
 * Closing the last event on a tracepoint unregisters it, which waits for
 * an RCU grace period: tens of ms, which must not be spent in the
 * freeze.  A thread of ours closes them (the release runs in the thread
 * that closes); where none can be started, this one does.
 */
void lm_vmwatch_stop(struct lm_vmwatch *w)
{
	struct closer *c = malloc(sizeof(*c));
	pthread_attr_t a;
	pthread_t th;

	if (c && w->nr) {
		c->fds = w->fds;
		c->nr = w->nr;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &a, close_all, c))
			close_all(c);
		pthread_attr_destroy(&a);
	} else {
		unsigned int i;

		for (i = 0; i < w->nr; i++)
			close(w->fds[i]);
		free(w->fds);
		free(c);
	}
	free(w->tids);
	free(w->base);
	memset(w, 0, sizeof(*w));
}
