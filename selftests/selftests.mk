# SPDX-License-Identifier: GPL-2.0
# kselftest-harness tests.  selftests/{host,vm,both}/NAME.c ->
# build/selftests/{host,vm,both}/NAME, linked with selftests/lib/*.c.
# The harness headers come from Debian's linux-source-6.1 at build time.

KSRC_TAR ?= /usr/src/linux-source-6.1.tar.xz
KSFT := $(B)/kselftest
KSFT_HDRS := $(KSFT)/.stamp

ST_SRCS := $(wildcard selftests/host/*.c selftests/vm/*.c selftests/both/*.c)
ST_BINS := $(patsubst selftests/%.c,$(B)/selftests/%,$(ST_SRCS))
ST_LIB_SRCS := $(wildcard selftests/lib/*.c)
ST_LIB_HDRS := $(wildcard selftests/lib/*.h)
ST_CFLAGS := $(USER_CFLAGS) -I$(KSFT) -Iselftests/lib -Wno-sign-compare \
	-Wno-unused-function

# Workloads: the processes the tests dump, migrate and verify; not tests
# themselves (run.sh never runs them).  Built without the sanitizers: a
# sanitizer runtime's own mappings are not what we migrate.
WL_SRCS := $(wildcard selftests/workloads/*.c)
WL_BINS := $(patsubst selftests/workloads/%.c,$(B)/selftests/workloads/%,$(WL_SRCS))

.PHONY: selftests
selftests: $(ST_BINS) $(WL_BINS) $(B)/selftests/run.sh

$(B)/selftests/workloads/%: selftests/workloads/%.c selftests/lib/lmtest.c $(ST_LIB_HDRS)
	$(Q)mkdir -p $(dir $@)
	$(Q)echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS_COMMON) $(CFLAGS) -fno-sanitize=all -Iselftests/lib \
		-o $@ $< selftests/lib/lmtest.c -lpthread

$(KSFT_HDRS):
	$(Q)echo "  EXTRACT kselftest harness from $(KSRC_TAR)"
	$(Q)mkdir -p $(KSFT)
	$(Q)tar -xJf $(KSRC_TAR) -C $(KSFT) --strip-components=4 \
		linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h
	$(Q)touch $@

# Tests may call any stage of the tool directly (liblazymig.a).
$(B)/selftests/%: selftests/%.c $(ST_LIB_SRCS) $(ST_LIB_HDRS) $(KSFT_HDRS) $(USER_HDRS) $(USER_LIB)
	$(Q)mkdir -p $(dir $@)
	$(Q)echo "  CC      $@"
	$(Q)$(CC) $(ST_CFLAGS) -o $@ $< $(ST_LIB_SRCS) $(USER_LIB) $(LDFLAGS_SAN) $(USER_LDLIBS)

$(B)/selftests/run.sh: selftests/run.sh
	$(Q)mkdir -p $(dir $@)
	$(Q)install -m 0755 $< $@
