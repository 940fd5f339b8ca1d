// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig.ko: the registered shmem inodes and their pending page sets.
 *
 * A registration pins its inode and owns a bitmap of pending page indexes.
 * The hooks find it by inode in an RCU hash table and test the bitmap
 * without locks; the daemon changes the bitmap under reg->lock.  A page is
 * always installed before its bit is cleared, so a hook that finds the bit
 * clear also finds the page.
 */
#include <linux/bitmap.h>
#include <linux/file.h>
#include <linux/hashtable.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "internal.h"

#define LM_MAX_PAGES	BIT_ULL(32)

struct lm_reg {
	struct hlist_node hnode;	/* lm_regs, under lm_reg_mutex + RCU */
	struct inode *inode;		/* pinned */
	struct lm_ctx *ctx;		/* the owner; outlives the registration */
	u32 id;
	u64 cookie;
	refcount_t users;		/* the tables + FILL/UPDATE in progress */
	spinlock_t lock;		/* writers of pending */
	unsigned long nr_pages;
	unsigned long *pending;
	struct rcu_head rcu;
};

static DEFINE_HASHTABLE(lm_regs, 8);
static DEFINE_MUTEX(lm_reg_mutex);
static atomic_t lm_nr_regs = ATOMIC_INIT(0);

static void lm_reg_free_rcu(struct rcu_head *rcu)
{
	struct lm_reg *reg = container_of(rcu, struct lm_reg, rcu);

	kvfree(reg->pending);
	kfree(reg);
}

static void lm_reg_put(struct lm_reg *reg)
{
	if (refcount_dec_and_test(&reg->users)) {
		iput(reg->inode);
		call_rcu(&reg->rcu, lm_reg_free_rcu);
	}
}

/* A registration of @ctx by id, with a reference, or NULL. */
static struct lm_reg *lm_reg_get(struct lm_ctx *ctx, u32 id)
{
	struct lm_reg *reg;

	rcu_read_lock();
	reg = xa_load(&ctx->regs, id);
	if (reg && !refcount_inc_not_zero(&reg->users))
		reg = NULL;
	rcu_read_unlock();
	return reg;
}

/* Under rcu_read_lock() or lm_reg_mutex. */
static struct lm_reg *lm_reg_find(struct inode *inode)
{
	struct lm_reg *reg;

	hash_for_each_possible_rcu(lm_regs, reg, hnode, (unsigned long)inode)
		if (reg->inode == inode)
			return reg;
	return NULL;
}

static int lm_reg_load_bitmap(struct lm_reg *reg, u64 uptr)
{
	size_t words = BITS_TO_LONGS(reg->nr_pages);

	/* The ABI's __u64 words are unsigned longs on the 64-bit kernels. */
	BUILD_BUG_ON(BITS_PER_LONG != 64);
	if (!uptr) {
		bitmap_set(reg->pending, 0, reg->nr_pages);
		return 0;
	}
	if (copy_from_user(reg->pending, u64_to_user_ptr(uptr),
			   words * sizeof(unsigned long)))
		return -EFAULT;
	if (reg->nr_pages % BITS_PER_LONG)
		reg->pending[words - 1] &= BITMAP_LAST_WORD_MASK(reg->nr_pages);
	return 0;
}

int lm_reg_add(struct lm_ctx *ctx, struct lazymig_register *arg)
{
	struct inode *inode;
	struct lm_reg *reg;
	struct fd f;
	int ret;

	if (arg->flags || !arg->nr_pages || arg->nr_pages > LM_MAX_PAGES)
		return -EINVAL;
	f = fdget(arg->fd);
	if (!f.file)
		return -EBADF;
	inode = file_inode(f.file);
	ret = -EINVAL;
	if (!S_ISREG(inode->i_mode) || !shmem_mapping(inode->i_mapping))
		goto out_fd;
	/* FILL installs small pages only: no huge=... tmpfs mounts. */
	ret = -EOPNOTSUPP;
	if (((struct shmem_sb_info *)inode->i_sb->s_fs_info)->huge)
		goto out_fd;

	ret = -ENOMEM;
	reg = kzalloc(sizeof(*reg), GFP_KERNEL);
	if (!reg)
		goto out_fd;
	reg->nr_pages = arg->nr_pages;
	reg->pending = kvcalloc(BITS_TO_LONGS(reg->nr_pages),
				sizeof(unsigned long), GFP_KERNEL_ACCOUNT);
	if (!reg->pending)
		goto out_free;
	ret = lm_reg_load_bitmap(reg, arg->bitmap);
	if (ret)
		goto out_free;
	reg->inode = inode;
	reg->ctx = ctx;
	reg->cookie = arg->cookie;
	refcount_set(&reg->users, 1);
	spin_lock_init(&reg->lock);

	mutex_lock(&lm_reg_mutex);
	ret = -EBUSY;
	if (lm_reg_find(inode))
		goto out_unlock;
	ret = xa_alloc(&ctx->regs, &reg->id, reg, xa_limit_31b, GFP_KERNEL);
	if (ret)
		goto out_unlock;
	ihold(inode);
	hash_add_rcu(lm_regs, &reg->hnode, (unsigned long)inode);
	atomic_inc(&lm_nr_regs);
	mutex_unlock(&lm_reg_mutex);
	arg->id = reg->id;
	fdput(f);
	return 0;

out_unlock:
	mutex_unlock(&lm_reg_mutex);
out_free:
	kvfree(reg->pending);
	kfree(reg);
out_fd:
	fdput(f);
	return ret;
}

