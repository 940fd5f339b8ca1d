// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig: the guardian of a lazily restored process (see guard.h).
 *
 * receive and the guardian share a SOCK_SEQPACKET pair.  Messages from
 * receive: PID (whom to kill: slot @idx of the kill list, one slot per
 * member of a tree), UFFD (another member's or a forked child's uffd,
 * SCM_RIGHTS), RELEASE.  End of file without RELEASE means receive is
 * gone.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "guard.h"
#include "lazy.h"

enum { GUARD_PID = 1, GUARD_UFFD, GUARD_RELEASE };

struct guard_msg {
	int type;
	unsigned int idx;
	pid_t pid;
};

#define GUARD_MAX_PIDS	LM_MAX_MEMBERS	/* one slot per tree member */

struct lm_guard {
	pid_t gpid;		/* the guardian */
	int sock;
	int released;
};

/* In the guardian: every fd but stdio and @keep1, @keep2 closed. */
static void close_others(int keep1, int keep2)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int fd, dfd = d ? dirfd(d) : -1;

	while (d && (de = readdir(d))) {
		fd = atoi(de->d_name);
		if (de->d_name[0] == '.' || fd <= 2 || fd == keep1 ||
		    fd == keep2 || fd == dfd)
			continue;
		close(fd);
	}
	if (d)
		closedir(d);
}

static void __attribute__((noreturn)) guardian(int sock, int uffd, pid_t pid)
{
	static pid_t pids[GUARD_MAX_PIDS];
	unsigned int nr = 1, i;
	struct guard_msg m;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	ssize_t n;
	int killed = 0;

	prctl(PR_SET_NAME, "lazymig-guard");
	setsid();		/* no terminal signals: they hit receive too */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	close_others(sock, uffd);
	pids[0] = pid;
	for (;;) {
		mh.msg_controllen = sizeof(cbuf);
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(m))
			break;		/* receive is gone */
		if (m.type == GUARD_RELEASE)
			_exit(0);	/* closes our uffd copies */
		if (m.type == GUARD_PID && m.idx < GUARD_MAX_PIDS) {
			pids[m.idx] = m.pid;
			if (m.idx >= nr)
				nr = m.idx + 1;
		}
		/* GUARD_UFFD: the fd now lives here; nothing to do */
	}
	/* every member's tree: one may have left its parent's */
	for (i = 0; i < nr; i++)
		killed += lm_kill_tree(pids[i]);
	if (nr == 1)
		fprintf(stderr, "receive: guardian: receive is gone while pages of pid %d were still lazy: killed it%s (%d process%s); none read a missing page\n",
			pids[0], killed > 1 ? " and its children" : "", killed,
			killed == 1 ? "" : "es");
	else	/* a member is counted in its parent's tree too: no total */
		fprintf(stderr, "receive: guardian: receive is gone while pages of the tree of pid %d (%u members) were still lazy: killed every member and every child they forked; none read a missing page\n",
			pids[0], nr);
	_exit(1);		/* only now do the uffds close */
}

static void send_msg(struct lm_guard *g, int type, unsigned int idx,
		     pid_t pid, int fd)
{
	struct guard_msg m = { .type = type, .idx = idx, .pid = pid };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (!g || g->released)
		return;
	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	while (sendmsg(g->sock, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

int lm_guard_start(int uffd, pid_t pid, struct lm_guard **out)
{
	struct lm_guard *g = calloc(1, sizeof(*g));
	int sv[2];

	if (!g)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		free(g);
		return -errno;
	}
	fflush(stderr);
	g->gpid = fork();
	if (g->gpid < 0) {
		int err = -errno;

		close(sv[0]);
		close(sv[1]);
		free(g);
		return err;
	}
	if (!g->gpid)
		guardian(sv[1], uffd, pid);
	close(sv[1]);
	g->sock = sv[0];
	*out = g;
	return 0;
}

void lm_guard_pid(struct lm_guard *g, pid_t pid)
{
	send_msg(g, GUARD_PID, 0, pid, -1);
}

void lm_guard_member_pid(struct lm_guard *g, unsigned int idx, pid_t pid)
{
	send_msg(g, GUARD_PID, idx, pid, -1);
}

void lm_guard_uffd(struct lm_guard *g, int ufd)
{
	send_msg(g, GUARD_UFFD, 0, 0, ufd);
}

void lm_guard_release(struct lm_guard *g)
{
	if (!g || g->released)
		return;
	send_msg(g, GUARD_RELEASE, 0, 0, -1);
	g->released = 1;
	close(g->sock);
	g->sock = -1;
	/* its copies must be closed before ours are */
	while (waitpid(g->gpid, NULL, 0) < 0 && errno == EINTR)
		;
}

void lm_guard_free(struct lm_guard *g)
{
	if (!g)
		return;
	lm_guard_release(g);
	free(g);
}
