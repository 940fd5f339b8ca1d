// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig.ko: the five shmem entry points it watches, on a stock kernel.
 *
 * The functions are static in mm/shmem.c, so they are redirected with
 * ftrace: an FTRACE_OPS_FL_IPMODIFY callback on the function's fentry site
 * makes the trampoline return into our wrapper instead of the function
 * body.  The wrapper runs in the caller's context and may sleep; it asks the
 * registry whether the operation touches a pending page, and then calls
 * the original.  That call enters the fentry site again; the callback sees
 * a caller inside this module and lets it through.  Calls from this module
 * (FILL's write_begin) are never redirected for the same reason.
 *
 *   shmem_file_read_iter  read, readv, pread, splice and sendfile from the
 *                         file, copy_file_range from it (splice fallback)
 *   shmem_write_begin     write, pwrite, writev, splice to the file,
 *                         copy_file_range to it; one page per call, under
 *                         the inode lock
 *   shmem_fallocate       hole punch and allocation, before the inode lock
 *   shmem_setattr         truncate, under the inode lock
 *   shmem_fault           page faults of mappings not registered with
 *                         userfaultfd (a later mmap of the file); it
 *                         waits with mmap_lock dropped, as userfaultfd
 *                         does, and returns VM_FAULT_RETRY
 *
 * Addresses are resolved at load time with a probe-only kprobe (no
 * kallsyms_lookup_name export on 6.1); a missing symbol fails the load.
 * Unload waits until no task runs a wrapper: the counter covers the
 * wrapper bodies, synchronize_rcu_tasks() the few instructions outside it.
 */
#include <linux/fs.h>
#include <linux/falloc.h>
#include <linux/fcntl.h>
#include <linux/ftrace.h>
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/shmem_fs.h>
#include <linux/uio.h>
#include "internal.h"

/* Tasks inside a wrapper, per CPU; only the sum means anything. */
static DEFINE_PER_CPU(int, lm_hook_users);

static bool lm_hooks_busy(void)
{
	int cpu, n = 0;

	/* Entries stopped: a sum may be too high, never too low. */
	for_each_possible_cpu(cpu)
		n += per_cpu(lm_hook_users, cpu);
	return n != 0;
}

static ssize_t (*lm_orig_read_iter)(struct kiocb *iocb, struct iov_iter *to);
static int (*lm_orig_write_begin)(struct file *file,
				  struct address_space *mapping, loff_t pos,
				  unsigned int len, struct page **pagep,
				  void **fsdata);
static long (*lm_orig_fallocate)(struct file *file, int mode, loff_t offset,
				 loff_t len);
static int (*lm_orig_setattr)(struct user_namespace *mnt_userns,
			      struct dentry *dentry, struct iattr *attr);
static vm_fault_t (*lm_orig_fault)(struct vm_fault *vmf);

static pgoff_t lm_last_index(loff_t end)
{
	return (pgoff_t)((end - 1) >> PAGE_SHIFT);
}

static ssize_t lm_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	loff_t pos = iocb->ki_pos, size = i_size_read(inode);
	loff_t end = pos + iov_iter_count(to);
	struct lazymig_event ev = {
		.type = LAZYMIG_EV_ACCESS, .flags = LAZYMIG_EVF_READ,
	};
	ssize_t ret = 0;

	this_cpu_inc(lm_hook_users);
	if (end > size)
		end = size;
	if (pos < end) {
		ev.start = pos;
		ev.end = end;
		ret = lm_check(inode, &ev, pos >> PAGE_SHIFT,
			       lm_last_index(end),
			       iocb->ki_flags & IOCB_NOWAIT);
	}
	if (!ret)
		ret = lm_orig_read_iter(iocb, to);
	this_cpu_dec(lm_hook_users);
	return ret;
}

static int lm_write_begin(struct file *file, struct address_space *mapping,
			  loff_t pos, unsigned int len, struct page **pagep,
			  void **fsdata)
{
	struct lazymig_event ev = {
		.type = LAZYMIG_EV_ACCESS, .flags = LAZYMIG_EVF_WRITE,
		.start = pos, .end = pos + len,
	};
	int ret = 0;

	this_cpu_inc(lm_hook_users);
	if (len)
		ret = lm_check(mapping->host, &ev, pos >> PAGE_SHIFT,
			       lm_last_index(pos + len), false);
	if (!ret)
		ret = lm_orig_write_begin(file, mapping, pos, len, pagep,
					  fsdata);
	this_cpu_dec(lm_hook_users);
	return ret;
}

