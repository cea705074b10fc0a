# bench/lab: stock `xl migrate` against `migr migrate` in the nested lab, same guest and
# workload, several runs each (bench/lab/run.sh; BENCH_LAB_RUNS, BENCH_LAB_WORK).
#   make bench-lab    prints the figures and ends with
#                     bench-lab: blackout_ratio=X total_time_ratio=Y bytes_ratio=Z
#                     brownout_ratio=B predict_err=P
.PHONY: bench-lab
bench-lab: $(BUILD)/bin/migr $(BUILD)/bin/migrd
	$(Q)bench/lab/run.sh
BENCH_TARGETS += bench-lab
