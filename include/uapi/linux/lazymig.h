/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * lazymig: ABI between lazymig.ko (/dev/lazymig) and the lazy-pages daemon.
 *
 * The daemon opens /dev/lazymig (CAP_SYS_ADMIN) and states the ABI version
 * it was built for with LAZYMIG_IOC_HANDSHAKE before anything else; any
 * other request before that fails with EPROTO, a version the module does
 * not speak with EPROTONOSUPPORT.  LAZYMIG_IOC_QUERY works at any time.
 *
 * The daemon then registers shmem inodes (memfd, tmpfs, shared anonymous
 * memory reached through a file) by fd, with the set of page indexes still
 * to restore.  For a registered inode the module reports, before the
 * operation proceeds, every operation that would lose or expose data of a
 * pending page:
 *
 *   LAZYMIG_EV_ACCESS    read(), write(), splice(), sendfile(),
 *                        copy_file_range() or fallocate() allocation
 *                        touching a pending index, or a page fault on it
 *                        through a mapping not registered with
 *                        userfaultfd; [start, end) in bytes.
 *   LAZYMIG_EV_PUNCH     fallocate(PUNCH_HOLE) over a pending index;
 *                        [start, end) in bytes.
 *   LAZYMIG_EV_TRUNCATE  a shrinking truncate dropping or cutting a
 *                        pending index; start = new size, end = old size.
 *
 * The caller sleeps (killable) until the daemon acknowledges the event
 * with LAZYMIG_IOC_ACK or write(2) of struct lazymig_ack records.  Before
 * acking, the daemon brings the pages in line and updates the pending set:
 *
 *   ACCESS    fill every pending page in the range.
 *   PUNCH     fill the pending pages the range only partly covers (their
 *             uncovered bytes survive the punch); clear the pending pages
 *             it fully covers (they read zeros afterwards).
 *   TRUNCATE  fill the page holding the new end if it is pending and the
 *             new size is not page aligned; clear every pending index at
 *             or past DIV_ROUND_UP(new size, page size).
 *
 * Events for writes and truncates are raised with the inode lock held, so
 * the daemon must never write(2) or ftruncate(2) a registered file itself:
 * it installs pages with LAZYMIG_IOC_FILL (or UFFDIO_COPY into a mapping),
 * which do not take that lock.  The process that opened /dev/lazymig is
 * exempt from all events.  If it closes /dev/lazymig or dies, every
 * sleeping caller fails with EIO and all its registrations are dropped.
 */
#ifndef _UAPI_LINUX_LAZYMIG_H
#define _UAPI_LINUX_LAZYMIG_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define LAZYMIG_ABI_VERSION	1
#define LAZYMIG_DEV_NAME	"lazymig"
#define LAZYMIG_IOC_MAGIC	0xb7

/* Feature bits of struct lazymig_query and struct lazymig_handshake. */
#define LAZYMIG_FEAT_READ	0x01U	/* read/splice/sendfile/copy */
#define LAZYMIG_FEAT_WRITE	0x02U	/* write/splice to the file */
#define LAZYMIG_FEAT_ALLOC	0x04U	/* fallocate allocation */
#define LAZYMIG_FEAT_PUNCH	0x08U	/* fallocate(PUNCH_HOLE) */
#define LAZYMIG_FEAT_TRUNCATE	0x10U	/* shrinking truncate */
#define LAZYMIG_FEAT_FILL	0x20U	/* LAZYMIG_IOC_FILL */
#define LAZYMIG_FEAT_ACK_ERROR	0x40U	/* lazymig_ack.error fails the op */
#define LAZYMIG_FEAT_FAULT	0x80U	/* faults of non-uffd mappings */

/* LAZYMIG_IOC_QUERY: what the loaded module speaks; no handshake needed. */
struct lazymig_query {
	__u32 abi_version;	/* out: LAZYMIG_ABI_VERSION of the module */
	__u32 features;		/* out: LAZYMIG_FEAT_* */
	__u32 event_size;	/* out: sizeof(struct lazymig_event) */
	__u32 timeout_ms;	/* out: a caller gives up after this, 0: never */
	__u64 reserved;
};

/* LAZYMIG_IOC_HANDSHAKE: first request of a daemon. */
struct lazymig_handshake {
	__u32 abi_version;	/* in: LAZYMIG_ABI_VERSION the daemon speaks */
	__u32 flags;		/* in: 0 */
	__u32 features;		/* out: LAZYMIG_FEAT_* */
	__u32 reserved;
};

/*
 * LAZYMIG_IOC_REGISTER: report events for the inode behind @fd.  Page
 * indexes [0, nr_pages) may be pending; @bitmap points to
 * DIV_ROUND_UP(nr_pages, 64) __u64 words, bit (i % 64) of word (i / 64)
 * set when index i is pending, or is 0 for "all pending".  One daemon at a
 * time may register an inode (EBUSY).  EINVAL: not a shmem regular file.
 */