static long lm_fallocate(struct file *file, int mode, loff_t offset,
			 loff_t len)
{
	struct inode *inode = file_inode(file);
	unsigned int seals = SHMEM_I(inode)->seals;
	loff_t end = offset + len, size = i_size_read(inode);
	struct lazymig_event ev = { .start = offset, .end = end };
	long ret = 0;

	this_cpu_inc(lm_hook_users);
	if (offset < 0 || len <= 0 || end < offset ||
	    (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))) {
		/* The original refuses these. */
	} else if (mode & FALLOC_FL_PUNCH_HOLE) {
		/* Do not report a punch that the seals will refuse. */
		if (!(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) &&
		    offset < size) {
			ev.type = LAZYMIG_EV_PUNCH;
			ev.end = min(end, size);
			ret = lm_check(inode, &ev, offset >> PAGE_SHIFT,
				       lm_last_index(ev.end), false);
		}
	} else {
		ev.type = LAZYMIG_EV_ACCESS;
		ev.flags = LAZYMIG_EVF_WRITE | LAZYMIG_EVF_ALLOC;
		ret = lm_check(inode, &ev, offset >> PAGE_SHIFT,
			       lm_last_index(end), false);
	}
	if (!ret)
		ret = lm_orig_fallocate(file, mode, offset, len);
	this_cpu_dec(lm_hook_users);
	return ret;
}

static int lm_setattr(struct user_namespace *mnt_userns,
		      struct dentry *dentry, struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	loff_t size = i_size_read(inode);
	struct lazymig_event ev = {
		.type = LAZYMIG_EV_TRUNCATE,
		.start = attr->ia_size, .end = size,
	};
	int ret = 0;

	this_cpu_inc(lm_hook_users);
	/* A shrink the seals refuse is not reported. */
	if (S_ISREG(inode->i_mode) && (attr->ia_valid & ATTR_SIZE) &&
	    attr->ia_size >= 0 && attr->ia_size < size &&
	    !(SHMEM_I(inode)->seals & F_SEAL_SHRINK))
		ret = lm_check(inode, &ev, attr->ia_size >> PAGE_SHIFT,
			       ULONG_MAX, false);
	if (!ret)
		ret = lm_orig_setattr(mnt_userns, dentry, attr);
	this_cpu_dec(lm_hook_users);
	return ret;
}

/*
 * The first attempt waits with mmap_lock dropped and retries, so that the
 * daemon's UFFDIO_COPY into this mm never queues behind a writer queued
 * behind us.  A retried fault that still finds the page pending (the
 * daemon did not fill it) waits holding the lock; failures are SIGBUS.
 * A fault that may not retry (some get_user_pages() callers) gets SIGBUS
 * on a pending page at once, as userfaultfd gives it.
 */
static vm_fault_t lm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct file *file = vma->vm_file;
	struct lazymig_event ev = {
		.type = LAZYMIG_EV_ACCESS,
		.flags = LAZYMIG_EVF_MMAP |
			 (vmf->flags & FAULT_FLAG_WRITE ? LAZYMIG_EVF_WRITE :
							  LAZYMIG_EVF_READ),
		.start = (u64)vmf->pgoff << PAGE_SHIFT,
		.end = ((u64)vmf->pgoff + 1) << PAGE_SHIFT,
	};
	struct inode *inode = file_inode(file);
	vm_fault_t ret;
	int err = 0;

	this_cpu_inc(lm_hook_users);
	if (!(vma->vm_flags & (VM_UFFD_MISSING | VM_UFFD_MINOR)))
		err = lm_check(inode, &ev, vmf->pgoff, vmf->pgoff, true);
	if (err == -EAGAIN && (vmf->flags & FAULT_FLAG_ALLOW_RETRY)) {
		ret = VM_FAULT_RETRY;
		if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT)
			goto out;
		if (fault_flag_allow_retry_first(vmf->flags)) {
			get_file(file);
			mmap_read_unlock(vma->vm_mm);
			lm_check(inode, &ev, vmf->pgoff, vmf->pgoff, false);
			fput(file);
			goto out;
		}
		err = lm_check(inode, &ev, vmf->pgoff, vmf->pgoff, false);
	}
	ret = err ? VM_FAULT_SIGBUS : lm_orig_fault(vmf);
out:
	this_cpu_dec(lm_hook_users);
	return ret;
}

