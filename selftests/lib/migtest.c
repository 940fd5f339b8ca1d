// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "migtest.h"

int lm_sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

void lm_reap(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

pid_t lm_spawn(const char *dir, const char *log, int pdeath,
	       int (*setup)(void *ctx), void *ctx, char *const argv[])
{
	char path[PATH_MAX];
	pid_t pid = fork();
	int fd;

	if (pid)
		return pid;
	if (pdeath)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(path, sizeof(path), "%s/%s", dir, log);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	dup2(fd, 1);
	dup2(fd, 2);
	fd = open("/dev/null", O_RDONLY);
	dup2(fd, 0);
	if (setup && setup(ctx))
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

int lm_enter_netns(const char *ns)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		return -1;
	close(fd);
	return 0;
}

static int enter_netns(void *ns)
{
	return lm_enter_netns(ns);
}

pid_t lm_spawn_ns(const char *dir, const char *ns, const char *log,
		  int pdeath, char *const argv[])
{
	return lm_spawn(dir, log, pdeath, enter_netns, (void *)ns, argv);
}

int lm_wait_exit(pid_t *pid, int secs)
{
	int st, i;

	for (i = 0; i < secs * 20; i++) {
		pid_t r = waitpid(*pid, &st, WNOHANG);

		if (r == *pid) {
			*pid = 0;
			return st;
		}
		usleep(50 * 1000);
	}
	return -1;
}

int lm_slurp(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n > 0 ? 0 : -1;
}

void lm_show_log(const char *dir, const char *name)
{
	char buf[8192];

	lm_slurp(dir, name, buf, sizeof(buf));
	fprintf(stderr, "# %s: %s\n", name, buf);
}

int lm_wait_file(const char *dir, const char *name, const char *what,
		 int secs, char *buf, size_t len)
{
	int i;

	for (i = 0; i < secs * 20; i++) {
		if (!lm_slurp(dir, name, buf, len) &&
		    (!what || strstr(buf, what)))
			return 0;
		usleep(50 * 1000);
	}
	return -1;
}

long long lm_json_num(const char *json, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(json, k);
	return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

void lm_write_token(const char *dir, const char *name, const char *tok)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, tok, strlen(tok)) < 0)
			perror("token");
		close(fd);
	}
}

char *lm_in_dir(const char *dir, const char *name)
{
	static char bufs[8][PATH_MAX];
	static int n;
	char *b = bufs[n++ % 8];

	snprintf(b, PATH_MAX, "%s/%s", dir, name);
	return b;
}

/*
 * Run copies: a `make` in the same tree relinks build/lazymig while a
 * test runs, and an exec in that window fails (seen as a sender that
 * exits 127 with nothing in its log).  Copy until the copy runs.
 */
static int snapshot_bin(const char *from, const char *to, int is_tool)
{
	int try;

	for (try = 0; try < 20; try++) {
		if (!lm_sh("cp %s %s.tmp && mv %s.tmp %s && test -x %s",
			   from, to, to, to, to) &&
		    (!is_tool || !lm_sh("%s --help >/dev/null 2>&1", to)))
			return 0;
		usleep(500 * 1000);
	}
	fprintf(stderr, "cannot copy %s to %s\n", from, to);
	return -1;
}

/* lmsrcPID/lmdstPID namespaces whose test process is gone. */
static void sweep_stale_netns(void)
{
	struct dirent *e;
	DIR *d = opendir("/run/netns");
	int pid;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if ((sscanf(e->d_name, "lmsrc%d", &pid) == 1 ||
		     sscanf(e->d_name, "lmdst%d", &pid) == 1) && pid > 0 &&
		    kill(pid, 0) && errno == ESRCH)
			lm_sh("ip netns del %s 2>/dev/null", e->d_name);
	}
	closedir(d);
}

