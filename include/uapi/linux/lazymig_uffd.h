/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * userfaultfd definitions newer than Debian 12's linux-libc-dev (6.1).
 * Values are the upstream ABI; whether the running kernel has them is
 * always probed with UFFDIO_API at run time.
 */
#ifndef _UAPI_LINUX_LAZYMIG_UFFD_H
#define _UAPI_LINUX_LAZYMIG_UFFD_H

#include <linux/types.h>
#include <linux/userfaultfd.h>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED		(1 << 13)	/* 6.4 */
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON			(1 << 14)	/* 6.6 */
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC			(1 << 15)	/* 6.7 */
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE			(1 << 16)	/* 6.8 */
#endif

#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE				(0x05)
#endif
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON				(0x08)
#endif

#ifndef UFFDIO_MOVE
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE		((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES	((__u64)1 << 1)
	__u64 mode;
	__s64 move;
};
#define UFFDIO_MOVE	_IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

#ifndef UFFDIO_POISON
struct uffdio_poison {
	struct uffdio_range range;
#define UFFDIO_POISON_MODE_DONTWAKE		((__u64)1 << 0)
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON	_IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

/*
 * Set by a kernel carrying lazymig's patches/: shmem hole punch and
 * truncate on a registered range raise UFFD_EVENT_REMOVE.  Bit chosen
 * above every upstream feature bit known at the time of writing; not 31,
 * which fs/userfaultfd.c uses internally (UFFD_FEATURE_INITIALIZED).
 */
#ifndef UFFD_FEATURE_EVENT_SHMEM_REMOVE
#define UFFD_FEATURE_EVENT_SHMEM_REMOVE		(1ULL << 30)
#endif

#endif /* _UAPI_LINUX_LAZYMIG_UFFD_H */
