// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig.ko: the event queue of one daemon and the callers waiting on it.
 *
 * A caller that must wait builds a struct lm_waiter on its stack, queues it
 * and sleeps on its completion.  read() moves waiters from the queue to the
 * in-flight list; an ack (or the daemon's death) takes the waiter off its
 * list under ctx->lock and only then completes it, so whoever takes a
 * waiter off its list owns its completion.  Both lists hold one entry per
 * blocked task, never per page.
 */
#include <linux/completion.h>
#include <linux/jiffies.h>
#include <linux/moduleparam.h>
#include <linux/pid_namespace.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "internal.h"

unsigned int lm_timeout_ms = 120000;
module_param_named(timeout_ms, lm_timeout_ms, uint, 0644);
MODULE_PARM_DESC(timeout_ms,
		 "a caller waiting for the daemon fails with EIO after this many ms (0: never)");

struct lm_waiter {
	struct list_head node;		/* ctx->queue or ctx->inflight */
	struct lazymig_event ev;
	int result;
	struct completion done;
};

static void lm_ctx_reap(struct work_struct *work)
{
	struct lm_ctx *ctx = container_of(work, struct lm_ctx, reap);

	lm_reg_drop_all(ctx);
	lm_ctx_put(ctx);
}

struct lm_ctx *lm_ctx_new(void)
{
	struct lm_ctx *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return NULL;
	kref_init(&ctx->ref);
	ctx->owner = get_pid(task_tgid(current));
	ctx->pidns = get_pid_ns(task_active_pid_ns(current));
	xa_init_flags(&ctx->regs, XA_FLAGS_ALLOC1);
	spin_lock_init(&ctx->lock);
	INIT_LIST_HEAD(&ctx->queue);
	INIT_LIST_HEAD(&ctx->inflight);
	init_waitqueue_head(&ctx->readq);
	INIT_WORK(&ctx->reap, lm_ctx_reap);
	return ctx;
}

static void lm_ctx_free(struct kref *ref)
{
	struct lm_ctx *ctx = container_of(ref, struct lm_ctx, ref);

	WARN_ON(!xa_empty(&ctx->regs));
	xa_destroy(&ctx->regs);
	put_pid_ns(ctx->pidns);
	put_pid(ctx->owner);
	kfree_rcu(ctx, rcu);
}

void lm_ctx_get(struct lm_ctx *ctx)
{
	kref_get(&ctx->ref);
}

bool lm_ctx_tryget(struct lm_ctx *ctx)
{
	return kref_get_unless_zero(&ctx->ref);
}

void lm_ctx_put(struct lm_ctx *ctx)
{
	kref_put(&ctx->ref, lm_ctx_free);
}

/* Fail every waiter of @list with -EIO; called with ctx->lock held. */
static void lm_fail_list(struct list_head *list)
{
	struct lm_waiter *w, *tmp;

	list_for_each_entry_safe(w, tmp, list, node) {
		list_del_init(&w->node);
		w->result = -EIO;
		complete(&w->done);
	}
}

/*
 * The daemon is gone: wake every caller with -EIO, refuse new events.
 * Returns false if it was already dead.
 */
static bool lm_ctx_kill(struct lm_ctx *ctx)
{
	bool was_dead;

	spin_lock(&ctx->lock);
	was_dead = ctx->dead;
	ctx->dead = true;
	lm_fail_list(&ctx->queue);
	lm_fail_list(&ctx->inflight);
	spin_unlock(&ctx->lock);
	wake_up_interruptible_poll(&ctx->readq, EPOLLIN | EPOLLERR);
	return !was_dead;
}

/* /dev/lazymig closed: fail the callers, drop the registrations. */
void lm_ctx_shutdown(struct lm_ctx *ctx)
{
	lm_ctx_kill(ctx);
	flush_work(&ctx->reap);
	lm_reg_drop_all(ctx);
	lm_ctx_put(ctx);
}

/*
 * The opener's thread group has exited although /dev/lazymig is still
 * open (a child inherited the fd): treat the daemon as dead.
 */
static bool lm_owner_alive(struct lm_ctx *ctx)
{
	struct task_struct *t;
	bool alive;

	rcu_read_lock();
	t = pid_task(ctx->owner, PIDTYPE_TGID);
	alive = t && !((t->flags & PF_EXITING) && thread_group_empty(t));
	rcu_read_unlock();
	return alive;
}

/* Take @w off its list unless an ack or a kill already did. */
static void lm_cancel(struct lm_ctx *ctx, struct lm_waiter *w, int err)
{
	bool mine;

	spin_lock(&ctx->lock);
	mine = !list_empty(&w->node);
	if (mine) {
		list_del_init(&w->node);
		w->result = err;
	}
	spin_unlock(&ctx->lock);
	/* Whoever took it off its list completes it right after unlocking. */
	if (!mine)
		wait_for_completion(&w->done);
}

/*
 * Queue @ev for the daemon and sleep until it is acknowledged.  Returns 0
 * (proceed), the daemon's error, -EIO (daemon gone or too slow) or -EINTR
 * (fatal signal).  The first second-long slice that finds the daemon's
 * process gone fails every caller, so death is noticed within a second
 * even when the fd outlives the daemon.
 */
int lm_report(struct lm_ctx *ctx, struct lazymig_event *ev)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(lm_timeout_ms);
	unsigned int timeout_ms = lm_timeout_ms;
	struct lm_waiter w;
	long left;

	w.ev = *ev;
	w.ev.pid = task_tgid_nr_ns(current, ctx->pidns);
	w.ev.tid = task_pid_nr_ns(current, ctx->pidns);
	w.result = 0;
	init_completion(&w.done);

	spin_lock(&ctx->lock);
	if (ctx->dead) {
		spin_unlock(&ctx->lock);
		return -EIO;
	}
	if (!++ctx->next_seq)
		ctx->next_seq = 1;
	w.ev.seq = ctx->next_seq;
	list_add_tail(&w.node, &ctx->queue);
	spin_unlock(&ctx->lock);
	wake_up_interruptible_poll(&ctx->readq, EPOLLIN | EPOLLRDNORM);

	for (;;) {
		left = wait_for_completion_killable_timeout(&w.done, HZ);
		if (left > 0)
			return w.result;
		if (left < 0) {
			lm_cancel(ctx, &w, -EINTR);
			return w.result;
		}
		if (!lm_owner_alive(ctx)) {
			if (lm_ctx_kill(ctx)) {
				pr_warn("lazymig: daemon pid %d is gone; its callers get EIO, its registrations are dropped\n",
					pid_nr(ctx->owner));
				lm_ctx_get(ctx);
				if (!schedule_work(&ctx->reap))
					lm_ctx_put(ctx);
			}
			continue;
		}
		if (timeout_ms && time_after(jiffies, deadline)) {
			pr_warn_ratelimited("lazymig: daemon pid %d did not answer event %u (type %u) of pid %d within %u ms: EIO\n",
					    pid_nr(ctx->owner), w.ev.seq,
					    w.ev.type, task_tgid_nr(current),
					    timeout_ms);
			lm_cancel(ctx, &w, -EIO);
			return w.result;
		}
	}
}

