// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig faultlat in the VM (kernel with BTF and fentry or kprobes):
 * the BPF programs load and attach to handle_userfault in each attach
 * mode (tp_btf only on the patched kernel's trace events), and a
 * userfaultfd workload run under `lazymig faultlat -p PID --pin DIR` is
 * counted exactly: N missing faults give a blocked-time
 * histogram of N, N/2 UFFDIO_COPY and N/2 UFFDIO_ZEROPAGE calls, and the
 * FORK, REMOVE, REMAP and UNMAP events the handler thread read (one fork,
 * one madvise, one mremap, one munmap).  The figures are read from the
 * pinned maps while faultlat runs, then from its printed report.
 *
 * Slack: a fault is counted once each time handle_userfault() runs.  It
 * runs again for the same page only if the faulting thread is woken before
 * the page is in (a signal, or a wake-up of a racing range); this workload
 * has neither, so the count must be N, with FAULT_SLACK allowed above it.
 *
 * lazy_migration does the same during a real lazy migration over
 * loopback: the restored lazy_wl's faults, served by `lazymig receive`.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/types.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "wl.h"
#include "lmtest.h"
#include "../../bpf/faultlat.h"

#define NPAGES		64
#define FAULT_SLACK	2
#define START_TIMEOUT_MS 180000	/* loading BPF under TCG takes seconds */

/* ---- running `lazymig faultlat` ---- */

struct fl_run {
	pid_t pid;
	int out;		/* its stdout+stderr */
	char buf[65536];
	size_t len;
};

/* Read what is there (up to @ms); returns 0 at EOF, 1 otherwise. */
static int fl_read(struct fl_run *r, int ms)
{
	struct pollfd pfd = { .fd = r->out, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, ms) <= 0)
		return 1;
	if (r->len >= sizeof(r->buf) - 1)
		r->len = 0;	/* keep the tail: the report matters */
	n = read(r->out, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
	if (n <= 0)
		return 0;
	r->len += n;
	r->buf[r->len] = '\0';
	return 1;
}

/* Start faultlat with @args (NULL-terminated); wait for "Tracing". */
static int fl_start(struct fl_run *r, const char *const *args)
{
	char lm[PATH_MAX];
	const char *argv[16];
	int p[2], waited;

	lm_lazymig_argv(argv, ARRAY_SIZE(argv), lm, sizeof(lm), "faultlat",
			args);
	memset(r, 0, sizeof(*r));
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	r->pid = fork();
	if (r->pid < 0)
		return -errno;
	if (r->pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(p[1]);
	r->out = p[0];
	for (waited = 0; waited < START_TIMEOUT_MS; waited += 100) {
		if (!fl_read(r, 100))
			return -EIO;	/* exited before tracing */
		if (strstr(r->buf, "Hit Ctrl-C to end."))
			return 0;
	}
	return -ETIMEDOUT;
}

/* SIGINT (unless it already exits), collect the rest; returns wait status. */
static int fl_stop(struct fl_run *r, int sig)
{
	int st = -1, i;

	if (r->pid <= 0)
		return -1;
	if (sig)
		kill(r->pid, sig);
	for (i = 0; i < 1200 && fl_read(r, 100); i++)
		;
	if (waitpid(r->pid, &st, 0) != r->pid)
		st = -1;
	r->pid = 0;
	close(r->out);
	return st;
}

/* ---- reading the pinned maps with bare bpf(2) ---- */

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int obj_get(const char *path)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.pathname = (__u64)(unsigned long)path;
	return (int)sys_bpf(BPF_OBJ_GET, &a);
}

static int map_lookup(int fd, const void *key, void *val)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (__u64)(unsigned long)key;
	a.value = (__u64)(unsigned long)val;
	return (int)sys_bpf(BPF_MAP_LOOKUP_ELEM, &a);
}

