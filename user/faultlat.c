// SPDX-License-Identifier: GPL-2.0
/*
 * lazymig faultlat: how long threads are blocked on userfaultfd faults,
 * which userfaultfd events they raised, and how long the resolver's
 * UFFDIO_COPY/ZEROPAGE calls took.  Loader and printer for
 * bpf/faultlat.bpf.c.
 *
 * The attach mode is chosen at load time from what the running kernel
 * offers, best first: tp_btf on the userfaultfd trace events (patched
 * kernel), fentry/fexit, kprobe/kretprobe.  When none
 * works the reason for each is printed and the command exits 1.
 *
 * kretprobes keep a bounded number of instances per function: with more
 * threads blocked in handle_userfault at once than that, some exits are
 * missed and their faults never reach the histogram (fexit and tp_btf
 * have no such limit).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <zlib.h>
#include "lazymig.h"
#include "../bpf/faultlat.h"
#include "faultlat.skel.h"

#define LOG_PFX "faultlat: "
#define BPF_FS_MAGIC_NR 0xcafe4a11
#define FAULT_FN "handle_userfault"
#define EVENT_FN "userfaultfd_event_wait_completion"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct fl_opts {
	pid_t pid;
	unsigned int duration;
	const char *pin_dir;
	enum fl_mode mode;	/* FL_MODE_NONE: auto */
	bool verbose;
};

/* A kernel function the programs attach to, resolved for this kernel. */
struct fl_func {
	const char *name;	/* NULL: none of the candidates exists */
	bool in_btf;		/* fentry/fexit possible */
	bool in_kallsyms;	/* kprobe possible */
	bool arg_ctx;		/* first argument is a userfaultfd_ctx */
};

struct fl_plan {
	struct fl_func fault, event, copy, zeropage;
	bool has_tp;		/* every userfaultfd trace event we use */
};

/* The trace events of patches/0001, as tp_btf targets. */
static const char *const tp_events[] = {
	"userfaultfd_fault", "userfaultfd_fault_resolved",
	"userfaultfd_event", "userfaultfd_resolve",
};

static volatile sig_atomic_t exiting;
static bool verbose;
/* The first libbpf warning of an attempt, quoted when a mode fails. */
static char last_libbpf_msg[512];

static const char *const lat_title[FL_LAT_MAX] = {
	[FL_LAT_BLOCKED] = "blocked in " FAULT_FN " (fault raised -> resolved)",
	[FL_LAT_COPY] = "UFFDIO_COPY call",
	[FL_LAT_ZEROPAGE] = "UFFDIO_ZEROPAGE call",
	[FL_LAT_EVENT_WAIT] = "blocked until the daemon read a FORK/REMAP/REMOVE/UNMAP",
};

static const char *const event_name[FL_EV_MAX] = {
	[FL_EV_FAULT_MISSING] = "fault-missing",
	[FL_EV_FAULT_WP] = "fault-wp",
	[FL_EV_FAULT_MINOR] = "fault-minor",
	[FL_EV_FAULT_SIGBUS] = "fault-sigbus",
	[FL_EV_FORK] = "fork",
	[FL_EV_REMAP] = "remap",
	[FL_EV_REMOVE] = "remove",
	[FL_EV_UNMAP] = "unmap",
	[FL_EV_OTHER] = "other-event",
	[FL_EV_COPY] = "uffdio-copy",
	[FL_EV_ZEROPAGE] = "uffdio-zeropage",
	[FL_EV_RESOLVE_EEXIST] = "resolve-eexist",
	[FL_EV_RESOLVE_ERR] = "resolve-error",
};

