// SPDX-License-Identifier: GPL-2.0
/*
 * `send --tls` / `receive --tls` between two network namespaces.
 *
 * The sender reaches the receiver through a relay the test runs in the
 * source namespace: it forwards each connection and appends every byte,
 * both directions, to dir/wire.  lazy_wl fills its memory with lm_pat();
 * the capture is searched for 64-byte runs of that pattern: present
 * without --tls (so the search works), absent with it.
 *
 * Also: lazy and eager migrations with a pre-shared key and with
 * certificates (a CA made here with the openssl CLI), data verified byte
 * for byte by the restored workload; refusals (wrong token, --tls on one
 * side only, a certificate from another CA, --tls without key material):
 * non-zero exit, a message naming the cause on both sides, nothing
 * restored, the source running on untouched.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lmtest.h"
#include "migtest.h"
#include "migcheck.h"

#define SRC_IP	"10.78.0.1"
#define DST_IP	"10.78.0.2"
#define TOKEN	"lazymig-test-token-0123456789abcdef"
#define PAGE	4096
#define PROBE	64	/* bytes of pattern that count as a match */

FIXTURE(tls) {
	char src[32], dst[32], dir[64];
	char tool[PATH_MAX], wl[PATH_MAX];
	int port, relay_port;
	int flip_conn;		/* relay: connection (1: request, 2: bulk) */
	long flip_off;		/* ... and byte, sender to receiver, to flip */
	pid_t wl_pid, recv_pid, send_pid, relay_pid, restored;
};

FIXTURE_SETUP(tls)
{
	char exe[PATH_MAX], veth[16], *d;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int me = getpid();

	exe[n > 0 ? n : 0] = 0;
	d = dirname(exe);	/* build/selftests/host */
	snprintf(self->src, sizeof(self->src), "lmtsrc%d", me);
	snprintf(self->dst, sizeof(self->dst), "lmtdst%d", me);
	self->port = 7000 + me % 20000;
	self->relay_port = self->port + 1;
	strcpy(self->dir, "/tmp/lazymig-tls.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	/* copies: a rebuild while the test runs must not break an exec */
	snprintf(self->tool, sizeof(self->tool), "%s/lazymig", self->dir);
	snprintf(self->wl, sizeof(self->wl), "%s/lazy_wl", self->dir);
	if (lm_sh("cp %s/../../lazymig %s && cp %s/../workloads/lazy_wl %s",
		  d, self->tool, d, self->wl)) {
		lm_sh("rm -rf %s", self->dir);
		ASSERT_TRUE(0) TH_LOG("cannot copy the binaries to test");
	}
	snprintf(veth, sizeof(veth), "lmv%d", me);
	if (lm_netns_pair(self->src, self->dst, veth, SRC_IP, DST_IP)) {
		lm_sh("rm -rf %s", self->dir);
		SKIP(return, "cannot create network namespaces");
	}
	lm_write_token(self->dir, "token", TOKEN);
}

FIXTURE_TEARDOWN(tls)
{
	lm_mig_reap(self->restored, &self->send_pid, &self->recv_pid,
		    &self->wl_pid);
	lm_reap(&self->relay_pid);
	lm_netns_del(self->src, self->dst);
	lm_sh("rm -rf %s", self->dir);
}

/* ---- the relay ---- */

static int write_all(int fd, const char *p, ssize_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= w;
	}
	return 0;
}

/*
 * One connection: copy both ways, and append what passes to @wire; flip
 * the bits of byte @flip (>= 0) of what goes from a to b.
 */
static void relay_conn(int a, const char *dst_ip, int port, int wire,
		       long flip)
{
	long sent = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	static char buf[65536];
	int b = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, dst_ip, &sa.sin_addr);
	if (b < 0 || connect(b, (struct sockaddr *)&sa, sizeof(sa)))
		_exit(1);
	for (;;) {
		struct pollfd p[2] = { { .fd = a, .events = POLLIN },
				       { .fd = b, .events = POLLIN } };
		int i;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			_exit(1);
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (!p[i].revents)
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0)
				_exit(0);	/* closes both ends */
			if (!i && flip >= sent && flip < sent + n)
				buf[flip - sent] ^= 0xff;
			if (!i)
				sent += n;
			if (write_all(p[!i].fd, buf, n) ||
			    write_all(wire, buf, n))
				_exit(1);
		}
	}
}

