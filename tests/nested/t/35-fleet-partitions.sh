#!/usr/bin/env bash
# lab: stock
# lab-suite: extended
# 35-fleet-partitions: three hosts a, b, c and a real etcd in the lab's namespace; the
# commit fenced by etcd (docs/etcd.md) with the network split at GO, each case in turn.
# After every case the guest runs on exactly one of the three hosts, its memory verified,
# and its location key in etcd names that host:
#   1. a cut off from etcd at GO (the fault point fence-swap holds the source there while
#      the test drops a's packets to etcd): the swap never lands, a cannot tell
#      (undecided, exit 4), b's copy is destroyed at its GO deadline; once a reaches etcd
#      again, `migr resolve` resumes the guest on a
#   2. c cut off from etcd at GO (fence-check holds the target): c never unpauses its copy,
#      destroys it and says so; a gives the key back and resumes the guest (exit 3)
#   3. a cut off from b at GO (go holds the source; the lab's bridge drops what a and b
#      send each other): GO never arrives, a is undecided with the key already naming b;
#      b destroys its copy at its deadline; once the wire is mended `migr resolve` learns
#      that from b, gives the key back and resumes the guest on a
#   4. etcd stopped before a migration a -> c: refused cleanly, the guest untouched
#   5. a fenced migration a -> c: the key names c with the migration's id
#   6. `migr fleet drain a` with migrd running on a, b and c as their unit starts it, each
#      registered in etcd in a failure domain of its own, and b and c each left with room
#      for one guest (a paused filler holds the rest): a's migrd takes its turn, places
#      its two guests (g3, g4) one on b and one on c, and `migr fleet wait a` returns 0; each guest
#      runs on its host only, memory verified, its location key naming that host
# Host c is booted by this test and shut down at its end. FLEET_DRAIN_ONLY=1 runs case 6 alone.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
	{ echo "SKIP: no etcd installed (etcd-server, etcd-client)"; exit 77; }
eng_begin a:stock b:stock

EP=$LAB_ETCD_EP
C_BOOTED=
declare -A DRAIN_MIGRD
# drain_stop: the migrds case 6 started end with SIGTERM (their output kept in the
# host's share as drain-migrd.log); its guests and fillers are destroyed
drain_stop() {
	local h
	for h in a b c; do
		[ -n "${DRAIN_MIGRD[$h]:-}" ] || continue
		lab_sh "$h" 'p=$(xenstore-read /local/domain/0/migr/daemon/pid 2>/dev/null) && kill -TERM $p' >/dev/null 2>&1
		lab_wait "$h" "${DRAIN_MIGRD[$h]}" 120 >"$LAB_RUN/$h/share/drain-migrd.log" 2>&1 ||
			echo "migrd on $h did not exit cleanly within 120 s of SIGTERM"
		echo "--- migrd on $h (last lines):"
		tail -n "${DRAIN_LOG_LINES:-12}" "$LAB_RUN/$h/share/drain-migrd.log" | sed 's/^/    /'
		DRAIN_MIGRD[$h]=""
	done
	for h in a b c; do
		lab_alive "$h" 2>/dev/null || continue
		lab_sh "$h" 'for d in g3 g4 filler-b filler-c; do xl destroy $d 2>/dev/null; done; true' >/dev/null
	done
}
fleet_cleanup() {
	drain_stop
	ip netns exec "$LAB_NS" nft delete table inet migrfence 2>/dev/null
	ip netns exec "$LAB_NS" nft delete table bridge migrcut 2>/dev/null
	lab_etcd_stop
	if [ -n "$C_BOOTED" ]; then
		lab_power_cut c
		ip -n "$LAB_NS" link del tap-c 2>/dev/null
		LAB_HOSTS=$(echo " $LAB_HOSTS " | sed "s/ c / /; s/^ *//; s/ *$//")
		C_BOOTED=
	fi
}
trap 'fleet_cleanup; [ -z "${LAB_HOSTS_ENV:-}" ] && lab_down' EXIT

exit_of() { echo "$1" | awk -F= '/^exit=/{e=$2} END{print e+0}'; }

# the third host, beside the two the suite booted
if ! echo " $LAB_HOSTS " | grep -q ' c '; then
	t0=$SECONDS
	lab_boot c:stock || { echo "host c did not boot"; tail -n 30 "$(lab_serial c)"; exit 1; }
	C_BOOTED=1
	echo "host c up in $((SECONDS - t0)) s"
	key=$(lab_sh a "cat $PSK") && lab_sh c "mkdir -p /etc/migr && umask 077 && echo '$key' >$PSK" ||
		{ echo "cannot give c the lab's key"; exit 1; }
