# bench/evac: an evacuation's makespan against the time its bytes need, in the nested lab
# (bench/evac/run.sh; BENCH_EVAC_RUNS, BENCH_EVAC_PARALLEL).
#   make bench-evac   prints each run and ends with
#                     bench-evac: guests=N makespan_s=M bound_s=B makespan_ratio=R
.PHONY: bench-evac
bench-evac: $(BUILD)/bin/migr $(BUILD)/bin/migrd
	$(Q)bench/evac/run.sh
BENCH_TARGETS += bench-evac