static __u64 pinned_count(const char *dir, enum fl_event ev, __u32 tgid)
{
	struct fl_event_key k = { .tgid = tgid, .event = ev };
	struct fl_event_val v;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/uffd_events", dir);
	fd = obj_get(path);
	if (fd < 0)
		return (__u64)-1;
	if (map_lookup(fd, &k, &v))
		v.count = 0;
	close(fd);
	return v.count;
}

/* Sum of @ev over every process but @skip. */
static __u64 pinned_count_others(const char *dir, enum fl_event ev, __u32 skip)
{
	struct fl_event_key k, next;
	struct fl_event_val v;
	union bpf_attr a;
	char path[256];
	__u64 sum = 0;
	int fd, first = 1;

	snprintf(path, sizeof(path), "%s/uffd_events", dir);
	fd = obj_get(path);
	if (fd < 0)
		return (__u64)-1;
	for (;;) {
		memset(&a, 0, sizeof(a));
		a.map_fd = fd;
		a.key = first ? 0 : (__u64)(unsigned long)&k;
		a.next_key = (__u64)(unsigned long)&next;
		if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &a))
			break;
		first = 0;
		k = next;
		if (next.event == ev && next.tgid != skip &&
		    !map_lookup(fd, &next, &v))
			sum += v.count;
	}
	close(fd);
	return sum;
}

static __u64 pinned_hist_count(const char *dir, enum fl_lat lat, __u32 tgid)
{
	struct fl_hist_key k = { .tgid = tgid, .lat = lat };
	struct fl_hist v;
	char path[256];
	__u64 sum = 0;
	int fd, i;

	snprintf(path, sizeof(path), "%s/lat_hist", dir);
	fd = obj_get(path);
	if (fd < 0)
		return (__u64)-1;
	if (map_lookup(fd, &k, &v)) {
		close(fd);
		return 0;
	}
	close(fd);
	for (i = 0; i < FL_MAX_SLOTS; i++)
		sum += v.slots[i];
	/* the slots must add up to the count */
	return sum == v.count ? sum : (__u64)-2;
}

/* ---- the workload: a userfaultfd served from a thread ---- */

struct server {
	int uffd;
	char *src, *base;
	volatile int stop;
	int faults, copies, zeros, forks, remaps, removes, unmaps, errors;
};

static void serve_fault(struct server *s, const struct uffd_msg *m)
{
	unsigned long off = (m->arg.pagefault.address - (unsigned long)s->base) &
			    ~(LM_PAGE - 1);

	s->faults++;
	if (off / LM_PAGE < NPAGES / 2) {
		struct uffdio_copy c = {
			.dst = (unsigned long)s->base + off,
			.src = (unsigned long)s->src + off, .len = LM_PAGE,
		};

		if (ioctl(s->uffd, UFFDIO_COPY, &c))
			s->errors++;
		s->copies++;
	} else {
		struct uffdio_zeropage z = {
			.range = { (unsigned long)s->base + off, LM_PAGE },
		};

		if (ioctl(s->uffd, UFFDIO_ZEROPAGE, &z))
			s->errors++;
		s->zeros++;
	}
}

static void *serve(void *arg)
{
	struct server *s = arg;
	struct pollfd pfd = { .fd = s->uffd, .events = POLLIN };
	struct uffd_msg m;

	while (!s->stop) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if (read(s->uffd, &m, sizeof(m)) != sizeof(m))
			continue;
		switch (m.event) {
		case UFFD_EVENT_PAGEFAULT:
			serve_fault(s, &m);
			break;
		case UFFD_EVENT_FORK:
			close((int)m.arg.fork.ufd);
			s->forks++;
			break;
		case UFFD_EVENT_REMAP:
			s->remaps++;
			break;
		case UFFD_EVENT_REMOVE:
			s->removes++;
			break;
		case UFFD_EVENT_UNMAP:
			s->unmaps++;
			break;
		}
	}
	return NULL;
}

/* ---- tests ---- */

