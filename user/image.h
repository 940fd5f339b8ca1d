/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig: the process image (what dump collects and restore rebuilds)
 * and the one stream format that carries it, to a file or over the wire.
 *
 * Stream: a sequence of records.  Each record is
 *	struct lm_rec_hdr | payload (len bytes) | __u32 crc32 (zlib, of hdr+payload)
 * in this order:
 *	HEADER, PROC, THREAD x nr_threads, SIGACT, SHM x n, VMA x n, FD x n,
 *	PAGEMAP x n, [PAGES x n: eager pages], META_END,
 *	[PAGES x n], END
 * Pages before META_END are the ones the restorer must install before the
 * process resumes; pages after it are the bulk (eager restore, or the
 * background push of a lazy migration, which uses its own framing on the
 * wire but the same lm_pages header).
 *
 * A process-tree image (dump --tree) is one TREE record followed by one
 * such stream (HEADER .. END) per member, in the order of the TREE
 * record's members: parents before their children, the root first.
 * A reader that knows no trees stops at the TREE record with a message.
 * On the wire (send --tree) the same records come in another order:
 * TREE, every member's metadata, then every member's pages (see
 * tree_mig.h), so that the receiver has all of it before placing a page.
 *
 * Wire structs are fixed-size, little-endian (x86-64 only), no pointers;
 * variable parts follow the fixed part inside the same record payload.
 */
#ifndef LAZYMIG_IMAGE_H
#define LAZYMIG_IMAGE_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#define LM_MAGIC		0x474d5a4cU	/* "LZMG" */
#define LM_STREAM_VERSION	1
#define LM_PAGE_SIZE		4096UL
#define LM_REC_MAX		(64UL << 20)	/* any record larger is refused */
#define LM_MAX_THREADS		4096
#define LM_MAX_VMAS		65536
#define LM_MAX_FDS		65536
#define LM_MAX_SHMS		4096
#define LM_PATH_MAX		4096

enum lm_rec_type {
	LM_REC_HEADER = 1,
	LM_REC_PROC,
	LM_REC_THREAD,
	LM_REC_SIGACT,
	LM_REC_SHM,
	LM_REC_VMA,
	LM_REC_FD,
	LM_REC_PAGEMAP,
	LM_REC_PAGES,
	LM_REC_META_END,
	LM_REC_END,
	LM_REC_TREE,		/* first record of a process-tree image */
	LM_REC__MAX,
};

struct lm_rec_hdr {
	__u32 magic;		/* LM_MAGIC in every record: resync/sanity */
	__u32 type;		/* enum lm_rec_type */
	__u64 len;		/* payload bytes, <= LM_REC_MAX */
};

struct lm_header {
	__u32 version;		/* LM_STREAM_VERSION */
	__u32 flags;		/* LM_HDR_* */
	__u64 page_size;
	char kernel[65];	/* uname -r of the source */
	char hostname[65];
	__u8 pad[6];
	__u64 created_ns;	/* CLOCK_REALTIME at freeze */
	__u64 vdso_hash;	/* hash of the source vdso text, see restore */
};

#define LM_HDR_LAZY		(1U << 0)	/* pages after META_END come lazily */

/* Per process.  Followed by exe path, cwd, root (3 NUL-terminated strings). */
struct lm_proc {
	__s32 pid;
	__s32 ppid;
	__s32 pgid;
	__s32 sid;
	__u32 nr_threads;
	__u32 nr_vmas;
	__u32 nr_fds;
	__u32 nr_shms;
	/* PR_SET_MM_MAP fields */
	__u64 start_code, end_code, start_data, end_data;
	__u64 start_brk, brk, start_stack;
	__u64 arg_start, arg_end, env_start, env_end;
	__u64 auxv[128];	/* AT_* pairs, AT_NULL terminated */
	__u32 auxv_len;		/* number of __u64 used */
	__u32 umask;
	__u64 rlim_cur[16];
	__u64 rlim_max[16];
	__u32 personality;
	__u32 dumpable;
	__u32 no_new_privs;
	__s32 pdeathsig;
	__u64 shared_pending;	/* process-wide pending signals, bit n-1 */
	char comm[16];
	__u32 uid, gid;
	__u32 exe_len, cwd_len, root_len;	/* incl. NUL */
	__u32 pad;
	/* the clocks as the process saw them at the freeze; 0: unknown */
	__s64 clock_mono_ns, clock_boot_ns;
};

/*
 * Per thread; the first THREAD record is the group leader.  Followed by
 * xstate_len bytes of NT_X86_XSTATE.
 */
