// SPDX-License-Identifier: GPL-2.0
/*
 * faultlat: how long threads stay blocked on userfaultfd, and why.
 *
 * Three sets of programs feed the same maps through the same helpers;
 * user/faultlat.c loads exactly one set, chosen from what the kernel has:
 *   fentry/fexit   on handle_userfault, the UFFDIO_COPY/ZEROPAGE workers
 *                  and userfaultfd_event_wait_completion
 *   kprobe/kretprobe on the same functions (kernels without trampolines)
 *   tp_btf         the userfaultfd trace events of patches/ (patched
 *                  kernel), plus sys_enter to time resolve ioctls
 * The COPY/ZEROPAGE workers are renamed across kernels (6.1: mcopy_atomic,
 * mfill_zeropage, first argument an mm_struct; 6.5+: mfill_atomic_copy,
 * mfill_atomic_zeropage, first argument a userfaultfd_ctx), so their
 * programs carry no target: the loader sets it, and sets resolve_arg_ctx.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "faultlat.h"

#define MAX_ENTRIES	10240
#define MAX_PROCS	1024

/* vma flags passed as handle_userfault()'s reason; stable since 4.3/5.13 */
#define FL_VM_UFFD_MISSING	0x00000200UL
#define FL_VM_UFFD_WP		0x00001000UL
#define FL_VM_FAULT_SIGBUS	0x00000002U
#define FL_EEXIST		17
/* uffd_msg.event (include/uapi/linux/userfaultfd.h) */
#define FL_UFFD_EVENT_FORK	0x13
#define FL_UFFD_EVENT_REMAP	0x14
#define FL_UFFD_EVENT_REMOVE	0x15
#define FL_UFFD_EVENT_UNMAP	0x16

/* Only this process (0: all).  Faults and events match current's tgid,
 * COPY/ZEROPAGE match the tgid owning the destination mm.
 */
const volatile __u32 targ_tgid = 0;
/* COPY/ZEROPAGE workers take a userfaultfd_ctx (6.5+), not an mm_struct */
const volatile bool resolve_arg_ctx = false;

/* Exits with no recorded entry (begun before attach, or start map full). */
__u64 lost_starts;

struct start {
	__u64 ts;
	enum fl_lat lat;
	__u32 pad;
};

/* In-flight calls, per thread.  A thread is in at most one of them per
 * measure; the map is keyed by (tid, measure) so nesting cannot mix them.
 */
struct start_key {
	__u32 tid;
	enum fl_lat lat;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ENTRIES);
	__type(key, struct start_key);
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PROCS * FL_LAT_MAX);
	__type(key, struct fl_hist_key);
	__type(value, struct fl_hist);
} lat_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PROCS * FL_EV_MAX);
	__type(key, struct fl_event_key);
	__type(value, struct fl_event_val);
} uffd_events SEC(".maps");

static const struct fl_hist zero_hist;
static const struct fl_event_val zero_event;

static __always_inline bool tgid_wanted(__u32 tgid)
{
	return !targ_tgid || tgid == targ_tgid;
}

static __always_inline __u32 cur_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline void count_event(__u32 tgid, enum fl_event ev)
{
	struct fl_event_key key = { .tgid = tgid, .event = ev };
	struct fl_event_val *v;

	v = bpf_map_lookup_elem(&uffd_events, &key);
	if (!v) {
		bpf_map_update_elem(&uffd_events, &key, &zero_event, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&uffd_events, &key);
		if (!v)
			return;
		bpf_get_current_comm(v->comm, sizeof(v->comm));
	}
	__sync_fetch_and_add(&v->count, 1);
}

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 r = 0;

	/* floor(log2(v)) by halving the width: no loop for the verifier */
	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

static __always_inline void start_lat(enum fl_lat lat)
{
	struct start_key key = {
		.tid = (__u32)bpf_get_current_pid_tgid(), .lat = lat,
	};
	struct start st = { .ts = bpf_ktime_get_ns(), .lat = lat };

	bpf_map_update_elem(&starts, &key, &st, BPF_ANY);
}

static __always_inline void drop_lat(enum fl_lat lat)
{
	struct start_key key = {
		.tid = (__u32)bpf_get_current_pid_tgid(), .lat = lat,
	};

	bpf_map_delete_elem(&starts, &key);
}

/* Close the interval opened by start_lat(); 0 if none was open, which
 * counts as lost when @must_exist (no filter could have skipped the entry).
 */
