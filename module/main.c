// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig.ko: shmem/tmpfs events for the lazymig lazy-pages daemon.
 *
 * This file owns the character device /dev/lazymig and its ABI
 * (include/uapi/linux/lazymig.h): the handshake, the ioctls, read() of
 * events, write() of acks and poll().  One open file is one daemon.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/uaccess.h>
#include "internal.h"

#define LAZYMIG_VERSION "0.2"

static int lazymig_open(struct inode *inode, struct file *file)
{
	struct lm_ctx *ctx;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	ctx = lm_ctx_new();
	if (!ctx)
		return -ENOMEM;
	file->private_data = ctx;
	return 0;
}

static int lazymig_release(struct inode *inode, struct file *file)
{
	lm_ctx_shutdown(file->private_data);
	return 0;
}

static int lazymig_handshake(struct lm_ctx *ctx, void __user *uarg)
{
	struct lazymig_handshake h;

	if (copy_from_user(&h, uarg, sizeof(h)))
		return -EFAULT;
	if (h.abi_version != LAZYMIG_ABI_VERSION) {
		pr_warn_ratelimited("lazymig: pid %d speaks ABI %u, this module speaks ABI %u: rebuild the daemon against this module's linux/lazymig.h\n",
				    task_tgid_nr(current), h.abi_version,
				    LAZYMIG_ABI_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (h.flags || h.reserved)
		return -EINVAL;
	h.features = LM_FEATURES;
	if (copy_to_user(uarg, &h, sizeof(h)))
		return -EFAULT;
	WRITE_ONCE(ctx->handshaken, true);
	return 0;
}

static long lazymig_query(void __user *uarg)
{
	struct lazymig_query q = {
		.abi_version = LAZYMIG_ABI_VERSION,
		.features = LM_FEATURES,
		.event_size = sizeof(struct lazymig_event),
		.timeout_ms = READ_ONCE(lm_timeout_ms),
	};

	return copy_to_user(uarg, &q, sizeof(q)) ? -EFAULT : 0;
}

static long lazymig_register(struct lm_ctx *ctx, void __user *uarg)
{
	struct lazymig_register r;
	int ret;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	ret = lm_reg_add(ctx, &r);
	if (ret)
		return ret;
	if (put_user(r.id, &((struct lazymig_register __user *)uarg)->id)) {
		lm_reg_del(ctx, r.id);
		return -EFAULT;
	}
	return 0;
}

static long lazymig_update(struct lm_ctx *ctx, void __user *uarg)
{
	struct lazymig_update u;
	int ret;

	if (copy_from_user(&u, uarg, sizeof(u)))
		return -EFAULT;
	ret = lm_reg_update(ctx, &u);
	if (ret)
		return ret;
	return copy_to_user(uarg, &u, sizeof(u)) ? -EFAULT : 0;
}

/* The counts go back even when the fill stopped at an error. */
static long lazymig_fill(struct lm_ctx *ctx, void __user *uarg)
{
	struct lazymig_fill f;
	int ret;

	if (copy_from_user(&f, uarg, sizeof(f)))
		return -EFAULT;
	ret = lm_reg_fill(ctx, &f);
	if (copy_to_user(uarg, &f, sizeof(f)))
		return -EFAULT;
	return ret;
}

static long lazymig_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct lm_ctx *ctx = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct lazymig_ack ack;
	u32 id;

	if (cmd == LAZYMIG_IOC_QUERY)
		return lazymig_query(uarg);
	if (cmd == LAZYMIG_IOC_HANDSHAKE)
		return lazymig_handshake(ctx, uarg);
	if (_IOC_TYPE(cmd) != LAZYMIG_IOC_MAGIC)
		return -ENOTTY;
	if (!READ_ONCE(ctx->handshaken))
		return -EPROTO;

	switch (cmd) {
	case LAZYMIG_IOC_REGISTER:
		return lazymig_register(ctx, uarg);
	case LAZYMIG_IOC_UPDATE:
		return lazymig_update(ctx, uarg);
	case LAZYMIG_IOC_UNREGISTER:
		if (get_user(id, (u32 __user *)uarg))
			return -EFAULT;
		return lm_reg_del(ctx, id);
	case LAZYMIG_IOC_FILL:
		return lazymig_fill(ctx, uarg);
	case LAZYMIG_IOC_ACK:
		if (copy_from_user(&ack, uarg, sizeof(ack)))
			return -EFAULT;
		return lm_ack(ctx, &ack);
	default:
		return -ENOTTY;
	}
}

static ssize_t lazymig_read(struct file *file, char __user *buf,
			    size_t count, loff_t *ppos)
{
	struct lm_ctx *ctx = file->private_data;

	if (!READ_ONCE(ctx->handshaken))
		return -EPROTO;
	return lm_read_events(ctx, buf, count, file->f_flags & O_NONBLOCK);
}

/* Acks as an array of struct lazymig_ack; stops at the first bad one. */
static ssize_t lazymig_write(struct file *file, const char __user *buf,
			     size_t count, loff_t *ppos)
{
	struct lm_ctx *ctx = file->private_data;
	struct lazymig_ack ack;
	size_t done = 0;
	int ret;

	if (!READ_ONCE(ctx->handshaken))
		return -EPROTO;
	if (!count || count % sizeof(ack))
		return -EINVAL;
	for (; done < count; done += sizeof(ack)) {
		if (copy_from_user(&ack, buf + done, sizeof(ack))) {
			ret = -EFAULT;
			break;
		}
		ret = lm_ack(ctx, &ack);
		if (ret)
			break;
	}
	return done ? done : ret;
}

static __poll_t lazymig_poll(struct file *file, struct poll_table_struct *wait)
{
	return lm_poll_events(file->private_data, file, wait);
}

static const struct file_operations lazymig_fops = {
	.owner = THIS_MODULE,
	.open = lazymig_open,
	.release = lazymig_release,
	.read = lazymig_read,
	.write = lazymig_write,
	.poll = lazymig_poll,
	.unlocked_ioctl = lazymig_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice lazymig_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = LAZYMIG_DEV_NAME,
	.fops = &lazymig_fops,
	.mode = 0600,
};

static int __init lazymig_init(void)
{
	int ret = lm_hooks_install();

	if (ret)
		return ret;
	ret = misc_register(&lazymig_dev);
	if (ret) {
		pr_err("lazymig: cannot register /dev/%s: %d\n",
		       LAZYMIG_DEV_NAME, ret);
		lm_hooks_remove();
		return ret;
	}
	pr_info("lazymig: version %s, ABI %d, /dev/%s ready\n",
		LAZYMIG_VERSION, LAZYMIG_ABI_VERSION, LAZYMIG_DEV_NAME);
	return 0;
}

static void __exit lazymig_exit(void)
{
	misc_deregister(&lazymig_dev);
	lm_hooks_remove();
	lm_reg_exit();
	pr_info("lazymig: unloaded\n");
}

module_init(lazymig_init);
module_exit(lazymig_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lazymig: shmem events for lazy process migration");
MODULE_VERSION(LAZYMIG_VERSION);