/* In namespace ns: 127.0.0.1:lport -> dst_ip:port, recorded in dir/wire. */
static pid_t start_relay(FIXTURE_DATA(tls) *self)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(self->relay_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char path[PATH_MAX];
	int one = 1, l, wire, fd, ready[2], conn;
	pid_t pid;
	char c;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (pid) {
		close(ready[1]);
		if (pid < 0 || read(ready[0], &c, 1) != 1)
			pid = -1;
		close(ready[0]);
		return pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(path, sizeof(path), "/run/netns/%s", self->src);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		_exit(1);
	wire = open(lm_in_dir(self->dir, "wire"),
		    O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (wire < 0 || l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(l, 8))
		_exit(1);
	signal(SIGCHLD, SIG_IGN);
	if (write(ready[1], "r", 1) != 1)
		_exit(1);
	for (conn = 1;; conn++) {
		int a = accept(l, NULL, NULL);

		if (a < 0)
			continue;
		if (!fork()) {
			close(l);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			relay_conn(a, DST_IP, self->port, wire,
				   conn == self->flip_conn ? self->flip_off : -1);
		}
		close(a);
	}
}

/*
 * How many offsets of dir/wire start PROBE bytes of lazy_wl's memory?
 * Its page i holds lm_pat(i + 1, 0..4095), and byte j of page s is byte
 * j % 8 of word s + j / 8: every 8-byte-aligned run of a page is the
 * start of a page pattern.  So: look every offset's first word up among
 * the first words of all seeds, then compare PROBE bytes.
 */
static long long pattern_hits(const char *dir, unsigned int npages,
			      size_t *wire_len)
{
	unsigned int nseeds = npages + PAGE / 8, size = 1, i;
	struct { uint64_t w; unsigned int seed; } *tab;	/* seed 0: empty */
	unsigned char *buf, probe[PROBE];
	long long hits = 0;
	struct stat st;
	size_t off, h;
	uint64_t w;
	int fd;

	fd = open(lm_in_dir(dir, "wire"), O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		return -1;
	*wire_len = st.st_size;
	buf = malloc(st.st_size + 1);
	if (!buf || read(fd, buf, st.st_size) != st.st_size)
		return -1;
	close(fd);
	while (size < 4 * nseeds)
		size <<= 1;
	tab = calloc(size, sizeof(*tab));
	if (!tab)
		return -1;
	for (i = 1; i <= nseeds; i++) {
		lm_fill(probe, 8, i);
		memcpy(&w, probe, 8);
		for (h = w % size; tab[h].seed; h = (h + 1) % size)
			;
		tab[h].w = w;
		tab[h].seed = i;
	}
	for (off = 0; off + PROBE <= (size_t)st.st_size; off++) {
		memcpy(&w, buf + off, 8);
		for (h = w % size; tab[h].seed && tab[h].w != w;
		     h = (h + 1) % size)
			;
		if (!tab[h].seed)
			continue;
		lm_fill(probe, PROBE, tab[h].seed);
		if (!memcmp(probe, buf + off, PROBE))
			hits++;
	}
	free(tab);
	free(buf);
	return hits;
}

/* ---- migration ---- */

static void start_workload(struct __test_metadata *_metadata,
			   FIXTURE_DATA(tls) *self, const char *mib)
{
	char *argv[] = { self->wl, (char *)mib, lm_in_dir(self->dir, "state"),
			 "2", NULL };
	char buf[256];

	self->wl_pid = lm_spawn_ns(self->dir, self->src, "wl.log", 0, argv);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state", "ready", 30, buf,
				  sizeof(buf)));
}

/* argv: the tool, the command, fixed args, then @opts split on spaces. */
static pid_t spawn_tool(FIXTURE_DATA(tls) *self, const char *ns,
			const char *log, char **fixed, const char *opts)
{
	static char copy[1024];
	char *argv[40], *tok, *save;
	int n = 0;

	argv[n++] = self->tool;
	while (*fixed)
		argv[n++] = *fixed++;
	snprintf(copy, sizeof(copy), "%s", opts ? opts : "");
	for (tok = strtok_r(copy, " ", &save); tok && n < 38;
	     tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok[0] == '@' ? lm_in_dir(self->dir, tok + 1) : tok;
	argv[n] = NULL;
	return lm_spawn_ns(self->dir, ns, log, 1, argv);
}

/* @opts: words; "@name" is dir/name. */
static void start_receive(struct __test_metadata *_metadata,
			  FIXTURE_DATA(tls) *self, const char *opts)
{
	char listen[64], buf[4096];
	char *fixed[] = { "receive", "--listen", listen, "--stats",
			  lm_in_dir(self->dir, "r.json"), "--pidfile",
			  lm_in_dir(self->dir, "pid"), "--stdio", "null", NULL };

	snprintf(listen, sizeof(listen), DST_IP ":%d", self->port);
	self->recv_pid = spawn_tool(self, self->dst, "recv.log", fixed, opts);
	ASSERT_EQ(0, lm_wait_file(self->dir, "recv.log", "listening", 10, buf,
				  sizeof(buf))) TH_LOG("recv.log: %s", buf);
}

static void start_send(FIXTURE_DATA(tls) *self, int via_relay,
		       const char *opts)
{
	char pid[16], to[64];
	char *fixed[] = { "send", "-t", pid, "--to", to, "--stats",
			  lm_in_dir(self->dir, "s.json"), NULL };

	snprintf(pid, sizeof(pid), "%d", self->wl_pid);
	if (via_relay)
		snprintf(to, sizeof(to), "127.0.0.1:%d", self->relay_port);
	else
		snprintf(to, sizeof(to), DST_IP ":%d", self->port);
	self->send_pid = spawn_tool(self, self->src, "send.log", fixed, opts);
}

static void show_logs(struct __test_metadata *_metadata,
		      FIXTURE_DATA(tls) *self)
{
	char buf[4096];

	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	TH_LOG("send.log: %s", buf);
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	TH_LOG("recv.log: %s", buf);
}

/* Migrate; the restored workload verifies every page.  Stats in json. */
static void migrate_ok(struct __test_metadata *_metadata,
		       FIXTURE_DATA(tls) *self, const char *mib,
		       const char *recv_opts, const char *send_opts,
		       int via_relay, char *json, size_t len)
{
	char buf[4096];
	int st;

	if (via_relay)
		ASSERT_LT(0, self->relay_pid = start_relay(self));
	start_receive(_metadata, self, recv_opts);
	start_workload(_metadata, self, mib);
	start_send(self, via_relay, send_opts);
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 60, buf,
				  sizeof(buf))) show_logs(_metadata, self);
	self->restored = atoi(buf);
	ASSERT_LT(0, self->restored);
	ASSERT_EQ(0, kill(self->restored, SIGUSR1));
	st = lm_wait_exit(&self->send_pid, 120);
	EXPECT_EQ(0, st) show_logs(_metadata, self);
	st = lm_wait_exit(&self->recv_pid, 120);
	EXPECT_EQ(0, st) show_logs(_metadata, self);
	st = lm_wait_exit(&self->wl_pid, 10);
	EXPECT_TRUE(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ASSERT_EQ(0, lm_wait_file(self->dir, "state.result", "\n", 120, buf,
				  sizeof(buf)));
	TH_LOG("workload: %s", buf);
	ASSERT_EQ(0, strncmp(buf, "ok ", 3));
	ASSERT_EQ(0, lm_slurp(self->dir, "r.json", json, len));
	lm_reap(&self->relay_pid);
}

/*
 * The sender fails and says @send_says; the receiver said @recv_says (if
 * given), restored nothing and still waits for a real sender.
 */
static void refused(struct __test_metadata *_metadata,
		    FIXTURE_DATA(tls) *self, const char *send_says,
		    const char *recv_says)
{
	char buf[4096];
	int st;

	st = lm_wait_exit(&self->send_pid, 30);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0);
	show_logs(_metadata, self);
	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, send_says));
	if (recv_says) {
		lm_wait_file(self->dir, "recv.log", recv_says, 5, buf,
			     sizeof(buf));
		EXPECT_NE(NULL, strstr(buf, recv_says));
	}
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	EXPECT_EQ(NULL, strstr(buf, "authenticated"));
	EXPECT_EQ(NULL, strstr(buf, "running here"));
	EXPECT_NE(0, lm_slurp(self->dir, "pid", buf, sizeof(buf)));
	if (self->recv_pid)
		EXPECT_EQ(0, waitpid(self->recv_pid, NULL, WNOHANG));
	lm_source_verifies(_metadata, self->dir, &self->wl_pid);
}