static __always_inline __u64 end_lat(enum fl_lat lat, __u32 tgid,
				     bool must_exist)
{
	struct start_key key = {
		.tid = (__u32)bpf_get_current_pid_tgid(), .lat = lat,
	};
	struct fl_hist_key hkey = { .tgid = tgid, .lat = lat };
	struct fl_hist *h;
	struct start *st;
	__u64 delta;
	__u32 slot;

	st = bpf_map_lookup_elem(&starts, &key);
	if (!st) {
		if (must_exist)
			__sync_fetch_and_add(&lost_starts, 1);
		return 0;
	}
	delta = bpf_ktime_get_ns() - st->ts;
	bpf_map_delete_elem(&starts, &key);

	h = bpf_map_lookup_elem(&lat_hist, &hkey);
	if (!h) {
		bpf_map_update_elem(&lat_hist, &hkey, &zero_hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&lat_hist, &hkey);
		if (!h)
			return delta;
		bpf_get_current_comm(h->comm, sizeof(h->comm));
	}
	slot = log2_slot(delta);
	if (slot >= FL_MAX_SLOTS)
		slot = FL_MAX_SLOTS - 1;
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->total_ns, delta);
	if (delta > h->max_ns)
		h->max_ns = delta;	/* racy by design: a hint, not a total */
	return delta ? delta : 1;
}

/* ---- the measures, shared by every attach mode ---- */

static __always_inline void fl_fault_enter(unsigned long reason)
{
	__u32 tgid = cur_tgid();

	if (!tgid_wanted(tgid))
		return;
	if (reason & FL_VM_UFFD_MISSING)
		count_event(tgid, FL_EV_FAULT_MISSING);
	else if (reason & FL_VM_UFFD_WP)
		count_event(tgid, FL_EV_FAULT_WP);
	else
		count_event(tgid, FL_EV_FAULT_MINOR);
	start_lat(FL_LAT_BLOCKED);
}

static __always_inline void fl_fault_exit(unsigned int ret)
{
	__u32 tgid = cur_tgid();

	if (!tgid_wanted(tgid))
		return;
	if (end_lat(FL_LAT_BLOCKED, tgid, true) && (ret & FL_VM_FAULT_SIGBUS))
		count_event(tgid, FL_EV_FAULT_SIGBUS);
}

static __always_inline bool fl_event_count(__u32 type)
{
	__u32 tgid = cur_tgid();
	enum fl_event ev;

	if (!tgid_wanted(tgid))
		return false;
	switch (type) {
	case FL_UFFD_EVENT_FORK:
		ev = FL_EV_FORK;
		break;
	case FL_UFFD_EVENT_REMAP:
		ev = FL_EV_REMAP;
		break;
	case FL_UFFD_EVENT_REMOVE:
		ev = FL_EV_REMOVE;
		break;
	case FL_UFFD_EVENT_UNMAP:
		ev = FL_EV_UNMAP;
		break;
	default:
		ev = FL_EV_OTHER;
		break;
	}
	count_event(tgid, ev);
	return true;
}

static __always_inline void fl_event_enter(__u32 type)
{
	if (fl_event_count(type))
		start_lat(FL_LAT_EVENT_WAIT);
}

static __always_inline void fl_event_exit(void)
{
	__u32 tgid = cur_tgid();

	if (tgid_wanted(tgid))
		end_lat(FL_LAT_EVENT_WAIT, tgid, true);
}

/* @arg0: the worker's first argument (mm_struct or userfaultfd_ctx). */
static __always_inline bool resolve_wanted(__u64 arg0, bool is_ctx)
{
	struct mm_struct *mm = (struct mm_struct *)arg0;
	__u32 owner;

	if (!targ_tgid)
		return true;
	if (is_ctx)
		mm = BPF_CORE_READ((struct userfaultfd_ctx *)arg0, mm);
	if (bpf_core_field_exists(mm->owner))
		owner = BPF_CORE_READ(mm, owner, tgid);
	else
		owner = cur_tgid();	/* no memcg: resolver == target */
	return owner == targ_tgid;
}

static __always_inline void fl_resolve_enter(enum fl_lat lat, __u64 arg0)
{
	if (resolve_wanted(arg0, resolve_arg_ctx))
		start_lat(lat);
}

static __always_inline void fl_resolve_exit(enum fl_lat lat, long ret)
{
	__u32 tgid = cur_tgid();

	if (!end_lat(lat, tgid, !targ_tgid))
		return;		/* filtered out at entry (or begun before us) */
	count_event(tgid, lat == FL_LAT_COPY ? FL_EV_COPY : FL_EV_ZEROPAGE);
	if (ret == -FL_EEXIST)
		count_event(tgid, FL_EV_RESOLVE_EEXIST);
	else if (ret < 0)
		count_event(tgid, FL_EV_RESOLVE_ERR);
}

/* ---- fentry/fexit ---- */

SEC("fentry/handle_userfault")
int BPF_PROG(fentry_fault, struct vm_fault *vmf, unsigned long reason)
{
	fl_fault_enter(reason);
	return 0;
}

SEC("fexit/handle_userfault")
int BPF_PROG(fexit_fault, struct vm_fault *vmf, unsigned long reason,
	     vm_fault_t ret)
{
	fl_fault_exit(ret);
	return 0;
}

SEC("fentry/userfaultfd_event_wait_completion")
int BPF_PROG(fentry_event, struct userfaultfd_ctx *uctx,
	     struct userfaultfd_wait_queue *ewq)
{
	fl_event_enter(BPF_CORE_READ(ewq, msg.event));
	return 0;
}

SEC("fexit/userfaultfd_event_wait_completion")
int BPF_PROG(fexit_event)
{
	fl_event_exit();
	return 0;
}

