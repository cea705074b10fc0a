#!/bin/sh
# fuzz.sh SECONDS FUZZER.c...: builds each fuzzer with clang's libFuzzer (ASan+UBSan) and
# runs it SECONDS, growing its corpus under tests/fuzz/corpus/NAME. New crashes stop it.
set -eu
secs=$1; shift
flags="-std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Ilibmigr/include -D_GNU_SOURCE $(pkg-config --cflags yajl gnutls libmnl xencontrol)"
libs="$(pkg-config --libs xencontrol xenguest xenstore xenlight xentoollog xenforeignmemory xenevtchn yajl gnutls libmnl) -lpthread -lm"
mkdir -p build/fuzz
for src in "$@"; do
	name=$(basename "$src" .c)
	mkdir -p "tests/fuzz/corpus/$name"
	echo "fuzz: $name for ${secs}s"
	clang $flags -o "build/fuzz/$name" "$src" $(ls libmigr/*.c) $libs
	"build/fuzz/$name" -max_total_time="$secs" -artifact_prefix="build/fuzz/$name-" \
		"tests/fuzz/corpus/$name"
done
