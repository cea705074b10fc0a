#!/usr/bin/env bash
# lab: shadow
# 21-migrate-pv-shadow: `migr migrate` of a PV guest A -> B -> A on hypervisors with shadow
# paging (PV log-dirty), memwork dirtying 16 MiB at 1000 pages/s; memory verified after
# each hop, the guest on exactly one host. Skips loudly when no shadow-capable hypervisor
# can be had.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

eng_begin a:shadow b:shadow
guest_create a g1 pv "-w,16,-r,1000,-g,1000" || { echo "guest_create failed"; exit 1; }
eng_verify a g1 || eng_end

hop() {
	local src=$1 dst=$2 id
	id=$(eng_migrd "$dst" -v) || return 1
	eng_listening "$dst" "$id" || return 1
	echo "== migr migrate g1 (PV) $src -> $dst"
	eng_migrate "$src" g1 "$dst" || eng_fail "migr migrate $src -> $dst exited $?"
	lab_wait "$dst" "$id" 120
	eng_running "$dst" g1
	eng_absent "$src" g1
	eng_verify "$dst" g1
}
hop a b
hop b a
eng_end