struct lm_thread {
	__s32 tid;
	__u32 flags;		/* LM_THR_* */
	__u64 regs[27];		/* struct user_regs_struct as seen at the
				 * ptrace stop, NOT rewound: with
				 * LM_THR_IN_SYSCALL, rax holds -ERESTART*
				 * and the restorer rewinds rip by 2 and
				 * reloads rax (orig_rax, or
				 * __NR_restart_syscall with
				 * LM_THR_RESTART_BLOCK) */
	__u64 sigmask;
	__u64 pending;		/* thread-private pending signals */
	__u64 clear_child_tid;
	__u64 robust_list, robust_len;
	__u64 rseq_addr;
	__u32 rseq_len, rseq_sig;
	__u64 ss_sp, ss_size;	/* sigaltstack */
	__s32 ss_flags;
	__s32 sched_policy;	/* with SCHED_RESET_ON_FORK */
	__s32 nice;
	__u32 xstate_len;
	char comm[16];
	__s32 rt_prio;		/* SCHED_FIFO/RR priority, else 0 */
	__u32 pad0;
};

#define LM_THR_IN_SYSCALL	(1U << 0)	/* stopped in a syscall that the
						 * kernel would restart */
#define LM_THR_RESTART_BLOCK	(1U << 1)	/* -ERESTART_RESTARTBLOCK */

struct lm_sigact_one {
	__u64 handler;
	__u64 flags;
	__u64 restorer;
	__u64 mask;
};

struct lm_sigact {
	struct lm_sigact_one act[64];	/* index = signo - 1 */
};

/* Memory kinds: how a VMA's pages are restored and served. */
enum lm_mem_kind {
	LM_MEM_ANON_PRIVATE = 1,	/* heap, stack, bss, anon mmap */
	LM_MEM_ANON_SHARED,		/* MAP_SHARED|MAP_ANONYMOUS: shm object */
	LM_MEM_MEMFD,			/* shared mapping of a memfd: shm object */
	LM_MEM_TMPFS,			/* shared mapping of a tmpfs file: shm */
	LM_MEM_FILE_PRIVATE,		/* private file mapping (+ COW pages) */
	LM_MEM_FILE_SHARED,		/* shared mapping of a regular file */
	LM_MEM_HUGETLB_PRIVATE,
	LM_MEM_HUGETLB_SHARED,		/* shm object */
	LM_MEM_VDSO,
	LM_MEM_VVAR,
	LM_MEM_VSYSCALL,
};

/*
 * Followed by path_len bytes of path (NUL-terminated): the file for file
 * kinds; for the others the bracketed name from /proc/PID/maps when there
 * is one ("[heap]", "[stack]", "[vdso]", "[vvar]", "[vvar_vclock]" (Linux
 * >= 6.13 has two LM_MEM_VVAR VMAs), "[anon:NAME]"), else path_len = 0.
 */
struct lm_vma {
	__u64 start, end;
	__u64 pgoff;		/* in bytes, as in /proc/PID/maps */
	__u32 kind;		/* enum lm_mem_kind */
	__u32 prot;		/* PROT_* */
	__u32 flags;		/* LM_VMA_* */
	__s32 shm_id;		/* lm_shm.id for shm kinds, else -1 */
	__u64 dev, ino;
	__u64 page_size;	/* 4 KiB, or the huge page size */
	__u32 path_len;
	__u32 pad;
};

#define LM_VMA_GROWSDOWN	(1U << 0)
#define LM_VMA_LOCKED		(1U << 1)
#define LM_VMA_DONTFORK		(1U << 2)
#define LM_VMA_WIPEONFORK	(1U << 3)
#define LM_VMA_HUGEPAGE		(1U << 4)
#define LM_VMA_NOHUGEPAGE	(1U << 5)
#define LM_VMA_DONTDUMP		(1U << 6)
#define LM_VMA_HEAP		(1U << 7)
#define LM_VMA_STACK		(1U << 8)
#define LM_VMA_LAZY		(1U << 9)	/* restored through userfaultfd */

/*
 * A shared memory object (shared anon, memfd, tmpfs file, hugetlb shared)
 * that one or more VMAs and/or fds refer to.  Its pages are addressed by
 * offset in the object, not by virtual address.  Followed by name_len
 * bytes: memfd name ("memfd:foo" as in /proc) or tmpfs path.
 */
struct lm_shm {
	__s32 id;
	__u32 kind;		/* LM_MEM_ANON_SHARED / MEMFD / TMPFS / HUGETLB_SHARED */
	__u64 size;		/* bytes (i_size) */
	__u32 seals;		/* F_GET_SEALS for memfd */
	__u32 flags;		/* LM_SHM_* */
	__u64 dev, ino;		/* identity on the source */
	__u64 page_size;
	__u32 name_len;
	__u32 pad;
};

