/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lazymig.ko internals shared by its four parts:
 *   main.c      /dev/lazymig: open/release, ioctl, read, write, poll
 *   events.c    the per-daemon event queue and the callers waiting on it
 *   registry.c  registered inodes and their pending page sets; FILL
 *   hooks.c     the ftrace redirects of the shmem entry points
 */
#ifndef LAZYMIG_INTERNAL_H
#define LAZYMIG_INTERNAL_H

#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/pid.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <linux/lazymig.h>

#define LM_FEATURES	(LAZYMIG_FEAT_READ | LAZYMIG_FEAT_WRITE | \
			 LAZYMIG_FEAT_ALLOC | LAZYMIG_FEAT_PUNCH | \
			 LAZYMIG_FEAT_TRUNCATE | LAZYMIG_FEAT_FILL | \
			 LAZYMIG_FEAT_ACK_ERROR | LAZYMIG_FEAT_FAULT)

/* One open /dev/lazymig: one daemon. */
struct lm_ctx {
	struct kref ref;
	struct pid *owner;		/* tgid of the opener: exempt */
	struct pid_namespace *pidns;	/* of the opener, for event pids */
	bool handshaken;
	struct xarray regs;		/* id -> struct lm_reg */

	spinlock_t lock;		/* protects the fields below */
	bool dead;			/* daemon gone: fail every caller */
	u32 next_seq;
	struct list_head queue;		/* reported, not yet read */
	struct list_head inflight;	/* read, not yet acknowledged */
	wait_queue_head_t readq;	/* read() and poll() */
	struct work_struct reap;	/* drop registrations of a dead daemon */
	struct rcu_head rcu;		/* hooks read reg->ctx under RCU */
};

/* events.c */
struct lm_ctx *lm_ctx_new(void);
void lm_ctx_get(struct lm_ctx *ctx);
bool lm_ctx_tryget(struct lm_ctx *ctx);
void lm_ctx_put(struct lm_ctx *ctx);
void lm_ctx_shutdown(struct lm_ctx *ctx);
int lm_report(struct lm_ctx *ctx, struct lazymig_event *ev);
ssize_t lm_read_events(struct lm_ctx *ctx, char __user *buf, size_t count,
		       bool nonblock);
__poll_t lm_poll_events(struct lm_ctx *ctx, struct file *file,
			struct poll_table_struct *wait);
int lm_ack(struct lm_ctx *ctx, const struct lazymig_ack *ack);
void lm_release_id(struct lm_ctx *ctx, u32 id);
extern unsigned int lm_timeout_ms;

/* registry.c */
int lm_reg_add(struct lm_ctx *ctx, struct lazymig_register *arg);
int lm_reg_update(struct lm_ctx *ctx, struct lazymig_update *arg);
int lm_reg_del(struct lm_ctx *ctx, u32 id);
void lm_reg_drop_all(struct lm_ctx *ctx);
int lm_reg_fill(struct lm_ctx *ctx, struct lazymig_fill *arg);
int lm_check(struct inode *inode, struct lazymig_event *ev,
	     pgoff_t first, pgoff_t last, bool nowait);
void lm_reg_exit(void);

/* hooks.c */
int lm_hooks_install(void);
void lm_hooks_remove(void);

#endif /* LAZYMIG_INTERNAL_H */
