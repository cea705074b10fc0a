#!/usr/bin/env bash
# lab: stock
# 20-migrate-pvh: `migr migrate` of a PVH guest A -> B -> A over TLS (PSK), on the stock
# hypervisor, while memwork dirties 16 MiB at 1000 pages/s: the guest runs on exactly one
# host after each hop, its memory verifies, its console is logged under its own name on the
# target (no log left under its temporary name), the prediction of each hop is printed
# against the measured blackout, and the round log is printed. Its vif and its disk (a
# loop device on each host, written and read back by the guest all along) were added on
# the target while the stream came (docs/phases.md, "Devices early"), libxl lists and
# stores them, both work after each hop, and a stock `xl migrate` of the migrated guest
# afterwards works. LAB_LATE_DEVICES=1: the targets add them after the stream instead
# (`migrd --late-devices`, libxl's order), to set the two side by side.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

eng_begin a:stock b:stock
# The guest's disk: a loop device over a 4 MiB image at the same path on both hosts (the
# lab has no shared storage: each host's copy is its own, and what is checked is that the
# disk keeps working after each hop, not its content across the hop: a block written just
# before a hop and read back just after it reads the target's copy, "guest-disk: differs").
for h in a b; do
	lab_sh "$h" "losetup -d /dev/loop7 2>/dev/null; mkdir -p /var/lib/labdisk && dd if=/dev/zero of=/var/lib/labdisk/g1.img bs=1M count=4 2>/dev/null &&
		losetup /dev/loop7 /var/lib/labdisk/g1.img && echo \"$h: disk /dev/loop7\"" ||
		{ echo "$h: no loop device for the guest's disk"; eng_end; }
done
GUEST_DISK=/dev/loop7 guest_create a g1 pvh "-w,16,-r,1000,-g,1000" || { echo "guest_create failed"; exit 1; }
guest_wait_console a g1 "guest-disk: ok" 60 || eng_fail "a: the guest's disk does not work before any hop"
# disk_works HOST: the guest's disk took a write and read it back on HOST after the hop
# (a block counter past every one seen before), and no I/O failed on either host.
disk_works() {
	local host=$1 n0
	n0=$(cat "$LAB_RUN"/*/share/console/guest-g1*.log 2>/dev/null | grep -o "guest-disk: ok [0-9]*" |
		awk '{print $3}' | sort -n | tail -n 1)
	local t0=$SECONDS n
	while :; do
		# (a stock xl migrate's target logs the console under the temporary name)
		n=$(cat "$LAB_RUN/$host"/share/console/guest-g1*.log 2>/dev/null | grep -o "guest-disk: ok [0-9]*" |
			awk '{print $3}' | sort -n | tail -n 1)
		[ "${n:-0}" -gt "${n0:-0}" ] && break
		[ $((SECONDS - t0)) -ge 40 ] && { eng_fail "$host: the guest's disk took no write after the hop (last block ${n0:-none})"; return; }
		sleep 1
	done
	echo "disk on $host: block ${n0:-0} before the hop, $n after it"
	grep -h "guest-disk: error" "$LAB_RUN"/*/share/console/guest-g1*.log 2>/dev/null | head -n 3 | grep . &&
		eng_fail "the guest's disk failed an I/O"
	grep -h "guest-disk: differs" "$LAB_RUN"/*/share/console/guest-g1*.log 2>/dev/null | sed 's/$/ (across a hop: the hosts'"'"' copies differ)/'
	return 0
}
eng_verify a g1 || eng_end

hop() {
	local src=$1 dst=$2 id log con n0 n out
	# xenconsoled on the target logs the guest under its own name once it runs there.
	con=$(guest_console "$dst" g1)
	n0=$(grep -c "result id=" "$con" 2>/dev/null)
	id=$(eng_migrd "$dst" -v --storage /dev/loop7 ${LAB_LATE_DEVICES:+--late-devices}) || return 1
	eng_listening "$dst" "$id" || return 1
	echo "== migr migrate g1 $src -> $dst"
	out=$(eng_migrate "$src" g1 "$dst") || eng_fail "migr migrate $src -> $dst exited $?"
	echo "$out"
	# every hop, the first on a fresh target too, states its prediction against the measure
	echo "$out" | grep -q "predicted against measured: [0-9.]* ms against [0-9.]* ms" ||
		eng_fail "$src -> $dst: no prediction against the measured blackout"
	echo "== migrd on $dst:"
	log=$(lab_wait "$dst" "$id" 120)
	echo "$log"
	eng_running "$dst" g1
	eng_absent "$src" g1
	eng_verify "$dst" g1
	n=$(grep -c "result id=" "$con" 2>/dev/null)
	echo "console log on $dst: ${con##*/}, memwork results ${n0:-0} before the hop, ${n:-0} after"
	[ "${n:-0}" -gt "${n0:-0}" ] || eng_fail "$dst: the guest's console output after the hop is not in ${con##*/}"
	[ -e "${con%.log}--incoming.log" ] &&
		eng_fail "$dst: a console log under the guest's temporary name is left: ${con%.log}--incoming.log"
	lab_sh "$dst" "xenstore-read /local/domain/\$(xl domid g1)/data/memwork/max-gap-ms" |
		sed 's/^/guest-seen max gap (ms): /'
	check_vif "$dst" "$log"
	disk_works "$dst"
}

