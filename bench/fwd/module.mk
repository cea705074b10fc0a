# bench/fwd: the brownout forwarding's cost (forwarded vs direct path) and benefit (loss with
# and without it) in one run on network namespaces (root; bench/fwd/bench.sh).
#   make bench-fwd    prints the figures and ends with
#                     bench-fwd: lost_with=N lost_without=M throughput_ratio=R latency_ratio=L
.PHONY: bench-fwd
bench-fwd: $(BUILD)/bin/migr $(BUILD)/tests/net/fwdtraf $(BUILD)/tests/net/fwdswitch
	$(Q)bench/fwd/bench.sh
BENCH_TARGETS += bench-fwd