struct lm_hook {
	const char *name;
	void *wrapper;
	void *orig;			/* where lm_orig_* points */
	unsigned long addr;		/* function entry */
	struct ftrace_ops ops;
	bool on;
};

static struct lm_hook lm_hooks[] = {
	{ .name = "shmem_file_read_iter", .wrapper = lm_read_iter,
	  .orig = &lm_orig_read_iter },
	{ .name = "shmem_write_begin", .wrapper = lm_write_begin,
	  .orig = &lm_orig_write_begin },
	{ .name = "shmem_fallocate", .wrapper = lm_fallocate,
	  .orig = &lm_orig_fallocate },
	{ .name = "shmem_setattr", .wrapper = lm_setattr,
	  .orig = &lm_orig_setattr },
	{ .name = "shmem_fault", .wrapper = lm_fault,
	  .orig = &lm_orig_fault },
};

static void notrace lm_ftrace_cb(unsigned long ip, unsigned long parent_ip,
				 struct ftrace_ops *ops,
				 struct ftrace_regs *fregs)
{
	struct lm_hook *h = container_of(ops, struct lm_hook, ops);

	if (!within_module(parent_ip, THIS_MODULE))
		ftrace_instruction_pointer_set(fregs,
					       (unsigned long)h->wrapper);
}

/*
 * The entry address of @name.  A kprobe resolves the name and may land
 * after an ENDBR; sprint_symbol() gives that offset back.
 */
static int lm_resolve(const char *name, unsigned long *entry)
{
	struct kprobe kp = { .symbol_name = name };
	char sym[KSYM_SYMBOL_LEN];
	unsigned long addr, off;
	char *plus, *slash;
	size_t n = strlen(name);
	int ret;

	ret = register_kprobe(&kp);
	if (ret)
		return ret;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
	sprint_symbol(sym, addr);
	plus = strchr(sym, '+');
	slash = plus ? strchr(plus, '/') : NULL;
	if (!slash || plus - sym != n || strncmp(sym, name, n))
		return -ENOENT;
	*slash = '\0';
	if (kstrtoul(plus + 1, 16, &off) || off > addr)
		return -ENOENT;
	*entry = addr - off;
	return 0;
}

static int lm_hook_one(struct lm_hook *h)
{
	int ret;

	ret = lm_resolve(h->name, &h->addr);
	if (ret) {
		pr_err("lazymig: cannot find kernel function %s (%d)%s\n",
		       h->name, ret, ret == -ENOENT ?
		       ": this kernel's shmem is not the 6.1 one lazymig.ko knows" :
		       ": the kprobe that resolves it was refused");
		return -ENOENT;
	}
	*(unsigned long *)h->orig = h->addr;
	h->ops.func = lm_ftrace_cb;
	h->ops.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY;
	ret = ftrace_set_filter_ip(&h->ops, h->addr, 0, 0);
	if (ret) {
		pr_err("lazymig: %s at %pS cannot be traced (%d): is it in available_filter_functions?\n",
		       h->name, (void *)h->addr, ret);
		return ret;
	}
	ret = register_ftrace_function(&h->ops);
	if (ret) {
		pr_err("lazymig: cannot redirect %s (%d)%s\n", h->name, ret,
		       ret == -EBUSY ? ": another IPMODIFY user (livepatch?) holds it" : "");
		ftrace_set_filter_ip(&h->ops, h->addr, 1, 0);
		return ret;
	}
	h->on = true;
	return 0;
}

void lm_hooks_remove(void)
{
	int i;

	for (i = ARRAY_SIZE(lm_hooks) - 1; i >= 0; i--) {
		struct lm_hook *h = &lm_hooks[i];

		if (!h->on)
			continue;
		unregister_ftrace_function(&h->ops);
		ftrace_set_filter_ip(&h->ops, h->addr, 1, 0);
		h->on = false;
	}
	/* No task enters a wrapper now; wait for those inside one. */
	synchronize_rcu_tasks();
	while (lm_hooks_busy())
		schedule_timeout_uninterruptible(HZ / 50);
	synchronize_rcu_tasks();
}

int lm_hooks_install(void)
{
	int i, ret;

	for (i = 0; i < ARRAY_SIZE(lm_hooks); i++) {
		ret = lm_hook_one(&lm_hooks[i]);
		if (ret) {
			lm_hooks_remove();
			return ret;
		}
	}
	return 0;
}
