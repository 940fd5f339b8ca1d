// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig dump: the memory layout.  VMAs from /proc/PID/smaps (ranges,
 * protections, VmFlags, page sizes), each given a kind; shared memory
 * objects (shared anon, memfd, tmpfs, hugetlb) identified by device and
 * inode and held open; which pages have data, from /proc/PID/pagemap for
 * private memory and SEEK_DATA on the object for shared memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/lazymig_pagemap.h>
#include "dump.h"

#define PM_PFN_MASK	((1ULL << 55) - 1)
#define PM_GUARD	(1ULL << 58)	/* MADV_GUARD_INSTALL, Linux >= 6.14 */
#define PM_FILE		(1ULL << 61)
#define PM_SWAP		(1ULL << 62)
#define PM_PRESENT	(1ULL << 63)
#define PM_CHUNK	4096		/* pagemap entries read at once */
#define MAX_VMA_PAGES	(1ULL << 29)	/* bitmap fits one record */
#define QUIET_MIN	(256UL << 20)	/* smaps may spare a pagemap scan */

/* What smaps tells of a VMA's pages (d->vma_smaps). */
enum { SMAPS_SCAN, SMAPS_QUIET, SMAPS_FULL };

#define SCAN_REGIONS		512
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102
#endif

#ifndef F_GET_SEALS
#define F_GET_SEALS	1034
#endif

struct smaps_vma {
	unsigned long start, end, pgoff, ino;
	unsigned int major, minor;
	char perms[5];
	char path[LM_PATH_MAX];
	unsigned long kpagesize;
	unsigned long anon_kb, swap_kb;
	char vmflags[256];
};

static int has_flag(const char *flags, const char *f)
{
	const char *p = flags;
	size_t n = strlen(f);

	while ((p = strstr(p, f))) {
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || !p[n] ||
						     p[n] == '\n'))
			return 1;
		p += n;
	}
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* ---- shared memory objects ---- */

static int shm_kind_of(int fd, int hint)
{
	struct statfs sf;

	if (!fstatfs(fd, &sf) && sf.f_type == HUGETLBFS_MAGIC)
		return LM_MEM_HUGETLB_SHARED;
	return hint;
}

