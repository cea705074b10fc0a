# The lab's guest workload and dom0 corruption tool (see tests/nested/guest/README.md).
#   $(BUILD)/lab/bin/memwork     static: runs in the busybox guests, and here for the self-test
#   $(BUILD)/lab/bin/fwdtraf     static: tests/net/fwdtraf.c for the guests (udp-echo, tcp-echo)
#   $(BUILD)/lab/bin/memcorrupt  dom0 tool, dynamic against the installed libxen (Xen 4.17)
LAB_BIN := $(BUILD)/lab/bin

$(LAB_BIN)/memwork: tests/nested/guest/memwork.c
	$(call say,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) -D_GNU_SOURCE -static -pthread -o $@ $<

ALL_TARGETS += $(LAB_BIN)/memwork

$(LAB_BIN)/fwdtraf: tests/net/fwdtraf.c
	$(call say,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) -D_GNU_SOURCE -static -o $@ $<

ALL_TARGETS += $(LAB_BIN)/fwdtraf
CHECK_TESTS += tests/nested/guest/selftest.sh

MEMCORRUPT_PKGS := xenforeignmemory xencontrol xenguest
$(LAB_BIN)/memcorrupt: tests/nested/tools/memcorrupt.c
	$(call say,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) -D_GNU_SOURCE $(shell pkg-config --cflags $(MEMCORRUPT_PKGS)) \
		-o $@ $< $(shell pkg-config --libs $(MEMCORRUPT_PKGS))

ALL_TARGETS += $(LAB_BIN)/memcorrupt

# memwork's xenstore side against a fake xenstore on a pseudo-terminal (no Xen needed).
$(BUILD)/tests/nested/guest/test_memwork_xs: tests/nested/guest/test_memwork_xs.c $(LAB_BIN)/memwork
	$(call say,CC-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) -O1 -g $(SAN) -D_GNU_SOURCE -DMEMWORK_DEFAULT='"$(LAB_BIN)/memwork"' -o $@ $<

CHECK_TESTS += $(BUILD)/tests/nested/guest/test_memwork_xs