static const char *mode_name(enum fl_mode m)
{
	switch (m) {
	case FL_MODE_TP_BTF:
		return "tp_btf";
	case FL_MODE_FENTRY:
		return "fentry/fexit";
	case FL_MODE_KPROBE:
		return "kprobe/kretprobe";
	default:
		return "auto";
	}
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	va_list aq;

	/* keep the first warning of an attempt: the later ones only repeat
	 * that loading or attaching failed
	 */
	if (level == LIBBPF_WARN && !last_libbpf_msg[0]) {
		char *m = last_libbpf_msg;

		va_copy(aq, ap);
		vsnprintf(m, sizeof(last_libbpf_msg), fmt, aq);
		va_end(aq);
		m[strcspn(m, "\n")] = '\0';
		if (!strncmp(m, "libbpf: ", 8))
			memmove(m, m + 8, strlen(m + 8) + 1);
	}
	if (!verbose || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void on_signal(int sig)
{
	exiting = 1;
}

/* ---- what this kernel has ---- */

static bool in_kallsyms(const char *name)
{
	char line[256], sym[128];
	bool found = false;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char type;

		if (sscanf(line, "%*s %c %127s", &type, sym) == 2 &&
		    (type == 't' || type == 'T') && !strcmp(sym, name))
			found = true;
	}
	fclose(f);
	return found;
}

/* Fill @fn with the first candidate the kernel has, by BTF or kallsyms. */
static void find_func(struct btf *vmlinux, struct fl_func *fn,
		      const char *const *cands)
{
	for (; *cands; cands++) {
		bool btf_has = false, ctx = false;
		int id = vmlinux ? btf__find_by_name_kind(vmlinux, *cands,
							 BTF_KIND_FUNC) : -1;

		if (id > 0) {
			const struct btf_type *t = btf__type_by_id(vmlinux, id);
			const struct btf_type *proto = btf__type_by_id(vmlinux, t->type);
			const struct btf_param *p = btf_params(proto);

			btf_has = true;
			if (btf_vlen(proto) > 0) {
				const struct btf_type *pt;
				__u32 tid = p[0].type;

				pt = btf__type_by_id(vmlinux, tid);
				while (pt && (btf_is_ptr(pt) || btf_is_mod(pt) ||
					      btf_is_typedef(pt))) {
					tid = pt->type;
					pt = btf__type_by_id(vmlinux, tid);
				}
				ctx = pt && !strcmp(btf__name_by_offset(vmlinux, pt->name_off),
						   "userfaultfd_ctx");
			}
		} else {
			/* no BTF to ask: 6.1 names take an mm, newer a ctx */
			ctx = !strncmp(*cands, "mfill_atomic_", 13);
		}
		fn->in_btf = btf_has;
		fn->in_kallsyms = in_kallsyms(*cands);
		if (btf_has || fn->in_kallsyms) {
			fn->name = *cands;
			fn->arg_ctx = ctx;
			return;
		}
	}
	fn->name = NULL;
}

static void make_plan(struct fl_plan *plan)
{
	static const char *const fault[] = { FAULT_FN, NULL };
	static const char *const event[] = { EVENT_FN, NULL };
	static const char *const copy[] = {
		"mfill_atomic_copy", "mcopy_atomic", NULL };
	static const char *const zero[] = {
		"mfill_atomic_zeropage", "mfill_zeropage", NULL };
	struct btf *vmlinux = btf__load_vmlinux_btf();
	size_t i;

	if (libbpf_get_error(vmlinux))
		vmlinux = NULL;
	find_func(vmlinux, &plan->fault, fault);
	find_func(vmlinux, &plan->event, event);
	find_func(vmlinux, &plan->copy, copy);
	find_func(vmlinux, &plan->zeropage, zero);
	plan->has_tp = vmlinux != NULL;
	for (i = 0; vmlinux && i < ARRAY_LEN(tp_events); i++) {
		char name[64];

		snprintf(name, sizeof(name), "btf_trace_%s", tp_events[i]);
		if (btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) <= 0)
			plan->has_tp = false;
	}
	btf__free(vmlinux);
}

/* "CONFIG_X=y", "CONFIG_X is not set", or NULL without /proc/config.gz. */
static const char *kconfig(const char *opt, char *buf, size_t len)
{
	gzFile gz = gzopen("/proc/config.gz", "r");
	size_t n = strlen(opt);
	const char *ret = NULL;

	if (!gz)
		return NULL;
	while (gzgets(gz, buf, (int)len)) {
		const char *p = buf[0] == '#' ? buf + 2 : buf;

		if (!strncmp(p, opt, n) && (p[n] == '=' || p[n] == ' ')) {
			buf[strcspn(buf, "\n")] = '\0';
			memmove(buf, p, strlen(p) + 1);	/* drop "# " */
			ret = buf;
			break;
		}
	}
	gzclose(gz);
	if (!ret)
		snprintf(buf, len, "%s absent from /proc/config.gz", opt);
	return buf;
}