int lm_dump_shm_get(struct lm_dump *d, const char *open_path,
		    const char *name, int kind_hint)
{
	struct lm_image *img = &d->img;
	struct lm_shm_img *n, *m;
	struct stat st;
	unsigned int i;
	int fd, seals;

	fd = open(open_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lm_dump_fail(d, -errno, "cannot open %s: %s", open_path,
				    strerror(errno));
	if (fstat(fd, &st)) {
		close(fd);
		return lm_dump_fail(d, -errno, "cannot stat %s", open_path);
	}
	for (i = 0; i < img->proc.nr_shms; i++) {
		m = &img->shms[i];
		if (m->s.dev == st.st_dev && m->s.ino == st.st_ino) {
			close(fd);
			return i;
		}
	}
	if (img->proc.nr_shms >= LM_MAX_SHMS) {
		close(fd);
		return lm_dump_fail(d, -E2BIG, "more than %d shared memory objects",
				    LM_MAX_SHMS);
	}
	n = realloc(img->shms, (img->proc.nr_shms + 1) * sizeof(*n));
	if (!n) {
		close(fd);
		return lm_dump_fail(d, -ENOMEM, "out of memory");
	}
	img->shms = n;
	m = &img->shms[img->proc.nr_shms];
	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->s.id = img->proc.nr_shms;
	m->s.kind = shm_kind_of(fd, kind_hint);
	m->s.size = st.st_size;
	m->s.dev = st.st_dev;
	m->s.ino = st.st_ino;
	m->s.page_size = m->s.kind == LM_MEM_HUGETLB_SHARED ? (__u64)st.st_blksize :
			 LM_PAGE_SIZE;
	if (m->s.page_size < LM_PAGE_SIZE)
		m->s.page_size = LM_PAGE_SIZE;
	/* shmem that is not a memfd reports F_SEAL_SEAL: not a real seal */
	seals = fcntl(fd, F_GET_SEALS);
	if (!strncmp(name, "memfd:", 6) && seals > 0)
		m->s.seals = seals;
	m->name = strdup(name);
	if (!m->name) {
		close(fd);
		m->fd = -1;
		return lm_dump_fail(d, -ENOMEM, "out of memory");
	}
	return img->proc.nr_shms++;
}

/* "/memfd:NAME (deleted)" -> "memfd:NAME" */
static void memfd_name(const char *path, char *out, size_t len)
{
	size_t n;

	snprintf(out, len, "%s", path + 1);
	n = strlen(out);
	if (n > 10 && ends_with(out, " (deleted)"))
		out[n - 10] = 0;
}

/* ---- VMAs ---- */

static int parse_head(const char *l, struct smaps_vma *v)
{
	int pos = 0;

	memset(v, 0, sizeof(*v));
	if (sscanf(l, "%lx-%lx %4s %lx %x:%x %lu%n", &v->start, &v->end,
		   v->perms, &v->pgoff, &v->major, &v->minor, &v->ino,
		   &pos) < 7)
		return -1;
	l += pos;
	while (*l == ' ')
		l++;
	snprintf(v->path, sizeof(v->path), "%.*s", (int)strcspn(l, "\n"), l);
	return 0;
}

static __u32 vma_flags(const struct smaps_vma *s)
{
	static const struct { const char *f; __u32 bit; } map[] = {
		{ "gd", LM_VMA_GROWSDOWN }, { "lo", LM_VMA_LOCKED },
		{ "dc", LM_VMA_DONTFORK }, { "wf", LM_VMA_WIPEONFORK },
		{ "hg", LM_VMA_HUGEPAGE }, { "nh", LM_VMA_NOHUGEPAGE },
		{ "dd", LM_VMA_DONTDUMP },
	};
	__u32 flags = 0;
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (has_flag(s->vmflags, map[i].f))
			flags |= map[i].bit;
	return flags;
}

static int special_kind(struct lm_dump *d, const struct smaps_vma *s,
			struct lm_vma *v)
{
	const char *p = s->path;

	if (!strcmp(p, "[heap]")) {
		v->flags |= LM_VMA_HEAP;
		return LM_MEM_ANON_PRIVATE;
	}
	if (!strcmp(p, "[stack]")) {
		v->flags |= LM_VMA_STACK;
		return LM_MEM_ANON_PRIVATE;
	}
	if (!strcmp(p, "[vdso]"))
		return LM_MEM_VDSO;
	if (!strcmp(p, "[vvar]") || !strcmp(p, "[vvar_vclock]"))
		return LM_MEM_VVAR;
	if (!strcmp(p, "[vsyscall]"))
		return LM_MEM_VSYSCALL;
	if (!strncmp(p, "[anon:", 6) && s->perms[3] == 'p')
		return LM_MEM_ANON_PRIVATE;
	return lm_dump_fail(d, -EOPNOTSUPP,
			    "PID %d has a %s mapping at %lx-%lx; it is not supported",
			    d->pid, p, s->start, s->end);
}

static int map_files_path(struct lm_dump *d, const struct smaps_vma *s,
			  char *buf, size_t len)
{
	snprintf(buf, len, "/proc/%d/map_files/%lx-%lx", d->pid, s->start,
		 s->end);
	return 0;
}

static int shared_kind(struct lm_dump *d, const struct smaps_vma *s,
		       struct lm_vma *v, int kind)
{
	char mf[96], name[LM_PATH_MAX];
	int id;

	map_files_path(d, s, mf, sizeof(mf));
	if (kind == LM_MEM_MEMFD)
		memfd_name(s->path, name, sizeof(name));
	else
		snprintf(name, sizeof(name), "%s", s->path);
	id = lm_dump_shm_get(d, mf, name, kind);
	if (id < 0)
		return id;
	v->shm_id = id;
	v->page_size = d->img.shms[id].s.page_size;
	if (kind == LM_MEM_TMPFS)	/* its path reaches it */
		d->img.shms[id].s.flags |= LM_SHM_FD_REACHABLE;
	return d->img.shms[id].s.kind;
}

static int file_kind(struct lm_dump *d, const struct smaps_vma *s,
		     struct lm_vma *v)
{
	int shared = s->perms[3] == 's';
	char mf[96];
	struct statfs sf;
	struct stat st;
	int fd, tmpfs;

	if (ends_with(s->path, " (deleted)"))
		return lm_dump_fail(d, -EOPNOTSUPP,
				    "PID %d maps the deleted file %s at %lx-%lx; deleted files are not supported",
				    d->pid, s->path, s->start, s->end);
	map_files_path(d, s, mf, sizeof(mf));
	fd = open(mf, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lm_dump_fail(d, -errno, "cannot open %s (%s): %s", mf,
				    s->path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return lm_dump_fail(d, -EOPNOTSUPP,
				    "PID %d maps %s at %lx-%lx, which is not a regular file; device mappings are not supported",
				    d->pid, s->path, s->start, s->end);
	}
	tmpfs = !fstatfs(fd, &sf) && sf.f_type == TMPFS_MAGIC;
	close(fd);
	if (shared && tmpfs)
		return shared_kind(d, s, v, LM_MEM_TMPFS);
	return shared ? LM_MEM_FILE_SHARED : LM_MEM_FILE_PRIVATE;
}

static int classify(struct lm_dump *d, const struct smaps_vma *s,
		    struct lm_vma *v)
{
	int shared = s->perms[3] == 's';
	const char *p = s->path;

	if (has_flag(s->vmflags, "ht")) {
		v->page_size = s->kpagesize;
		if (shared)
			return shared_kind(d, s, v, LM_MEM_HUGETLB_SHARED);
		return LM_MEM_HUGETLB_PRIVATE;
	}
	if (!p[0] && !shared)
		return LM_MEM_ANON_PRIVATE;
	if (p[0] == '[' && strncmp(p, "[anon_shmem:", 12))
		return special_kind(d, s, v);
	if (shared && (!strcmp(p, "/dev/zero (deleted)") ||
		       !strncmp(p, "[anon_shmem:", 12)))
		return shared_kind(d, s, v, LM_MEM_ANON_SHARED);
	if (!strncmp(p, "/SYSV", 5))
		return lm_dump_fail(d, -EOPNOTSUPP,
				    "PID %d maps SysV shared memory at %lx-%lx; SysV shm is not supported",
				    d->pid, s->start, s->end);
	if (!strncmp(p, "/memfd:", 7)) {
		if (shared)
			return shared_kind(d, s, v, LM_MEM_MEMFD);
		return lm_dump_fail(d, -EOPNOTSUPP,
				    "PID %d maps memfd %s privately at %lx-%lx; private memfd mappings are not supported",
				    d->pid, p, s->start, s->end);
	}
	if (p[0] == '/')
		return file_kind(d, s, v);
	return lm_dump_fail(d, -EOPNOTSUPP,
			    "PID %d has an unsupported mapping at %lx-%lx (%s %s)",
			    d->pid, s->start, s->end, s->perms, p);
}

static int refuse_flags(struct lm_dump *d, const struct smaps_vma *s)
{
	if (has_flag(s->vmflags, "um") || has_flag(s->vmflags, "uw") ||
	    has_flag(s->vmflags, "ui"))
		return lm_dump_fail(d, -EOPNOTSUPP,
				    "PID %d has %lx-%lx registered with userfaultfd; a process that uses userfaultfd itself cannot be dumped",
				    d->pid, s->start, s->end);
	if (has_flag(s->vmflags, "ss"))
		return lm_dump_fail(d, -EOPNOTSUPP,
				    "PID %d uses a shadow stack at %lx-%lx; shadow stacks are not supported",
				    d->pid, s->start, s->end);
	return 0;
}

/*
 * The process is frozen, so smaps and the pagemap agree.  A big VMA
 * without a single anonymous or swapped page (a PROT_NONE reservation,
 * an untouched file) has no data: its pagemap is not read.  Small ones
 * are read anyway, where guard regions are also seen.  A private VMA
 * whose every page is anonymous or swapped has data in every page (a
 * guard marker or the shared zero page is neither): no scan either.
 * That saves a walk of every PTE in the freeze for memory that is in
 * use, which is most of it.
 */
static int smaps_hint(const struct lm_dump *d, const struct smaps_vma *s,
		      int kind)
{
	unsigned long kb = (s->end - s->start) >> 10;

	/*
	 * Read before the freeze, the counts may have grown since by page
	 * faults (no syscall): "no page" holds only where none can come,
	 * in a PROT_NONE VMA.  "Every page" still holds: a page can leave
	 * only by a syscall, or by reclaim of an MADV_FREE page, which
	 * then reads as zeros, as it would have here.
	 */
	if (kb >= QUIET_MIN >> 10 && !s->anon_kb && !s->swap_kb &&
	    kind != LM_MEM_HUGETLB_PRIVATE &&
	    (d->smaps_early <= 0 || !strncmp(s->perms, "---", 3)))
		return SMAPS_QUIET;
	if ((kind == LM_MEM_ANON_PRIVATE || kind == LM_MEM_FILE_PRIVATE) &&
	    s->kpagesize == LM_PAGE_SIZE && s->anon_kb + s->swap_kb == kb)
		return SMAPS_FULL;
	return SMAPS_SCAN;
}

static int add_vma(struct lm_dump *d, const struct smaps_vma *s)
{
	struct lm_image *img = &d->img;
	struct lm_vma_img *n, *m;
	struct lm_vma v = { 0 };
	unsigned char *q;
	int kind;

	if (refuse_flags(d, s))
		return -EOPNOTSUPP;
	v.start = s->start;
	v.end = s->end;
	v.pgoff = s->pgoff;
	v.prot = (s->perms[0] == 'r' ? PROT_READ : 0) |
		 (s->perms[1] == 'w' ? PROT_WRITE : 0) |
		 (s->perms[2] == 'x' ? PROT_EXEC : 0);
	v.flags = vma_flags(s);
	v.shm_id = -1;
	v.dev = ((__u64)s->major << 8) | s->minor;
	v.ino = s->ino;
	v.page_size = LM_PAGE_SIZE;
	kind = classify(d, s, &v);
	if (kind < 0)
		return kind;
	v.kind = kind;
	if (img->proc.nr_vmas >= LM_MAX_VMAS)
		return lm_dump_fail(d, -E2BIG, "PID %d has more than %d VMAs",
				    d->pid, LM_MAX_VMAS);
	n = realloc(img->vmas, (img->proc.nr_vmas + 1) * sizeof(*n));
	if (!n)
		return lm_dump_fail(d, -ENOMEM, "out of memory");
	img->vmas = n;
	q = realloc(d->vma_smaps, img->proc.nr_vmas + 1);
	if (!q)
		return lm_dump_fail(d, -ENOMEM, "out of memory");
	d->vma_smaps = q;
	q[img->proc.nr_vmas] = smaps_hint(d, s, kind);
	m = &img->vmas[img->proc.nr_vmas++];
	m->v = v;
	m->path = s->path[0] ? strdup(s->path) : NULL;
	if (s->path[0] && !m->path)
		return lm_dump_fail(d, -ENOMEM, "out of memory");
	return 0;
}

static void smaps_line(struct smaps_vma *v, const char *l)
{
	if (!strncmp(l, "Anonymous:", 10))
		v->anon_kb = strtoul(l + 10, NULL, 10);
	else if (!strncmp(l, "Swap:", 5))
		v->swap_kb = strtoul(l + 5, NULL, 10);
	else if (!strncmp(l, "KernelPageSize:", 15))
		v->kpagesize = strtoul(l + 15, NULL, 10) * 1024;
	else if (!strncmp(l, "VmFlags:", 8))
		snprintf(v->vmflags, sizeof(v->vmflags), "%.*s",
			 (int)strcspn(l + 8, "\n"), l + 8);
}

void (*lm_dump_early_hook)(pid_t pid);

/*
 * Before the freeze: smaps, under a watch (vmwatch.h).  Best effort: where
 * the watch cannot be set up, smaps is read in the freeze as before.
 */
int lm_collect_mm_early(struct lm_dump *d)
{
	char path[64];
	const char *e = getenv("LAZYMIG_EARLY_SMAPS");

	if ((e && !strcmp(e, "0")) || lm_vmwatch_start(&d->watch, d->pid))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps", d->pid);
	d->early_smaps = lm_dump_slurp(path, NULL);
	if (!d->early_smaps)
		lm_vmwatch_stop(&d->watch);
	if (lm_dump_early_hook)
		lm_dump_early_hook(d->pid);
	return 0;
}

/* A VMA line ("7f12...-7f13... rw-p ..."), not a "Key: value" one. */
static int vma_line(const char *l)
{
	const char *p = l;

	while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
		p++;
	return p > l && *p == '-';
}

static const char *next_line(const char *l)
{
	const char *e = strchrnul(l, '\n');

	return *e ? e + 1 : e;
}

/* Do the VMA lines of @smaps match /proc/PID/maps, line for line? */
static int same_maps(struct lm_dump *d, const char *smaps)
{
	const char *l = smaps, *m;
	char path[64], *maps;
	int same = 1;

	snprintf(path, sizeof(path), "/proc/%d/maps", d->pid);
	maps = lm_dump_slurp(path, NULL);
	if (!maps)
		return 0;
	for (m = maps; *m && same; m = next_line(m)) {
		size_t n = strchrnul(m, '\n') - m;

		while (*l && !vma_line(l))
			l = next_line(l);
		same = *l && !strncmp(l, m, n) && (l[n] == '\n' || !l[n]);
		if (same)
			l = next_line(l);
	}
	while (same && *l && !vma_line(l))
		l = next_line(l);
	free(maps);
	return same && !*l;
}

/* The smaps text to use in the freeze: the early one if it still holds. */
static char *freeze_smaps(struct lm_dump *d)
{
	char path[64], *text = NULL;

	if (d->early_smaps && lm_vmwatch_quiet(&d->watch) &&
	    same_maps(d, d->early_smaps)) {
		text = d->early_smaps;
		d->early_smaps = NULL;
		d->smaps_early = 1;
	} else if (d->early_smaps) {
		d->smaps_early = -1;
	}
	lm_vmwatch_stop(&d->watch);
	free(d->early_smaps);
	d->early_smaps = NULL;
	if (text)
		return text;
	snprintf(path, sizeof(path), "/proc/%d/smaps", d->pid);
	return lm_dump_slurp(path, NULL);
}

int lm_collect_mm(struct lm_dump *d)
{
	struct smaps_vma *cur = calloc(1, sizeof(*cur));
	char *text, *l, *next;
	int have = 0, err = 0;

	text = freeze_smaps(d);
	if (!text || !cur) {
		free(cur);
		free(text);
		return lm_dump_fail(d, -EIO, "cannot read /proc/%d/smaps",
				    d->pid);
	}
	for (l = text; l && *l && !err; l = next) {
		struct smaps_vma tmp;

		next = strchr(l, '\n');
		if (next)
			*next++ = 0;
		if (vma_line(l) && !parse_head(l, &tmp)) {
			if (have)
				err = add_vma(d, cur);
			*cur = tmp;
			have = 1;
		} else if (have) {
			smaps_line(cur, l);
		}
	}
	if (have && !err)
		err = add_vma(d, cur);
	free(cur);
	free(text);
	if (!err && !d->img.proc.nr_vmas)
		err = lm_dump_fail(d, -EINVAL, "PID %d has no memory (a kernel thread?)",
				   d->pid);
	return err;
}

/* ---- which pages have data ---- */

static __u64 zero_pfn(void)
{
	static __u64 pfn = ~0ULL;
	volatile char *p;
	__u64 e = 0;
	int fd;

	if (pfn != ~0ULL)
		return pfn;
	pfn = 0;
	p = mmap(NULL, LM_PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return pfn;
	(void)p[0];
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && pread(fd, &e, 8, (unsigned long)p / LM_PAGE_SIZE * 8) == 8 &&
	    (e & PM_PRESENT))
		pfn = e & PM_PFN_MASK;
	if (fd >= 0)
		close(fd);
	munmap((void *)p, LM_PAGE_SIZE);
	return pfn;
}

static int page_has_data(__u32 kind, __u64 e)
{
	__u64 pfn = e & PM_PFN_MASK;

	if (e & PM_SWAP)
		return 1;
	if (!(e & PM_PRESENT))
		return 0;
	switch (kind) {
	case LM_MEM_ANON_PRIVATE:
		return !pfn || pfn != zero_pfn();
	case LM_MEM_FILE_PRIVATE:
		return !(e & PM_FILE);	/* a COW'd anonymous page */
	default:
		return 1;
	}
}

static void set_bit64(unsigned long *map, __u64 i)
{
	map[i / 64] |= 1UL << (i % 64);
}

static struct lm_pagemap_img *new_map(struct lm_dump *d, __u32 space,
				      __u64 addr, __u64 npages, __u64 ps)
{
	struct lm_image *img = &d->img;
	struct lm_pagemap_img *n, *m;

	if (npages > MAX_VMA_PAGES) {
		lm_dump_fail(d, -E2BIG,
			     "PID %d has a %llu GiB mapping with data at %llx (a sanitizer's shadow memory?); mappings over %llu GiB with data are not supported",
			     d->pid, (unsigned long long)((npages * ps) >> 30),
			     (unsigned long long)addr,
			     (unsigned long long)((MAX_VMA_PAGES * LM_PAGE_SIZE) >> 30));
		return NULL;
	}
	n = realloc(img->maps, (img->nr_maps + 1) * sizeof(*n));
	if (!n)
		goto oom;
	img->maps = n;
	m = &img->maps[img->nr_maps];
	m->m = (struct lm_pagemap){ .space = space, .addr = addr,
				    .npages = npages, .page_size = ps };
	m->bitmap = calloc((npages + 63) / 64 + 1, sizeof(unsigned long));
	if (!m->bitmap)
		goto oom;
	img->nr_maps++;
	return m;
oom:
	lm_dump_fail(d, -ENOMEM, "out of memory for a pagemap");
	return NULL;
}

/*
 * Which PAGEMAP_SCAN categories this kernel takes: 0 if the ioctl is
 * missing, or if the kernel has guard regions (MADV_GUARD_INSTALL) but
 * cannot report them in a scan (6.13/6.14): then the scan would count a
 * guard marker as a swapped page, and the pagemap read sees PM_GUARD.
 */
static __u64 scan_categories(int pm_fd)
{
	static int probed;
	static __u64 cats;
	struct lm_page_region r;
	struct lm_pm_scan_arg a;
	char *p;
	int guards;

	if (probed)
		return cats;
	probed = 1;
	p = mmap(NULL, LM_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	guards = !madvise(p, LM_PAGE_SIZE, MADV_GUARD_INSTALL);
	munmap(p, LM_PAGE_SIZE);
	cats = LM_PAGE_IS_FILE | LM_PAGE_IS_PRESENT | LM_PAGE_IS_SWAPPED |
	       LM_PAGE_IS_PFNZERO | LM_PAGE_IS_GUARD;
	/* an empty range: only the masks are checked */
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.vec = (unsigned long)&r;
	a.vec_len = 1;
	a.category_anyof_mask = cats;
	a.return_mask = cats;
	if (ioctl(pm_fd, LM_PAGEMAP_SCAN, &a) >= 0)
		return cats;
	cats &= ~LM_PAGE_IS_GUARD;
	a.category_anyof_mask = a.return_mask = cats;
	if (guards || ioctl(pm_fd, LM_PAGEMAP_SCAN, &a) < 0)
		cats = 0;
	return cats;
}

static int region_has_data(__u32 kind, __u64 c)
{
	if (c & LM_PAGE_IS_SWAPPED)
		return 1;
	if (!(c & LM_PAGE_IS_PRESENT))
		return 0;
	switch (kind) {
	case LM_MEM_ANON_PRIVATE:
		return !(c & LM_PAGE_IS_PFNZERO);
	case LM_MEM_FILE_PRIVATE:
		return !(c & LM_PAGE_IS_FILE);	/* COW'd anonymous pages */
	default:
		return 1;
	}
}

/*
 * The same bitmap as vma_pagemap() from PAGEMAP_SCAN: the kernel returns
 * runs of pages with equal categories, so only pages with something in
 * them cost a few bytes each, instead of 8 bytes read per page.
 */
static int vma_scan(struct lm_dump *d, int pm_fd, const struct lm_vma *v,
		    struct lm_pagemap_img *m, __u64 cats)
{
	__u64 ps = v->page_size, addr = v->start, p, last;
	struct lm_page_region *r;
	struct lm_pm_scan_arg a;
	long n, i;

	r = malloc(SCAN_REGIONS * sizeof(*r));
	if (!r)
		return lm_dump_fail(d, -ENOMEM, "out of memory");
	while (addr < v->end) {
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.start = addr;
		a.end = v->end;
		a.vec = (unsigned long)r;
		a.vec_len = SCAN_REGIONS;
		a.category_anyof_mask = LM_PAGE_IS_PRESENT |
					LM_PAGE_IS_SWAPPED;
		a.return_mask = cats;
		n = ioctl(pm_fd, LM_PAGEMAP_SCAN, &a);
		if (n < 0) {
			free(r);
			return lm_dump_fail(d, -errno, "PAGEMAP_SCAN of PID %d at %llx: %s",
					    d->pid, (unsigned long long)addr,
					    strerror(errno));
		}
		for (i = 0; i < n; i++) {
			if (r[i].categories & LM_PAGE_IS_GUARD) {
				free(r);
				return lm_dump_fail(d, -EOPNOTSUPP,
						    "PID %d has a guard region (MADV_GUARD_INSTALL) at %llx; guard regions are not supported",
						    d->pid, (unsigned long long)
						    r[i].start);
			}
			if (!region_has_data(v->kind, r[i].categories))
				continue;
			last = (r[i].end - 1 - v->start) / ps;
			for (p = (r[i].start - v->start) / ps; p <= last; p++)
				set_bit64(m->bitmap, p);
		}
		if (a.walk_end <= addr) {
			free(r);
			return lm_dump_fail(d, -EIO, "PAGEMAP_SCAN of PID %d made no progress at %llx",
					    d->pid, (unsigned long long)addr);
		}
		addr = a.walk_end;
	}
	free(r);
	return 0;
}

static int vma_pagemap(struct lm_dump *d, int pm_fd, const struct lm_vma *v,
		       int hint)
{
	__u64 step = v->page_size / LM_PAGE_SIZE, n4k, i, *buf;
	struct lm_pagemap_img *m;

	m = new_map(d, 0, v->start, (v->end - v->start) / v->page_size,
		    v->page_size);
	if (!m)
		return -ENOMEM;
	if (hint == SMAPS_QUIET)
		return 0;
	if (hint == SMAPS_FULL) {
		for (i = 0; i < m->m.npages; i++)
			set_bit64(m->bitmap, i);
		return 0;
	}
	if (scan_categories(pm_fd))
		return vma_scan(d, pm_fd, v, m, scan_categories(pm_fd));
	n4k = (v->end - v->start) / LM_PAGE_SIZE;
	buf = malloc(PM_CHUNK * 8);
	if (!buf)
		return lm_dump_fail(d, -ENOMEM, "out of memory");
	for (i = 0; i < n4k; i += PM_CHUNK) {
		__u64 cnt = n4k - i < PM_CHUNK ? n4k - i : PM_CHUNK, j;
		off_t off = (v->start / LM_PAGE_SIZE + i) * 8;

		if (pread(pm_fd, buf, cnt * 8, off) != (ssize_t)(cnt * 8)) {
			free(buf);
			return lm_dump_fail(d, -EIO, "cannot read the pagemap of PID %d at %llx",
					    d->pid, (unsigned long long)v->start);
		}
		for (j = 0; j < cnt; j++) {
			if (buf[j] & PM_GUARD) {
				free(buf);
				return lm_dump_fail(d, -EOPNOTSUPP,
						    "PID %d has a guard region (MADV_GUARD_INSTALL) at %llx; guard regions are not supported",
						    d->pid, (unsigned long long)
						    (v->start + (i + j) * LM_PAGE_SIZE));
			}
			if (!((i + j) % step) && page_has_data(v->kind, buf[j]))
				set_bit64(m->bitmap, (i + j) / step);
		}
	}
	free(buf);
	return 0;
}

static int has_private_pages(__u32 kind)
{
	return kind == LM_MEM_ANON_PRIVATE || kind == LM_MEM_FILE_PRIVATE ||
	       kind == LM_MEM_HUGETLB_PRIVATE;
}

static int shm_pagemap(struct lm_dump *d, const struct lm_shm_img *s)
{
	__u64 ps = s->s.page_size, npages = (s->s.size + ps - 1) / ps;
	struct lm_pagemap_img *m;
	off_t pos = 0, end;

	m = new_map(d, s->s.id + 1, 0, npages, ps);
	if (!m)
		return -ENOMEM;
	while ((__u64)pos < s->s.size) {
		__u64 p;

		pos = lseek(s->fd, pos, SEEK_DATA);
		if (pos < 0)
			break;		/* ENXIO: no more data */
		end = lseek(s->fd, pos, SEEK_HOLE);
		if (end < 0)
			end = s->s.size;
		for (p = pos / ps; p < npages && p * ps < (__u64)end; p++)
			set_bit64(m->bitmap, p);
		pos = end;
	}
	return 0;
}

int lm_collect_shm_maps(struct lm_dump *d)
{
	char path[64];
	unsigned int i;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", d->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lm_dump_fail(d, -errno, "cannot open %s: %s", path,
				    strerror(errno));
	for (i = 0; i < d->img.proc.nr_vmas && !err; i++)
		if (has_private_pages(d->img.vmas[i].v.kind))
			err = vma_pagemap(d, fd, &d->img.vmas[i].v,
					  d->vma_smaps ? d->vma_smaps[i] :
					  SMAPS_SCAN);
	close(fd);
	for (i = 0; i < d->img.proc.nr_shms && !err; i++)
		err = shm_pagemap(d, &d->img.shms[i]);
	return err;
}
