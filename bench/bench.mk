# SPDX-License-Identifier: GPL-2.0
# Benchmark programs: bench/NAME.c -> build/bench/NAME.

BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRCS))

.PHONY: benches
benches: $(BENCH_BINS)
all: benches

$(B)/bench/%: bench/%.c $(USER_HDRS)
	$(Q)mkdir -p $(dir $@)
	$(Q)echo "  CC      $@"
	$(Q)$(CC) $(USER_CFLAGS) -o $@ $< $(LDFLAGS_SAN) -lpthread
