# The nested lab's own dom0 tools (they run in the lab's dom0s from /src/build/lab/bin).
$(BUILD)/lab/bin/labpipe: tests/nested/lab/labpipe.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) -O2 -o $@ $<
ALL_TARGETS += $(BUILD)/lab/bin/labpipe
$(BUILD)/lab/bin/labclock: tests/nested/lab/labclock.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) -O2 -o $@ $<
ALL_TARGETS += $(BUILD)/lab/bin/labclock
$(BUILD)/lab/bin/hostile-src: tests/nested/lab/hostile-src.c $(LIBA)
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) -Ilibmigr/include -D_GNU_SOURCE $(PKG_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
ALL_TARGETS += $(BUILD)/lab/bin/hostile-src
