#!/usr/bin/env bash
# selftest.sh: proves memwork's memory check can fail, without Xen. It runs memwork as a
# process on this machine, corrupts one byte of one working-set page from outside (through
# /proc/PID/mem, as memcorrupt does through a foreign mapping in the lab), asks for a
# verification by command and by SIGUSR1, and passes only if memwork names exactly that page
# and that byte; repaired, the same check must pass again. A second, clean run (writing,
# paused with SIGSTOP to make a gap, ended with SIGTERM) must report ok throughout.
# Exit: 0 pass, 1 fail, 77 skip.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
: "${BUILD:=build}"
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
memwork=$BUILD/lab/bin/memwork
[ -x "$memwork" ] || { echo "memwork not built: $memwork (run make)"; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	exec 3>&- 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# wait_line REGEX [SECONDS]: waits until the log has a line matching REGEX; prints it.
wait_line() {
	local i
	for ((i = 0; i < ${2:-30} * 20; i++)); do
		if grep -E -m1 -- "$1" "$tmp/log"; then return 0; fi
		kill -0 "$pid" 2>/dev/null || { grep -E -m1 -- "$1" "$tmp/log"; return; }
		sleep 0.05
	done
	return 1
}

# start ARGS...: runs memwork with commands from fd 3.
start() {
	: >"$tmp/log"
	rm -f "$tmp/in" && mkfifo "$tmp/in"
	"$memwork" --stdin-cmds --ptraceable --stats-s 0 "$@" <"$tmp/in" >"$tmp/log" 2>&1 &
	pid=$!
	exec 3>"$tmp/in"
	wait_line '^memwork: verify ok .* reason=start' >/dev/null ||
		{ cat "$tmp/log"; echo "memwork did not start"; exit 1; }
}

# stop: SIGTERM, waits; sets $status.
stop() {
	kill -TERM "$pid"
	wait "$pid"
	status=$?
	pid=
	exec 3>&-
}

# cmd ID TEXT: sends a command, prints its result line.
cmd() {
	echo "$1 $2" >&3
	wait_line "^memwork: result id=$1 " 30
}

byte_at() { # ADDR: one byte of memwork's memory, as two hex digits
	dd if="/proc/$pid/mem" bs=1 count=1 skip="$1" iflag=skip_bytes status=none | od -An -tx1 | tr -d ' \n'
}
poke() { # ADDR HEX: writes one byte into memwork's memory
	printf "\\x$2" | dd of="/proc/$pid/mem" bs=1 seek="$1" oflag=seek_bytes conv=notrunc status=none
}

echo "== in-process checks of the checker"
if "$memwork" --selftest --wss-mib 1 >"$tmp/st.log" 2>&1 && grep -q '^memwork: selftest ok checks_failed=0$' "$tmp/st.log"; then
	pass "memwork --selftest"
else
	cat "$tmp/st.log"; fail "memwork --selftest"
fi

echo "== corrupt one byte from outside: exactly that page must be reported"
page=777 off=2345
start --wss-mib 4 --rate 4000 --seed 42 --gap-ms 60000
cmd 1 verify | grep -q 'ok pages=1024 ' && pass "verify ok while writing" || fail "first verify"
# stop writing, so that the corrupted page is not rewritten before it is checked
cmd 2 "rate 0" >/dev/null
line=$(cmd 3 "addr $page")
addr=$(sed -n 's/.* addr=0x\([0-9a-f]*\)$/\1/p' <<<"$line")
[ -n "$addr" ] || { echo "no address in: $line"; exit 1; }
target=$((0x$addr + off))
orig=$(byte_at "$target")
[ ${#orig} = 2 ] || { echo "cannot read /proc/$pid/mem"; exit 1; }
flipped=$(printf '%02x' $((0x$orig ^ 0xff)))
if ! poke "$target" "$flipped" || [ "$(byte_at "$target")" != "$flipped" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: cannot write /proc/$pid/mem (ptrace restricted for uid $(id -u))"; exit 77
	fi
	echo "cannot write /proc/$pid/mem"; exit 1
fi
echo "flipped byte $off of page $page (0x$orig -> 0x$flipped)"

res=$(cmd 4 verify)
echo "$res"
grep -q "^memwork: result id=4 FAIL pages=1024 gen=[0-9]* bad=1 first=$page\$" <<<"$res" &&
	pass "command verify: FAIL, one bad page, page $page" || fail "command verify result"
gen=$(sed -n 's/.* gen=\([0-9]*\) .*/\1/p' <<<"$res")
bad=$(grep "^memwork: bad .*gen=$gen " "$tmp/log")
echo "$bad"
[ "$(grep -c . <<<"$bad")" = 1 ] &&
	grep -q "^memwork: bad page=$page gen=$gen kind=body off=$off nbytes=1 " <<<"$bad" &&
	pass "exactly page $page, kind=body off=$off nbytes=1" || fail "bad-page report"

kill -USR1 "$pid"
wait_line "^memwork: verify FAIL pages=1024 gen=[0-9]+ bad=1 first=$page listed=1 reason=signal " &&
	pass "SIGUSR1 verify: FAIL on page $page" || fail "SIGUSR1 verify"

poke "$target" "$orig"
cmd 5 verify | grep -q "ok pages=1024 " && pass "repaired: verify ok" || fail "verify after repair"
stop
[ "$status" = 1 ] && pass "exit status 1 after a failed verification" ||
	fail "exit status $status after a failed verification"

echo "== a clean run: writing, a pause, ok throughout"
start --wss-mib 2 --rate 3000 --mode seq --gap-ms 150
sleep 0.5
kill -STOP "$pid"; sleep 0.4; kill -CONT "$pid"
gapline=$(wait_line '^memwork: gap realtime_ms=(3[5-9][0-9]|[4-9][0-9]{2}|[0-9]{4,}) ')
rt=$(sed -n 's/.*realtime_ms=\([0-9]*\) .*/\1/p' <<<"$gapline")
[ -n "$rt" ] && [ "$rt" -ge 350 ] && pass "pause seen: $gapline" || fail "pause not seen (${gapline:-no gap line})"
wait_line '^memwork: verify ok .* reason=gap' >/dev/null && pass "verify after the pause: ok" ||
	fail "no verification after the pause"
kill -USR1 "$pid"
wait_line '^memwork: verify ok .* reason=signal' >/dev/null && pass "SIGUSR1 verify: ok" || fail "SIGUSR1 verify"
stop
grep -q '^memwork: verify ok .* reason=exit' "$tmp/log" && [ "$status" = 0 ] &&
	pass "exit verify ok, status 0" || fail "clean exit (status $status)"
grep -q '^memwork: verify FAIL\|^memwork: bad ' "$tmp/log" && fail "clean run reported a failure"
writes=$(sed -n 's/^memwork: exit .* writes=\([0-9]*\) .*/\1/p' "$tmp/log")
[ "${writes:-0}" -gt 0 ] && pass "clean run wrote $writes pages" || fail "clean run wrote nothing"

if [ $fails != 0 ]; then
	echo "--- last memwork log"; cat "$tmp/log"
	echo "$fails check(s) failed"; exit 1
fi
echo "all checks passed"