static bool path_exists(const char *p)
{
	return access(p, F_OK) == 0;
}

/* ---- loading one mode ---- */

static void set_autoload(struct faultlat *skel, enum fl_mode mode)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, skel->obj) {
		const char *sec = bpf_program__section_name(prog);
		bool want = false;

		if (mode == FL_MODE_TP_BTF)
			want = !strncmp(sec, "tp_btf/", 7);
		else if (mode == FL_MODE_FENTRY)
			want = !strncmp(sec, "fentry", 6) || !strncmp(sec, "fexit", 5);
		else if (mode == FL_MODE_KPROBE)
			want = !strncmp(sec, "kprobe", 6) || !strncmp(sec, "kretprobe", 9);
		bpf_program__set_autoload(prog, want);
	}
}

/* fentry+fexit or kprobe+kretprobe programs for one function. */
struct fl_pair {
	const struct fl_func *fn;
	struct bpf_program *entry, *exit;
	struct bpf_link **entry_link, **exit_link;
};

static int fill_pairs(struct faultlat *s, const struct fl_plan *plan,
		      enum fl_mode mode, struct fl_pair *pairs)
{
	bool fe = mode == FL_MODE_FENTRY;

	pairs[0] = (struct fl_pair){ &plan->fault,
		fe ? s->progs.fentry_fault : s->progs.kprobe_fault,
		fe ? s->progs.fexit_fault : s->progs.kretprobe_fault,
		fe ? &s->links.fentry_fault : &s->links.kprobe_fault,
		fe ? &s->links.fexit_fault : &s->links.kretprobe_fault };
	pairs[1] = (struct fl_pair){ &plan->event,
		fe ? s->progs.fentry_event : s->progs.kprobe_event,
		fe ? s->progs.fexit_event : s->progs.kretprobe_event,
		fe ? &s->links.fentry_event : &s->links.kprobe_event,
		fe ? &s->links.fexit_event : &s->links.kretprobe_event };
	pairs[2] = (struct fl_pair){ &plan->copy,
		fe ? s->progs.fentry_copy : s->progs.kprobe_copy,
		fe ? s->progs.fexit_copy : s->progs.kretprobe_copy,
		fe ? &s->links.fentry_copy : &s->links.kprobe_copy,
		fe ? &s->links.fexit_copy : &s->links.kretprobe_copy };
	pairs[3] = (struct fl_pair){ &plan->zeropage,
		fe ? s->progs.fentry_zeropage : s->progs.kprobe_zeropage,
		fe ? s->progs.fexit_zeropage : s->progs.kretprobe_zeropage,
		fe ? &s->links.fentry_zeropage : &s->links.kprobe_zeropage,
		fe ? &s->links.fexit_zeropage : &s->links.kretprobe_zeropage };
	return 4;
}

static int attach_one(struct bpf_program *prog, struct bpf_link **link,
		      enum fl_mode mode, const char *fn, bool ret)
{
	if (mode == FL_MODE_FENTRY)
		*link = bpf_program__attach_trace(prog);
	else
		*link = bpf_program__attach_kprobe(prog, ret, fn);
	if (!*link) {
		int err = -errno;

		*link = NULL;
		return err ? err : -EINVAL;
	}
	return 0;
}