FIXTURE(faultlat) {
	struct fl_run run;
	char pin[128];
};

FIXTURE_VARIANT(faultlat) {
	const char *mode;
	const char *banner;	/* what faultlat prints once attached */
	int trace_events;	/* needs the patched kernel's trace events */
};

FIXTURE_VARIANT_ADD(faultlat, tp_btf) {
	.mode = "tp_btf", .banner = "tp_btf on userfaultfd:",
	.trace_events = 1,
};

FIXTURE_VARIANT_ADD(faultlat, fentry) {
	.mode = "fentry", .banner = "fentry/fexit on fault=handle_userfault",
};

FIXTURE_VARIANT_ADD(faultlat, kprobe) {
	.mode = "kprobe", .banner = "kprobe/kretprobe on fault=handle_userfault",
};

static int has_uffd_trace_events(void)
{
	return !access("/sys/kernel/tracing/events/userfaultfd", F_OK) ||
	       !access("/sys/kernel/debug/tracing/events/userfaultfd", F_OK);
}

FIXTURE_SETUP(faultlat)
{
	if (geteuid())
		SKIP(return, "needs root to load BPF programs");
	if (variant->trace_events && !has_uffd_trace_events())
		SKIP(return, "no events/userfaultfd in tracefs: the trace events "
		     "come with the patched kernel (qemu-test/run --kernel patched)");
	self->run.pid = 0;
	snprintf(self->pin, sizeof(self->pin), "/sys/fs/bpf/lazymig-faultlat-%d",
		 getpid());
}

FIXTURE_TEARDOWN(faultlat)
{
	char path[256];

	if (self->run.pid > 0)
		fl_stop(&self->run, SIGKILL);
	snprintf(path, sizeof(path), "%s/lat_hist", self->pin);
	unlink(path);
	snprintf(path, sizeof(path), "%s/uffd_events", self->pin);
	unlink(path);
	rmdir(self->pin);
}

/* Foundation: the programs load and attach to handle_userfault. */
TEST_F_TIMEOUT(faultlat, attach, 300)
{
	const char *args[] = { "--mode", variant->mode, "-d", "1", NULL };
	int st;

	if (_metadata->skip)
		return;	/* the 6.1 harness runs the body after a setup SKIP */
	ASSERT_EQ(0, fl_start(&self->run, args))
		TH_LOG("faultlat did not start: %s", self->run.buf);
	st = fl_stop(&self->run, 0);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("faultlat -d 1 ended with status 0x%x: %s", st, self->run.buf);
	EXPECT_NE(NULL, strstr(self->run.buf, variant->banner))
		TH_LOG("no '%s' in: %s", variant->banner, self->run.buf);
	EXPECT_EQ(NULL, strstr(self->run.buf, "(absent)"))
		TH_LOG("a function is missing: %s", self->run.buf);
}

static void run_bpftool_dump(struct __test_metadata *_metadata, const char *pin)
{
	char cmd[512], line[512];
	int seen = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "bpftool map dump pinned %s/lat_hist 2>&1", pin);
	f = popen(cmd, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "FL_LAT_BLOCKED"))
			seen = 1;
	if (pclose(f) == 127 << 8) {
		TH_LOG("bpftool not on PATH: BTF-typed dump not checked");
		return;
	}
	EXPECT_TRUE(seen) TH_LOG("bpftool dump of %s/lat_hist shows no "
				 "FL_LAT_BLOCKED key: values not BTF-typed?", pin);
}

