# SPDX-License-Identifier: GPL-2.0
# The lazymig tool: every user/*.c is one stage of the data flow.

USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(B)/user/%.o,$(USER_SRCS))
USER_HDRS := $(wildcard user/*.h include/uapi/linux/*.h)

.PHONY: tool
tool: $(B)/lazymig

$(B)/user/%.o: user/%.c $(USER_HDRS) $(BPF_SKELS) | $(B)/user
	$(Q)echo "  CC      $@"
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@

# Everything but main.o, for selftests and fuzzers that drive one stage.
USER_LIB := $(B)/liblazymig.a
$(USER_LIB): $(filter-out $(B)/user/main.o,$(USER_OBJS))
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

# --whole-archive: every object of the library, whether main.o names
# one of its symbols or not (the selftests link the same archive).
$(B)/lazymig: $(B)/user/main.o $(USER_LIB)
	$(Q)echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_SAN) -o $@ $(B)/user/main.o -Wl,--whole-archive \
		$(USER_LIB) -Wl,--no-whole-archive $(USER_LDLIBS)

$(B)/user:
	$(Q)mkdir -p $@