int lm_reg_update(struct lm_ctx *ctx, struct lazymig_update *arg)
{
	struct lm_reg *reg;
	int ret = 0;

	if (arg->op != LAZYMIG_UPDATE_CLEAR && arg->op != LAZYMIG_UPDATE_SET)
		return -EINVAL;
	reg = lm_reg_get(ctx, arg->id);
	if (!reg)
		return -ENOENT;
	if (arg->first > reg->nr_pages ||
	    arg->count > reg->nr_pages - arg->first) {
		ret = -ERANGE;
		goto out;
	}
	spin_lock(&reg->lock);
	if (arg->op == LAZYMIG_UPDATE_CLEAR)
		bitmap_clear(reg->pending, arg->first, arg->count);
	else
		bitmap_set(reg->pending, arg->first, arg->count);
	arg->pending = bitmap_weight(reg->pending, reg->nr_pages);
	spin_unlock(&reg->lock);
out:
	lm_reg_put(reg);
	return ret;
}

/* Take @reg out of both tables; the caller holds lm_reg_mutex. */
static void lm_reg_unlink(struct lm_reg *reg)
{
	xa_erase(&reg->ctx->regs, reg->id);
	hash_del_rcu(&reg->hnode);
	atomic_dec(&lm_nr_regs);
}

int lm_reg_del(struct lm_ctx *ctx, u32 id)
{
	struct lm_reg *reg;

	mutex_lock(&lm_reg_mutex);
	reg = xa_load(&ctx->regs, id);
	if (reg)
		lm_reg_unlink(reg);
	mutex_unlock(&lm_reg_mutex);
	if (!reg)
		return -ENOENT;
	lm_release_id(ctx, id);
	lm_reg_put(reg);
	return 0;
}

void lm_reg_drop_all(struct lm_ctx *ctx)
{
	unsigned long pending = 0, inodes = 0;
	struct lm_reg *reg;
	unsigned long id;

	for (;;) {
		mutex_lock(&lm_reg_mutex);
		id = 0;
		reg = xa_find(&ctx->regs, &id, ULONG_MAX, XA_PRESENT);
		if (reg)
			lm_reg_unlink(reg);
		mutex_unlock(&lm_reg_mutex);
		if (!reg)
			break;
		if (!bitmap_empty(reg->pending, reg->nr_pages)) {
			inodes++;
			pending += bitmap_weight(reg->pending, reg->nr_pages);
		}
		lm_reg_put(reg);
	}
	if (inodes)
		pr_warn("lazymig: daemon pid %d left %lu page(s) of %lu inode(s) unrestored; registrations dropped\n",
			pid_nr(ctx->owner), pending, inodes);
}

/*
 * Install @src as page @index through the shmem address space operations,
 * the way a write does, but without the inode lock (a truncating caller
 * may hold it while it waits for us), like a page fault.  write_begin
 * returns the page locked: a new one is not uptodate, so nobody sees it
 * before write_end has filled and unlocked it.
 */
