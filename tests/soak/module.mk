# make soak: 100 back-to-back hops of one guest between two nested lab hosts, memory
# verified after each (tests/soak/run.sh); not part of `make test`. SOAK_HOPS=N for fewer.
.PHONY: soak
soak: all
	$(Q)tests/soak/run.sh
