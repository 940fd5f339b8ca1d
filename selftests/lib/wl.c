// SPDX-License-Identifier: GPL-2.0
/* Selftest helpers around the workload programs (see wl.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "wl.h"

const char *lm_build_path(const char *name)
{
	static char paths[8][PATH_MAX];
	static int next;
	char exe[PATH_MAX], *p = paths[next++ % 8];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *s;

	/* build/selftests/{host,vm,both}/TEST -> build/ */
	if (n < 0)
		n = 0;
	exe[n] = 0;
	s = strstr(exe, "/selftests/");
	if (s)
		*s = 0;
	else
		strcpy(exe, "build");
	snprintf(p, PATH_MAX, "%s/%s", exe, name);
	return p;
}

void lm_lazymig_path(char *buf, size_t len)
{
	char exe[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';	/* build/selftests/DIR/TEST -> build/ */
			snprintf(buf, len, "%s/../../lazymig", exe);
			if (access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, len, "lazymig");
}

void lm_lazymig_argv(const char **argv, int max, char *lm, size_t len,
		     const char *cmd, const char *const *args)
{
	int i;

	lm_lazymig_path(lm, len);
	argv[0] = lm;
	argv[1] = cmd;
	for (i = 0; args[i] && i < max - 3; i++)
		argv[i + 2] = args[i];
	argv[i + 2] = NULL;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = calloc(1, 65536);
	n = buf ? fread(buf, 1, 65535, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = 0;
	return buf;
}

static void parse_line(struct lm_wl *w, const char *l)
{
	struct lm_wl_region *r = &w->regions[w->nr_regions];
	struct lm_wl_named *t;
	unsigned long long a, b, c;
	char name[32], x[PATH_MAX];
	long v;

	if (sscanf(l, "mem %31s %31s %llx %llx %llx", r->name, r->kind, &a, &b,
		   &c) == 5 && w->nr_regions < LM_WL_MAX) {
		r->addr = a;
		r->len = b;
		r->seed = c;
		w->nr_regions++;
	} else if (sscanf(l, "thread %31s %ld", name, &v) == 2 &&
		   w->nr_threads < LM_WL_MAX) {
		t = &w->threads[w->nr_threads++];
		snprintf(t->name, sizeof(t->name), "%s", name);
		t->val = v;
	} else if (sscanf(l, "fd %31s %ld", name, &v) == 2 &&
		   w->nr_fds < LM_WL_MAX) {
		t = &w->fds[w->nr_fds++];
		snprintf(t->name, sizeof(t->name), "%s", name);
		t->val = v;
	} else if (sscanf(l, "file %31s %4095s", name, x) == 2 &&
		   w->nr_files < LM_WL_MAX) {
		snprintf(w->files[w->nr_files++], PATH_MAX, "%s", x);
	} else if (!strncmp(l, "skip ", 5)) {
		size_t n = strlen(w->skips);

		snprintf(w->skips + n, sizeof(w->skips) - n, "%s%s",
			 n ? "; " : "", l + 5);
	}
}

static int parse_state(struct lm_wl *w, char *text)
{
	char *save, *l;

	if (strncmp(text, "ready ", 6))
		return -EAGAIN;
	for (l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		parse_line(w, l);
	return 0;
}

static pid_t spawn(const char *prog, const char *opts, const char *state)
{
	char *argv[64], *copy = strdup(opts ? opts : ""), *save, *tok;
	int argc = 0;
	pid_t pid;

	argv[argc++] = (char *)prog;
	for (tok = strtok_r(copy, " ", &save); tok && argc < 62;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc++] = (char *)state;
	argv[argc] = NULL;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		execv(prog, argv);
		_exit(127);
	}
	free(copy);
	return pid;
}

int lm_wl_start(struct lm_wl *w, const char *prog, const char *opts)
{
	char name[64];
	int i;

	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "/tmp/lmwl.XXXXXX");
	if (!mkdtemp(w->dir))
		return -errno;
	snprintf(w->state, sizeof(w->state), "%s/state", w->dir);
	snprintf(name, sizeof(name), "selftests/workloads/%s", prog);
	w->pid = spawn(lm_build_path(name), opts, w->state);
	if (w->pid < 0)
		return -errno;
	for (i = 0; i < 1000; i++) {
		char *text = slurp(w->state);

		if (text) {
			int r = parse_state(w, text);

			free(text);
			if (!r)
				return 0;
		}
		if (lm_wl_reap(w, 0) >= 0)
			return -ECHILD;
		msleep(10);
	}
	return -ETIMEDOUT;
}

const struct lm_wl_region *lm_wl_region(const struct lm_wl *w,
					const char *name)
{
	int i;

	for (i = 0; i < w->nr_regions; i++)
		if (!strcmp(w->regions[i].name, name))
			return &w->regions[i];
	return NULL;
}

static long named(const struct lm_wl_named *t, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return t[i].val;
	return -1;
}

long lm_wl_thread(const struct lm_wl *w, const char *name)
{
	return named(w->threads, w->nr_threads, name);
}

long lm_wl_fd(const struct lm_wl *w, const char *name)
{
	return named(w->fds, w->nr_fds, name);
}

int lm_wl_verify(struct lm_wl *w, pid_t pid, char *msg, size_t len,
		 int timeout_ms)
{
	char path[PATH_MAX + 16];
	int i;

	snprintf(path, sizeof(path), "%s.result", w->state);
	unlink(path);
	if (kill(pid, SIGUSR1))
		return -errno;
	for (i = 0; i <= timeout_ms / 10; i++) {
		char *text = slurp(path);

		if (text) {
			int ok = !strncmp(text, "ok", 2);

			snprintf(msg, len, "%s", text);
			free(text);
			return ok ? 0 : 1;
		}
		msleep(10);
	}
	snprintf(msg, len, "no result from pid %d within %d ms", pid,
		 timeout_ms);
	return -ETIMEDOUT;
}

int lm_pid_alive(pid_t pid)
{
	char path[64], *text, *s;
	int alive;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	text = slurp(path);
	if (!text)
		return 0;
	s = strrchr(text, ')');
	alive = s && s[1] == ' ' && s[2] != 'Z' && s[2] != 'X';
	free(text);
	return alive;
}

int lm_wl_reap(struct lm_wl *w, int timeout_ms)
{
	int st, i;

	if (w->reaped || w->pid <= 0)
		return -1;
	for (i = 0; i <= timeout_ms / 10; i++) {
		pid_t r = waitpid(w->pid, &st, WNOHANG);

		if (r == w->pid) {
			w->reaped = 1;
			return st;
		}
		if (r < 0)
			return -1;
		if (timeout_ms)
			msleep(10);
	}
	return -1;
}

void lm_wl_stop(struct lm_wl *w)
{
	char path[PATH_MAX + 16];
	int i;

	if (w->pid > 0 && !w->reaped) {
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
		w->reaped = 1;
	}
	for (i = 0; i < w->nr_files; i++)
		unlink(w->files[i]);
	if (w->dir[0]) {
		unlink(w->state);
		snprintf(path, sizeof(path), "%s.result", w->state);
		unlink(path);
		rmdir(w->dir);
	}
}

int lm_run_tool(char *out, size_t len, const char *fmt, ...)
{
	char args[4096], cmd[8192];
	size_t n = 0;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", lm_build_path("lazymig"),
		 args);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (out && len) {
		n = fread(out, 1, len - 1, p);
		out[n] = 0;
	}
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

pid_t lm_child_start(const char *mode, int shm_fd, int *rep, int *cmd,
		     int *thing)
{
	char a_rep[16], a_cmd[16], a_shm[16];
	int r[2], c[2];
	pid_t pid;

	if (pipe2(r, O_CLOEXEC) || pipe2(c, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		const char *prog = lm_build_path("selftests/workloads/wl_child");

		fcntl(r[1], F_SETFD, 0);
		fcntl(c[0], F_SETFD, 0);
		if (shm_fd >= 0)
			fcntl(shm_fd, F_SETFD, 0);
		snprintf(a_rep, sizeof(a_rep), "%d", r[1]);
		snprintf(a_cmd, sizeof(a_cmd), "%d", c[0]);
		snprintf(a_shm, sizeof(a_shm), "%d", shm_fd);
		execl(prog, prog, mode, a_rep, a_cmd, a_shm, (char *)NULL);
		_exit(127);
	}
	close(r[1]);
	close(c[0]);
	*rep = r[0];
	*cmd = c[1];
	if (read(*rep, thing, sizeof(*thing)) != sizeof(*thing)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(r[0]);
		close(c[1]);
		return -ECHILD;
	}
	return pid;
}