fi

lab_etcd_start fleet-etcd || exit 1
ectl() { lab_ectl "$@"; }

location() { ectl get --prefix /migr/guests/ --print-value-only; }

# only HOST runs g1, the two others have no copy of it; its memory verifies; the key names
# HOST (or, with "unset" as the third word, no key exists yet: a guest never moved under
# etcd has none, and a swap that never landed wrote none)
one_place() {
	local host=$1 label=$2 h loc
	eng_running "$host" g1 || return 1
	for h in a b c; do [ "$h" = "$host" ] || eng_absent "$h" g1; done
	eng_verify "$host" g1
	loc=$(location)
	echo "location: ${loc:-(no key)}"
	[ -z "$loc" ] && [ "${3:-}" = unset ] && return 0
	echo "$loc" | grep -q "\"host\":\"$host\"" || eng_fail "$label: the location key does not name $host"
}

# etcd_cut HOST / etcd_mend: HOST's packets to etcd are dropped, and no longer
etcd_cut() {
	ip netns exec "$LAB_NS" nft -f - <<EOF
table inet migrfence {
	chain in {
		type filter hook input priority 0;
		ip saddr $(lab_ip "$1") tcp dport 2379 drop
	}
}
EOF
}
etcd_mend() { ip netns exec "$LAB_NS" nft delete table inet migrfence; }

# wire_cut A B / wire_mend: the lab's bridge drops what A and B send each other
wire_cut() {
	ip netns exec "$LAB_NS" nft -f - <<EOF
table bridge migrcut {
	chain cut {
		type filter hook forward priority 0;
		ip saddr $(lab_ip "$1") ip daddr $(lab_ip "$2") drop
		ip saddr $(lab_ip "$2") ip daddr $(lab_ip "$1") drop
	}
}
EOF
}
wire_mend() { ip netns exec "$LAB_NS" nft delete table bridge migrcut; }

# at_fault HOST ID POINT: waits until command ID on HOST stops at the fault point POINT
at_fault() {
	local f=$LAB_RUN/$1/share/cmd/$2.out t0=$SECONDS
	until grep -q "fault injected at $3" "$f" 2>/dev/null; do
		if [ $((SECONDS - t0)) -ge 300 ] || [ -f "$LAB_RUN/$1/share/cmd/$2.rc" ]; then
			echo "$1 never reached $3:"; tail -n 20 "$f"; return 1
		fi
		sleep 0.2
	done
	echo "$1 stopped at $3 after $((SECONDS - t0)) s"
}

mid_of() { echo "$1" | sed -n 's/.*migration \([0-9a-f]\{32\}\).*/\1/p' | head -n 1; }
FENCE_A="--etcd $EP --etcd-name a"

# resolve_on_a ID LABEL: `migr resolve` on a for migration ID toward b, answered by a migrd
# started on b for it (from its records); it must settle the migration
resolve_on_a() {
	local id=$1 label=$2 bid res
	bid=$(eng_migrd b --etcd "$EP")
	eng_listening b "$bid"
	res=$(lab_sh a "migr resolve --psk $PSK $FENCE_A $id g1 $(lab_ip b) 2>&1; echo exit=\$?" 300)
	echo "$res"
	lab_wait b "$bid" 60 >/dev/null
	[ "$(exit_of "$res")" = 0 ] || eng_fail "$label: migr resolve did not settle it"
}