/* Targets set by the loader: the names and arities differ by kernel. */
SEC("fentry")
int fentry_copy(void *ctx)
{
	__u64 arg0 = 0;

	bpf_get_func_arg(ctx, 0, &arg0);
	fl_resolve_enter(FL_LAT_COPY, arg0);
	return 0;
}

SEC("fexit")
int fexit_copy(void *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	fl_resolve_exit(FL_LAT_COPY, (long)ret);
	return 0;
}

SEC("fentry")
int fentry_zeropage(void *ctx)
{
	__u64 arg0 = 0;

	bpf_get_func_arg(ctx, 0, &arg0);
	fl_resolve_enter(FL_LAT_ZEROPAGE, arg0);
	return 0;
}

SEC("fexit")
int fexit_zeropage(void *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	fl_resolve_exit(FL_LAT_ZEROPAGE, (long)ret);
	return 0;
}

/* ---- tp_btf: the userfaultfd trace events of patches/0001 ----
 * userfaultfd_fault / _fault_resolved bracket the blocked time;
 * userfaultfd_event counts the events (no event-read trace event exists,
 * so FL_LAT_EVENT_WAIT stays empty); userfaultfd_resolve fires after a
 * resolve ioctl, which is timed from its syscall entry.
 */

#define FL_NR_IOCTL		16		/* x86_64 */
#define FL_UFFDIO_COPY		0xc028aa03U	/* _IOWR(0xAA, 3, 40 bytes) */
#define FL_UFFDIO_ZEROPAGE	0xc020aa04U	/* _IOWR(0xAA, 4, 32 bytes) */
#define FL_TRACE_OP_COPY	0
#define FL_TRACE_OP_ZEROPAGE	1

/*
 * The events pass their userfaultfd as "const void *ctx", which the 6.1
 * verifier refuses to let tp_btf programs read ("arg0 type UNKNOWN is not
 * a struct"): the programs take the raw argument array, never touch
 * slot 0 directly, and copy it out with bpf_probe_read_kernel() where the
 * -p filter needs the ctx.
 */
SEC("tp_btf/userfaultfd_fault")
int tp_fault(__u64 *ctx)
{
	/* (ctx, address, flags, reason) */
	fl_fault_enter((unsigned long)ctx[3]);
	return 0;
}

SEC("tp_btf/userfaultfd_fault_resolved")
int tp_fault_resolved(__u64 *ctx)
{
	/* (ctx, address, reason, woken) */
	fl_fault_exit(0);
	return 0;
}

SEC("tp_btf/userfaultfd_event")
int tp_event(__u64 *ctx)
{
	/* (ctx, event, arg1, arg2, arg3) */
	fl_event_count((__u32)ctx[1]);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_sys_enter, struct pt_regs *regs, long id)
{
	unsigned int cmd;

	if (id != FL_NR_IOCTL)
		return 0;
	cmd = (unsigned int)BPF_CORE_READ(regs, si);
	if (cmd == FL_UFFDIO_COPY)
		start_lat(FL_LAT_COPY);
	else if (cmd == FL_UFFDIO_ZEROPAGE)
		start_lat(FL_LAT_ZEROPAGE);
	return 0;
}

SEC("tp_btf/userfaultfd_resolve")
int tp_resolve(__u64 *ctx)
{
	/* (ctx, op, start, len, mode, ret) */
	__u32 op = (__u32)ctx[1];
	__s64 ret = (__s64)ctx[5];
	__u64 uctx = 0;
	enum fl_lat lat;

	if (op == FL_TRACE_OP_COPY)
		lat = FL_LAT_COPY;
	else if (op == FL_TRACE_OP_ZEROPAGE)
		lat = FL_LAT_ZEROPAGE;
	else
		return 0;
	if (targ_tgid)
		bpf_probe_read_kernel(&uctx, sizeof(uctx), ctx);
	if (resolve_wanted(uctx, true))
		fl_resolve_exit(lat, ret);
	else
		drop_lat(lat);
	return 0;
}

/* ---- kprobe/kretprobe: same measures; the loader attaches by name ---- */

SEC("kprobe")
int BPF_KPROBE(kprobe_fault, struct vm_fault *vmf, unsigned long reason)
{
	fl_fault_enter(reason);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(kretprobe_fault, unsigned int ret)
{
	fl_fault_exit(ret);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(kprobe_event, struct userfaultfd_ctx *uctx,
	       struct userfaultfd_wait_queue *ewq)
{
	fl_event_enter(BPF_CORE_READ(ewq, msg.event));
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(kretprobe_event)
{
	fl_event_exit();
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(kprobe_copy, void *arg0)
{
	fl_resolve_enter(FL_LAT_COPY, (__u64)arg0);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(kretprobe_copy, long ret)
{
	fl_resolve_exit(FL_LAT_COPY, ret);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(kprobe_zeropage, void *arg0)
{
	fl_resolve_enter(FL_LAT_ZEROPAGE, (__u64)arg0);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(kretprobe_zeropage, long ret)
{
	fl_resolve_exit(FL_LAT_ZEROPAGE, ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
