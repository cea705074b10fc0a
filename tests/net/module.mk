# tests/net: brownout forwarding on network namespaces (root; skips otherwise).
#   fwdtraf    traffic generators and sinks (no libmigr)
#   fwdswitch  the switch-over driven through libmigr's migr_fwd_* API, as the engine does
#   qroot      a device's root qdisc read as the hold reads its plug (libmigr's internals)
NET_FWDTRAF := $(BUILD)/tests/net/fwdtraf
NET_FWDSWITCH := $(BUILD)/tests/net/fwdswitch
NET_QROOT := $(BUILD)/tests/net/qroot

$(NET_FWDTRAF): tests/net/fwdtraf.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -o $@ $<

$(NET_FWDSWITCH): tests/net/fwdswitch.c $(LIBA)
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

$(NET_QROOT): tests/net/qroot.c $(LIBA)
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -Ilibmigr $(PKG_CFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

ALL_TARGETS += $(NET_FWDTRAF) $(NET_FWDSWITCH) $(NET_QROOT)
CHECK_TESTS += tests/net/test_fwd.sh
