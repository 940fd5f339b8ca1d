// SPDX-License-Identifier: GPL-2.0
/*
 * The qemu-test guest provides what the other VM tests take for granted:
 * each pseudo filesystem mounted and working (a BPF map pinned and found
 * again in bpffs, tracefs answering, a pattern written through /dev/shm and
 * /tmp read back), loopback carrying TCP, veth loadable and making a pair,
 * 2M huge pages reserved and usable, the tools on PATH, and a
 * build/lazymig.ko built for the running kernel.  What a kernel may
 * legitimately lack (a bare bzImage without modules, no hugetlb) is a SKIP
 * with the reason; what qemu-test/init sets up is a failure when missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lmtest.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB	(21 << MAP_HUGE_SHIFT)
#endif
#define HPAGE		(2UL << 20)

/* Read a small file into @buf; returns its length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return n;
}

/* Run a shell command quietly; returns its exit status, or -1. */
static int run_quiet(const char *cmd)
{
	char full[512];
	int st;

	snprintf(full, sizeof(full), "%s >/dev/null 2>&1", cmd);
	st = system(full);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- mounts: one body over every pseudo filesystem the tests use ---- */

FIXTURE(mount) {
	char path[PATH_MAX];
};

FIXTURE_VARIANT(mount) {
	const char *dir;
	long magic;
	const char *fs;
};

FIXTURE_VARIANT_ADD(mount, bpffs) {
	.dir = "/sys/fs/bpf", .magic = BPF_FS_MAGIC, .fs = "bpf",
};

FIXTURE_VARIANT_ADD(mount, tracefs) {
	.dir = "/sys/kernel/tracing", .magic = TRACEFS_MAGIC, .fs = "tracefs",
};

FIXTURE_VARIANT_ADD(mount, debugfs) {
	.dir = "/sys/kernel/debug", .magic = DEBUGFS_MAGIC, .fs = "debugfs",
};

FIXTURE_VARIANT_ADD(mount, dev_shm) {
	.dir = "/dev/shm", .magic = TMPFS_MAGIC, .fs = "tmpfs",
};

FIXTURE_VARIANT_ADD(mount, tmp) {
	.dir = "/tmp", .magic = TMPFS_MAGIC, .fs = "tmpfs",
};

FIXTURE_VARIANT_ADD(mount, devpts) {
	.dir = "/dev/pts", .magic = DEVPTS_SUPER_MAGIC, .fs = "devpts",
};

FIXTURE_VARIANT_ADD(mount, hugetlbfs) {
	.dir = "/dev/hugepages", .magic = HUGETLBFS_MAGIC, .fs = "hugetlbfs",
};

FIXTURE_SETUP(mount)
{
	self->path[0] = '\0';
}

FIXTURE_TEARDOWN(mount)
{
	if (self->path[0])
		unlink(self->path);
}

static int bpf_sys(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* A map pinned in bpffs is found again by path and holds what was put in. */
static void check_bpffs(struct __test_metadata *_metadata, char *path)
{
	union bpf_attr a;
	uint32_t key = 0;
	uint64_t in = 0x6c617a796d6967ULL, out = 0;
	int fd, fd2;

	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = sizeof(key);
	a.value_size = sizeof(in);
	a.max_entries = 1;
	fd = bpf_sys(BPF_MAP_CREATE, &a);
	ASSERT_GE(fd, 0) TH_LOG("BPF_MAP_CREATE: %s", strerror(errno));
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)&in;
	ASSERT_EQ(0, bpf_sys(BPF_MAP_UPDATE_ELEM, &a));
	snprintf(path, PATH_MAX, "/sys/fs/bpf/guest_env_%d", getpid());
	memset(&a, 0, sizeof(a));
	a.pathname = (uintptr_t)path;
	a.bpf_fd = fd;
	/* no "." in bpffs names: they are reserved */
	ASSERT_EQ(0, bpf_sys(BPF_OBJ_PIN, &a))
		TH_LOG("pinning in bpffs: %s", strerror(errno));
	close(fd);
	memset(&a, 0, sizeof(a));
	a.pathname = (uintptr_t)path;
	fd2 = bpf_sys(BPF_OBJ_GET, &a);
	ASSERT_GE(fd2, 0) TH_LOG("BPF_OBJ_GET %s: %s", path, strerror(errno));
	memset(&a, 0, sizeof(a));
	a.map_fd = fd2;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)&out;
	ASSERT_EQ(0, bpf_sys(BPF_MAP_LOOKUP_ELEM, &a));
	EXPECT_EQ(in, out);
	close(fd2);
}