TEST_F_TIMEOUT(faultlat, workload, 600)
{
	char pidstr[16], want[64], *moved;
	const char *args[] = { "--mode", variant->mode, "-p", pidstr,
			       "--pin", self->pin, NULL };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	uint64_t feat = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |
			UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP;
	struct server s = { 0 };
	size_t len = NPAGES * LM_PAGE;
	__u32 me = getpid();
	pthread_t th;
	__u64 n;
	pid_t child;
	int i, st;

	if (_metadata->skip)
		return;
	s.uffd = lm_uffd_api(feat, NULL);
	if (s.uffd < 0)
		SKIP(return, "no userfaultfd with FORK/REMAP/REMOVE/UNMAP events (%s)",
		     strerror(-s.uffd));
	snprintf(pidstr, sizeof(pidstr), "%d", getpid());
	ASSERT_EQ(0, fl_start(&self->run, args))
		TH_LOG("faultlat did not start: %s", self->run.buf);

	s.src = mmap(NULL, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s.base = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, s.src);
	ASSERT_NE(MAP_FAILED, s.base);
	/* register first: a THP fault while filling src could otherwise
	 * populate base through the vma they share until then
	 */
	reg.range.start = (unsigned long)s.base;
	reg.range.len = len;
	ASSERT_EQ(0, ioctl(s.uffd, UFFDIO_REGISTER, &reg));
	lm_fill(s.src, len, 7);
	ASSERT_EQ(0, pthread_create(&th, NULL, serve, &s));

	/* N missing faults, scattered, each page once; data checked */
	for (i = 0; i < NPAGES; i++)
		(void)*(volatile char *)(s.base + ((i * 37) % NPAGES) * LM_PAGE);
	EXPECT_EQ(-1, lm_check(s.base, len / 2, 7));
	EXPECT_EQ(-1, lm_check_zero(s.base + len / 2, len / 2));

	/* one of each non-cooperative event; each call returns once read */
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0)
		_exit(0);
	ASSERT_EQ(child, waitpid(child, &st, 0));
	ASSERT_EQ(0, madvise(s.base, len, MADV_DONTNEED));
	moved = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, moved);
	ASSERT_EQ(moved, mremap(s.base, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
				moved));
	ASSERT_EQ(0, munmap(moved, len));
	s.stop = 1;
	pthread_join(th, NULL);
	EXPECT_EQ(NPAGES, s.faults);
	EXPECT_EQ(0, s.errors);
	EXPECT_EQ(1, s.forks);
	EXPECT_EQ(1, s.removes);
	EXPECT_EQ(1, s.remaps);
	/* munmap raises one UNMAP; mremap(MREMAP_FIXED) raises REMAP and,
	 * on 6.1, an UNMAP as well
	 */
	EXPECT_TRUE(s.unmaps >= 1 && s.unmaps <= 2);

	/* the pinned maps, while faultlat still runs */
	n = pinned_hist_count(self->pin, FL_LAT_BLOCKED, me);
	EXPECT_TRUE(n >= NPAGES && n <= NPAGES + FAULT_SLACK)
		TH_LOG("blocked-time histogram holds %lld faults, want %d (+%d)",
		       (long long)n, NPAGES, FAULT_SLACK);
	EXPECT_EQ(n, pinned_count(self->pin, FL_EV_FAULT_MISSING, me));
	EXPECT_EQ(NPAGES / 2, pinned_hist_count(self->pin, FL_LAT_COPY, me));
	EXPECT_EQ(NPAGES / 2, pinned_hist_count(self->pin, FL_LAT_ZEROPAGE, me));
	EXPECT_EQ(NPAGES / 2, pinned_count(self->pin, FL_EV_COPY, me));
	EXPECT_EQ(NPAGES / 2, pinned_count(self->pin, FL_EV_ZEROPAGE, me));
	EXPECT_EQ(0, pinned_count(self->pin, FL_EV_RESOLVE_ERR, me));
	EXPECT_EQ(0, pinned_count(self->pin, FL_EV_FAULT_SIGBUS, me));
	EXPECT_EQ(1, pinned_count(self->pin, FL_EV_FORK, me));
	EXPECT_EQ(1, pinned_count(self->pin, FL_EV_REMOVE, me));
	EXPECT_EQ(1, pinned_count(self->pin, FL_EV_REMAP, me));
	EXPECT_EQ(s.unmaps, pinned_count(self->pin, FL_EV_UNMAP, me));
	/* every event the handler read had its raiser waiting for it; the
	 * trace events have no "event read" point, so tp_btf cannot time it
	 */
	EXPECT_EQ(variant->trace_events ? 0 :
		  s.forks + s.removes + s.remaps + s.unmaps,
		  pinned_hist_count(self->pin, FL_LAT_EVENT_WAIT, me));
	/* -p: the forked child's exit and other processes are not counted */
	EXPECT_EQ(0, pinned_count(self->pin, FL_EV_FAULT_MISSING, child));
	run_bpftool_dump(_metadata, self->pin);

	/* the report on SIGINT, and the pins gone after it */
	st = fl_stop(&self->run, SIGINT);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("faultlat ended with status 0x%x: %s", st, self->run.buf);
	snprintf(want, sizeof(want), "count %llu,", (unsigned long long)n);
	EXPECT_NE(NULL, strstr(self->run.buf, "blocked in handle_userfault"));
	EXPECT_NE(NULL, strstr(self->run.buf, want))
		TH_LOG("no '%s' in the report: %s", want, self->run.buf);
	EXPECT_NE(NULL, strstr(self->run.buf, "fork "));
	EXPECT_NE(NULL, strstr(self->run.buf, "|****"));
	EXPECT_NE(0, access(self->pin, F_OK)) TH_LOG("%s left behind", self->pin);
	munmap(s.src, len);
	close(s.uffd);
}