if [ "${FLEET_DRAIN_ONLY:-0}" != 1 ]; then
	guest_create a g1 pvh "-w,16,-r,1000,-g,1000" || { echo "guest_create failed"; exit 1; }
	# three emulated hosts share the machine's cores: the guest boots slower than with two
	guest_ping_ready g1 180 || echo "g1 does not answer pings after 180 s"
	eng_verify a g1 || { echo "g1's console:"; tail -n 20 "$(guest_console a g1)"; eng_end; }

	echo "== 1. a cut off from etcd at GO"
	bid=$(eng_migrd b --etcd "$EP")
	eng_listening b "$bid"
	mid=$(lab_sh_bg a "MIGR_FAULT=fence-swap:hang=6000 migr migrate --psk $PSK $FENCE_A g1 $(lab_ip b) 2>&1; echo exit=\$?")
	if at_fault a "$mid" fence-swap; then
		etcd_cut a
		out=$(lab_wait a "$mid" 300)
		echo "$out" | tail -n 12
		[ "$(exit_of "$out")" = 4 ] || eng_fail "1: exit status is not 4 (undecided)"
		lab_wait b "$bid" 120 | tail -n 3
		eng_absent b g1
		etcd_mend
		resolve_on_a "$(mid_of "$out")" 1
	else
		eng_fail "1: the fault point was not reached"
	fi
	one_place a 1 unset

	echo "== 2. c cut off from etcd at GO"
	cid=$(lab_sh_bg c "MIGR_FAULT=fence-check:hang=1500 migrd --once --psk $PSK --etcd $EP 2>&1")
	eng_listening c "$cid"
	mid=$(lab_sh_bg a "migr migrate --psk $PSK $FENCE_A g1 $(lab_ip c) 2>&1; echo exit=\$?")
	if at_fault c "$cid" fence-check; then
		etcd_cut c
		out=$(lab_wait a "$mid" 300)
		echo "$out" | tail -n 8
		[ "$(exit_of "$out")" = 3 ] || eng_fail "2: exit status is not 3 (backed out)"
		echo "$out" | grep -qi 'etcd\|location' || eng_fail "2: the reason does not name etcd"
		lab_wait c "$cid" 120 | tail -n 3
		etcd_mend
	else
		lab_wait a "$mid" 300 | tail -n 5
		eng_fail "2: the fault point was not reached"
	fi
	one_place a 2

	echo "== 3. a cut off from b at GO"
	bid=$(eng_migrd b --etcd "$EP")
	eng_listening b "$bid"
	mid=$(lab_sh_bg a "MIGR_FAULT=go:hang=3000 migr migrate --psk $PSK $FENCE_A g1 $(lab_ip b) 2>&1; echo exit=\$?")
	if at_fault a "$mid" go; then
		wire_cut a b
		loc=$(location)
		echo "location at GO: $loc"
		echo "$loc" | grep -q '"host":"b"' || eng_fail "3: the key does not name b at GO"
		out=$(lab_wait a "$mid" 300)
		echo "$out" | tail -n 8
		[ "$(exit_of "$out")" = 4 ] || eng_fail "3: exit status is not 4 (undecided)"
		lab_wait b "$bid" 120 | tail -n 3
		eng_absent b g1
		wire_mend
		lab_linked a b 30 || eng_fail "3: a does not reach b again"
		resolve_on_a "$(mid_of "$out")" 3
	else
		lab_wait a "$mid" 300 | tail -n 5
		eng_fail "3: the fault point was not reached"
	fi
	one_place a 3

	echo "== 4. etcd stopped before a migration a -> c"
	kill -STOP "$LAB_ETCD_PID"
	cid=$(eng_migrd c --etcd "$EP")
	eng_listening c "$cid"
	out=$(eng_migrate a g1 c $FENCE_A)
	echo "$out" | tail -n 5
	[ "$(exit_of "$out")" = 3 ] || eng_fail "4: exit status is not 3"
	echo "$out" | grep -q 'etcd' || eng_fail "4: the reason does not name etcd"
	lab_wait c "$cid" 60 | tail -n 3
	kill -CONT "$LAB_ETCD_PID"
	one_place a 4

	echo "== 5. a fenced migration a -> c"
	cid=$(eng_migrd c --etcd "$EP")
	eng_listening c "$cid"
	out=$(eng_migrate a g1 c $FENCE_A)
	echo "$out" | tail -n 5
	[ "$(exit_of "$out")" = 0 ] || eng_fail "5: exit status is not 0"
	lab_wait c "$cid" 60 | tail -n 3
	one_place c 5
	id=$(mid_of "$out")
	[ -n "$id" ] && { location | grep -q "\"migration\":\"$id\"" || eng_fail "5: the key does not carry migration $id"; }
	lab_sh c "xl destroy g1" >/dev/null 2>&1
fi

echo "== 6. migr fleet drain a: its guests placed on b and c by capacity"
# a case above that failed may have left its `migrd --once` listening
for h in a b c; do lab_end_commands "$h"; done
ectl del --prefix /migr/guests/ >/dev/null   # g1 of case 5 is gone
hosts_lines=""
for h in a b c; do hosts_lines="$hosts_lines$(lab_ip $h) $h\n"; done
for h in a b c; do
	# migrd registers HOST:PORT as its address in etcd: the names resolve on every host
	lab_sh "$h" "grep -qs ' a\$' /etc/hosts || printf '$hosts_lines' >>/etc/hosts" || eng_fail "6: /etc/hosts on $h"
