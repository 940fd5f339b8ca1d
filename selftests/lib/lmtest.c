// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
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
