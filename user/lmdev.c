// SPDX-License-Identifier: GPL-2.0
/*
 * lmdev: the daemon's side of /dev/lazymig.  See lmdev.h and
 * include/uapi/linux/lazymig.h for the protocol.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include "lmdev.h"

static int lmdev_ioctl(struct lmdev *d, unsigned long cmd, void *arg)
{
	return ioctl(d->fd, cmd, arg) ? -errno : 0;
}

int lmdev_open(struct lmdev *d, const char *path, int nonblock)
{
	struct lazymig_handshake h = { .abi_version = LAZYMIG_ABI_VERSION };
	struct lazymig_query q;
	int err;

	memset(d, 0, sizeof(*d));
	d->fd = open(path ? path : "/dev/" LAZYMIG_DEV_NAME,
		     O_RDWR | O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
	if (d->fd < 0)
		return -errno;
	err = lmdev_ioctl(d, LAZYMIG_IOC_QUERY, &q);
	if (err)
		goto fail;
	d->abi = q.abi_version;
	d->timeout_ms = q.timeout_ms;
	err = -EPROTONOSUPPORT;
	if (q.abi_version != LAZYMIG_ABI_VERSION ||
	    q.event_size != sizeof(struct lazymig_event))
		goto fail;
	err = lmdev_ioctl(d, LAZYMIG_IOC_HANDSHAKE, &h);
	if (err)
		goto fail;
	d->features = h.features;
	return 0;
fail:
	close(d->fd);
	d->fd = -1;
	return err;
}

void lmdev_close(struct lmdev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

int lmdev_register(struct lmdev *d, int fd, uint64_t nr_pages,
		   const uint64_t *bitmap, uint64_t cookie, uint32_t *id)
{
	struct lazymig_register r = {
		.fd = fd,
		.nr_pages = nr_pages,
		.bitmap = (uintptr_t)bitmap,
		.cookie = cookie,
	};
	int err = lmdev_ioctl(d, LAZYMIG_IOC_REGISTER, &r);

	if (!err && id)
		*id = r.id;
	return err;
}

int lmdev_unregister(struct lmdev *d, uint32_t id)
{
	return lmdev_ioctl(d, LAZYMIG_IOC_UNREGISTER, &id);
}

int lmdev_update(struct lmdev *d, uint32_t id, uint32_t op, uint64_t first,
		 uint64_t count, uint64_t *pending)
{
	struct lazymig_update u = {
		.id = id, .op = op, .first = first, .count = count,
	};
	int err = lmdev_ioctl(d, LAZYMIG_IOC_UPDATE, &u);

	if (!err && pending)
		*pending = u.pending;
	return err;
}

int lmdev_fill(struct lmdev *d, uint32_t id, uint64_t index, uint64_t count,
	       const void *src)
{
	struct lazymig_fill f = { .id = id };
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	const char *p = src;
	int done = 0, err;

	while (count) {
		f.index = index;
		f.count = count < LAZYMIG_FILL_MAX ? count : LAZYMIG_FILL_MAX;
		f.src = (uintptr_t)p;
		err = lmdev_ioctl(d, LAZYMIG_IOC_FILL, &f);
		if (err)
			return err;
		done += f.filled + f.present;
		index += f.count;
		p += f.count * page;
		count -= f.count;
	}
	return done;
}

int lmdev_read(struct lmdev *d, struct lazymig_event *ev, int max)
{
	ssize_t n;

	if (max <= 0)
		return -EINVAL;
	n = read(d->fd, ev, sizeof(*ev) * (size_t)max);
	if (n < 0)
		return -errno;
	if (n % sizeof(*ev))
		return -EPROTO;
	return (int)(n / sizeof(*ev));
}

int lmdev_ack(struct lmdev *d, uint32_t seq, int error)
{
	struct lazymig_ack a = { .seq = seq, .error = error };

	return lmdev_ioctl(d, LAZYMIG_IOC_ACK, &a);
}

static uint64_t lmdev_up(uint64_t x, uint64_t ps)
{
	return x / ps + !!(x % ps);
}

void lmdev_plan(const struct lazymig_event *ev, uint64_t ps,
		struct lmdev_plan *p)
{
	uint64_t s = ev->start, e = ev->end;

	memset(p, 0, sizeof(*p));
	switch (ev->type) {
	case LAZYMIG_EV_ACCESS:
		if (e > s) {
			p->fill[0].first = s / ps;
			p->fill[0].end = lmdev_up(e, ps);
		}
		break;
	case LAZYMIG_EV_PUNCH:
		if (e <= s)
			break;
		/* Partly covered pages keep bytes: fill them first. */
		if (s % ps) {
			p->fill[0].first = s / ps;
			p->fill[0].end = s / ps + 1;
		}
		if (e % ps && (e / ps != s / ps || !(s % ps))) {
			p->fill[1].first = e / ps;
			p->fill[1].end = e / ps + 1;
		}
		p->drop_first = lmdev_up(s, ps);
		p->drop_end = e / ps;
		if (p->drop_end < p->drop_first)
			p->drop_end = p->drop_first;
		break;
	case LAZYMIG_EV_TRUNCATE:
		/* start: new size; the page holding it keeps its head. */
		if (s % ps) {
			p->fill[0].first = s / ps;
			p->fill[0].end = s / ps + 1;
		}
		p->drop_first = lmdev_up(s, ps);
		p->drop_end = UINT64_MAX;
		break;
	}
}
