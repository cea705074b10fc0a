# tests/net: brownout forwarding on network namespaces (root; skips otherwise).
NET_FWDTRAF := $(BUILD)/tests/net/fwdtraf

$(NET_FWDTRAF): tests/net/fwdtraf.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -o $@ $<

ALL_TARGETS += $(NET_FWDTRAF)
CHECK_TESTS += tests/net/test_fwd.sh
