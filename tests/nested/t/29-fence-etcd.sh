#!/usr/bin/env bash
# lab: stock
# lab-suite: extended
# 29-fence-etcd: the commit fenced by etcd on real Xen, with a real etcd in the lab's
# namespace (docs/etcd.md). Memory verified after each case, the guest on exactly one host:
#   1. a fenced migration a -> b: the guest's location key names b with the migration's id
#   2. the target cut off from etcd (its packets to etcd dropped): it never unpauses the
#      guest; the source gives the key back and resumes it
#   3. a source that does not fence, toward a target that does: refused before anything
#      is touched
#   4. etcd stopped before a migration: refused cleanly, the guest untouched
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
	{ echo "SKIP: no etcd installed (etcd-server, etcd-client)"; exit 77; }
eng_begin a:stock b:stock

EP=$LAB_ETCD_EP
fence_cleanup() {
	ip netns exec "$LAB_NS" nft delete table inet migrfence 2>/dev/null
	lab_etcd_stop
}
trap 'fence_cleanup; [ -z "${LAB_HOSTS_ENV:-}" ] && lab_down' EXIT

lab_etcd_start fence-etcd || exit 1
ectl() { lab_ectl "$@"; }

# location: the guest's location record in etcd (there is one guest)
location() { ectl get --prefix /migr/guests/ --print-value-only; }

guest_create a g1 pvh "-w,16,-r,1000,-g,1000" || { echo "guest_create failed"; exit 1; }
eng_verify a g1 || eng_end

echo "== 1. fenced migration a -> b"
id=$(eng_migrd b --etcd "$EP")
eng_listening b "$id"
out=$(eng_migrate a g1 b --etcd "$EP" --etcd-name a)
echo "$out"
echo "$out" | grep -q '^exit=0$' || eng_fail "1: exit status is not 0"
lab_wait b "$id" 60 | tail -n 5
eng_running b g1
eng_absent a g1
eng_verify b g1
mid=$(echo "$out" | sed -n 's/.*migration \([0-9a-f]\{32\}\).*/\1/p' | head -n 1)
loc=$(location)
echo "location: $loc"
echo "$loc" | grep -q '"host":"b"' || eng_fail "1: the key does not name b"
[ -n "$mid" ] && { echo "$loc" | grep -q "\"migration\":\"$mid\"" || eng_fail "1: the key does not carry migration $mid"; }

echo "== 2. the target (a) cut off from etcd: b -> a backs out"
ip netns exec "$LAB_NS" nft -f - <<EOF
table inet migrfence {
	chain in {
		type filter hook input priority 0;
		ip saddr $(lab_ip a) tcp dport 2379 drop
	}
}
EOF
id=$(eng_migrd a --etcd "$EP")
eng_listening a "$id"
out=$(eng_migrate b g1 a --etcd "$EP" --etcd-name b)
echo "$out"
echo "$out" | grep -q '^exit=3$' || eng_fail "2: exit status is not 3 (backed out)"
echo "$out" | grep -qi 'etcd' || eng_fail "2: the reason does not name etcd"
lab_wait a "$id" 60 | tail -n 5
ip netns exec "$LAB_NS" nft delete table inet migrfence
eng_running b g1
eng_absent a g1
eng_verify b g1
loc=$(location)
echo "location: $loc"
echo "$loc" | grep -q '"host":"b"' || eng_fail "2: the key was not given back to b"

echo "== 3. a source that does not fence, toward a target that does"
id=$(eng_migrd a --etcd "$EP")
eng_listening a "$id"
out=$(eng_migrate b g1 a)
echo "$out"
echo "$out" | grep -q '^exit=3$' || eng_fail "3: exit status is not 3"
echo "$out" | grep -q 'fences the commit through etcd' || eng_fail "3: no reason"
lab_wait a "$id" 60 | tail -n 3
eng_running b g1
eng_absent a g1

echo "== 4. etcd stopped before a migration"
kill -STOP "$LAB_ETCD_PID"
id=$(eng_migrd a --etcd "$EP")
eng_listening a "$id"
out=$(eng_migrate b g1 a --etcd "$EP" --etcd-name b)
echo "$out"
echo "$out" | grep -q '^exit=3$' || eng_fail "4: exit status is not 3"
echo "$out" | grep -q 'etcd' || eng_fail "4: the reason does not name etcd"
lab_wait a "$id" 60 | tail -n 3
kill -CONT "$LAB_ETCD_PID"
eng_running b g1
eng_absent a g1
eng_verify b g1

eng_end