/* A pattern written through a file of the filesystem reads back intact. */
static void check_file_data(struct __test_metadata *_metadata, char *path,
			    const char *dir)
{
	size_t len = 64 * LM_PAGE;
	char *p;
	int fd;

	snprintf(path, PATH_MAX, "%s/guest_env.%d", dir, getpid());
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ASSERT_GE(fd, 0) TH_LOG("create %s: %s", path, strerror(errno));
	ASSERT_EQ(0, ftruncate(fd, len));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	lm_fill(p, len, 7);
	munmap(p, len);
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, lm_check(p, len, 7));
	munmap(p, len);
	close(fd);
}

TEST_F(mount, mounted_and_working)
{
	struct statfs st;
	char buf[256];

	ASSERT_EQ(0, statfs(variant->dir, &st))
		TH_LOG("%s: %s", variant->dir, strerror(errno));
	ASSERT_EQ(variant->magic, (long)st.f_type)
		TH_LOG("%s is not a %s mount (f_type 0x%lx): qemu-test/init mounts it",
		       variant->dir, variant->fs, (long)st.f_type);

	if (variant->magic == BPF_FS_MAGIC) {
		check_bpffs(_metadata, self->path);
	} else if (variant->magic == TRACEFS_MAGIC) {
		EXPECT_GT(read_small("/sys/kernel/tracing/trace_clock", buf,
				     sizeof(buf)), 0);
		EXPECT_NE(NULL, strstr(buf, "global"));
	} else if (variant->magic == DEBUGFS_MAGIC) {
		int seen = !access("/sys/kernel/debug/bdi", F_OK) ||
			   !access("/sys/kernel/debug/tracing", F_OK);

		EXPECT_TRUE(seen) TH_LOG("debugfs mounted but empty");
	} else if (variant->magic == TMPFS_MAGIC) {
		check_file_data(_metadata, self->path, variant->dir);
	} else if (variant->magic == DEVPTS_SUPER_MAGIC) {
		int fd = posix_openpt(O_RDWR | O_NOCTTY);

		ASSERT_GE(fd, 0) TH_LOG("posix_openpt: %s", strerror(errno));
		EXPECT_EQ(0, grantpt(fd));
		EXPECT_EQ(0, unlockpt(fd));
		EXPECT_NE(NULL, ptsname(fd));
		close(fd);
	}
}

/* ---- loopback carries TCP ---- */

TEST(loopback_tcp)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	char out[8192], in[8192];
	struct ifreq ifr;
	int l, c, s;
	size_t got = 0;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(l, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ASSERT_EQ(0, ioctl(l, SIOCGIFFLAGS, &ifr));
	ASSERT_TRUE(ifr.ifr_flags & IFF_UP)
		TH_LOG("lo is down: qemu-test/init runs 'ip link set lo up'");
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(0, bind(l, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(0, listen(l, 1));
	ASSERT_EQ(0, getsockname(l, (struct sockaddr *)&sa, &sl));
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(c, 0);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&sa, sizeof(sa)))
		TH_LOG("connect to 127.0.0.1: %s", strerror(errno));
	s = accept(l, NULL, NULL);
	ASSERT_GE(s, 0);
	lm_fill(out, sizeof(out), 11);
	ASSERT_EQ((ssize_t)sizeof(out), write(c, out, sizeof(out)));
	while (got < sizeof(in)) {
		ssize_t n = read(s, in + got, sizeof(in) - got);

		ASSERT_GT(n, 0);
		got += n;
	}
	EXPECT_EQ(-1, lm_check(in, sizeof(in), 11));
	close(s);
	close(c);
	close(l);
}

/* ---- veth: the module loads and makes a pair ---- */

static int mod_builtin(const char *release, const char *name)
{
	char path[PATH_MAX], line[512];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/lib/modules/%s/modules.builtin", release);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char *b = strrchr(line, '/');

		b = b ? b + 1 : line;
		found = !strncmp(b, name, strlen(name)) &&
			!strcmp(b + strlen(name), ".ko\n");
	}
	fclose(f);
	return found;
}

