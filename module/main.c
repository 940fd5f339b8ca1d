// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig.ko: shmem/tmpfs events for the lazymig lazy-pages daemon.
 *
 * This file owns the character device /dev/lazymig and the ABI query.
 */
#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/uaccess.h>
#include <linux/lazymig.h>

#define LAZYMIG_VERSION "0.1"

static long lazymig_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct lazymig_query q = {
		.abi_version = LAZYMIG_ABI_VERSION,
	};

	switch (cmd) {
	case LAZYMIG_IOC_QUERY:
		if (copy_to_user((void __user *)arg, &q, sizeof(q)))
			return -EFAULT;
		return 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations lazymig_fops = {
	.owner = THIS_MODULE,
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
	int ret = misc_register(&lazymig_dev);

	if (ret) {
		pr_err("lazymig: cannot register /dev/%s: %d\n",
		       LAZYMIG_DEV_NAME, ret);
		return ret;
	}
	pr_info("lazymig: version %s, ABI %d, /dev/%s ready\n",
		LAZYMIG_VERSION, LAZYMIG_ABI_VERSION, LAZYMIG_DEV_NAME);
	return 0;
}

static void __exit lazymig_exit(void)
{
	misc_deregister(&lazymig_dev);
	pr_info("lazymig: unloaded\n");
}

module_init(lazymig_init);
module_exit(lazymig_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lazymig: shmem events for lazy process migration");
MODULE_VERSION(LAZYMIG_VERSION);
