// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include "lmtest.h"

void lm_fill(void *p, size_t len, uint64_t seed)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = lm_pat(seed, i);
}

long lm_check(const void *p, size_t len, uint64_t seed)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != lm_pat(seed, i))
			return (long)i;
	return -1;
}

long lm_check_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return (long)i;
	return -1;
}

void lm_wl_fill(char *mem, size_t npages)
{
	size_t k;

	for (k = 0; k < npages; k++)
		if (lm_wl_seed(k))
			lm_fill(mem + k * LM_PAGE, LM_PAGE, lm_wl_seed(k));
}

char *lm_wl_map(size_t mib)
{
	char *mem = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED)
		return NULL;
	lm_wl_fill(mem, (mib << 20) / LM_PAGE);
	return mem;
}

int lm_check_page(const char *p, size_t k, uint64_t seed, char *msg,
		  size_t len)
{
	long bad = seed ? lm_check(p, LM_PAGE, seed) :
			  lm_check_zero(p, LM_PAGE);

	if (bad < 0)
		return 0;
	snprintf(msg, len, "fail: page %zu byte %ld is 0x%02x\n", k, bad,
		 (unsigned char)p[bad]);
	return 1;
}

int lm_uffd_open(void)
{
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

int lm_uffd_api(uint64_t want, uint64_t *have)
{
	struct uffdio_api api = { .api = UFFD_API, .features = want };
	int fd = lm_uffd_open();

	if (fd < 0)
		return fd;
	if (ioctl(fd, UFFDIO_API, &api)) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (have)
		*have = api.features;
	return fd;
}

int lm_write_atomic(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		return -1;
	return rename(tmp, path);
}

void lm_shuffle(size_t *o, size_t n, uint64_t x)
{
	size_t i, j, t;

	for (i = n ? n - 1 : 0; i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = x % (i + 1);
		t = o[i];
		o[i] = o[j];
		o[j] = t;
	}
}

size_t *lm_shuffled(size_t n, uint64_t x)
{
	size_t *o = malloc((n ? n : 1) * sizeof(*o)), i;

	if (!o)
		return NULL;
	for (i = 0; i < n; i++)
		o[i] = i;
	lm_shuffle(o, n, x);
	return o;
}

static volatile sig_atomic_t lm_usr1_seen;

static void lm_on_usr1(int sig)
{
	(void)sig;
	lm_usr1_seen = 1;
}

int lm_ready_wait_usr1(const char *state, const char *text)
{
	sigset_t block, old;

	signal(SIGUSR1, lm_on_usr1);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (lm_write_atomic(state, text))
		return -1;
	while (!lm_usr1_seen)
		sigsuspend(&old);
	return 0;
}

int lm_wl_ready(const char *state, const char *mem, size_t mib)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "ready %d %p %zx\n", getpid(), mem,
		 mib << 20);
	return lm_ready_wait_usr1(state, msg);
}
