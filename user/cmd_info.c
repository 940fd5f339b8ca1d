// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig info FILE: an image in human-readable form.  The whole stream is
 * read and checked (every record, every page run); a damaged image is
 * refused with the reader's reason and exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/user.h>
#include "image.h"
#include "lazymig.h"

/* @s with anything unprintable shown as \xNN (an image is untrusted). */
static const char *vis(const char *s)
{
	static char ring[4][4 * LM_PATH_MAX + 1];
	static int next;
	char *out = ring[next++ % 4], *o = out;

	if (!s)
		return "";
	for (; *s && o < out + 4 * LM_PATH_MAX - 4; s++) {
		unsigned char c = *s;

		if (c >= 0x20 && c < 0x7f && c != '\\')
			*o++ = c;
		else
			o += sprintf(o, "\\x%02x", c);
	}
	*o = 0;
	return out;
}

static const char *prot_str(__u32 prot, char *buf)
{
	buf[0] = prot & PROT_READ ? 'r' : '-';
	buf[1] = prot & PROT_WRITE ? 'w' : '-';
	buf[2] = prot & PROT_EXEC ? 'x' : '-';
	buf[3] = 0;
	return buf;
}

static const char *vma_flags_str(__u32 f, char *buf, size_t len)
{
	static const char *const names[] = {
		"growsdown", "locked", "dontfork", "wipeonfork", "hugepage",
		"nohugepage", "dontdump", "heap", "stack", "lazy",
	};
	size_t i, n = 0;

	buf[0] = 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (f & (1U << i))
			n += snprintf(buf + n, len - n, "%s%s", n ? "," : "",
				      names[i]);
	if (!n)
		snprintf(buf, len, "-");
	return buf;
}

static __u64 map_count(const struct lm_pagemap_img *m)
{
	__u64 i, c = 0;

	for (i = 0; i < m->m.npages; i++)
		c += (m->bitmap[i / 64] >> (i % 64)) & 1;
	return c;
}

static void print_header(const struct lm_image *img, const char *file)
{
	const struct lm_proc *p = &img->proc;
	time_t t = img->hdr.created_ns / 1000000000ULL;
	char when[64];

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
	printf("image %s: stream version %u, kernel %s, host %s, dumped %s%s\n",
	       vis(file), img->hdr.version, vis(img->hdr.kernel),
	       vis(img->hdr.hostname), when,
	       img->hdr.flags & LM_HDR_LAZY ? ", lazy" : "");
	printf("process %d (%s): ppid %d pgid %d sid %d uid %u gid %u\n",
	       p->pid, vis(p->comm), p->ppid, p->pgid, p->sid, p->uid, p->gid);
	printf("  exe %s\n  cwd %s\n  root %s\n", vis(img->exe),
	       vis(img->cwd), vis(img->root));
	printf("  code %llx-%llx data %llx-%llx brk %llx-%llx stack %llx\n",
	       (unsigned long long)p->start_code,
	       (unsigned long long)p->end_code,
	       (unsigned long long)p->start_data,
	       (unsigned long long)p->end_data,
	       (unsigned long long)p->start_brk, (unsigned long long)p->brk,
	       (unsigned long long)p->start_stack);
	printf("  args %llx-%llx env %llx-%llx auxv %u words\n",
	       (unsigned long long)p->arg_start,
	       (unsigned long long)p->arg_end,
	       (unsigned long long)p->env_start,
	       (unsigned long long)p->env_end, p->auxv_len);
	printf("  umask %03o personality %#x dumpable %u no_new_privs %u pdeathsig %d shared pending %#llx\n",
	       p->umask, p->personality, p->dumpable, p->no_new_privs,
	       p->pdeathsig, (unsigned long long)p->shared_pending);
	printf("  clocks at freeze: monotonic %lld.%09lld s, boottime %lld.%09lld s\n",
	       (long long)(p->clock_mono_ns / 1000000000),
	       (long long)(p->clock_mono_ns % 1000000000),
	       (long long)(p->clock_boot_ns / 1000000000),
	       (long long)(p->clock_boot_ns % 1000000000));
	printf("  rlimit nofile %llu/%llu core %llu/%llu stack %llu/%llu\n",
	       (unsigned long long)p->rlim_cur[7],
	       (unsigned long long)p->rlim_max[7],
	       (unsigned long long)p->rlim_cur[4],
	       (unsigned long long)p->rlim_max[4],
	       (unsigned long long)p->rlim_cur[3],
	       (unsigned long long)p->rlim_max[3]);
}

