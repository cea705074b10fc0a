#!/usr/bin/env bash
# tests/soak/run.sh (`make soak`): back-to-back live migrations of one guest between two
# nested lab hosts (stock hypervisor), A -> B -> A ..., under memwork, with its memory
# verified after every hop and both hosts checked for leftovers. Not part of `make test`.
# Ends with `soak: hops=N failed=F seconds=S`; exits non-zero if any hop failed.
#
# Knobs: SOAK_HOPS (default 100), SOAK_WORK (memwork options, commas for spaces; default a
# 16 MiB hot set at 1000 pages/s), SOAK_MEM (the guest's MiB, default 256: the lab's
# Debian 6.1 PVH guest loses about 985 KiB of available memory at every migration, with
# stock xl as with migr, so a 128 MiB guest under memwork is OOM-killed after about 30
# hops), SOAK_STOP_ON_FAIL=1 to stop at the first failure,
# SOAK_TOOL=xl to make the same hops with stock `xl migrate` (the baseline: what the guest
# goes through without migr). Every hop's line shows the guest kernel's available memory
# (memwork's `meminfo`): a figure falling hop after hop is a leak in the guest across
# migrations.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
. tests/nested/lib.sh
. tests/nested/t/20-lib.inc

HOPS=${SOAK_HOPS:-100}
TOOL=${SOAK_TOOL:-migr}
case $TOOL in migr|xl) ;; *) echo "soak: SOAK_TOOL is migr or xl, not '$TOOL'" >&2; exit 2 ;; esac
WORK=${SOAK_WORK:--w,16,-r,1000,-g,1000}
t_start=$(date +%s)
eng_begin a:stock b:stock
guest_create a g1 pvh "$WORK" "${SOAK_MEM:-256}" || { echo "soak: guest_create failed"; exit 1; }
eng_verify a g1 || { echo "soak: hops=0 failed=1 seconds=$(( $(date +%s) - t_start ))"; exit 1; }
echo "soak: $TOOL migrate, guest before the first hop: $(mw a g1 meminfo)"

failed=0
src=a dst=b
checks=$(mktemp)
trap 'rm -f "$checks"; lab_down' EXIT
for n in $(seq 1 "$HOPS"); do
	before=$ENG_FAILS
	t0=$SECONDS
	if [ "$TOOL" = xl ]; then
		id=$(lab_sh_bg "$dst" 'labpipe listen 8002 xl migrate-receive -e')
		out=$(lab_sh "$src" "xl migrate -s 'labpipe connect 8002' g1 $(lab_ip "$dst")" 2>&1)
		rc=$?
		lab_wait "$dst" "$id" 120 >/dev/null
		[ "$rc" = 0 ] && { mw_ready "$dst" g1 30 >/dev/null || eng_fail "hop $n: memwork silent on $dst"; }
	else
		id=$(eng_migrd "$dst")
		eng_listening "$dst" "$id" || eng_fail "hop $n: migrd on $dst did not start"
		out=$(eng_migrate "$src" g1 "$dst")
		rc=$?
		lab_wait "$dst" "$id" 120 >/dev/null
	fi
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
		# the guest's own last words (memwork's, its kernel's), from its console on dst:
		# logged under its temporary name until the target's settle, under g1 after it
		for c in g1--incoming g1; do
			tail -n 3 "$(guest_console "$dst" $c)" 2>/dev/null | sed "s/^/soak:   console ($c): /"
		done
		[ "${SOAK_STOP_ON_FAIL:-0}" = 1 ] && { HOPS=$n; break; }
	else
		mem=$(mw "$dst" g1 meminfo | grep -o 'avail_kib=[0-9]*\|unreclaim_kib=[0-9]*' | tr '\n' ' ')
		echo "soak: hop $n $src -> $dst ok in $((SECONDS - t0)) s ($(echo "$out" | grep -o 'blackout [0-9.]* ms' | head -n 1)) guest ${mem% }"
	fi
	# the next hop starts from wherever the guest runs now
	if [ "$where" = "$dst" ]; then src=$dst; dst=$([ "$dst" = a ] && echo b || echo a); fi
done
echo "soak: hops=$HOPS failed=$failed seconds=$(( $(date +%s) - t_start ))"
for h in a b; do lab_sh "$h" "xl destroy g1" >/dev/null 2>&1; done
[ "$failed" = 0 ]