/* ---- during a real lazy migration (loopback, in the guest) ---- */

static pid_t spawn_log(const char *log, char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Wait up to @secs for @path to contain @what; its text in @buf. */
static int wait_text(const char *path, const char *what, int secs,
		     char *buf, size_t len)
{
	int i, fd;
	ssize_t n;

	for (i = 0; i < secs * 10; i++) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, buf, len - 1);
			close(fd);
			buf[n > 0 ? n : 0] = '\0';
			if (strstr(buf, what))
				return 0;
		}
		usleep(100000);
	}
	return -ETIMEDOUT;
}

static int wait_pid_secs(pid_t pid, int secs)
{
	int i, st;

	for (i = 0; i < secs * 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -ETIMEDOUT;
}

static long json_num(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/*
 * lazy_wl (one verifying thread) migrated over loopback while faultlat
 * runs with no -p (the restored pid is known only after restore).  Every
 * fault the lazy-pages daemon read blocked the restored process once, so
 * its blocked-time count is at least the daemon's "faults".  A fault that
 * a background push (or the run answering an earlier fault) resolved
 * before the daemon read it blocked too but is not in "faults": those
 * extras are bounded by the daemon's resolve calls that answered no
 * fault.  With one faulting thread at a time the bound is tight enough to
 * catch lost or doubled samples.
 */
TEST_F_TIMEOUT(faultlat, lazy_migration, 600)
{
	char lm[PATH_MAX], wl[PATH_MAX], exe[PATH_MAX - 64], dir[96];
	char st[160], rj[160], pidf[160], rlog[160], slog[160], wlog[160];
	char res[200], listen[32], wlpid[16], buf[4096];
	const char *args[] = { "--mode", variant->mode, "--pin", self->pin, NULL };
	char *const wl_argv[] = { wl, "8", st, "1", NULL };
	char *const recv_argv[] = { lm, "receive", "--listen", listen, "--stats",
				    rj, "--pidfile", pidf, "--stdio", "null", NULL };
	char *const send_argv[] = { lm, "send", "-t", wlpid, "--to", listen,
				    "--push-rate", "1", NULL };
	pid_t wpid, rpid, spid, restored;
	long faults, calls, blocked;
	ssize_t n;

	if (_metadata->skip)
		return;
	lm_lazymig_path(lm, sizeof(lm));
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(wl, sizeof(wl), "%s/../workloads/lazy_wl", exe);
	if (access(wl, X_OK) || access(lm, X_OK))
		SKIP(return, "lazy_wl or lazymig missing next to this test");
	snprintf(dir, sizeof(dir), "/tmp/faultlat-mig-%d", getpid());
	mkdir(dir, 0700);
	snprintf(st, sizeof(st), "%s/state", dir);
	snprintf(res, sizeof(res), "%s/state.result", dir);
	snprintf(rj, sizeof(rj), "%s/r.json", dir);
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	snprintf(rlog, sizeof(rlog), "%s/recv.log", dir);
	snprintf(slog, sizeof(slog), "%s/send.log", dir);
	snprintf(wlog, sizeof(wlog), "%s/wl.log", dir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", 20000 + getpid() % 20000);

	ASSERT_EQ(0, fl_start(&self->run, args))
		TH_LOG("faultlat did not start: %s", self->run.buf);
	wpid = spawn_log(wlog, wl_argv);
	ASSERT_EQ(0, wait_text(st, "ready", 60, buf, sizeof(buf)));
	rpid = spawn_log(rlog, recv_argv);
	ASSERT_EQ(0, wait_text(rlog, "listening", 60, buf, sizeof(buf)));
	snprintf(wlpid, sizeof(wlpid), "%d", wpid);
	spid = spawn_log(slog, send_argv);
	if (wait_text(pidf, "\n", 120, buf, sizeof(buf))) {
		/* the only lazy migration on this kernel in the suite: a failure */
		wait_pid_secs(spid, 1);
		wait_pid_secs(rpid, 1);
		kill(wpid, SIGKILL);
		waitpid(wpid, NULL, 0);
		wait_text(rlog, "", 1, buf, sizeof(buf));
		TH_LOG("recv.log: %s", buf);
		wait_text(slog, "", 1, buf, sizeof(buf));
		TH_LOG("send.log: %s", buf);
		ASSERT_TRUE(0) TH_LOG("the lazy migration itself failed on this kernel (logs above)");
	}
	restored = atoi(buf);
	ASSERT_LT(0, restored);
	ASSERT_EQ(0, kill(restored, SIGUSR1));
	EXPECT_EQ(0, wait_pid_secs(spid, 300));
	EXPECT_EQ(0, wait_pid_secs(rpid, 300));
	waitpid(wpid, NULL, WNOHANG);
	ASSERT_EQ(0, wait_text(res, "\n", 120, buf, sizeof(buf)));
	EXPECT_EQ(0, strncmp(buf, "ok ", 3)) TH_LOG("lazy_wl: %s", buf);
	ASSERT_EQ(0, wait_text(rj, "}", 10, buf, sizeof(buf)));
	faults = json_num(buf, "faults");
	ASSERT_LE(0, faults) TH_LOG("no \"faults\" in %s", buf);

	blocked = (long)pinned_hist_count(self->pin, FL_LAT_BLOCKED, restored);
	calls = (long)(pinned_count_others(self->pin, FL_EV_COPY, restored) +
		       pinned_count_others(self->pin, FL_EV_ZEROPAGE, restored));
	TH_LOG("%s: restored pid %d: blocked %ld times, daemon read %ld faults "
	       "and made %ld resolve calls", variant->mode, restored, blocked,
	       faults, calls);
	EXPECT_LE(faults, blocked);
	EXPECT_LE(blocked, faults + (calls - faults));
	EXPECT_EQ(blocked, (long)pinned_count(self->pin, FL_EV_FAULT_MISSING,
					      restored));
	EXPECT_EQ(0, (long)pinned_count(self->pin, FL_EV_RESOLVE_ERR, restored));
	EXPECT_EQ(0, fl_stop(&self->run, SIGINT) >> 8);
	snprintf(buf, sizeof(buf), "rm -rf %s", dir);
	if (system(buf))
		TH_LOG("could not remove %s", dir);
}

TEST_HARNESS_MAIN
