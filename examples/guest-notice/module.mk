# The guest-side notice watcher: static, so that it runs in any Linux guest (and in the
# lab's busybox guests). Its xenbus protocol is tested against a fake xenstore on a
# pseudo-terminal (tests/unit/test_evac_guest_notice.c).
$(BUILD)/examples/migr-notice: examples/guest-notice/migr-notice.c
	$(call say,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) -D_GNU_SOURCE -static -o $@ $<

ALL_TARGETS += $(BUILD)/examples/migr-notice

$(BUILD)/tests/unit/test_evac_guest_notice: $(BUILD)/examples/migr-notice
$(BUILD)/tests/unit/test_evac_guest_notice: CPPFLAGS += -DMIGR_NOTICE_BIN='"$(BUILD)/examples/migr-notice"'