/* ---- tests ---- */

TEST_F_TIMEOUT(tls, psk_lazy_wire_encrypted, 180)
{
	char json[4096];
	long long hits;
	size_t wire;

	migrate_ok(_metadata, self, "16", "--tls --token-file @token",
		   "--tls --token-file @token", 1, json, sizeof(json));
	EXPECT_NE(NULL, strstr(json, "\"mode\":\"lazy\""));
	EXPECT_LT(0, lm_json_num(json, "pages_faulted"));
	lm_slurp(self->dir, "recv.log", json, sizeof(json));
	EXPECT_NE(NULL, strstr(json, "authenticated (TLSv1.3, TLS_AES_128_GCM_SHA256, pre-shared key)"))
		TH_LOG("recv.log: %s", json);
	hits = pattern_hits(self->dir, 16 << 20 >> 12, &wire);
	TH_LOG("--tls: %zu bytes on the wire, %lld runs of the memory pattern",
	       wire, hits);
	EXPECT_LT(15 << 20, wire);	/* the memory did go through */
	EXPECT_EQ(0, hits);
}

/* The same search finds the memory when it goes in clear. */
TEST_F_TIMEOUT(tls, clear_wire_shows_memory, 180)
{
	char json[4096];
	long long hits;
	size_t wire;

	migrate_ok(_metadata, self, "16", "--token-file @token",
		   "--token-file @token", 1, json, sizeof(json));
	hits = pattern_hits(self->dir, 16 << 20 >> 12, &wire);
	TH_LOG("clear: %zu bytes on the wire, %lld runs of the memory pattern",
	       wire, hits);
	EXPECT_LT(15 << 20, wire);
	/* 15 of 16 pages have data, each page holds 505 runs */
	EXPECT_LT(15LL * (16 << 20 >> 12) / 16 * 505 * 9 / 10, hits);
}