ssize_t lm_read_events(struct lm_ctx *ctx, char __user *buf, size_t count,
		       bool nonblock)
{
	const size_t sz = sizeof(struct lazymig_event);
	struct lazymig_event ev;
	struct lm_waiter *w;
	size_t done = 0;
	int ret;

	if (count < sz)
		return -EINVAL;
	while (done + sz <= count) {
		spin_lock(&ctx->lock);
		w = list_first_entry_or_null(&ctx->queue, struct lm_waiter,
					     node);
		if (w) {
			ev = w->ev;
			list_move_tail(&w->node, &ctx->inflight);
		}
		spin_unlock(&ctx->lock);
		if (!w) {
			if (done)
				break;
			if (nonblock)
				return -EAGAIN;
			ret = wait_event_interruptible(ctx->readq,
						       !list_empty(&ctx->queue) ||
						       READ_ONCE(ctx->dead));
			if (ret)
				return ret;
			if (READ_ONCE(ctx->dead))
				return -EIO;
			continue;
		}
		/*
		 * The event stays in flight even if the copy fails: the
		 * daemon can still ack it, or the caller's timeout ends it.
		 */
		if (copy_to_user(buf + done, &ev, sz))
			return done ? done : -EFAULT;
		done += sz;
	}
	return done;
}

__poll_t lm_poll_events(struct lm_ctx *ctx, struct file *file,
			struct poll_table_struct *wait)
{
	__poll_t mask = 0;

	poll_wait(file, &ctx->readq, wait);
	spin_lock(&ctx->lock);
	if (!list_empty(&ctx->queue))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (ctx->dead)
		mask |= EPOLLERR;
	spin_unlock(&ctx->lock);
	return mask | EPOLLOUT | EPOLLWRNORM;
}

/* Registration @id is gone: its callers proceed, as after an ack. */
void lm_release_id(struct lm_ctx *ctx, u32 id)
{
	struct lm_waiter *w, *tmp;
	LIST_HEAD(done);

	spin_lock(&ctx->lock);
	list_for_each_entry_safe(w, tmp, &ctx->queue, node)
		if (w->ev.id == id)
			list_move_tail(&w->node, &done);
	list_for_each_entry_safe(w, tmp, &ctx->inflight, node)
		if (w->ev.id == id)
			list_move_tail(&w->node, &done);
	list_for_each_entry_safe(w, tmp, &done, node) {
		list_del_init(&w->node);
		w->result = 0;
		complete(&w->done);
	}
	spin_unlock(&ctx->lock);
}

int lm_ack(struct lm_ctx *ctx, const struct lazymig_ack *ack)
{
	struct lm_waiter *w, *found = NULL;

	if (ack->error > 0 || ack->error < -MAX_ERRNO)
		return -EINVAL;
	spin_lock(&ctx->lock);
	list_for_each_entry(w, &ctx->inflight, node) {
		if (w->ev.seq == ack->seq) {
			found = w;
			break;
		}
	}
	if (found) {
		list_del_init(&found->node);
		found->result = ack->error;
	}
	spin_unlock(&ctx->lock);
	if (!found)
		return -ENOENT;
	complete(&found->done);
	return 0;
}