#define LM_SHM_FD_REACHABLE	(1U << 0)	/* an fd or a path reaches it */
#define LM_SHM_EAGER		(1U << 1)	/* restored eagerly (see reason) */
#define LM_SHM_LAZY		(1U << 2)

enum lm_fd_type {
	LM_FD_REG = 1,		/* regular file or directory */
	LM_FD_PIPE,		/* one end of a pipe */
	LM_FD_CHR,		/* character device (/dev/null, zero, ...) */
	LM_FD_MEMFD,		/* memfd: content in shm object */
	LM_FD_EVENTFD,
	LM_FD_UNIX,		/* one end of an AF_UNIX socketpair (tree
				 * images only): pipe_ino = its inode, rdev
				 * = its peer's inode, pos = SOCK_* type,
				 * data = bytes queued for it to read */
};

/*
 * Followed by path_len bytes of path (NUL-terminated) and data_len bytes
 * of data (buffered pipe content, written only with the first end of the
 * pipe seen).
 */
struct lm_fd {
	__s32 fd;
	__u32 type;		/* enum lm_fd_type */
	__u32 flags;		/* O_* from fdinfo (access mode, O_APPEND, ...) */
	__u32 cloexec;
	__u64 pos;
	__u64 rdev;		/* LM_FD_CHR */
	__u64 pipe_ino;		/* LM_FD_PIPE: ends with the same ino pair */
	__s32 shm_id;		/* LM_FD_MEMFD */
	__u32 deleted;		/* regular file was unlinked */
	__u64 eventfd_count;
	__u32 path_len;
	__u32 data_len;
};

/*
 * Which pages of a range hold data at the source.  space: 0 = process
 * virtual addresses, addr = VMA start; otherwise shm object id + 1,
 * addr = offset 0.  Followed by bitmap (ceil(npages / 8) bytes, bit i =
 * page i has data; a clear bit is a never-touched or zero page, which is
 * never sent and is restored as a zero page).
 */
struct lm_pagemap {
	__u32 space;
	__u32 pad;
	__u64 addr;
	__u64 npages;
	__u64 page_size;
};

/* Followed by npages * page_size bytes of data. */
struct lm_pages {
	__u32 space;		/* as in lm_pagemap */
	__u32 flags;
	__u64 addr;		/* virtual address or offset in the object */
	__u64 npages;
	__u64 page_size;
};

/*
 * TREE record: struct lm_tree, then nr_members x struct lm_tree_member,
 * then nr_files x struct lm_tree_file.
 */
struct lm_tree {
	__u32 nr_members;
	__u32 nr_files;
};

#define LM_MAX_MEMBERS		1024

struct lm_tree_member {
	__s32 pid;
	__s32 parent;		/* index of the parent member; -1: the root */
};

/*
 * fds with the same file_id share one open file description (one
 * offset, one set of status flags), in one member or across members.
 * Every fd of a member appears here, in the member's fd order.
 */
struct lm_tree_file {
	__u32 member;
	__s32 fd;
	__u64 file_id;
};

/* ---- in-memory image ---- */

struct lm_thread_img {
	struct lm_thread t;
	void *xstate;		/* t.xstate_len bytes */
};

struct lm_vma_img {
	struct lm_vma v;
	char *path;		/* NULL unless file-backed */
};

struct lm_shm_img {
	struct lm_shm s;
	char *name;
	int fd;			/* dump side: an fd on the object, or -1 */
};

struct lm_fd_img {
	struct lm_fd f;
	char *path;
	void *data;
};

struct lm_pagemap_img {
	struct lm_pagemap m;
	unsigned long *bitmap;	/* npages bits */
};

struct lm_image {
	struct lm_header hdr;
	struct lm_proc proc;
	char *exe, *cwd, *root;
	struct lm_thread_img *threads;	/* [proc.nr_threads], leader first */
	struct lm_sigact sigact;
	struct lm_shm_img *shms;	/* [proc.nr_shms] */
	struct lm_vma_img *vmas;	/* [proc.nr_vmas], sorted by start */
	struct lm_fd_img *fds;		/* [proc.nr_fds] */
	struct lm_pagemap_img *maps;
	unsigned int nr_maps;
};

struct lm_tree_img {
	struct lm_tree t;
	struct lm_tree_member *members;	/* [t.nr_members] */
	struct lm_tree_file *files;	/* [t.nr_files] */
};

