# bench/switchover: what a client loses across the switch-over with and without forwarding,
# in the nested lab under a fabric that reroutes late (bench/switchover/run.sh;
# BENCH_SWITCHOVER_RUNS, FABRIC_DELAY_MS, SWITCHOVER_RATE).
#   make bench-switchover   prints each hop and ends with
#                           bench-switchover: lost_with=N lost_without=M
#                           lost_in_blackout_with=K gap_over_blackout_ms=G
.PHONY: bench-switchover
bench-switchover: $(BUILD)/bin/migr $(BUILD)/bin/migrd $(BUILD)/tests/net/fwdtraf
	$(Q)bench/switchover/run.sh
BENCH_TARGETS += bench-switchover
