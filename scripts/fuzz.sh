#!/bin/sh
# fuzz.sh FUZZER.c...: builds each fuzzer with clang's libFuzzer (ASan+UBSan) and runs it,
# growing its corpus under tests/fuzz/corpus/NAME, then prints one line per target: the
# executions done, the seconds taken and the crashes found (inputs libFuzzer saved as
# build/fuzz/NAME-crash-*, -leak-*, -timeout-*, -oom-*). A target stops at its first crash;
# the others still run, and the script fails if any crashed.
#
#   FUZZ_SECONDS  time per target (default 60)
#   FUZZ_RUNS     executions per target (default: none, time only); with both, the first
#                 limit reached ends the target
set -eu
secs=${FUZZ_SECONDS:-60}
runs=${FUZZ_RUNS:-}
cflags="-std=gnu11 -g -O1 -Ilibmigr/include -D_GNU_SOURCE $(pkg-config --cflags yajl gnutls libmnl xencontrol)"
libs="$(pkg-config --libs xencontrol xenguest xenstore xenlight xentoollog xenforeignmemory xenevtchn yajl gnutls libmnl libzstd libcurl) -lpthread -lm"
out=build/fuzz
mkdir -p "$out/obj"

# The library once, instrumented for coverage, then one link per target.
echo "fuzz: building libmigr with clang"
for src in libmigr/*.c; do
	obj="$out/obj/$(basename "$src" .c).o"
	[ "$obj" -nt "$src" ] && ! find libmigr -name '*.h' -newer "$obj" | grep -q . && continue
	echo "$src $obj"
done | xargs -r -n2 -P2 sh -c 'clang '"$cflags"' -fsanitize=fuzzer-no-link,address,undefined -c -o "$1" "$0"'
rm -f "$out/libmigr-fuzz.a"
ar rcs "$out/libmigr-fuzz.a" "$out"/obj/*.o

summary=""
failed=0
for src in "$@"; do
	name=$(basename "$src" .c)
	mkdir -p "tests/fuzz/corpus/$name"
	clang $cflags -fsanitize=fuzzer,address,undefined -o "$out/$name" "$src" \
		"$out/libmigr-fuzz.a" $libs
	echo "fuzz: $name for ${secs}s${runs:+ or $runs runs}"
	rm -f "$out/$name".log
	before=$(ls "$out" | grep -c "^$name-\(crash\|leak\|timeout\|oom\)-" || true)
	t0=$(date +%s)
	"$out/$name" -max_total_time="$secs" ${runs:+-runs="$runs"} -print_final_stats=1 \
		-timeout=10 -artifact_prefix="$out/$name-" "tests/fuzz/corpus/$name" \
		>"$out/$name.log" 2>&1 || true
	t1=$(date +%s)
	after=$(ls "$out" | grep -c "^$name-\(crash\|leak\|timeout\|oom\)-" || true)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log" | tail -1)
	crashes=$((after - before))
	[ "$crashes" -eq 0 ] || { failed=1; grep -m3 -E '^(==[0-9]+==ERROR|SUMMARY)' "$out/$name.log" || true; }
	line=$(printf '%-24s %12s execs %6ss %8s/s %3s crashes' "$name" "${execs:-?}" $((t1 - t0)) \
		$(( ${execs:-0} / ( (t1 - t0) > 0 ? (t1 - t0) : 1 ) )) "$crashes")
	echo "fuzz: $line (log: $out/$name.log)"
	summary="$summary$line
"
done
printf '\nfuzz summary\n%s' "$summary"
exit $failed