void lm_image_free(struct lm_image *img);
/* The VMA holding @addr (img->vmas sorted by address), or NULL. */
const struct lm_vma_img *lm_image_vma_of(const struct lm_image *img,
					 __u64 addr);
/* Do the process pages of @p lie inside one lazy VMA? */
int lm_pages_in_lazy_vma(const struct lm_image *img, const struct lm_pages *p);
void lm_tree_free(struct lm_tree_img *t);
/* file_id of fd @fd of member @member, or 0 when the tree has none. */
__u64 lm_tree_file_id(const struct lm_tree_img *t, unsigned int member,
		      int fd);
/* The pagemap whose range (VMA, or shm object) holds space/addr, or NULL. */
struct lm_pagemap_img *lm_image_pagemap(struct lm_image *img, __u32 space,
					__u64 addr);
const char *lm_mem_kind_name(unsigned int kind);
/*
 * Is @fd the very tmpfs file shm object @s was dumped from (same host
 * name, same device and inode)?  A migration between two namespaces of
 * one machine reopens the source's own file at its path.
 */
int lm_shm_same_file(const struct lm_image *img, const struct lm_shm *s,
		     int fd);
const char *lm_fd_type_name(unsigned int type);

/* ---- stream ---- */

struct lm_stream {
	int fd;
	int writing;
	int err;		/* first error (-errno or -EBADMSG), sticky */
	char *what;		/* description for messages ("image x.img") */
	unsigned char *buf;	/* buffered I/O */
	size_t buf_len, buf_pos, buf_cap;
	__u64 bytes;		/* bytes read or written so far */
	char errmsg[256];	/* human-readable reason of err */
	/* reader state (image.c): records are read exactly, never ahead */
	unsigned char *rec;	/* payload of the current record */
	size_t rec_cap;
	int state;		/* which records may come next */
	int peeked;		/* rec/peek_hdr hold an unconsumed record */
	struct lm_rec_hdr peek_hdr;
	const struct lm_image *img;	/* set by lm_read_meta; PAGES records
					 * are checked against it */
	__u64 pages_due, pages_got;	/* data pages of the ranges that are
					 * not lazy: all must come */
};

int lm_stream_open(struct lm_stream *s, int fd, int writing, const char *what);
int lm_stream_flush(struct lm_stream *s);
void lm_stream_close(struct lm_stream *s);	/* frees buffers, not fd */

/* HEADER .. PAGEMAPs; the caller then writes eager PAGES and META_END. */
int lm_write_meta(struct lm_stream *s, const struct lm_image *img);
int lm_write_pages(struct lm_stream *s, const struct lm_pages *p,
		   const void *data);
int lm_write_mark(struct lm_stream *s, enum lm_rec_type type);	/* META_END, END */

/*
 * Reads HEADER .. PAGEMAPs into img, validating every field (hostile
 * input: counts, lengths, ranges, overlaps).  On error returns -errno
 * and s->errmsg names what is wrong.
 */
int lm_read_meta(struct lm_stream *s, struct lm_image *img);
/*
 * Next record after the metadata: returns LM_REC_PAGES with *p filled and
 * *data pointing to npages * page_size bytes (valid until the next call),
 * LM_REC_META_END or LM_REC_END, or -errno.
 */
int lm_read_next(struct lm_stream *s, struct lm_pages *p, void **data);

/* The TREE record (write it first, then each member's stream). */
int lm_write_tree(struct lm_stream *s, const struct lm_tree_img *t);
/*
 * At the start of a stream: reads a TREE record into @t (validated:
 * parents before children) and returns 1, or returns 0 with @t zeroed and
 * the HEADER of a single-process image left for lm_read_meta; -errno.
 */
int lm_read_tree(struct lm_stream *s, struct lm_tree_img *t);
/* After a member's END: the next member's HEADER may come. */
void lm_stream_next_member(struct lm_stream *s);
/* Offset of the next record not consumed yet (a reader peeks one). */
__u64 lm_stream_pos(const struct lm_stream *s);
/*
 * Reposition a reader on a seekable fd at byte @off, where the PAGES
 * records after the metadata of @img start (lm_stream_pos after its
 * lm_read_meta), to read that member's pages again.
 */
int lm_stream_seek_pages(struct lm_stream *s, __u64 off,
			 const struct lm_image *img);
/*
 * A tree on the wire (send --tree): every member's metadata first, then
 * every member's pages in member order.  Makes the records that come
 * next the pages (PAGES .. META_END [.. END]) of member @img.
 */
void lm_stream_member_pages(struct lm_stream *s, const struct lm_image *img);

#endif /* LAZYMIG_IMAGE_H */