static int lm_install(struct inode *inode, pgoff_t index, const void *src)
{
	struct address_space *mapping = inode->i_mapping;
	const struct address_space_operations *aops = mapping->a_ops;
	loff_t pos = (loff_t)index << PAGE_SHIFT;
	loff_t size = i_size_read(inode);
	unsigned int len;
	struct page *page;
	void *fsdata = NULL;
	int ret;

	if (pos >= size)
		return -ENXIO;
	len = min_t(loff_t, PAGE_SIZE, size - pos);
	ret = aops->write_begin(NULL, mapping, pos, len, &page, &fsdata);
	if (ret)
		return ret;
	if (PageUptodate(page)) {
		unlock_page(page);
		put_page(page);
		return -EEXIST;
	}
	if (PageTransCompound(page)) {
		/*
		 * write_end would zero the other pages of a huge folio,
		 * pending or not: leave it not uptodate, as fallocate would.
		 */
		unlock_page(page);
		put_page(page);
		return -EOPNOTSUPP;
	}
	memcpy_to_page(page, 0, src, len);
	ret = aops->write_end(NULL, mapping, pos, len, len, page, fsdata);
	return ret < 0 ? ret : 0;
}

/* Install page @idx from @usrc if pending; +1 installed, 0 not, -errno. */
static int lm_fill_one(struct lm_reg *reg, pgoff_t idx, void *buf,
		       const void __user *usrc, struct lazymig_fill *arg)
{
	int ret;

	if (!test_bit(idx, reg->pending))
		return 0;
	/* Copy first: no user fault while the page cache page is locked. */
	if (copy_from_user(buf, usrc, PAGE_SIZE))
		return -EFAULT;
	ret = lm_install(reg->inode, idx, buf);
	if (ret && ret != -EEXIST)
		return ret;
	spin_lock(&reg->lock);
	__clear_bit(idx, reg->pending);
	spin_unlock(&reg->lock);
	if (ret)
		arg->present++;
	else
		arg->filled++;
	return 0;
}

int lm_reg_fill(struct lm_ctx *ctx, struct lazymig_fill *arg)
{
	const char __user *src = u64_to_user_ptr(arg->src);
	struct lm_reg *reg;
	void *buf;
	u64 i;
	int ret;

	arg->filled = 0;
	arg->present = 0;
	if (arg->flags || !arg->count || arg->count > LAZYMIG_FILL_MAX)
		return -EINVAL;
	reg = lm_reg_get(ctx, arg->id);
	if (!reg)
		return -ENOENT;
	ret = -ERANGE;
	if (arg->index >= reg->nr_pages ||
	    arg->count > reg->nr_pages - arg->index)
		goto out_reg;
	ret = -ENOMEM;
	buf = (void *)__get_free_page(GFP_KERNEL);
	if (!buf)
		goto out_reg;
	for (i = 0, ret = 0; i < arg->count && !ret; i++) {
		ret = lm_fill_one(reg, arg->index + i, buf,
				  src + i * PAGE_SIZE, arg);
		cond_resched();
	}
	free_page((unsigned long)buf);
out_reg:
	lm_reg_put(reg);
	return ret;
}

/*
 * The hooks' question: may this operation on @inode proceed?  If a page
 * index in [first, last] is pending for a daemon other than the caller,
 * report @ev (type, flags, start, end filled in) and wait for the ack.
 */
int lm_check(struct inode *inode, struct lazymig_event *ev,
	     pgoff_t first, pgoff_t last, bool nowait)
{
	struct lm_ctx *ctx;
	struct lm_reg *reg;
	unsigned long end;
	int ret;

	if (!atomic_read(&lm_nr_regs) || last < first)
		return 0;
	rcu_read_lock();
	reg = lm_reg_find(inode);
	if (!reg || task_tgid(current) == reg->ctx->owner ||
	    first >= reg->nr_pages) {
		rcu_read_unlock();
		return 0;
	}
	end = min_t(unsigned long, last, reg->nr_pages - 1) + 1;
	if (find_next_bit(reg->pending, end, first) >= end) {
		rcu_read_unlock();
		/* Pairs with the page install before the bit was cleared. */
		smp_rmb();
		return 0;
	}
	ctx = reg->ctx;
	ev->id = reg->id;
	ev->cookie = reg->cookie;
	if (!lm_ctx_tryget(ctx)) {
		rcu_read_unlock();
		return -EIO;
	}
	rcu_read_unlock();
	if (nowait) {
		lm_ctx_put(ctx);
		return -EAGAIN;
	}
	ret = lm_report(ctx, ev);
	lm_ctx_put(ctx);
	return ret;
}

/* Module exit: every registration is gone; wait for their RCU frees. */
void lm_reg_exit(void)
{
	WARN_ON(atomic_read(&lm_nr_regs));
	rcu_barrier();
}