/* Concurrent faults from 2 threads, drain and fault answers under TLS. */
TEST_F_TIMEOUT(tls, psk_lazy_64m, 240)
{
	char json[4096];

	migrate_ok(_metadata, self, "64", "--tls --token-file @token",
		   "--tls --token-file @token --push-rate 32", 0, json,
		   sizeof(json));
	EXPECT_NE(NULL, strstr(json, "\"mode\":\"lazy\""));
	EXPECT_LT(0, lm_json_num(json, "pages_faulted"));
	EXPECT_LT(0, lm_json_num(json, "pages_pushed"));
}

TEST_F_TIMEOUT(tls, psk_eager_wire_encrypted, 180)
{
	char json[4096];
	long long hits;
	size_t wire;

	migrate_ok(_metadata, self, "16", "--tls --token-file @token",
		   "--tls --token-file @token --eager", 1, json, sizeof(json));
	EXPECT_NE(NULL, strstr(json, "\"mode\":\"eager\""));
	EXPECT_EQ(0, lm_json_num(json, "pages_faulted"));
	hits = pattern_hits(self->dir, 16 << 20 >> 12, &wire);
	TH_LOG("--tls --eager: %zu bytes on the wire, %lld pattern runs",
	       wire, hits);
	EXPECT_LT(15 << 20, wire);
	EXPECT_EQ(0, hits);
}

TEST_F_TIMEOUT(tls, psk_wrong_token, 120)
{
	lm_write_token(self->dir, "other", TOKEN "X");
	start_receive(_metadata, self, "--tls --token-file @token");
	start_workload(_metadata, self, "16");
	start_send(self, 0, "--tls --token-file @other");
	refused(_metadata, self, "wrong token", "wrong token");
}

