# migr: top-level build. Plain GNU make; `make help` lists the targets.
#
# Layout conventions the generic rules below rely on:
#   libmigr/*.c            -> one library, $(BUILD)/lib/libmigr.{a,so}
#   tools/NAME/*.c         -> one program, $(BUILD)/bin/NAME
#   tests/unit/test_*.c    -> one unit test each (ASan+UBSan), run by `make check`, with
#                             tests/fakes/*.c (the seams' test doubles, not in the library)
#   tests/fuzz/fuzz_*.c    -> one fuzzer each (libFuzzer with clang; a corpus replayer with gcc)
#   */module.mk            -> extra targets and tests of a component (appends to CHECK_TESTS)

BUILD    ?= build
CC       ?= gcc
CFLAGS   ?= -O2 -g
WARN     := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter
CPPFLAGS += -Ilibmigr/include -D_GNU_SOURCE -MMD -MP
V        ?= 0
ifeq ($(V),0)
Q   := @
say  = @printf '  %-6s %s\n' $(1) $(2)
else
Q   :=
say  = @true
endif

PKGS     := xencontrol xenguest xenstore xenlight xentoollog xenforeignmemory xenevtchn yajl gnutls libmnl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS   += $(PKG_LIBS) -lpthread -lm

SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer

LIB_SRCS := $(wildcard libmigr/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB_SAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/san/%.o)
LIBA     := $(BUILD)/lib/libmigr.a
LIBSO    := $(BUILD)/lib/libmigr.so
LIBSAN   := $(BUILD)/lib/libmigr-san.a

TOOLS    := $(notdir $(patsubst %/,%,$(wildcard tools/*/)))
TOOL_BINS := $(TOOLS:%=$(BUILD)/bin/%)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_HELPERS := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c)) $(wildcard tests/fakes/*.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRCS:%.c=$(BUILD)/%-replay)

# Commands `make check` runs; each exits 0 (pass), 77 (skip) or anything else (fail).
CHECK_TESTS := $(UNIT_BINS) $(FUZZ_REPLAY)
# Everything `make all` builds; fragments append.
ALL_TARGETS := $(LIBA) $(LIBSO) $(TOOL_BINS)
# Benchmarks `make bench` runs; fragments append (bench-policy, bench-fwd, bench-lab).
BENCH_TARGETS :=

.PHONY: all check test test-extended deps demo clean distclean help bench fuzz nested
all:

-include $(sort $(wildcard */module.mk */*/module.mk */*/*/module.mk))

all: $(ALL_TARGETS)

# ---- library ---------------------------------------------------------------
$(BUILD)/obj/%.o: %.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) -fPIC $(CPPFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c
	$(call say,CC-SAN,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) -O1 -g $(SAN) $(CPPFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJS)
	$(call say,AR,$@)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBSAN): $(LIB_SAN_OBJS)
	$(call say,AR,$@)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBSO): $(LIB_OBJS)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -shared -Wl,-soname,libmigr.so.0 -o $@ $^ $(LDLIBS)

# ---- programs: tools/NAME/*.c -> $(BUILD)/bin/NAME ---------------------------
define tool_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tools/$(1)/*.c)) $(LIBA)
	$$(call say,LD,$$@)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

# ---- unit tests (sanitized) --------------------------------------------------
$(BUILD)/tests/unit/%: tests/unit/%.c $(UNIT_HELPERS) $(LIBSAN)
	$(call say,CC-SAN,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) -O1 -g $(SAN) $(CPPFLAGS) -Itests/unit -Itests/fakes $(PKG_CFLAGS) -o $@ $< $(UNIT_HELPERS) $(LIBSAN) $(LDLIBS)

# ---- fuzzers: a corpus replayer (gcc, sanitized) for `make check`; libFuzzer for `make fuzz`
$(BUILD)/tests/fuzz/%-replay: tests/fuzz/%.c tests/fuzz/replay_main.c $(LIBSAN)
	$(call say,CC-SAN,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) -O1 -g $(SAN) $(CPPFLAGS) -DREPLAY_CORPUS='"tests/fuzz/corpus/$*"' $(PKG_CFLAGS) -o $@ $< tests/fuzz/replay_main.c $(LIBSAN) $(LDLIBS)

FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?=
FUZZ_TARGETS ?= $(notdir $(FUZZ_SRCS:.c=))
fuzz: $(LIB_SRCS)
	$(Q)FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_RUNS='$(FUZZ_RUNS)' \
		scripts/fuzz.sh $(FUZZ_TARGETS:%=tests/fuzz/%.c)

# ---- the suites ----------------------------------------------------------------
check: all $(CHECK_TESTS)
	$(Q)tests/lib/run-suite check $(CHECK_TESTS)

nested: all
	$(Q)tests/nested/run

# deps + build + check + nested, one closing line for the whole.
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)rm -rf $(BUILD)/test-results; rc=0; \
	$(MAKE) --no-print-directory check || rc=1; \
	tests/nested/run || rc=1; \
	tests/lib/summary test $(BUILD)/test-results || rc=1; \
	exit $$rc

# The same, with the long nested tests that are not yet part of the CI suite.
test-extended:
	$(Q)LAB_EXTENDED=1 $(MAKE) --no-print-directory test

deps:
	$(Q)scripts/deps.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/nested/demo

bench: $(BENCH_TARGETS)

clean:
	rm -rf $(BUILD)/obj $(BUILD)/san $(BUILD)/lib $(BUILD)/bin $(BUILD)/tests $(BUILD)/test-logs $(BUILD)/test-results

# Also drops the cached lab images (rebuilt from Debian packages on the next run).
distclean:
	rm -rf $(BUILD)

help:
	@echo 'make deps      install every Debian package the build, tests, lab and demo need'
	@echo 'make           build libmigr (static + shared) and the tools into $(BUILD)/'
	@echo 'make check     fast tests: unit, fuzz corpora, network namespaces (no nested Xen)'
	@echo 'make test      deps + build + check + the nested-Xen suite'
	@echo 'make test-extended  the same with the long nested tests (LAB_EXTENDED=1)'
	@echo 'make demo      boot the nested lab and run the main job'
	@echo 'make bench     all benchmarks (bench-policy, bench-fwd, bench-lab)'
	@echo 'make soak      100 back-to-back hops A <-> B on the nested lab (SOAK_HOPS=N)'
	@echo 'make fuzz      run every libFuzzer target (clang) FUZZ_SECONDS (60) or FUZZ_RUNS'
	@echo '               executions each, whichever comes first; FUZZ_TARGETS picks some;'
	@echo '               prints each target'"'"'s executions, seconds and crashes'
	@echo 'make clean     remove build output (keeps the cached lab images); distclean: all'

-include $(LIB_OBJS:.o=.d) $(LIB_SAN_OBJS:.o=.d) $(wildcard $(BUILD)/obj/tools/*/*.d)
$(foreach t,$(TOOLS),$(eval $(BUILD)/obj/tools/$(t)/%.o: CPPFLAGS += -Itools/$(t)))
