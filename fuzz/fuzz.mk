# SPDX-License-Identifier: GPL-2.0
# libFuzzer harnesses (clang, ASan+UBSan).  The user sources they drive
# are compiled again with clang under build/fuzz/obj, not taken from the
# gcc build.  `make fuzz` runs each harness for FUZZ_SECONDS (fuzz/run.sh);
# fuzz/regress/<harness>/ holds every input that ever crashed one, and is
# replayed first.

FUZZ_B := $(B)/fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g $(FUZZ_SAN) -D_GNU_SOURCE -Wall -Wextra -Werror \
	-Wno-unused-parameter -Wno-missing-field-initializers \
	-Iinclude/uapi -Iuser -Ifuzz
FUZZ_LIBS := -lz -lssl -lcrypto -lpthread

FUZZERS := image dest source auth rx
FUZZ_USER := image proto net tls lazy lazy_runs lazy_ra lazy_hugetlb lmdev pageserver stats faulttrace
FUZZ_USER_OBJS := $(patsubst %,$(FUZZ_B)/obj/%.o,$(FUZZ_USER))
FUZZ_BINS := $(patsubst %,$(FUZZ_B)/fuzz_%,$(FUZZERS))
FUZZ_HDRS := $(wildcard fuzz/*.h) $(USER_HDRS)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS) $(FUZZ_B)/seedgen

fuzz: fuzz-build tool selftests
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

$(FUZZ_B)/obj/%.o: user/%.c $(FUZZ_HDRS) | $(FUZZ_B)/obj
	$(Q)echo "  FUZZCC  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_B)/obj/f_%.o: fuzz/%.c $(FUZZ_HDRS) | $(FUZZ_B)/obj
	$(Q)echo "  FUZZCC  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# fuzz_dest checks every UFFDIO_COPY the daemon makes: ioctl is wrapped.
$(FUZZ_B)/fuzz_dest: FUZZ_LDFLAGS := -Wl,--wrap=ioctl
# fuzz_image also runs `lazymig info` on what it reads.
$(FUZZ_B)/fuzz_image: $(FUZZ_B)/obj/cmd_info.o
$(FUZZ_B)/fuzz_%: $(FUZZ_B)/obj/f_fuzz_%.o $(FUZZ_B)/obj/f_peer.o $(FUZZ_USER_OBJS)
	$(Q)echo "  FUZZLD  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(FUZZ_LDFLAGS) -o $@ $^ $(FUZZ_LIBS)

$(FUZZ_B)/seedgen: $(FUZZ_B)/obj/f_seedgen.o $(FUZZ_USER_OBJS)
	$(Q)echo "  FUZZLD  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -o $@ $^ $(FUZZ_LIBS)

# keep the harness objects between builds
.SECONDARY: $(patsubst %,$(FUZZ_B)/obj/f_fuzz_%.o,$(FUZZERS)) $(FUZZ_B)/obj/f_peer.o

$(FUZZ_B)/obj:
	$(Q)mkdir -p $@
