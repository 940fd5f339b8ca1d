/* SPDX-License-Identifier: GPL-2.0 */
/*
 * faultlat: types shared by bpf/faultlat.bpf.c and user/faultlat.c.
 *
 * Every map value and key is a named struct or enum so that
 * `bpftool map dump pinned DIR/<map>` prints field and enum names.
 * Include <linux/types.h> (user space) or vmlinux.h (BPF) first.
 */
#ifndef FAULTLAT_H
#define FAULTLAT_H

#define FL_COMM_LEN	16
/* log2 slots of nanoseconds: slot i counts [2^i, 2^(i+1)) ns, up to ~36 min */
#define FL_MAX_SLOTS	42

/* What a latency histogram measures. */
enum fl_lat {
	/* a thread blocked in handle_userfault() until its fault was resolved */
	FL_LAT_BLOCKED = 0,
	/* one UFFDIO_COPY (mcopy_atomic / mfill_atomic_copy) */
	FL_LAT_COPY = 1,
	/* one UFFDIO_ZEROPAGE (mfill_zeropage / mfill_atomic_zeropage) */
	FL_LAT_ZEROPAGE = 2,
	/* a thread blocked until the daemon read its FORK/REMAP/REMOVE/UNMAP */
	FL_LAT_EVENT_WAIT = 3,
	FL_LAT_MAX,
};

/* Counted userfaultfd events, attributed to the process that raised them. */
enum fl_event {
	FL_EV_FAULT_MISSING = 0,	/* handle_userfault, VM_UFFD_MISSING */
	FL_EV_FAULT_WP = 1,		/* handle_userfault, VM_UFFD_WP */
	FL_EV_FAULT_MINOR = 2,		/* handle_userfault, VM_UFFD_MINOR */
	FL_EV_FAULT_SIGBUS = 3,		/* handle_userfault returned SIGBUS */
	FL_EV_FORK = 4,			/* UFFD_EVENT_FORK enqueued */
	FL_EV_REMAP = 5,		/* UFFD_EVENT_REMAP enqueued */
	FL_EV_REMOVE = 6,		/* UFFD_EVENT_REMOVE enqueued */
	FL_EV_UNMAP = 7,		/* UFFD_EVENT_UNMAP enqueued */
	FL_EV_OTHER = 8,		/* an event type this tool does not know */
	FL_EV_COPY = 9,			/* UFFDIO_COPY calls (resolver process) */
	FL_EV_ZEROPAGE = 10,		/* UFFDIO_ZEROPAGE calls (resolver process) */
	FL_EV_RESOLVE_EEXIST = 11,	/* COPY/ZEROPAGE that found the page there */
	FL_EV_RESOLVE_ERR = 12,		/* COPY/ZEROPAGE failed otherwise */
	FL_EV_MAX,
};

/* Key of the lat_hist map: one histogram per process and measure. */
struct fl_hist_key {
	__u32 tgid;
	enum fl_lat lat;
};

struct fl_hist {
	__u64 slots[FL_MAX_SLOTS];
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
	char comm[FL_COMM_LEN];
};

/* Key of the uffd_events map. */
struct fl_event_key {
	__u32 tgid;
	enum fl_event event;
};

struct fl_event_val {
	__u64 count;
	char comm[FL_COMM_LEN];
};

/* How the programs are attached (the loader's choice, kept in .rodata). */
enum fl_mode {
	FL_MODE_NONE = 0,
	FL_MODE_TP_BTF = 1,	/* userfaultfd trace events (patched kernel) */
	FL_MODE_FENTRY = 2,	/* fentry/fexit on the kernel functions */
	FL_MODE_KPROBE = 3,	/* kprobe/kretprobe on the kernel functions */
};

#endif