/* tp_btf: every program names its trace event; attach them all. */
static int load_attach_tp(struct faultlat *skel, char *why, size_t whylen)
{
	struct bpf_program *prog;
	struct bpf_link *link;
	int err;

	err = faultlat__load(skel);
	if (err) {
		snprintf(why, whylen, "BPF_PROG_LOAD of the tp_btf programs "
			 "failed with %s%s%s%s", strerror(-err),
			 last_libbpf_msg[0] ? " (libbpf: " : "", last_libbpf_msg,
			 last_libbpf_msg[0] ? ")" : "");
		return err;
	}
	bpf_object__for_each_program(prog, skel->obj) {
		if (!bpf_program__autoload(prog))
			continue;
		link = bpf_program__attach_trace(prog);
		if (!link) {
			err = -errno;
			snprintf(why, whylen, "attaching %s failed with %s",
				 bpf_program__section_name(prog), strerror(-err));
			return err ? err : -EINVAL;
		}
		/* the skeleton destroys the links it knows; keep ours there */
		if (prog == skel->progs.tp_fault)
			skel->links.tp_fault = link;
		else if (prog == skel->progs.tp_fault_resolved)
			skel->links.tp_fault_resolved = link;
		else if (prog == skel->progs.tp_event)
			skel->links.tp_event = link;
		else if (prog == skel->progs.tp_sys_enter)
			skel->links.tp_sys_enter = link;
		else if (prog == skel->progs.tp_resolve)
			skel->links.tp_resolve = link;
		else
			bpf_link__destroy(link);
	}
	return 0;
}

/*
 * Open, load and attach the programs of @mode.  On failure returns
 * -errno and writes the reason to @why; *@skelp is left NULL.
 */
static int try_mode(enum fl_mode mode, const struct fl_opts *o,
		    const struct fl_plan *plan, struct faultlat **skelp,
		    char *why, size_t whylen)
{
	struct fl_pair pairs[4];
	struct faultlat *skel;
	int i, n, err;

	*skelp = NULL;
	last_libbpf_msg[0] = '\0';
	skel = faultlat__open();
	if (!skel) {
		err = -errno;
		snprintf(why, whylen, "cannot open the BPF object: %s",
			 strerror(-err));
		return err;
	}
	skel->rodata->targ_tgid = o->pid;
	skel->rodata->resolve_arg_ctx = plan->copy.arg_ctx;
	set_autoload(skel, mode);
	if (mode == FL_MODE_TP_BTF) {
		err = load_attach_tp(skel, why, whylen);
		if (err)
			goto fail;
		*skelp = skel;
		return 0;
	}
	n = fill_pairs(skel, plan, mode, pairs);
	for (i = 0; i < n; i++) {
		const struct fl_func *fn = pairs[i].fn;
		bool usable = fn->name &&
			(mode == FL_MODE_FENTRY ? fn->in_btf : fn->in_kallsyms);

		if (!usable) {
			if (pairs[i].fn == &plan->fault) {
				snprintf(why, whylen, "%s is not in the kernel's %s",
					 FAULT_FN, mode == FL_MODE_FENTRY ?
					 "BTF" : "/proc/kallsyms");
				err = -ENOENT;
				goto fail;
			}
			bpf_program__set_autoload(pairs[i].entry, false);
			bpf_program__set_autoload(pairs[i].exit, false);
			continue;
		}
		if (mode == FL_MODE_FENTRY) {
			err = bpf_program__set_attach_target(pairs[i].entry, 0, fn->name);
			if (!err)
				err = bpf_program__set_attach_target(pairs[i].exit, 0,
								     fn->name);
			if (err) {
				snprintf(why, whylen, "no BTF attach target %s: %s",
					 fn->name, strerror(-err));
				goto fail;
			}
		}
	}
	err = faultlat__load(skel);
	if (err) {
		snprintf(why, whylen,
			 "BPF_PROG_LOAD of the %s programs failed with %s "
			 "as root%s%s%s", mode_name(mode), strerror(-err),
			 last_libbpf_msg[0] ? " (libbpf: " : "", last_libbpf_msg,
			 last_libbpf_msg[0] ? ")" : "");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		const char *fn = pairs[i].fn->name;

		if (!bpf_program__autoload(pairs[i].entry))
			continue;
		err = attach_one(pairs[i].entry, pairs[i].entry_link, mode, fn, false);
		if (!err)
			err = attach_one(pairs[i].exit, pairs[i].exit_link, mode, fn, true);
		if (err) {
			snprintf(why, whylen, "attaching %s to %s failed with "
				 "%s%s%s%s", mode_name(mode), fn, strerror(-err),
				 last_libbpf_msg[0] ? " (libbpf: " : "",
				 last_libbpf_msg, last_libbpf_msg[0] ? ")" : "");
			goto fail;
		}
	}
	*skelp = skel;
	return 0;
fail:
	faultlat__destroy(skel);
	return err;
}