TEST_F_TIMEOUT(tls, only_receiver_tls, 120)
{
	start_receive(_metadata, self, "--tls --token-file @token");
	start_workload(_metadata, self, "16");
	start_send(self, 0, "--token-file @token");
	refused(_metadata, self, "receiver requires --tls",
		"does not use --tls but this side requires it");
}

TEST_F_TIMEOUT(tls, only_sender_tls, 120)
{
	start_receive(_metadata, self, "--token-file @token");
	start_workload(_metadata, self, "16");
	start_send(self, 0, "--tls --token-file @token");
	refused(_metadata, self, "receiver does not use --tls",
		"uses --tls but this side does not");
}

TEST_F_TIMEOUT(tls, no_key_material, 60)
{
	char buf[4096];
	int st;

	start_workload(_metadata, self, "16");
	start_send(self, 0, "--tls");
	st = lm_wait_exit(&self->send_pid, 30);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0);
	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "--tls needs key material")) TH_LOG("%s", buf);
	lm_source_verifies(_metadata, self->dir, &self->wl_pid);
}

/*
 * One byte of the metadata flipped on its way: TLS refuses the record,
 * nothing is restored, the source runs on untouched.
 */
TEST_F_TIMEOUT(tls, tampered_before_resume, 120)
{
	char buf[4096];
	int st;

	self->flip_conn = 1;
	self->flip_off = 20000;	/* past the handshake, inside the metadata */
	ASSERT_LT(0, self->relay_pid = start_relay(self));
	start_receive(_metadata, self, "--tls --token-file @token");
	start_workload(_metadata, self, "16");
	start_send(self, 1, "--tls --token-file @token");
	st = lm_wait_exit(&self->recv_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	st = lm_wait_exit(&self->send_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	show_logs(_metadata, self);
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "bad record mac"));
	EXPECT_EQ(NULL, strstr(buf, "running here"));
	EXPECT_NE(0, lm_slurp(self->dir, "pid", buf, sizeof(buf)));
	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "resumed here untouched"));
	lm_source_verifies(_metadata, self->dir, &self->wl_pid);
}

/*
 * One byte of the background push flipped after resume: the destination
 * kills its process rather than let it run on memory it could not
 * complete; the source is left stopped.
 */
TEST_F_TIMEOUT(tls, tampered_after_resume, 120)
{
	char buf[4096];
	int st;

	self->flip_conn = 2;
	self->flip_off = 4 << 20;
	ASSERT_LT(0, self->relay_pid = start_relay(self));
	start_receive(_metadata, self, "--tls --token-file @token");
	start_workload(_metadata, self, "64");
	start_send(self, 1, "--tls --token-file @token --peer-timeout 2");
	ASSERT_EQ(0, lm_wait_file(self->dir, "pid", "\n", 60, buf,
				  sizeof(buf))) show_logs(_metadata, self);
	self->restored = atoi(buf);
	st = lm_wait_exit(&self->recv_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	st = lm_wait_exit(&self->send_pid, 60);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	show_logs(_metadata, self);
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "bad record mac"));
	EXPECT_NE(NULL, strstr(buf, "killed"));
	lm_slurp(self->dir, "send.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "left stopped"));
	EXPECT_EQ(0, lm_wait_gone(self->restored, 5));
	/* it never ran its verification with what it had */
	EXPECT_NE(0, lm_slurp(self->dir, "state.result", buf, sizeof(buf)));
	EXPECT_EQ('T', lm_proc_state(self->wl_pid));
}

/* A CA, and a certificate it signs for each of @names (in dir). */
static int make_ca(const char *dir, const char *ca, const char *names)
{
	return lm_sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		     "-nodes -keyout %s.key -out %s.crt -subj /CN=%s -days 2 >>openssl.log 2>&1 && "
		     "for n in %s; do "
		     "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		     "-keyout $n.key -out $n.csr -subj /CN=$n >>openssl.log 2>&1 && "
		     "openssl x509 -req -in $n.csr -CA %s.crt -CAkey %s.key -CAcreateserial "
		     "-out $n.crt -days 2 >>openssl.log 2>&1 || exit 1; done",
		     dir, ca, ca, ca, names, ca, ca);
}

