# SPDX-License-Identifier: GPL-2.0
# Benchmark programs: bench/NAME.c -> build/bench/NAME.

BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRCS))

.PHONY: benches
benches: $(BENCH_BINS)
all: benches

# Linked with selftests/lib/lmtest.c: the workloads' shared helpers.
$(B)/bench/%: bench/%.c selftests/lib/lmtest.c selftests/lib/lmtest.h $(USER_HDRS)
	$(Q)mkdir -p $(dir $@)
	$(Q)echo "  CC      $@"
	$(Q)$(CC) $(USER_CFLAGS) -Iselftests/lib -o $@ $< selftests/lib/lmtest.c \
		$(LDFLAGS_SAN) -lpthread
