// SPDX-License-Identifier: GPL-2.0
/*
 * bench/floor: the machine's own limits, the references every lazymig
 * figure is divided by.
 *
 *   uffd round trip: a handler thread serves missing faults on private
 *   anonymous memory from a buffer in memory (UFFDIO_COPY of one page);
 *   the main thread touches pages in random order and times each touch.
 *
 *   loopback TCP: one thread streams bytes to another over 127.0.0.1.
 *
 *   loopback TCP round trip: a 64-byte request answered with one 4 KiB
 *   page by another thread (TCP_NODELAY), timed one by one: with the uffd
 *   round trip, the least a page fault served over a network can cost.
 *
 * Prints one JSON object.  Usage: floor [-p PAGES] [-m MIB]
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/lazymig_uffd.h>

#define PAGE 4096UL

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct handler {
	int uffd;
	char *src, *dst;
	size_t served, want;
};

static void *serve(void *arg)
{
	struct handler *h = arg;
	struct pollfd pfd = { .fd = h->uffd, .events = POLLIN };

	while (h->served < h->want) {
		struct uffd_msg msg;
		struct uffdio_copy c;
		unsigned long off;

		if (poll(&pfd, 1, 10000) <= 0)
			break;
		if (read(h->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		off = (msg.arg.pagefault.address - (unsigned long)h->dst) &
		      ~(PAGE - 1);
		c = (struct uffdio_copy){
			.dst = (unsigned long)h->dst + off,
			.src = (unsigned long)h->src + off,
			.len = PAGE,
		};
		if (ioctl(h->uffd, UFFDIO_COPY, &c) && errno != EEXIST) {
			perror("floor: UFFDIO_COPY");
			break;
		}
		h->served++;
	}
	return NULL;
}

static int uffd_floor(size_t pages, uint64_t *p50, uint64_t *p99,
		      uint64_t *mean)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct handler h = { .want = pages };
	uint64_t *lat, sum = 0;
	size_t *order, i;
	pthread_t th;

	h.uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	if (h.uffd < 0 || ioctl(h.uffd, UFFDIO_API, &api)) {
		perror("floor: userfaultfd");
		return -1;
	}
	h.src = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	h.dst = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	lat = calloc(pages, sizeof(*lat));
	order = calloc(pages, sizeof(*order));
	if (h.src == MAP_FAILED || h.dst == MAP_FAILED || !lat || !order)
		return -1;
	memset(h.src, 0x5a, pages * PAGE);
	reg.range.start = (unsigned long)h.dst;
	reg.range.len = pages * PAGE;
	if (ioctl(h.uffd, UFFDIO_REGISTER, &reg)) {
		perror("floor: UFFDIO_REGISTER");
		return -1;
	}
	for (i = 0; i < pages; i++)
		order[i] = i;
	srand(1);
	for (i = pages - 1; i > 0; i--) {
		size_t j = rand() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	pthread_create(&th, NULL, serve, &h);
	for (i = 0; i < pages; i++) {
		volatile char *p = h.dst + order[i] * PAGE;
		uint64_t t0 = now_ns();

		if (*p != 0x5a)
			fprintf(stderr, "floor: wrong data\n");
		lat[i] = now_ns() - t0;
		sum += lat[i];
	}
	pthread_join(th, NULL);
	qsort(lat, pages, sizeof(*lat), cmp_u64);
	*p50 = lat[pages / 2];
	*p99 = lat[pages * 99 / 100];
	*mean = sum / pages;
	free(lat);
	free(order);
	munmap(h.src, pages * PAGE);
	munmap(h.dst, pages * PAGE);
	close(h.uffd);
	return 0;
}

struct tcp_sink {
	int lfd;
	size_t got;
};

static void *tcp_sink(void *arg)
{
	struct tcp_sink *s = arg;
	size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	int fd = accept(s->lfd, NULL, NULL);
	ssize_t n;

	while (fd >= 0 && buf && (n = read(fd, buf, bufsz)) > 0)
		s->got += n;
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static double tcp_floor(size_t mib)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct tcp_sink s = { 0 };
	size_t bufsz = 1 << 20, sent = 0, total = mib << 20;
	char *buf = malloc(bufsz);
	uint64_t t0, t1;
	pthread_t th;
	int fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!buf || s.lfd < 0 || bind(s.lfd, (void *)&a, sizeof(a)) ||
	    listen(s.lfd, 1) || getsockname(s.lfd, (void *)&a, &alen))
		return -1;
	memset(buf, 0x33, bufsz);
	pthread_create(&th, NULL, tcp_sink, &s);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (void *)&a, sizeof(a)))
		return -1;
	t0 = now_ns();
	while (sent < total) {
		ssize_t n = write(fd, buf, bufsz);

		if (n <= 0)
			break;
		sent += n;
	}
	close(fd);
	pthread_join(th, NULL);
	t1 = now_ns();
	close(s.lfd);
	free(buf);
	if (s.got != total)
		return -1;
	return (double)total / (1 << 20) / ((t1 - t0) / 1e9);
}

static int read_full(int fd, char *buf, size_t len)
{
	while (len) {
		ssize_t n = read(fd, buf, len);

		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

struct echo {
	int lfd;
	size_t rounds;
};

static void *page_echo(void *arg)
{
	struct echo *e = arg;
	char req[64], page[PAGE];
	int fd = accept(e->lfd, NULL, NULL), one = 1;
	size_t i;

	memset(page, 0x44, sizeof(page));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; fd >= 0 && i < e->rounds; i++)
		if (read_full(fd, req, sizeof(req)) ||
		    write(fd, page, sizeof(page)) != sizeof(page))
			break;
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int tcp_rtt(size_t rounds, uint64_t *p50, uint64_t *p99)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct echo e = { .rounds = rounds };
	char req[64] = { 1 }, page[PAGE];
	uint64_t *lat = calloc(rounds, sizeof(*lat));
	pthread_t th;
	size_t i;
	int fd, one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	e.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!lat || e.lfd < 0 || bind(e.lfd, (void *)&a, sizeof(a)) ||
	    listen(e.lfd, 1) || getsockname(e.lfd, (void *)&a, &alen))
		return -1;
	pthread_create(&th, NULL, page_echo, &e);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (void *)&a, sizeof(a)))
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; i < rounds; i++) {
		uint64_t t0 = now_ns();

		if (write(fd, req, sizeof(req)) != sizeof(req) ||
		    read_full(fd, page, sizeof(page)))
			return -1;
		lat[i] = now_ns() - t0;
	}
	close(fd);
	pthread_join(th, NULL);
	close(e.lfd);
	qsort(lat, rounds, sizeof(*lat), cmp_u64);
	*p50 = lat[rounds / 2];
	*p99 = lat[rounds * 99 / 100];
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	size_t pages = 16384, mib = 1024;
	uint64_t p50, p99, mean, r50, r99;
	double mbps;
	int c;

	while ((c = getopt(argc, argv, "p:m:")) != -1) {
		if (c == 'p')
			pages = strtoul(optarg, NULL, 0);
		else if (c == 'm')
			mib = strtoul(optarg, NULL, 0);
		else
			return 2;
	}
	if (!pages || !mib)
		return 2;
	if (uffd_floor(pages, &p50, &p99, &mean))
		return 1;
	mbps = tcp_floor(mib);
	if (mbps < 0) {
		fprintf(stderr, "floor: loopback TCP measurement failed\n");
		return 1;
	}
	if (tcp_rtt(pages, &r50, &r99)) {
		fprintf(stderr, "floor: loopback TCP round trip failed\n");
		return 1;
	}
	printf("{\"uffd_pages\": %zu, \"uffd_fault_ns_p50\": %llu, "
	       "\"uffd_fault_ns_p99\": %llu, \"uffd_fault_ns_mean\": %llu, "
	       "\"loopback_mib\": %zu, \"loopback_MBps\": %.1f, "
	       "\"tcp_page_rtt_ns_p50\": %llu, \"tcp_page_rtt_ns_p99\": %llu}\n",
	       pages, (unsigned long long)p50, (unsigned long long)p99,
	       (unsigned long long)mean, mib, mbps * 1.048576,
	       (unsigned long long)r50, (unsigned long long)r99);
	return 0;
}