TEST(veth_loadable)
{
	struct utsname u;
	char dir[PATH_MAX];

	ASSERT_EQ(0, uname(&u));
	snprintf(dir, sizeof(dir), "/lib/modules/%s", u.release);
	if (access("/sys/module/veth", F_OK) && !mod_builtin(u.release, "veth")) {
		if (access(dir, F_OK))
			SKIP(return, "no %.200s in this guest (a bare bzImage boots without modules)",
			     dir);
		ASSERT_EQ(0, run_quiet("modprobe veth"))
			TH_LOG("'modprobe veth' failed: is veth in %s/modules.dep?", dir);
		EXPECT_EQ(0, access("/sys/module/veth", F_OK));
	}
	run_quiet("ip link del lmge0");
	ASSERT_EQ(0, run_quiet("ip link add lmge0 type veth peer name lmge1"))
		TH_LOG("'ip link add ... type veth' failed (iproute2's ip on PATH?)");
	EXPECT_NE(0, if_nametoindex("lmge0"));
	EXPECT_NE(0, if_nametoindex("lmge1"));
	EXPECT_EQ(0, run_quiet("ip link del lmge0"));
	EXPECT_EQ(0, if_nametoindex("lmge1"));
}

/* ---- 2M huge pages: reserved, and hold data ---- */

TEST(hugepages_reserved)
{
	char buf[64];
	long nr;
	char *p;

	if (read_small("/proc/sys/vm/nr_hugepages", buf, sizeof(buf)) < 0)
		SKIP(return, "kernel without hugetlb (no /proc/sys/vm/nr_hugepages)");
	nr = strtol(buf, NULL, 10);
	if (nr < 2)
		SKIP(return, "%ld 2M huge pages reserved, 2 needed (qemu-test/run: LAZYMIG_HUGEPAGES)",
		     nr);
	TH_LOG("%ld 2M huge pages reserved", nr);
	p = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
	ASSERT_NE(MAP_FAILED, p) TH_LOG("MAP_HUGETLB: %s", strerror(errno));
	lm_fill(p, 2 * HPAGE, 3);
	EXPECT_EQ(-1, lm_check(p, 2 * HPAGE, 3));
	munmap(p, 2 * HPAGE);
}

/* ---- the tools, and a lazymig.ko for this kernel ---- */

/* The directory two levels above this binary: .../build */
static void build_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	int up;

	buf[n > 0 ? n : 0] = '\0';
	for (up = 0; up < 3; up++) {
		char *s = strrchr(buf, '/');

		if (s)
			*s = '\0';
	}
}

FIXTURE(tool) {};

FIXTURE_VARIANT(tool) {
	const char *name;
};

FIXTURE_VARIANT_ADD(tool, lazymig) { .name = "lazymig" };
FIXTURE_VARIANT_ADD(tool, bpftool) { .name = "bpftool" };
FIXTURE_VARIANT_ADD(tool, ip) { .name = "ip" };
FIXTURE_VARIANT_ADD(tool, tc) { .name = "tc" };

FIXTURE_SETUP(tool) {}
FIXTURE_TEARDOWN(tool) {}

/* Found on PATH, and not a busybox applet (iproute2's ip, tc). */
TEST_F(tool, on_path)
{
	char *path = strdup(getenv("PATH") ?: ""), *dir, *save = NULL;
	char exe[PATH_MAX], real[PATH_MAX];
	int found = 0;

	for (dir = strtok_r(path, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(exe, sizeof(exe), "%s/%s", dir, variant->name);
		found = !access(exe, X_OK);
	}
	free(path);
	ASSERT_TRUE(found) TH_LOG("%s is not on PATH", variant->name);
	ASSERT_NE(NULL, realpath(exe, real));
	EXPECT_EQ(NULL, strstr(real, "busybox"))
		TH_LOG("%s is busybox's applet, not the real tool", exe);
}

TEST(module_for_this_kernel)
{
	char build[PATH_MAX], ko[PATH_MAX + 16], want[256];
	struct utsname u;
	char *m, *v, *end;
	struct stat st;
	int fd;

	build_dir(build, sizeof(build));
	snprintf(ko, sizeof(ko), "%s/lazymig.ko", build);
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		SKIP(return, "no %.200s ('make module' for this kernel, see qemu-test/run's warning)",
		     ko);
	ASSERT_EQ(0, fstat(fd, &st));
	m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	v = memmem(m, st.st_size, "vermagic=", 9);
	ASSERT_NE(NULL, v) TH_LOG("%s has no vermagic", ko);
	v += 9;
	end = memchr(v, ' ', m + st.st_size - v);
	ASSERT_NE(NULL, end);
	ASSERT_EQ(0, uname(&u));
	snprintf(want, sizeof(want), "%s", u.release);
	EXPECT_EQ(0, strncmp(v, want, end - v) || strlen(want) != (size_t)(end - v))
		TH_LOG("%s is built for %.*s, the guest runs %s", ko,
		       (int)(end - v), v, want);
	munmap(m, st.st_size);
	close(fd);
}

TEST_HARNESS_MAIN
