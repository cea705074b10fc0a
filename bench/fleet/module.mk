# bench/fleet: a rolling drain of a whole fleet, simulated over libmigr's own drain
# scheduler and evacuation planner (fleet.c, plan.c); no Xen, no etcd (docs/fleet.md).
#   make bench-fleet   prints the runs and ends with
#                      bench-fleet: hosts=N guests=G makespan_ratio=R
FLEET_SIM     := $(BUILD)/bench/fleet-sim
FLEET_SIM_OBJ := $(BUILD)/obj/bench/fleet/fleet_sim.o

$(FLEET_SIM_OBJ): bench/fleet/fleet_sim.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -c -o $@ $<

$(FLEET_SIM): $(FLEET_SIM_OBJ) $(BUILD)/obj/libmigr/fleet.o $(BUILD)/obj/libmigr/plan.o
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lm

.PHONY: bench-fleet
bench-fleet: $(FLEET_SIM)
	$(Q)$(FLEET_SIM)

ALL_TARGETS   += $(FLEET_SIM)
BENCH_TARGETS += bench-fleet

-include $(wildcard $(BUILD)/obj/bench/fleet/*.d)