/* Why kprobes cannot work here, beyond the error itself. */
static void explain_kprobe(char *buf, size_t len)
{
	char cfg[128];
	const char *k = kconfig("CONFIG_KPROBES", cfg, sizeof(cfg));

	if (path_exists("/sys/bus/event_source/devices/kprobe"))
		snprintf(buf, len, "the kprobe PMU exists");
	else
		snprintf(buf, len,
			 "no kprobe PMU (/sys/bus/event_source/devices/kprobe missing)"
			 " and no tracefs kprobe_events%s%s%s",
			 k ? " (" : "", k ? k : "", k ? ")" : "");
}

static void explain_fentry(char *buf, size_t len)
{
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACING, NULL) <= 0)
		snprintf(buf, len, "the kernel refuses BPF_PROG_TYPE_TRACING "
			 "(fentry/fexit) programs altogether (libbpf's "
			 "program-type probe fails too)");
	else
		snprintf(buf, len, "tracing programs load, but not on %s",
			 FAULT_FN);
}

static int load_best(const struct fl_opts *o, const struct fl_plan *plan,
		     struct faultlat **skelp, enum fl_mode *used)
{
	static const enum fl_mode order[] = {
		FL_MODE_TP_BTF, FL_MODE_FENTRY, FL_MODE_KPROBE };
	char why[3][768], extra[256];
	struct utsname u;
	size_t i;
	int err = -ENOENT;

	for (i = 0; i < ARRAY_LEN(order); i++) {
		if (o->mode != FL_MODE_NONE && o->mode != order[i]) {
			snprintf(why[i], sizeof(why[i]), "not tried (--mode %s)",
				 mode_name(o->mode));
			continue;
		}
		if (order[i] == FL_MODE_TP_BTF && !plan->has_tp) {
			snprintf(why[i], sizeof(why[i]), "this kernel has no "
				 "userfaultfd trace events (patches/0001 adds them)");
			continue;
		}
		err = try_mode(order[i], o, plan, skelp, why[i], sizeof(why[i]));
		if (!err) {
			*used = order[i];
			return 0;
		}
		if (order[i] == FL_MODE_FENTRY) {
			explain_fentry(extra, sizeof(extra));
			strncat(why[i], ": ", sizeof(why[i]) - strlen(why[i]) - 1);
			strncat(why[i], extra, sizeof(why[i]) - strlen(why[i]) - 1);
		}
		if (order[i] == FL_MODE_KPROBE &&
		    !path_exists("/sys/bus/event_source/devices/kprobe")) {
			explain_kprobe(extra, sizeof(extra));
			strncat(why[i], ": ", sizeof(why[i]) - strlen(why[i]) - 1);
			strncat(why[i], extra, sizeof(why[i]) - strlen(why[i]) - 1);
		}
		if (verbose)
			fprintf(stderr, LOG_PFX "%s: %s\n", mode_name(order[i]), why[i]);
	}
	uname(&u);
	fprintf(stderr, LOG_PFX "cannot attach to %s on this kernel (%s):\n"
		"  tp_btf: %s\n"
		"  fentry/fexit: %s\n"
		"  kprobe/kretprobe: %s\n"
		LOG_PFX "needs a kernel with BTF and the userfaultfd trace events, "
		"fentry or kprobes (e.g. the Debian 6.1 guest: "
		"qemu-test/run -- lazymig faultlat)\n",
		FAULT_FN, u.release, why[0], why[1], why[2]);
	return err;
}

/* ---- pinning ---- */

struct fl_pins {
	char dir[256];
	bool made_dir;
	int npinned;
	struct bpf_map *maps[2];
};