int lm_net_setup(struct lm_net *n, const char *tag, int net,
		 const char *const rel[], int nbins)
{
	char exe[PATH_MAX], from[PATH_MAX + 64], *build, ip4[2][16];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int me = getpid(), i;

	memset(n, 0, sizeof(*n));
	exe[len > 0 ? len : 0] = 0;
	build = dirname(dirname(dirname(exe)));	/* build/selftests/host/x */
	snprintf(n->src, sizeof(n->src), "lmsrc%d", me);
	snprintf(n->dst, sizeof(n->dst), "lmdst%d", me);
	snprintf(n->addr, sizeof(n->addr), "10.%d.0.2:%d", net,
		 7000 + me % 20000);
	snprintf(n->dir, sizeof(n->dir), "/tmp/lazymig-%s.XXXXXX", tag);
	if (nbins > 4 || !mkdtemp(n->dir)) {
		perror("mkdtemp");
		n->dir[0] = 0;
		return -1;
	}
	for (i = 0; i < nbins; i++) {
		const char *base = strrchr(rel[i], '/');

		snprintf(from, sizeof(from), "%s/%s", build, rel[i]);
		snprintf(n->bin[i], sizeof(n->bin[i]), "%s/%s", n->dir,
			 base ? base + 1 : rel[i]);
		if (snapshot_bin(from, n->bin[i], !strcmp(rel[i], "lazymig")))
			goto fail;
	}
	sweep_stale_netns();
	if (lm_sh("ip netns add %s", n->src)) {
		lm_sh("rm -rf %s", n->dir);
		return 1;
	}
	lm_sh("ip netns del %s", n->src);
	snprintf(ip4[0], sizeof(ip4[0]), "10.%d.0.1", net);
	snprintf(ip4[1], sizeof(ip4[1]), "10.%d.0.2", net);
	snprintf(n->veth, sizeof(n->veth), "lmv%d", me);
	if (lm_netns_pair(n->src, n->dst, n->veth, ip4[0], ip4[1]) ||
	    lm_sh("ip -n %s addr add fd%d::1/64 dev lmv%da nodad && "
		  "ip -n %s addr add fd%d::2/64 dev lmv%db nodad",
		  n->src, net, me, n->dst, net, me)) {
		fprintf(stderr, "cannot set up the veth pair\n");
		lm_netns_del(n->src, n->dst);
		goto fail;
	}
	return 0;
fail:
	lm_sh("rm -rf %s", n->dir);
	n->dir[0] = 0;
	return -1;
}

/* wl_mem and friends list the files they made (some in /dev/shm). */
static void remove_wl_files(const char *dir)
{
	char buf[8192], *line, *save;

	if (lm_slurp(dir, "state", buf, sizeof(buf)))
		return;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[256], path[PATH_MAX];

		if (sscanf(line, "file %255s %4095s", name, path) == 2)
			unlink(path);
	}
}

void lm_net_teardown(struct lm_net *n)
{
	if (!n->dir[0])
		return;
	remove_wl_files(n->dir);
	lm_netns_del(n->src, n->dst);
	lm_sh("rm -rf %s", n->dir);
	n->dir[0] = 0;
}

void lm_mig_reap(pid_t restored, pid_t *send, pid_t *recv, pid_t *wl)
{
	if (restored > 0)
		kill(restored, SIGKILL);
	lm_reap(send);
	lm_reap(recv);
	if (*wl > 0)
		kill(*wl, SIGCONT);
	lm_reap(wl);
	if (restored > 0)
		kill(restored, SIGKILL);
}

int lm_netns_pair(const char *src, const char *dst, const char *veth,
		  const char *src_ip, const char *dst_ip)
{
	if (lm_sh("ip netns add %s && ip netns add %s", src, dst)) {
		lm_sh("ip netns del %s 2>/dev/null", src);
		return -1;
	}
	if (lm_sh("ip link add %sa type veth peer name %sb && "
		  "ip link set %sa netns %s && ip link set %sb netns %s && "
		  "ip -n %s addr add %s/24 dev %sa && "
		  "ip -n %s addr add %s/24 dev %sb && "
		  "ip -n %s link set %sa up && ip -n %s link set %sb up && "
		  "ip -n %s link set lo up && ip -n %s link set lo up",
		  veth, veth, veth, src, veth, dst, src, src_ip, veth, dst,
		  dst_ip, veth, src, veth, dst, veth, src, dst)) {
		lm_netns_del(src, dst);
		return -1;
	}
	return 0;
}

void lm_netns_del(const char *src, const char *dst)
{
	lm_sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null",
	      src, dst);
}

int lm_snapshot_bins(const char *dir, char **bins, const char *const *names,
		     int n, size_t len)
{
	char to[PATH_MAX];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(to, sizeof(to), "%s/%s", dir, names[i]);
		if (snapshot_bin(bins[i], to, !strcmp(names[i], "lazymig")))
			return -1;
		snprintf(bins[i], len, "%s", to);
	}
	return 0;
}

int lm_count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int status_field(pid_t pid, const char *key, char *out, size_t len)
{
	char path[64], buf[4096], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	p = strstr(buf, key);
	if (!p)
		return -1;
	p += strlen(key);
	while (*p == ' ' || *p == '\t')
		p++;
	snprintf(out, len, "%s", p);
	return 0;
}

long lm_rss_kib(pid_t pid)
{
	char v[64];

	return status_field(pid, "VmRSS:", v, sizeof(v)) ? -1 :
	       strtol(v, NULL, 10);
}

char lm_proc_state(pid_t pid)
{
	char v[8];

	return status_field(pid, "State:", v, sizeof(v)) ? 0 : v[0];
}

char lm_proc_state_wait(pid_t pid, char want, int ms)
{
	char st = lm_proc_state(pid);

	for (; st != want && ms > 0; ms -= 20) {
		usleep(20 * 1000);
		st = lm_proc_state(pid);
	}
	return st;
}

int lm_wait_gone(pid_t pid, int secs)
{
	int i;

	for (i = 0;; i++) {
		char st = lm_proc_state(pid);

		if (!st || st == 'Z')
			return 0;
		if (i == secs * 20)
			return -1;
		usleep(50 * 1000);
	}
}
