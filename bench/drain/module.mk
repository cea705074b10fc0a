# bench/drain: what a look at the drain queue costs a migrd (docs/fleet.md, "Drains in
# etcd"), against a real etcd on loopback (tests/unit/etcd_real.c; skipped without one).
#   make bench-drain   per fleet size, the median time of reading /migr/hosts/ alone (the
#                      baseline), of a look that waits (the fleet read and decided on) and
#                      of a turn taken (the same, and the two swaps), and ends with
#                      bench-drain: hosts=N look_ratio=R turn_ratio=T
BENCH_DRAIN := $(BUILD)/bench/bench-drain

$(BUILD)/obj/bench/drain/%.o: bench/drain/%.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -Itests/unit $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/obj/bench/drain/etcd_real.o: tests/unit/etcd_real.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -Itests/unit $(PKG_CFLAGS) -c -o $@ $<

$(BENCH_DRAIN): $(BUILD)/obj/bench/drain/bench_drain.o $(BUILD)/obj/bench/drain/etcd_real.o $(LIBA)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: bench-drain
bench-drain: $(BENCH_DRAIN)
	$(Q)$(BENCH_DRAIN)
BENCH_TARGETS += bench-drain

-include $(wildcard $(BUILD)/obj/bench/drain/*.d)