# The vif came up through migr-vif-bridge, is on the bridge and carries traffic, and the
# stock script is named again everywhere libxl reads it from.
check_vif() {
	local host=$1 log=$2 out
	echo "$log" | grep -q "fast vif hotplug 1" ||
		eng_fail "$host: the vif was not brought up by the fast hotplug path"
	if [ -n "${LAB_LATE_DEVICES:-}" ]; then
		echo "$log" | grep -q "devices added while the stream came" &&
			eng_fail "$host: devices were added while the stream came, with --late-devices"
	else
		echo "$log" | grep -q "devices added while the stream came: 1 vifs, 1 disks in [0-9.]* ms (done [0-9.]* ms before the restore's end), after it 0" ||
			eng_fail "$host: the vif and the disk were not added while the stream came"
	fi
	echo "$log" | grep -q "announced 4" ||
		eng_fail "$host: the guest was not announced on its bridge after DONE"
	echo "$log" | grep -q "network back 1/1 vifs in [0-9.]* ms" ||
		eng_fail "$host: the guest's vif was not seen connected again after the unpause"
	echo "$log" | grep -q "first frame in [1-9][0-9.]* ms" ||
		eng_fail "$host: no frame from the guest was seen on its vif after it connected"
	out=$(lab_sh "$host" 'd=$(xl domid g1)
		echo "backend script: $(xenstore-read /local/domain/0/backend/vif/$d/0/script)"
		echo "libxl script: $(xenstore-read /libxl/$d/device/vif/0/script)"
		echo "stored config naming the helper: $(xl list -l g1 | grep -c migr-vif-bridge)"
		echo "stored config vifs: $(xl list -l g1 | grep -c "\"mac\": \"$(xenstore-read /local/domain/0/backend/vif/$d/0/mac)\"")"
		echo "network-list: $(xl network-list g1 | awk "NR > 1 { print \$1, \$5 }")"
		echo "block-list: $(xl block-list g1 | awk "NR > 1 { print \$1, \$4 }")"
		echo "stored config disks: $(xl list -l g1 | grep -c "\"pdev_path\": \"/dev/loop7\"")"
		echo "hotplug-status: $(xenstore-read /local/domain/0/backend/vif/$d/0/hotplug-status)"
		echo "bridge port: $(basename $(readlink /sys/class/net/vif$d.0/brport/bridge))"
		echo "port mac: $(cat /sys/class/net/vif$d.0/address) mtu $(cat /sys/class/net/vif$d.0/mtu) frontend mtu $(xenstore-read /local/domain/$d/device/vif/0/mtu)"')
	echo "$out"
	echo "$out" | grep -qx "backend script: /etc/xen/scripts/vif-bridge" || eng_fail "$host: backend script node not put back"
	echo "$out" | grep -qx "libxl script: /etc/xen/scripts/vif-bridge" || eng_fail "$host: libxl script node not put back"
	echo "$out" | grep -qx "stored config naming the helper: 0" || eng_fail "$host: stored configuration still names the helper"
	echo "$out" | grep -qx "stored config vifs: 1" || eng_fail "$host: the stored configuration does not hold the vif"
	echo "$out" | grep -qx "network-list: 0 4" || eng_fail "$host: xl network-list does not show vif 0 connected"
	echo "$out" | grep -qx "block-list: 51712 4" || eng_fail "$host: xl block-list does not show xvda connected"
	echo "$out" | grep -qx "stored config disks: 1" || eng_fail "$host: the stored configuration does not hold the disk"
	echo "$out" | grep -qx "hotplug-status: connected" || eng_fail "$host: hotplug-status is not connected"
	echo "$out" | grep -qx "bridge port: xenbr0" || eng_fail "$host: the vif is not on xenbr0"
	echo "$out" | grep -q "port mac: fe:ff:ff:ff:ff:ff mtu 1500 frontend mtu 1500" || eng_fail "$host: port address or MTU differ from vif-bridge's"
	guest_ping_ready g1 30 || eng_fail "$host: the guest does not answer pings after the migration"
}
hop a b
hop b a

echo "== stock xl migrate of the migrated guest a -> b"
id=$(lab_sh_bg b "labpipe listen 9000 xl migrate-receive 2>&1")
sleep 2
out=$(lab_sh a "xl migrate -s 'labpipe connect 9000' g1 $(lab_ip b) 2>&1; echo exit=\$?" 900)
echo "$out" | tail -n 5
echo "$out" | grep -q '^exit=0$' || eng_fail "stock xl migrate of the migrated guest exited non-zero"
lab_wait b "$id" 120 >/dev/null || eng_fail "xl migrate-receive on b failed"
eng_running b g1
eng_absent a g1
eng_verify b g1
lab_sh b "xl network-list g1; xl block-list g1" | sed 's/^/    /'
guest_ping_ready g1 30 || eng_fail "b: the guest does not answer pings after the stock xl migrate"
disk_works b
eng_end