static int pin_maps(struct faultlat *skel, const char *dir, struct fl_pins *p)
{
	struct statfs sfs;
	char path[512];
	int i, err;

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	p->maps[0] = skel->maps.lat_hist;
	p->maps[1] = skel->maps.uffd_events;
	if (mkdir(dir, 0700) == 0) {
		p->made_dir = true;
	} else if (errno != EEXIST) {
		err = -errno;
		fprintf(stderr, LOG_PFX "--pin %s: cannot create it: %s\n", dir,
			strerror(errno));
		return err;
	}
	if (statfs(dir, &sfs) || (unsigned long)sfs.f_type != BPF_FS_MAGIC_NR) {
		fprintf(stderr, LOG_PFX "--pin %s: not on a bpf filesystem "
			"(mount -t bpf bpf /sys/fs/bpf and pin below it)\n", dir);
		err = -EINVAL;
		goto undo;
	}
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir,
			 bpf_map__name(p->maps[i]));
		if (path_exists(path)) {
			fprintf(stderr, LOG_PFX "--pin: %s already exists (another "
				"faultlat running, or a stale pin: rm it)\n", path);
			err = -EEXIST;
			goto undo;
		}
		err = bpf_map__pin(p->maps[i], path);
		if (err) {
			fprintf(stderr, LOG_PFX "--pin: pinning %s failed: %s\n",
				path, strerror(-err));
			goto undo;
		}
		p->npinned++;
	}
	return 0;
undo:
	for (i = 0; i < p->npinned; i++)
		bpf_map__unpin(p->maps[i], NULL);
	if (p->made_dir)
		rmdir(dir);
	p->npinned = 0;
	p->made_dir = false;
	return err;
}

static void unpin_maps(struct fl_pins *p)
{
	int i;

	for (i = 0; i < p->npinned; i++)
		if (bpf_map__unpin(p->maps[i], NULL))
			fprintf(stderr, LOG_PFX "unpinning %s/%s failed\n",
				p->dir, bpf_map__name(p->maps[i]));
	if (p->made_dir && rmdir(p->dir))
		fprintf(stderr, LOG_PFX "rmdir %s: %s\n", p->dir, strerror(errno));
}

/* ---- printing ---- */

static void print_stars(__u64 val, __u64 max, int width)
{
	int n = max ? (int)(val * width / max) : 0, i;

	if (n > width)
		n = width;
	for (i = 0; i < width; i++)
		putchar(i < n ? '*' : ' ');
}

static void print_log2_hist(const __u64 *slots, int nslots, const char *unit)
{
	int i, first = -1, last = -1;
	__u64 max = 0;

	for (i = 0; i < nslots; i++) {
		if (!slots[i])
			continue;
		if (first < 0)
			first = i;
		last = i;
		if (slots[i] > max)
			max = slots[i];
	}
	if (last < 0)
		return;
	printf("%24s : count     distribution\n", unit);
	for (i = first; i <= last; i++) {
		unsigned long long lo = i ? 1ULL << i : 0;
		unsigned long long hi = (1ULL << (i + 1)) - 1;

		printf("%11llu -> %-10llu : %-9llu |", lo, hi,
		       (unsigned long long)slots[i]);
		print_stars(slots[i], max, 40);
		printf("|\n");
	}
}

static void print_ns(const char *label, __u64 ns)
{
	if (ns >= 10000000ULL)
		printf("%s %.1f ms", label, ns / 1e6);
	else if (ns >= 10000ULL)
		printf("%s %.1f us", label, ns / 1e3);
	else
		printf("%s %llu ns", label, (unsigned long long)ns);
}

/*
 * Every entry of BPF map @fd, as an array of @esz-byte elements holding
 * the @ksz-byte key at offset 0 and the value at @voff; its length in *nr.
 * Stops early (keeping what it has) if memory runs out.
 */
static void *map_entries(int fd, size_t ksz, size_t voff, size_t esz,
			 size_t *nr)
{
	__u64 key[8], next[8];
	void *prev = NULL;
	char *ents = NULL;
	size_t n = 0, cap = 0;

	while (ksz <= sizeof(key) &&
	       bpf_map_get_next_key(fd, prev, next) == 0) {
		if (n == cap) {
			char *e;

			cap = cap ? 2 * cap : 32;
			e = realloc(ents, cap * esz);
			if (!e)
				break;
			ents = e;
		}
		if (bpf_map_lookup_elem(fd, next, ents + n * esz + voff) == 0) {
			memcpy(ents + n * esz, next, ksz);
			n++;
		}
		memcpy(key, next, ksz);
		prev = key;
	}
	*nr = n;
	return ents;
}

