# SPDX-License-Identifier: GPL-2.0
# CO-RE BPF objects: bpf/NAME.bpf.c -> build/bpf/NAME.bpf.o -> NAME.skel.h.
# vmlinux.h comes from the build machine's BTF.

BTF_SRC ?= /sys/kernel/btf/vmlinux
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.skel.h,$(BPF_SRCS))

.PHONY: bpf
bpf: $(BPF_SKELS)

$(B)/bpf/vmlinux.h: | $(B)/bpf
	$(Q)echo "  BTF     $@"
	$(Q)$(BPFTOOL) btf dump file $(BTF_SRC) format c > $@.tmp && mv $@.tmp $@

$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(B)/bpf/vmlinux.h
	$(Q)echo "  BPF     $@"
	$(Q)$(CLANG) -O2 -g -Wall -Werror -target bpf -D__TARGET_ARCH_x86 \
		-I$(B)/bpf -Ibpf -Iinclude/uapi -c $< -o $@

$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	$(Q)echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< name $(notdir $(basename $(basename $<))) > $@.tmp && mv $@.tmp $@

$(B)/bpf:
	$(Q)mkdir -p $@

# The Makefile reads user/user.mk before this file, so its object rule saw
# BPF_SKELS empty: make every user object wait for the skeletons.
$(USER_OBJS): $(BPF_SKELS)
