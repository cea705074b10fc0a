# bench/lab: stock `xl migrate` against `migr migrate` in the nested lab, same guest and
# workload, several runs each (bench/lab/run.sh; BENCH_LAB_RUNS, BENCH_LAB_WORK).
#   make bench-lab        prints the figures and ends with
#                         bench-lab: blackout_ratio=X total_time_ratio=Y bytes_ratio=Z
#                         brownout_ratio=B predict_err=P
#   make bench-lab-heavy  the write-heavy guest over a link shaped to 16 Mbit/s for both
#                         tools, migr with --throttle (BENCH_LAB_LINK); ends with
#                         bench-lab-heavy: blackout_ratio=X total_time_ratio=Y ...
#   make bench-lab-observer  what bench-lab's own observers (ping, memwork's readings) cost
#                         the host they observe (bench/lab/observer.sh)
.PHONY: bench-lab bench-lab-heavy bench-lab-observer
bench-lab: $(BUILD)/bin/migr $(BUILD)/bin/migrd
	$(Q)bench/lab/run.sh
bench-lab-heavy: $(BUILD)/bin/migr $(BUILD)/bin/migrd
	$(Q)bench/lab/run.sh --heavy
bench-lab-observer: $(BUILD)/bin/migr $(BUILD)/bin/migrd
	$(Q)bench/lab/observer.sh
BENCH_TARGETS += bench-lab bench-lab-heavy
