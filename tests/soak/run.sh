#!/usr/bin/env bash
# tests/soak/run.sh (`make soak`): back-to-back live migrations of one guest between two
# nested lab hosts (stock hypervisor), A -> B -> A ..., under memwork, with its memory
# verified after every hop and both hosts checked for leftovers. Not part of `make test`.
# Ends with `soak: hops=N failed=F seconds=S`; exits non-zero if any hop failed.
#
# Knobs: SOAK_HOPS (default 100), SOAK_WORK (memwork options, commas for spaces; default a
# 16 MiB hot set at 1000 pages/s), SOAK_STOP_ON_FAIL=1 to stop at the first failure.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
. tests/nested/lib.sh
. tests/nested/t/20-lib.inc

HOPS=${SOAK_HOPS:-100}
WORK=${SOAK_WORK:--w,16,-r,1000,-g,1000}
t_start=$(date +%s)
eng_begin a:stock b:stock
guest_create a g1 pvh "$WORK" || { echo "soak: guest_create failed"; exit 1; }
eng_verify a g1 || { echo "soak: hops=0 failed=1 seconds=$(( $(date +%s) - t_start ))"; exit 1; }

failed=0
src=a dst=b
checks=$(mktemp)
trap 'rm -f "$checks"; lab_down' EXIT
for n in $(seq 1 "$HOPS"); do
	before=$ENG_FAILS
	id=$(eng_migrd "$dst")
	eng_listening "$dst" "$id" || eng_fail "hop $n: migrd on $dst did not start"
	t0=$SECONDS
	out=$(eng_migrate "$src" g1 "$dst")
	rc=$?
	lab_wait "$dst" "$id" 120 >/dev/null
	if [ "$rc" = 0 ]; then
		{ eng_running "$dst" g1 && eng_absent "$src" g1 && eng_verify "$dst" g1; } >"$checks" 2>&1
		where=$dst
	else
		eng_fail "hop $n: migr migrate exited $rc: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
		where=$src
		lab_sh "$src" "xl list g1" >/dev/null 2>&1 || where=$dst
	fi
	if [ "$ENG_FAILS" -ne "$before" ]; then
		failed=$((failed + 1))
		echo "soak: hop $n $src -> $dst FAILED after $((SECONDS - t0)) s"
		grep '^FAIL' "$checks" | sed 's/^/soak:   /'
		# the guest's own last words (memwork's, its kernel's), from its console on dst
		tail -n 3 "$(guest_console "$dst" g1--incoming)" 2>/dev/null | sed 's/^/soak:   console: /'
		[ "${SOAK_STOP_ON_FAIL:-0}" = 1 ] && { HOPS=$n; break; }
	else
		echo "soak: hop $n $src -> $dst ok in $((SECONDS - t0)) s ($(echo "$out" | grep -o 'blackout [0-9.]* ms' | head -n 1))"
	fi
	# the next hop starts from wherever the guest runs now
	if [ "$where" = "$dst" ]; then src=$dst; dst=$([ "$dst" = a ] && echo b || echo a); fi
done
echo "soak: hops=$HOPS failed=$failed seconds=$(( $(date +%s) - t_start ))"
for h in a b; do lab_sh "$h" "xl destroy g1" >/dev/null 2>&1; done
[ "$failed" = 0 ]