struct hist_ent {
	struct fl_hist_key k;
	struct fl_hist v;
};

static int cmp_hist(const void *a, const void *b)
{
	const struct hist_ent *x = a, *y = b;

	if (x->k.tgid != y->k.tgid)
		return x->k.tgid < y->k.tgid ? -1 : 1;
	return (int)x->k.lat - (int)y->k.lat;
}

static void print_hists(int fd)
{
	struct hist_ent *ents;
	size_t n, i;

	ents = map_entries(fd, sizeof(ents->k), offsetof(struct hist_ent, v),
			   sizeof(*ents), &n);
	if (!n)
		printf("\nno userfaultfd fault, event or resolve was seen\n");
	qsort(ents, n, sizeof(*ents), cmp_hist);
	for (i = 0; i < n; i++) {
		const struct hist_ent *e = &ents[i];

		printf("\npid = %u comm = %.*s: %s\n", e->k.tgid, FL_COMM_LEN,
		       e->v.comm, e->k.lat < FL_LAT_MAX ? lat_title[e->k.lat] : "?");
		print_log2_hist(e->v.slots, FL_MAX_SLOTS, "nsec");
		printf("count %llu,", (unsigned long long)e->v.count);
		print_ns(" avg", e->v.count ? e->v.total_ns / e->v.count : 0);
		print_ns(", max", e->v.max_ns);
		printf("\n");
	}
	free(ents);
}

struct event_ent {
	struct fl_event_key k;
	struct fl_event_val v;
};

static int cmp_event(const void *a, const void *b)
{
	const struct event_ent *x = a, *y = b;

	if (x->k.tgid != y->k.tgid)
		return x->k.tgid < y->k.tgid ? -1 : 1;
	return (int)x->k.event - (int)y->k.event;
}

static void print_events(int fd)
{
	struct event_ent *ents;
	size_t n, i;

	ents = map_entries(fd, sizeof(ents->k), offsetof(struct event_ent, v),
			   sizeof(*ents), &n);
	if (!n) {
		printf("\nuserfaultfd events: none\n");
		free(ents);
		return;
	}
	qsort(ents, n, sizeof(*ents), cmp_event);
	printf("\nuserfaultfd events:\n%-8s %-16s %-16s %s\n",
	       "PID", "COMM", "EVENT", "COUNT");
	for (i = 0; i < n; i++) {
		const struct event_ent *e = &ents[i];

		printf("%-8u %-16.*s %-16s %llu\n", e->k.tgid, FL_COMM_LEN,
		       e->v.comm, e->k.event < FL_EV_MAX ?
		       event_name[e->k.event] : "?",
		       (unsigned long long)e->v.count);
	}
	free(ents);
}

