// SPDX-License-Identifier: GPL-2.0
/*
 * `lazymig dump` of file descriptors and process fields: regular files
 * with offsets, access modes and close-on-exec, both ends of a pipe with
 * its buffered bytes (read without consuming them), /dev/null, an eventfd
 * count, a memfd fd sharing the shm object of its mapping; cwd, rlimits,
 * umask, mm fields and auxv; `lazymig info` names them; the workload, left
 * running, still reads its pipe bytes and offsets ok.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "kselftest_harness.h"
#include "lmtest.h"
#include "wl.h"
#include "imgtest.h"

FIXTURE(dump_fds) {
	struct lm_wl wl;
	struct lm_loaded img;
	char image[300];
};

FIXTURE_SETUP(dump_fds)
{
	char msg[4200];

	ASSERT_EQ(0, lm_wl_dump_load(&self->wl, "wl_mem",
				     "--fds --memfd --cwd --rlimits --heap --pages 4",
				     self->image, sizeof(self->image),
				     &self->img, msg, sizeof(msg)))
		TH_LOG("%s", msg);
}

FIXTURE_TEARDOWN(dump_fds)
{
	lm_wl_dump_free(&self->wl, self->image, &self->img);
}

static const struct lm_fd_img *fd_of(const struct lm_image *img, long fd)
{
	unsigned int i;

	for (i = 0; i < img->proc.nr_fds; i++)
		if (img->fds[i].f.fd == fd)
			return &img->fds[i];
	return NULL;
}

#define FD(name) fd_of(&self->img.img, lm_wl_fd(&self->wl, name))

TEST_F(dump_fds, files_pipes_devices)
{
	const struct lm_fd_img *rw = FD("file_rw"), *ro = FD("file_ro");
	const struct lm_fd_img *pr = FD("pipe_r"), *pw = FD("pipe_w");
	const struct lm_fd_img *null = FD("devnull"), *efd = FD("eventfd");
	char msg[600];

	ASSERT_TRUE(rw && ro && pr && pw && null && efd);
	EXPECT_EQ(LM_FD_REG, rw->f.type);
	EXPECT_EQ(5000, rw->f.pos);
	EXPECT_EQ(O_RDWR, rw->f.flags & O_ACCMODE);
	EXPECT_EQ(1, rw->f.cloexec);
	EXPECT_EQ(123, ro->f.pos);
	EXPECT_EQ(O_RDONLY, ro->f.flags & O_ACCMODE);
	EXPECT_EQ(0, ro->f.cloexec);
	EXPECT_EQ(0, rw->f.deleted);
	ASSERT_NE(NULL, rw->path);
	EXPECT_NE(NULL, strstr(rw->path, "/wl_fdfile."));
	EXPECT_EQ(LM_FD_PIPE, pr->f.type);
	EXPECT_EQ(LM_FD_PIPE, pw->f.type);
	EXPECT_EQ(pr->f.pipe_ino, pw->f.pipe_ino);
	EXPECT_EQ(O_WRONLY, pw->f.flags & O_ACCMODE);
	/* the data goes with the first end seen */
	ASSERT_EQ(3000, pr->f.data_len + pw->f.data_len);
	EXPECT_EQ(-1, lm_check(pr->f.data_len ? pr->data : pw->data, 3000,
			       0x100e));
	EXPECT_EQ(LM_FD_CHR, null->f.type);
	EXPECT_EQ(makedev(1, 3), null->f.rdev);
	EXPECT_STREQ("/dev/null", null->path);
	EXPECT_EQ(LM_FD_EVENTFD, efd->f.type);
	EXPECT_EQ(42, efd->f.eventfd_count);
	EXPECT_TRUE(efd->f.flags & O_NONBLOCK);
	/* the workload still finds its 3000 bytes and offsets */
	EXPECT_EQ(0, lm_wl_verify(&self->wl, self->wl.pid, msg, sizeof(msg),
				  5000)) TH_LOG("after --leave-running: %s", msg);
}

TEST_F(dump_fds, memfd_fd_shares_the_mapping_object)
{
	const struct lm_image *img = &self->img.img;
	const struct lm_fd_img *mfd = FD("memfd");
	const struct lm_wl_region *r = lm_wl_region(&self->wl, "memfd");
	const struct lm_vma_img *v;
	const struct lm_shm_img *s;

	ASSERT_TRUE(mfd && r);
	v = lm_loaded_vma(&self->img, r->addr);
	ASSERT_NE(NULL, v);
	EXPECT_EQ(LM_FD_MEMFD, mfd->f.type);
	ASSERT_EQ(v->v.shm_id, mfd->f.shm_id);
	s = &img->shms[mfd->f.shm_id];
	EXPECT_EQ(4 * 4096 + 100, s->s.size);	/* --pages 4 */
	EXPECT_EQ(F_SEAL_SHRINK | F_SEAL_GROW, s->s.seals);
	EXPECT_STREQ("memfd:wl_memfd", s->name);
	EXPECT_TRUE(s->s.flags & LM_SHM_FD_REACHABLE);
}

TEST_F(dump_fds, process_fields)
{
	const struct lm_image *img = &self->img.img;
	const struct lm_proc *p = &img->proc;
	const struct lm_wl_region *heap = lm_wl_region(&self->wl, "heap");
	char cwd[4096];
	unsigned int i;
	int at_null = 0;

	ASSERT_NE(NULL, realpath(self->wl.dir, cwd));
	EXPECT_STREQ(cwd, img->cwd);
	EXPECT_STREQ("/", img->root);
	EXPECT_NE(NULL, strstr(img->exe, "/wl_mem"));
	EXPECT_EQ(1000, p->rlim_cur[RLIMIT_NOFILE]);
	EXPECT_EQ(027, p->umask);
	EXPECT_STREQ("wl_mem", p->comm);
	EXPECT_EQ(getpid(), p->ppid);
	/* brk ends the [heap] VMA grown by sbrk */
	ASSERT_NE(NULL, heap);
	EXPECT_EQ(heap->addr + heap->len, p->brk);
	EXPECT_LE(p->start_brk, heap->addr);
	EXPECT_NE(0, p->start_code);
	EXPECT_LT(p->start_code, p->end_code);
	EXPECT_LT(p->arg_start, p->arg_end);
	EXPECT_LT(p->env_start, p->env_end);
	EXPECT_NE(0, p->start_stack);
	EXPECT_GE(p->auxv_len, 2);
	for (i = 0; i + 1 < p->auxv_len; i += 2)
		if (!p->auxv[i])
			at_null = 1;
	EXPECT_TRUE(at_null);
	EXPECT_EQ(1, p->dumpable);
}

TEST_F(dump_fds, info_names_fds)
{
	char out[65536], want[64];

	ASSERT_EQ(0, lm_run_tool(out, sizeof(out), "info %s", self->image))
		TH_LOG("%s", out);
	snprintf(want, sizeof(want), "fd %ld pipe", lm_wl_fd(&self->wl, "pipe_r"));
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("no '%s' in:\n%s", want, out);
	EXPECT_NE(NULL, strstr(out, "3000 bytes buffered"));
	EXPECT_NE(NULL, strstr(out, "pos 5000"));
	EXPECT_NE(NULL, strstr(out, "eventfd flags"));
	EXPECT_NE(NULL, strstr(out, "count 42"));
	EXPECT_NE(NULL, strstr(out, "chardev"));
	EXPECT_NE(NULL, strstr(out, "memfd:wl_memfd"));
}

TEST_HARNESS_MAIN
