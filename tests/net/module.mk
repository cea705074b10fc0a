# tests/net: brownout forwarding on network namespaces (root; skips otherwise).
#   fwdtraf    traffic generators and sinks (no libmigr)
#   fwdswitch  the switch-over driven through libmigr's migr_fwd_* API, as the engine does
NET_FWDTRAF := $(BUILD)/tests/net/fwdtraf
NET_FWDSWITCH := $(BUILD)/tests/net/fwdswitch

$(NET_FWDTRAF): tests/net/fwdtraf.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -o $@ $<

$(NET_FWDSWITCH): tests/net/fwdswitch.c $(LIBA)
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

ALL_TARGETS += $(NET_FWDTRAF) $(NET_FWDSWITCH)
CHECK_TESTS += tests/net/test_fwd.sh