static void print_threads(const struct lm_image *img)
{
	unsigned int i;

	printf("threads: %u\n", img->proc.nr_threads);
	for (i = 0; i < img->proc.nr_threads; i++) {
		const struct lm_thread *t = &img->threads[i].t;
		const struct user_regs_struct *r = (const void *)t->regs;

		printf("  thread %d \"%s\"%s: rip %llx rsp %llx rax %llx fs_base %llx",
		       t->tid, vis(t->comm), i ? "" : " (leader)",
		       (unsigned long long)r->rip, (unsigned long long)r->rsp,
		       (unsigned long long)r->rax,
		       (unsigned long long)r->fs_base);
		if (t->flags & LM_THR_IN_SYSCALL)
			printf(" in syscall %lld%s", (long long)r->orig_rax,
			       t->flags & LM_THR_RESTART_BLOCK ?
			       " (restart block)" : "");
		printf("\n    sigmask %#llx pending %#llx xstate %u bytes tid_address %llx robust %llx rseq %llx/%u",
		       (unsigned long long)t->sigmask,
		       (unsigned long long)t->pending, t->xstate_len,
		       (unsigned long long)t->clear_child_tid,
		       (unsigned long long)t->robust_list,
		       (unsigned long long)t->rseq_addr, t->rseq_len);
		if (t->ss_size)
			printf(" altstack %llx+%llu", (unsigned long long)t->ss_sp,
			       (unsigned long long)t->ss_size);
		printf(" policy %d prio %d nice %d\n", t->sched_policy,
		       t->rt_prio, t->nice);
	}
}

static void print_sigacts(const struct lm_image *img)
{
	int i, n = 0;

	for (i = 0; i < 64; i++)
		n += img->sigact.act[i].handler != 0;
	printf("signal actions: %d not default\n", n);
	for (i = 0; i < 64; i++) {
		const struct lm_sigact_one *a = &img->sigact.act[i];

		if (!a->handler)
			continue;
		printf("  signal %d: %s flags %#llx mask %#llx\n", i + 1,
		       a->handler == 1 ? "ignored" : "handler",
		       (unsigned long long)a->flags,
		       (unsigned long long)a->mask);
	}
}

static void print_memory(struct lm_image *img)
{
	char prot[4], flags[128];
	unsigned int i;

	printf("shm objects: %u\n", img->proc.nr_shms);
	for (i = 0; i < img->proc.nr_shms; i++) {
		const struct lm_shm *s = &img->shms[i].s;
		struct lm_pagemap_img *m = lm_image_pagemap(img, i + 1, 0);

		printf("  shm %d %s %s: %llu bytes, %llu of %llu pages with data, seals %#x\n",
		       s->id, lm_mem_kind_name(s->kind),
		       img->shms[i].name ? vis(img->shms[i].name) : "-",
		       (unsigned long long)s->size,
		       (unsigned long long)(m ? map_count(m) : 0),
		       (unsigned long long)(m ? m->m.npages : 0), s->seals);
	}
	printf("VMAs: %u\n", img->proc.nr_vmas);
	for (i = 0; i < img->proc.nr_vmas; i++) {
		const struct lm_vma_img *v = &img->vmas[i];
		struct lm_pagemap_img *m = lm_image_pagemap(img, 0, v->v.start);

		printf("  %llx-%llx %s %-15s %s", (unsigned long long)v->v.start,
		       (unsigned long long)v->v.end, prot_str(v->v.prot, prot),
		       lm_mem_kind_name(v->v.kind),
		       vma_flags_str(v->v.flags, flags, sizeof(flags)));
		if (v->v.shm_id >= 0)
			printf(" shm %d", v->v.shm_id);
		if (m)
			printf(" data %llu/%llu pages",
			       (unsigned long long)map_count(m),
			       (unsigned long long)m->m.npages);
		if (v->v.page_size != LM_PAGE_SIZE)
			printf(" pagesize %lluK",
			       (unsigned long long)v->v.page_size >> 10);
		printf(" %s\n", vis(v->path));
	}
}

