#!/usr/bin/env bash
# lab: stock
# 20-migrate-pvh: `migr migrate` of a PVH guest A -> B -> A over TLS (PSK), on the stock
# hypervisor, while memwork dirties 16 MiB at 1000 pages/s: the guest runs on exactly one
# host after each hop, its memory verifies, and the round log is printed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

eng_begin a:stock b:stock
guest_create a g1 pvh "-w,16,-r,1000,-g,1000" || { echo "guest_create failed"; exit 1; }
eng_verify a g1 || eng_end

hop() {
	local src=$1 dst=$2 id
	id=$(eng_migrd "$dst" -v) || return 1
	eng_listening "$dst" "$id" || return 1
	echo "== migr migrate g1 $src -> $dst"
	eng_migrate "$src" g1 "$dst" || eng_fail "migr migrate $src -> $dst exited $?"
	echo "== migrd on $dst:"
	lab_wait "$dst" "$id" 120
	eng_running "$dst" g1
	eng_absent "$src" g1
	eng_verify "$dst" g1
	lab_sh "$dst" "xenstore-read /local/domain/\$(xl domid g1)/data/memwork/max-gap-ms" |
		sed 's/^/guest-seen max gap (ms): /'
}
hop a b
hop b a
eng_end