/* ---- the command ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lazymig faultlat [-p PID] [-d SECONDS] [--pin DIR]\n"
		"                        [--mode auto|tp_btf|fentry|kprobe] [-v]\n"
		"  Time spent blocked in userfaultfd faults (log2 histograms in ns,\n"
		"  per process), userfaultfd event counts, and UFFDIO_COPY/ZEROPAGE\n"
		"  latency.  Prints on Ctrl-C or after -d SECONDS.\n"
		"  -p PID       only this process, not its children (resolve calls:\n"
		"               those filling PID's memory, whoever makes them)\n"
		"  -d SECONDS   stop after SECONDS\n"
		"  --pin DIR    pin lat_hist and uffd_events under DIR (bpffs) while\n"
		"               running: bpftool map dump pinned DIR/lat_hist\n"
		"  --mode M     attach with M only (default auto: tp_btf on a kernel\n"
		"               with the userfaultfd trace events, then fentry, kprobe)\n"
		"  -v           libbpf warnings and each mode's failure\n");
}

static int parse_opts(int argc, char **argv, struct fl_opts *o)
{
	static const struct option lopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "pin", required_argument, NULL, 'P' },
		{ "mode", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long v;
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:d:vh", lopts, NULL)) != -1) {
		switch (c) {
		case 'p':
		case 'd':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v <= 0 || v > 0x7fffffff) {
				fprintf(stderr, LOG_PFX "-%c %s: want a positive number\n",
					c, optarg);
				return -EINVAL;
			}
			if (c == 'p')
				o->pid = (pid_t)v;
			else
				o->duration = (unsigned int)v;
			break;
		case 'P':
			o->pin_dir = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "auto")) {
				o->mode = FL_MODE_NONE;
			} else if (!strcmp(optarg, "tp_btf")) {
				o->mode = FL_MODE_TP_BTF;
			} else if (!strcmp(optarg, "fentry")) {
				o->mode = FL_MODE_FENTRY;
			} else if (!strcmp(optarg, "kprobe")) {
				o->mode = FL_MODE_KPROBE;
			} else {
				fprintf(stderr, LOG_PFX "--mode %s: want auto, tp_btf, "
					"fentry or kprobe\n", optarg);
				return -EINVAL;
			}
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, LOG_PFX "unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static void print_plan(const struct fl_plan *plan, enum fl_mode mode)
{
	const struct fl_func *f[] = {
		&plan->fault, &plan->event, &plan->copy, &plan->zeropage };
	const char *what[] = { "fault", "event", "copy", "zeropage" };
	size_t i;

	if (mode == FL_MODE_TP_BTF) {
		printf("faultlat: tp_btf on userfaultfd:{fault,fault_resolved,"
		       "event,resolve} and raw_syscalls:sys_enter (ioctl)\n");
		return;
	}
	printf("faultlat: %s on", mode_name(mode));
	for (i = 0; i < 4; i++) {
		bool ok = f[i]->name && (mode == FL_MODE_FENTRY ?
					 f[i]->in_btf : f[i]->in_kallsyms);

		printf(" %s=%s", what[i], ok ? f[i]->name : "(absent)");
	}
	printf("\n");
}

int cmd_faultlat(int argc, char **argv)
{
	struct faultlat *skel = NULL;
	enum fl_mode used = FL_MODE_NONE;
	struct fl_pins pins = { .npinned = 0 };
	struct fl_plan plan;
	struct fl_opts o;
	struct sigaction sa = { .sa_handler = on_signal };
	time_t deadline;
	int err;

	err = parse_opts(argc, argv, &o);
	if (err)
		return err > 0 ? 0 : 2;
	verbose = o.verbose;
	libbpf_set_print(libbpf_print);
	if (geteuid() != 0) {
		fprintf(stderr, LOG_PFX "must run as root (loads BPF programs)\n");
		return 1;
	}
	make_plan(&plan);
	if (o.pid && kill(o.pid, 0) && errno == ESRCH) {
		fprintf(stderr, LOG_PFX "-p %d: no such process\n", o.pid);
		return 1;
	}
	if (!plan.event.name)
		fprintf(stderr, LOG_PFX "%s not found (inlined?): no event counts\n",
			EVENT_FN);
	if (!plan.copy.name || !plan.zeropage.name)
		fprintf(stderr, LOG_PFX "UFFDIO_COPY/ZEROPAGE worker not found: "
			"no resolve latency\n");
	err = load_best(&o, &plan, &skel, &used);
	if (err)
		return 1;
	print_plan(&plan, used);
	if (o.pin_dir && pin_maps(skel, o.pin_dir, &pins)) {
		faultlat__destroy(skel);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (o.pid)
		printf("Tracing userfaultfd faults of pid %d", o.pid);
	else
		printf("Tracing userfaultfd faults of all processes");
	if (o.pin_dir)
		printf(", maps pinned in %s", o.pin_dir);
	printf("... Hit Ctrl-C to end.\n");
	fflush(stdout);

	deadline = time(NULL) + o.duration;
	while (!exiting && (!o.duration || time(NULL) < deadline))
		usleep(100000);

	print_hists(bpf_map__fd(skel->maps.lat_hist));
	print_events(bpf_map__fd(skel->maps.uffd_events));
	if (skel->bss->lost_starts)
		printf("\n%llu exits had no recorded entry (began before "
		       "attach, or the start map was full)\n",
		       (unsigned long long)skel->bss->lost_starts);
	fflush(stdout);
	unpin_maps(&pins);
	faultlat__destroy(skel);
	return 0;
}