done
# g3 and g4: addresses of their own (the lab's bridge last saw g1's behind c)
guest_create a g3 pvh "-w,16,-r,1000,-g,1000" || eng_fail "6: creating g3"
guest_create a g4 pvh "-w,16,-r,1000,-g,1000" || eng_fail "6: creating g4"
for g in g3 g4; do eng_verify a $g; done
# b and c keep room for one 128 MiB guest each and not for two: after one (and migr's
# 2 MiB overhead) at least 10% of the host stays free (the planner's 90% threshold),
# after two it would not. The filler leaves free = total/10 + 195 MiB, 65 MiB from
# either edge.
for h in b c; do
	info=$(lab_sh "$h" "xl info | awk '/^total_memory/{t=\$3} /^free_memory/{f=\$3} END{print t, f}'")
	read -r total free <<<"$info"
	fill=$(( free - total / 10 - 195 ))
	echo "$h: total ${total} MiB, free ${free} MiB: filler of ${fill} MiB"
	[ "$fill" -gt 16 ] || { eng_fail "6: $h has too little memory for the case"; continue; }
	lab_sh "$h" "cat >/root/filler-$h.cfg <<EOC
name = \"filler-$h\"
type = \"pvh\"
kernel = \"$GUEST_KERNEL\"
ramdisk = \"/src/$BUILD/lab/img/guest.cpio.gz\"
memory = $fill
vcpus = 1
EOC
xl create -q -p /root/filler-$h.cfg && xl info | awk '/^free_memory/{print \"$h: free after the filler: \" \$3 \" MiB\"}'" ||
		eng_fail "6: the filler on $h"
done
for h in c b a; do
	lab_sh "$h" "cat >/etc/migr/migrd.conf <<EOC
host = \"$h\"
etcd = \"$EP\"
failure_domain = \"rack-$h\"
notice = 0
parallel = 1
verbose = 1
EOC" || eng_fail "6: migrd.conf on $h"
	DRAIN_MIGRD[$h]=$(lab_sh_bg "$h" "$LAB_MIGRD_UNIT_START")
	f=$LAB_RUN/$h/share/cmd/${DRAIN_MIGRD[$h]}.out t0=$SECONDS
	until grep -q "migrd: evacuation ready" "$f" 2>/dev/null; do
		if [ $((SECONDS - t0)) -ge 60 ] || [ -f "$LAB_RUN/$h/share/cmd/${DRAIN_MIGRD[$h]}.rc" ]; then
			eng_fail "6: migrd on $h did not start"; cat "$f"; break
		fi
		sleep 0.2
	done
	grep "registering" "$f" | sed "s/^/$h: /"
done
# every host's record in etcd before the drain is queued
t0=$SECONDS
until [ "$(ectl get --prefix /migr/hosts/ --keys-only | grep -c .)" -ge 3 ]; do
	[ $((SECONDS - t0)) -ge 60 ] && { eng_fail "6: not every host is registered in etcd"; break; }
	sleep 1
done
t0=$SECONDS
out=$(lab_sh a "migr fleet drain a --etcd $EP 2>&1; echo exit=\$?")
echo "$out"
[ "$(exit_of "$out")" = 0 ] || eng_fail "6: migr fleet drain a"
out=$(lab_sh a "migr fleet wait a --timeout 900 --etcd $EP 2>&1; echo exit=\$?" 960)
echo "$out" | tail -n 5
echo "drain of a: $((SECONDS - t0)) s"
if [ "$(exit_of "$out")" != 0 ]; then
	eng_fail "6: migr fleet wait a did not return 0"
	lab_sh a "migr status" | sed 's/^/    /'
	DRAIN_LOG_LINES=60
fi
lab_sh a "migr fleet status --etcd $EP" | sed 's/^/    /'
placed=""
for g in g3 g4; do
	where=""
	for h in b c; do
		lab_sh "$h" "xl list $g" >/dev/null 2>&1 && where="$where$h"
	done
	echo "$g runs on: ${where:-no host}"
	case $where in
	b|c)
		eng_running "$where" $g
		eng_absent a $g
		eng_verify "$where" $g
		placed="$placed$where" ;;
	*) eng_fail "6: $g does not run on exactly one of b and c" ;;
	esac
done
[ "$placed" = bc ] || [ "$placed" = cb ] || eng_fail "6: the guests are not one on b and one on c ($placed)"
loc=$(location)
echo "locations: $loc"
[ "$(echo "$loc" | grep -o '"host":"b"' | wc -l)" = 1 ] && [ "$(echo "$loc" | grep -o '"host":"c"' | wc -l)" = 1 ] ||
	eng_fail "6: the location keys do not name b once and c once"
out=$(lab_sh a "migr fleet cancel a --etcd $EP 2>&1; echo exit=\$?")
echo "$out"
[ "$(exit_of "$out")" = 0 ] || eng_fail "6: migr fleet cancel a (back in service)"
drain_stop

eng_end