/* Certificates only, no token: the certificates are the authentication. */
TEST_F_TIMEOUT(tls, cert_lazy_wire_encrypted, 180)
{
	char json[4096];
	long long hits;
	size_t wire;

	ASSERT_EQ(0, make_ca(self->dir, "ca", "recv send"));
	migrate_ok(_metadata, self, "16",
		   "--tls --tls-cert @recv.crt --tls-key @recv.key --tls-ca @ca.crt",
		   "--tls --tls-cert @send.crt --tls-key @send.key --tls-ca @ca.crt",
		   1, json, sizeof(json));
	EXPECT_NE(NULL, strstr(json, "\"mode\":\"lazy\""));
	lm_slurp(self->dir, "recv.log", json, sizeof(json));
	EXPECT_NE(NULL, strstr(json, "authenticated (TLSv1.3, TLS_AES_128_GCM_SHA256, certificates)"))
		TH_LOG("recv.log: %s", json);
	hits = pattern_hits(self->dir, 16 << 20 >> 12, &wire);
	TH_LOG("certificates: %zu bytes on the wire, %lld pattern runs",
	       wire, hits);
	EXPECT_LT(15 << 20, wire);
	EXPECT_EQ(0, hits);
}

/* Key material that does not fit together is refused at the start. */
TEST_F_TIMEOUT(tls, cert_bad_key_material, 60)
{
	char listen[64], buf[4096];
	char *fixed[] = { "receive", "--listen", listen, NULL };
	int st;

	snprintf(listen, sizeof(listen), DST_IP ":%d", self->port);
	ASSERT_EQ(0, make_ca(self->dir, "ca", "recv send"));
	self->recv_pid = spawn_tool(self, self->dst, "recv.log", fixed,
		"--tls --tls-cert @recv.crt --tls-key @send.key --tls-ca @ca.crt");
	st = lm_wait_exit(&self->recv_pid, 30);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "key values mismatch")) TH_LOG("%s", buf);
	EXPECT_EQ(NULL, strstr(buf, "listening"));
	self->recv_pid = spawn_tool(self, self->dst, "recv.log", fixed,
		"--tls --tls-cert @recv.crt --tls-key @recv.key");
	st = lm_wait_exit(&self->recv_pid, 30);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "need all of --tls-cert, --tls-key and --tls-ca"))
		TH_LOG("%s", buf);
	self->recv_pid = spawn_tool(self, self->dst, "recv.log", fixed,
		"--tls-cert @recv.crt --tls-key @recv.key --tls-ca @ca.crt");
	st = lm_wait_exit(&self->recv_pid, 30);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
	lm_slurp(self->dir, "recv.log", buf, sizeof(buf));
	EXPECT_NE(NULL, strstr(buf, "go with --tls")) TH_LOG("%s", buf);
}

/* A sender whose certificate another CA signed gets nothing. */
TEST_F_TIMEOUT(tls, cert_other_ca_refused, 120)
{
	ASSERT_EQ(0, make_ca(self->dir, "ca", "recv send"));
	ASSERT_EQ(0, make_ca(self->dir, "evil", "intruder"));
	start_receive(_metadata, self,
		      "--tls --tls-cert @recv.crt --tls-key @recv.key --tls-ca @ca.crt");
	start_workload(_metadata, self, "16");
	start_send(self, 0,
		   "--tls --tls-cert @intruder.crt --tls-key @intruder.key --tls-ca @ca.crt");
	refused(_metadata, self, "refused", "certificate verify failed");
}

/* A receiver whose certificate another CA signed is not sent to. */
TEST_F_TIMEOUT(tls, cert_receiver_other_ca, 120)
{
	ASSERT_EQ(0, make_ca(self->dir, "ca", "recv send"));
	ASSERT_EQ(0, make_ca(self->dir, "evil", "intruder"));
	start_receive(_metadata, self,
		      "--tls --tls-cert @intruder.crt --tls-key @intruder.key --tls-ca @ca.crt");
	start_workload(_metadata, self, "16");
	start_send(self, 0,
		   "--tls --tls-cert @send.crt --tls-key @send.key --tls-ca @ca.crt");
	refused(_metadata, self, "certificate verify failed", NULL);
}

TEST_HARNESS_MAIN
