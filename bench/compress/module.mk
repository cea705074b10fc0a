# bench/compress: what compressing the stream buys (docs/protocol.md, "Compression").
#   make bench-compress   the codec table on guest-memory-like pages, then streams through
#                         the real pumps with compression off, auto and on, at 100 Mbit/s
#                         and 1 Gbit/s: tc between two network namespaces as root
#                         (bench/compress/bench.sh), else migr's own bandwidth cap on
#                         loopback; ends with one `bench-compress RATE: ...` line per rate
BENCH_COMPRESS := $(BUILD)/bench/bench-compress

$(BUILD)/obj/bench/compress/%.o: bench/compress/%.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BENCH_COMPRESS): $(BUILD)/obj/bench/compress/bench_compress.o $(LIBA)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -llz4

.PHONY: bench-compress
bench-compress: $(BENCH_COMPRESS)
	$(Q)BENCH_COMPRESS=$(BENCH_COMPRESS) bench/compress/bench.sh
BENCH_TARGETS += bench-compress
