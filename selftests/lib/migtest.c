// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <fcntl.h>
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

pid_t lm_spawn_ns(const char *dir, const char *ns, const char *log,
		  int pdeath, char *const argv[])
{
	char path[PATH_MAX];
	pid_t pid = fork();
	int fd;

	if (pid)
		return pid;
	if (pdeath)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		_exit(126);
	snprintf(path, sizeof(path), "%s/%s", dir, log);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	dup2(fd, 1);
	dup2(fd, 2);
	fd = open("/dev/null", O_RDONLY);
	dup2(fd, 0);
	execv(argv[0], argv);
	_exit(127);
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
	int i, try;

	for (i = 0; i < n; i++) {
		snprintf(to, sizeof(to), "%s/%s", dir, names[i]);
		for (try = 0; try < 20; try++) {
			if (!lm_sh("cp %s %s.tmp && mv %s.tmp %s && test -x %s",
				   bins[i], to, to, to, to))
				break;
			usleep(500 * 1000);
		}
		if (try == 20)
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
