/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * lazymig: ABI between lazymig.ko (/dev/lazymig) and the lazy-pages daemon.
 */
#ifndef _UAPI_LINUX_LAZYMIG_H
#define _UAPI_LINUX_LAZYMIG_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define LAZYMIG_ABI_VERSION	1
#define LAZYMIG_DEV_NAME	"lazymig"
#define LAZYMIG_IOC_MAGIC	0xb7

/* LAZYMIG_IOC_QUERY: what the loaded module speaks. */
struct lazymig_query {
	__u32 abi_version;	/* out: LAZYMIG_ABI_VERSION of the module */
	__u32 features;		/* out: LAZYMIG_FEAT_* */
	__u64 reserved[2];
};

#define LAZYMIG_IOC_QUERY	_IOR(LAZYMIG_IOC_MAGIC, 0x00, struct lazymig_query)

#endif /* _UAPI_LINUX_LAZYMIG_H */
