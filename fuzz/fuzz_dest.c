// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the destination end of the wire protocol: what `receive` parses
 * from the source after the metadata.  The real lazy-pages daemon
 * (lm_lazy_create/lm_lazy_run) runs on a userfaultfd registered over
 * FUZZ_BASE in this process, for the fixed image of fuzz.h; the fuzzer's
 * bytes are what the source sends on the request channel (fault answers,
 * BYE, ERROR) and on the bulk channel (pushed PAGES, PUSH_END).  With
 * FUZZ_F_RECV the bytes go instead to lm_msg_recv(), which the eager
 * path uses to wait for BYE.  With FUZZ_F_TOUCH a thread reads a few
 * lazy pages, so that the daemon sees real faults (zero pages, REQ,
 * answers that wake them); it is released when the daemon closes the
 * userfaultfd.
 *
 * When the daemon says it succeeded, every page must be in.  Every
 * UFFDIO_COPY the daemon issues is checked here (ioctl is wrapped
 * at link time): its source must be memory the daemon owns (not past the
 * end of a message buffer) and its destination a lazy range.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sanitizer/asan_interface.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>
#include "fuzz.h"
#include "lazy.h"
#include "peer.h"
#include "proto.h"

#define LAZY_START	FUZZ_V0
#define LAZY_END	(FUZZ_V1 + FUZZ_V1_PAGES * LM_PAGE_SIZE)

static struct lm_image img;

int __real_ioctl(int fd, unsigned long req, void *arg);

int __wrap_ioctl(int fd, unsigned long req, void *arg)
{
	if (req == UFFDIO_COPY) {
		const struct uffdio_copy *c = arg;
		void *bad = __asan_region_is_poisoned((void *)c->src, c->len);

		if (bad) {
			fprintf(stderr, "UFFDIO_COPY of %llu bytes from %p reads poisoned memory at %p\n",
				(unsigned long long)c->len, (void *)c->src, bad);
			abort();
		}
		if (c->dst < LAZY_START || c->len > LAZY_END - c->dst ||
		    c->dst + c->len > LAZY_END) {
			fprintf(stderr, "UFFDIO_COPY to 0x%llx+%llu: not a lazy range\n",
				(unsigned long long)c->dst,
				(unsigned long long)c->len);
			abort();
		}
	}
	return __real_ioctl(fd, req, arg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	void *p;

	if (!getenv("LM_FUZZ_VERBOSE"))
		stderr = fopen("/dev/null", "w");
	if (fuzz_img_build(&img))
		abort();
	p = mmap((void *)FUZZ_BASE, FUZZ_PAGES * LM_PAGE_SIZE,
		 PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != (void *)FUZZ_BASE) {
		dprintf(2, "fuzz_dest: cannot map 0x%llx\n", FUZZ_BASE);
		abort();
	}
	return 0;
}

/* A fresh lazy range and a userfaultfd over it, or -1. */
static int fresh_uffd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = LAZY_START, .len = LAZY_END - LAZY_START },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd;

	if (mmap((void *)FUZZ_BASE, FUZZ_PAGES * LM_PAGE_SIZE,
		 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0) != (void *)FUZZ_BASE)
		abort();
	fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		abort();
	if (__real_ioctl(fd, UFFDIO_API, &api) ||
	    __real_ioctl(fd, UFFDIO_REGISTER, &reg))
		abort();
	return fd;
}

/* The eager end waiting for BYE: lm_msg_recv until it refuses or EOF. */
static void recv_loop(int fd)
{
	static char buf[64 * 1024];
	struct lm_msg m;
	int i;

	for (i = 0; i < 1000; i++)
		if (lm_msg_recv(fd, &m, buf, sizeof(buf) - 1))
			break;
}

struct toucher {
	pthread_t th;
	uint8_t pages[3];
	volatile int started;
};

static void *touch_main(void *arg)
{
	struct toucher *t = arg;
	volatile unsigned char *base = (void *)FUZZ_BASE;
	int i;

	t->started = 1;
	for (i = 0; i < 3; i++) {
		uint64_t pg = t->pages[i] % (FUZZ_V1_PAGES + 48);

		(void)base[pg * LM_PAGE_SIZE + 8];
	}
	return NULL;
}

static void run_daemon(int req, int bulk, const struct fuzz_proto_in *in)
{
	struct toucher t = { .pages = { in->pad[0], in->pad[1], in->pad[2] } };
	struct lm_stats st;
	struct lm_lazy_cfg c = {
		.pid = getpid(), .req_fd = req, .bulk_fd = bulk, .img = &img,
		.st = &st,
	};
	struct lm_lazy *l;
	int err;

	memset(&st, 0, sizeof(st));
	c.uffd = fresh_uffd();
	if (lm_lazy_create(&c, &l))
		abort();
	if (in->flags & FUZZ_F_RESUME)
		lm_lazy_resumed(l, getpid());
	if ((in->flags & FUZZ_F_TOUCH) &&
	    pthread_create(&t.th, NULL, touch_main, &t))
		abort();
	err = lm_lazy_run(l);
	if (getenv("LM_FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_dest: daemon returned %d (%s); %llu pages faulted, %llu pushed, %llu left\n",
			err, strerror(-err),
			(unsigned long long)st.pages_faulted,
			(unsigned long long)st.pages_pushed,
			(unsigned long long)lm_lazy_pending(l));
	/*
	 * Success means the process is whole: no page may still wait for
	 * data (the uffd closes now, a later fault would read zeros).
	 */
	if (!err && lm_lazy_pending(l)) {
		dprintf(2, "daemon returned 0 with %llu pages still lazy\n",
			(unsigned long long)lm_lazy_pending(l));
		abort();
	}
	lm_lazy_destroy(l);	/* closes the uffd: faults still waiting go on */
	if (in->flags & FUZZ_F_TOUCH)
		pthread_join(t.th, NULL);
	lm_stats_free(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_peer rp = { .idle_first = 1 }, bp = { 0 };
	struct fuzz_proto_in in;
	int req[2], bulk[2];
	size_t rlen;

	if (size < sizeof(in))
		return 0;
	memcpy(&in, data, sizeof(in));
	data += sizeof(in);
	size -= sizeof(in);
	rlen = in.req_len < size ? in.req_len : size;
	if (fuzz_pair(req) || fuzz_pair(bulk))
		abort();
	fuzz_queue(req[1], data, rlen);
	fuzz_queue(bulk[1], data + rlen, size - rlen);
	rp.fd = req[1];
	bp.fd = bulk[1];
	rp.tested = bp.tested = gettid();
	if (fuzz_peer_start(&bp) || fuzz_peer_start(&rp))
		abort();
	if (in.flags & FUZZ_F_RECV)
		recv_loop(req[0]);
	else
		run_daemon(req[0], bulk[0], &in);
	close(req[0]);
	close(bulk[0]);
	fuzz_peer_join(&rp);
	fuzz_peer_join(&bp);
	close(req[1]);
	close(bulk[1]);
	return 0;
}
