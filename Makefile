# migr: top-level build. Plain GNU make; `make help` lists the targets.
#
# Layout conventions the generic rules below rely on:
#   libmigr/*.c            -> one library, $(BUILD)/lib/libmigr.{a,so}
#   tools/NAME/*.c         -> one program, $(BUILD)/bin/NAME
#   tests/unit/test_*.c    -> one unit test each (ASan+UBSan), run by `make check`, with
#                             tests/fakes/*.c (the seams' test doubles, not in the library)
#                             and the sources a fragment names in its UNIT_EXTRA
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

PKGS     := xencontrol xenguest xenstore xenlight xentoollog xenforeignmemory xenevtchn yajl gnutls libmnl \
            libzstd libcurl
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
# Benchmarks `make bench` runs; fragments append (bench-policy, bench-fwd, bench-lab, bench-evac).
BENCH_TARGETS :=

.PHONY: all tools check test test-extended deps demo clean distclean help bench fuzz nested install deb
all:

# Where `make install` puts things (DESTDIR is prepended). Debian's Xen tools keep xl in
# /usr/sbin: PREFIX=/usr puts migr and migrd beside it (the Debian package does).
PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
LIBEXECDIR  ?= $(PREFIX)/libexec
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSTEMDUNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
# The programs read /etc/migr whatever PREFIX is (MIGR_PSK_FILE, MIGR_TLS_DIR, migrd.conf).
CONFDIR     := /etc/migr
VERSION     := $(shell sed -n 's/^\#define MIGR_VERSION_STRING "\(.*\)"/\1/p' libmigr/include/libmigr.h)
MANPAGES    := man/migr.1 man/migrd.8 man/migrd.conf.5 man/migr-notice.7

-include $(sort $(wildcard */module.mk */*/module.mk */*/*/module.mk))

all: $(ALL_TARGETS)
tools: $(TOOL_BINS)

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
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libmigr.so.0 -o $@ $^ $(LDLIBS)

# The installed vif helper's directory is built into libmigr (migr/vif.h); $(BUILD)/libexecdir
# changes only when LIBEXECDIR does, so that a new PREFIX rebuilds the one object using it.
VIF_DEFINE := -DMIGR_LIBEXECDIR='"$(LIBEXECDIR)/migr"'
$(shell mkdir -p $(BUILD) && echo '$(LIBEXECDIR)/migr' | cmp -s - $(BUILD)/libexecdir || \
	echo '$(LIBEXECDIR)/migr' >$(BUILD)/libexecdir)
$(BUILD)/obj/libmigr/vif.o $(BUILD)/san/libmigr/vif.o: CPPFLAGS += $(VIF_DEFINE)
$(BUILD)/obj/libmigr/vif.o $(BUILD)/san/libmigr/vif.o: $(BUILD)/libexecdir

# ---- programs: tools/NAME/*.c -> $(BUILD)/bin/NAME ---------------------------
define tool_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tools/$(1)/*.c)) $(LIBA)
	$$(call say,LD,$$@)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

# ---- unit tests (sanitized) --------------------------------------------------
$(BUILD)/tests/unit/%: tests/unit/%.c $(UNIT_HELPERS) $(LIBSAN)
	$(call say,CC-SAN,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) -O1 -g $(SAN) $(CPPFLAGS) -Itests/unit -Itests/fakes -Ilibmigr $(PKG_CFLAGS) -o $@ $< $(UNIT_HELPERS) $(UNIT_EXTRA) $(LIBSAN) $(LDLIBS)

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

# ---- install and the Debian package ----------------------------------------------
# A configuration already in $(CONFDIR) is left alone; the unit's ExecStart names SBINDIR.
install: tools
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)/migr $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(CONFDIR) \
		$(addprefix $(DESTDIR)$(MANDIR)/man,1 5 7 8)
	install -m 0755 $(BUILD)/bin/migr $(BUILD)/bin/migrd $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BUILD)/bin/migr-vif-bridge $(BUILD)/bin/migr-destroy $(DESTDIR)$(LIBEXECDIR)/migr/
	sed 's|^ExecStart=/usr/sbin/|ExecStart=$(SBINDIR)/|' tools/migrd/migrd.service \
		>$(DESTDIR)$(SYSTEMDUNITDIR)/migrd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/migrd.service
	for m in $(MANPAGES); do \
		sed -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|' $$m >$(DESTDIR)$(MANDIR)/man$${m##*.}/$${m#man/} && \
		chmod 0644 $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m#man/} || exit 1; \
	done
	install -m 0644 tools/migr/migr.bash-completion $(DESTDIR)$(BASHCOMPDIR)/migr
	ln -sf migr $(DESTDIR)$(BASHCOMPDIR)/migrd
	[ -e $(DESTDIR)$(CONFDIR)/migrd.conf ] || \
		install -m 0644 tools/migrd/migrd.conf $(DESTDIR)$(CONFDIR)/migrd.conf

# dpkg-buildpackage in a copy of the tree under $(BUILD)/deb (it writes beside the tree);
# the .deb lands in $(BUILD)/ and its path is the last line printed.
deb:
	$(Q)BUILD=$(BUILD) scripts/make-deb.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/nested/demo

bench: $(BENCH_TARGETS)

clean:
	rm -rf $(BUILD)/obj $(BUILD)/san $(BUILD)/lib $(BUILD)/bin $(BUILD)/tests $(BUILD)/test-logs $(BUILD)/test-results \
		$(BUILD)/deb $(BUILD)/test-deb $(BUILD)/migr_*.deb

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
	@echo 'make tools     build only the programs (migr, migrd, migr-vif-bridge, migr-destroy)'
	@echo 'make install   install programs, unit, man pages, completion (PREFIX=/usr/local, DESTDIR)'
	@echo 'make deb       build the Debian package into $(BUILD)/ (debhelper; prints its path)'
	@echo 'make bench     all benchmarks (bench-policy, bench-fwd, bench-lab, bench-lab-heavy, bench-evac, bench-compress, bench-fleet, bench-drain, bench-switchover)'
	@echo 'make bench-lab-observer  what bench-lab'"'"'s own observers cost the lab host they observe'
	@echo 'make soak      100 back-to-back hops A <-> B on the nested lab (SOAK_HOPS=N)'
	@echo 'make fuzz      run every libFuzzer target (clang) FUZZ_SECONDS (60) or FUZZ_RUNS'
	@echo '               executions each, whichever comes first; FUZZ_TARGETS picks some;'
	@echo '               prints each target'"'"'s executions, seconds and crashes'
	@echo 'make clean     remove build output (keeps the cached lab images); distclean: all'

-include $(LIB_OBJS:.o=.d) $(LIB_SAN_OBJS:.o=.d) $(wildcard $(BUILD)/obj/tools/*/*.d)
$(foreach t,$(TOOLS),$(eval $(BUILD)/obj/tools/$(t)/%.o: CPPFLAGS += -Itools/$(t)))
# the vif helper uses the library's internal rtnetlink client (libmigr/fwd_int.h)
$(BUILD)/obj/tools/migr-vif-bridge/%.o: CPPFLAGS += -Ilibmigr