struct lazymig_register {
	__s32 fd;		/* in */
	__u32 id;		/* out: names the registration in later calls */
	__u64 nr_pages;		/* in: 1 .. 2^32 */
	__u64 bitmap;		/* in: user pointer, or 0 */
	__u64 cookie;		/* in: echoed in every event */
	__u64 flags;		/* in: 0 */
};

/*
 * LAZYMIG_IOC_UNREGISTER (the id): no more events for that inode; callers
 * still waiting on one of its events proceed as if it had been acked.
 */

/* LAZYMIG_IOC_UPDATE: mark [first, first + count) restored or pending. */
#define LAZYMIG_UPDATE_CLEAR	0	/* restored: no more events */
#define LAZYMIG_UPDATE_SET	1	/* pending again */
struct lazymig_update {
	__u32 id;		/* in */
	__u32 op;		/* in: LAZYMIG_UPDATE_* */
	__u64 first;		/* in: page index */
	__u64 count;		/* in: pages; ERANGE past nr_pages */
	__u64 pending;		/* out: pages still pending */
};

/*
 * LAZYMIG_IOC_FILL: install the content of the pending pages among
 * [index, index + count) from @src (count pages; bytes past the end of the
 * file are ignored) and mark them restored, each page atomically for every
 * other reader of the file.  Pages not pending are skipped; a pending page
 * that already holds data keeps it and is marked restored too.  Returns 0
 * with the counts, or the first hard error: EFAULT, ENXIO (a page past the
 * end of the file), EPERM (write-sealed memfd), ENOMEM; the counts then
 * tell how far it got.
 */
#define LAZYMIG_FILL_MAX	512	/* pages per call */
struct lazymig_fill {
	__u32 id;		/* in */
	__u32 flags;		/* in: 0 */
	__u64 index;		/* in: first page index */
	__u64 count;		/* in: 1 .. LAZYMIG_FILL_MAX */
	__u64 src;		/* in: user pointer to count pages */
	__u32 filled;		/* out: pages installed from src */
	__u32 present;		/* out: pending pages that had data already */
};

/* Event types and flags of struct lazymig_event. */
#define LAZYMIG_EV_ACCESS	1
#define LAZYMIG_EV_PUNCH	2
#define LAZYMIG_EV_TRUNCATE	3
#define LAZYMIG_EVF_READ	0x01U
#define LAZYMIG_EVF_WRITE	0x02U
#define LAZYMIG_EVF_ALLOC	0x04U	/* with WRITE: fallocate() */
#define LAZYMIG_EVF_MMAP	0x08U	/* a page fault, one page */

/* read(2) of /dev/lazymig returns whole records; poll(2) says when. */
struct lazymig_event {
	__u32 type;		/* LAZYMIG_EV_* */
	__u32 flags;		/* LAZYMIG_EVF_* */
	__u32 seq;		/* acknowledge with this */
	__u32 id;		/* registration */
	__u64 cookie;		/* of the registration */
	__u64 start;		/* see the top of this file */
	__u64 end;
	__u32 pid;		/* caller's tgid in the daemon's pid namespace */
	__u32 tid;		/* caller's tid, ditto; 0 if not visible */
	__u64 reserved[2];
};

/*
 * LAZYMIG_IOC_ACK or write(2) of records: let the caller of event @seq
 * proceed (error 0) or fail its operation with @error (-4095 .. -1).
 * ENOENT: no such event waits (its caller was killed or gave up).
 */
struct lazymig_ack {
	__u32 seq;
	__s32 error;
};

#define LAZYMIG_IOC_QUERY	_IOR(LAZYMIG_IOC_MAGIC, 0x00, struct lazymig_query)
#define LAZYMIG_IOC_HANDSHAKE	_IOWR(LAZYMIG_IOC_MAGIC, 0x01, struct lazymig_handshake)
#define LAZYMIG_IOC_REGISTER	_IOWR(LAZYMIG_IOC_MAGIC, 0x02, struct lazymig_register)
#define LAZYMIG_IOC_UPDATE	_IOWR(LAZYMIG_IOC_MAGIC, 0x03, struct lazymig_update)
#define LAZYMIG_IOC_UNREGISTER	_IOW(LAZYMIG_IOC_MAGIC, 0x04, __u32)
#define LAZYMIG_IOC_FILL	_IOWR(LAZYMIG_IOC_MAGIC, 0x05, struct lazymig_fill)
#define LAZYMIG_IOC_ACK		_IOW(LAZYMIG_IOC_MAGIC, 0x06, struct lazymig_ack)

#endif /* _UAPI_LINUX_LAZYMIG_H */