static void print_fds(const struct lm_image *img)
{
	unsigned int i;

	printf("fds: %u\n", img->proc.nr_fds);
	for (i = 0; i < img->proc.nr_fds; i++) {
		const struct lm_fd_img *f = &img->fds[i];

		printf("  fd %d %s flags %#o%s", f->f.fd,
		       lm_fd_type_name(f->f.type), f->f.flags,
		       f->f.cloexec ? " cloexec" : "");
		switch (f->f.type) {
		case LM_FD_PIPE:
			printf(" pipe %llu, %u bytes buffered\n",
			       (unsigned long long)f->f.pipe_ino, f->f.data_len);
			break;
		case LM_FD_EVENTFD:
			printf(" count %llu\n",
			       (unsigned long long)f->f.eventfd_count);
			break;
		case LM_FD_MEMFD:
			printf(" shm %d %s\n", f->f.shm_id, vis(f->path));
			break;
		case LM_FD_UNIX:
			printf(" socket %llu, peer %llu, type %llu, %u bytes queued\n",
			       (unsigned long long)f->f.pipe_ino,
			       (unsigned long long)f->f.rdev,
			       (unsigned long long)f->f.pos, f->f.data_len);
			break;
		default:
			printf(" pos %llu %s%s\n", (unsigned long long)f->f.pos,
			       vis(f->path),
			       f->f.deleted ? " (deleted)" : "");
		}
	}
}

/* Read (and so check) every page record; prints the totals. */
static int read_pages(struct lm_stream *s, const struct lm_image *img)
{
	__u64 marked = 0, bytes_marked = 0, pages = 0, bytes = 0, eager = 0;
	int meta_end = 0, r;
	unsigned int i;

	for (i = 0; i < img->nr_maps; i++) {
		__u64 c = map_count(&img->maps[i]);

		marked += c;
		bytes_marked += c * img->maps[i].m.page_size;
	}
	for (;;) {
		struct lm_pages p;
		void *data;

		r = lm_read_next(s, &p, &data);
		if (r < 0)
			return r;
		if (r == LM_REC_END)
			break;
		if (r == LM_REC_META_END) {
			meta_end = 1;
			continue;
		}
		pages += p.npages;
		bytes += p.npages * p.page_size;
		if (!meta_end)
			eager += p.npages;
	}
	printf("pages: %llu with data (%llu KiB) in %u pagemaps; stream carries %llu (%llu KiB), %llu before resume\n",
	       (unsigned long long)marked,
	       (unsigned long long)(bytes_marked >> 10), img->nr_maps,
	       (unsigned long long)pages, (unsigned long long)(bytes >> 10),
	       (unsigned long long)eager);
	return 0;
}

static int print_one(struct lm_stream *s, const char *file)
{
	struct lm_image img;
	int err;

	err = lm_read_meta(s, &img);
	if (err)
		return err;
	print_header(&img, file);
	print_threads(&img);
	print_sigacts(&img);
	print_memory(&img);
	print_fds(&img);
	err = read_pages(s, &img);
	lm_image_free(&img);
	return err;
}

/* A tree image: who is whose parent, which fds share a file, then each. */
static int print_tree(struct lm_stream *s, const struct lm_tree_img *t,
		      const char *file)
{
	unsigned int i, k;
	int err = 0;

	printf("tree: %u processes, %u fds\n", t->t.nr_members, t->t.nr_files);
	for (i = 0; i < t->t.nr_members; i++) {
		const struct lm_tree_member *m = &t->members[i];

		printf("  member %u: PID %d", i, m->pid);
		if (m->parent >= 0)
			printf(", child of member %d (PID %d)", m->parent,
			       t->members[m->parent].pid);
		printf("\n");
	}
	for (i = 0; i < t->t.nr_files; i++) {
		const struct lm_tree_file *f = &t->files[i];

		for (k = 0; k < i; k++)
			if (t->files[k].file_id == f->file_id)
				break;
		if (k < i)
			printf("  member %u fd %d shares its open file with member %u fd %d\n",
			       f->member, f->fd, t->files[k].member,
			       t->files[k].fd);
	}
	for (i = 0; i < t->t.nr_members && !err; i++) {
		printf("\n== member %u (PID %d)\n", i, t->members[i].pid);
		if (i)
			lm_stream_next_member(s);
		err = print_one(s, file);
	}
	return err;
}

int cmd_info(int argc, char **argv)
{
	struct lm_tree_img t;
	struct lm_stream s;
	int fd, err;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: lazymig info FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "info: cannot open %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	err = lm_stream_open(&s, fd, 0, argv[1]);
	if (!err)
		err = lm_read_tree(&s, &t);
	if (err > 0) {
		err = print_tree(&s, &t, argv[1]);
		lm_tree_free(&t);
	} else if (!err) {
		err = print_one(&s, argv[1]);
	}
	if (err)
		fprintf(stderr, "info: %s\n", s.errmsg[0] ? s.errmsg :
			strerror(-err));
	lm_stream_close(&s);
	close(fd);
	return err ? 1 : 0;
}
