# SPDX-License-Identifier: GPL-2.0
#
# lazymig top-level build.  Every output lands under build/.
#
#   make            tool (build/lazymig), BPF objects + skeletons, selftests
#   make module     build/lazymig.ko against KDIR (Debian linux-headers-*-amd64)
#   make check      deps, build, host selftests, VM selftests (stock kernel)
#   make demo       deps, build, a real lazy migration of a demo workload
#   make SANITIZE=1 user space with ASan+UBSan

B := build
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

CFLAGS_COMMON := -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	-Wno-unused-parameter -Wno-missing-field-initializers \
	-Iinclude/uapi -Iuser -I$(B)/bpf
ifeq ($(SANITIZE),1)
CFLAGS_COMMON += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS_SAN := -fsanitize=address,undefined
endif
CFLAGS ?=
USER_CFLAGS := $(CFLAGS_COMMON) $(CFLAGS)
USER_LDLIBS := -lbpf -lelf -lz -lssl -lcrypto -lpthread

.PHONY: all module check demo clean fuzz stress
all: tool bpf selftests

include bpf/bpf.mk
include user/user.mk
include selftests/selftests.mk
include module/module.mk
include bench/bench.mk
include fuzz/fuzz.mk

check:
	$(Q)scripts/check.sh

demo:
	$(Q)scripts/demo.sh

clean:
	rm -rf $(B)
