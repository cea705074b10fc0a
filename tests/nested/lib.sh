# lib.sh: the nested-Xen lab harness (bash; source it). See tests/nested/README.md.
#
#   lab_prepare                  fetch packages (cached), build the boot images (cached) and
#                                migr's Debian package, which every host installs at boot
#   lab_net_up                   private network namespace with the lab bridge (169.254.10.254/24)
#   lab_boot NAME[:stock|:shadow]...  boot hosts side by side (Xen + dom0), wait until `xl info` answers
#   lab_sh NAME SCRIPT           run SCRIPT (sh) in NAME's dom0; prints its output, returns its status
#   lab_sh_bg NAME SCRIPT        same, in the background; prints an id for lab_wait
#   lab_wait NAME ID             wait for a background command; prints output, returns status
#   lab_ip NAME                  the host's address on the lab network
#   lab_down                     stop every host this shell booted, remove the namespace
#   lab_power_cut NAME / lab_restart NAME   a host dies at once / boots again, same address
# Guests (see guest_* below) run the memwork workload and report over xenstore.
#
# Everything a run makes lives under $LAB_RUN (build/lab/run/PID): each host's serial log,
# its 9p share (command channel, guest consoles). Only processes this shell started are
# ended, by pid; the namespace is removed even when a test fails (trap in the caller).

: "${BUILD:=build}"
LAB_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_CACHE=$LAB_TOP/$BUILD/lab
LAB_IMG=$LAB_CACHE/img
# The lab guests' kernel, in every dom0 (tests/nested/lab/mkimage.sh).
GUEST_KERNEL=/boot/guest-vmlinux.gz
: "${LAB_RUN:=$LAB_CACHE/run/$$}"
: "${LAB_NS:=migrlab-$$}"
: "${LAB_MEM:=1536}"          # MiB of RAM per host
: "${LAB_DOM0_MEM:=512}"      # MiB for dom0 (a saved 128 MiB guest must fit in /save)
: "${LAB_BOOT_TIMEOUT:=180}"
: "${LAB_SH_TIMEOUT:=600}"
LAB_HOSTS=""
declare -A LAB_HV LAB_INDEX

lab_log() { echo "lab: $*" >&2; }

lab_prepare() {
	# the dom0 image carries the libraries of the programs in build/bin (mkimage.sh): they
	# must be built first, or migr's package would not find its libraries in the lab
	if [ ! -x "$LAB_TOP/build/bin/migrd" ]; then
		lab_log "building migr first (make), for the libraries its programs need in dom0"
		make -C "$LAB_TOP" -j2 >&2 || return 1
	fi
	"$LAB_TOP/tests/nested/lab/fetch.sh" "$LAB_CACHE" >&2 &&
	"$LAB_TOP/tests/nested/lab/mkimage.sh" "$LAB_CACHE" >&2 &&
	lab_package
}

# lab_package: the Debian package every host installs at boot, $LAB_RUN/migr.deb: LAB_DEB if
# set (a package built elsewhere), else `make deb` of this tree (scripts/make-deb.sh).
lab_package() {
	local deb=${LAB_DEB:-}
	mkdir -p "$LAB_RUN"
	if [ -z "$deb" ]; then
		deb=$(cd "$LAB_TOP" && BUILD=$BUILD flock "$LAB_CACHE/.lock" scripts/make-deb.sh | tail -n 1) ||
			{ lab_log "the package could not be built (make deb)"; return 1; }
	fi
	[ -f "$deb" ] || { lab_log "no package at '$deb'"; return 1; }
	cp "$deb" "$LAB_RUN/migr.deb" && lab_log "package: ${deb##*/}"
}

# lab_hv_available stock|shadow: 0 if that hypervisor can be had; else prints why.
lab_hv_available() {
	if [ -f "$LAB_CACHE/hv/$1/xen" ]; then return 0; fi
	cat "$LAB_CACHE/hv/$1.missing" 2>/dev/null || echo "no $1 hypervisor in $LAB_CACHE/hv"
	return 1
}

# lab_reap: what an earlier lab run left when it died without its clean-up (killed, machine
# reset): for a namespace migrlab-PID whose PID is gone, the QEMUs it started (by the pid in
# its run directory, if that process is still that QEMU), the namespace, the run directory.
lab_reap() {
	local ns pid f q
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^migrlab-[0-9]+$'); do
		pid=${ns#migrlab-}
		kill -0 "$pid" 2>/dev/null && continue
		for f in "$LAB_CACHE/run/$pid"/*/qemu.pid; do
			[ -f "$f" ] || continue
			q=$(cat "$f")
			tr '\0' ' ' <"/proc/$q/cmdline" 2>/dev/null | grep -q "$LAB_CACHE/run/$pid/" && kill "$q"
		done
		ip netns del "$ns" 2>/dev/null && lab_log "removed $ns, left by a lab run that is gone"
		rm -rf "${LAB_CACHE:?}/run/$pid"
	done
	for f in "$LAB_CACHE"/run/[0-9]*; do
		[ -d "$f" ] || continue
		pid=${f##*/}
		kill -0 "$pid" 2>/dev/null || ip netns list 2>/dev/null | grep -q "^migrlab-$pid\b" ||
			rm -rf "$f"
	done
}

lab_net_up() {
	lab_reap
	ip netns add "$LAB_NS" || return 1
	ip -n "$LAB_NS" link set lo up
	ip -n "$LAB_NS" link add br0 type bridge stp_state 0 forward_delay 0
	ip -n "$LAB_NS" addr add 169.254.10.254/24 dev br0
	ip -n "$LAB_NS" link set br0 up
	mkdir -p "$LAB_RUN"
	# The hosts set their clocks from this one (see lab/labclock.c).
	ip netns exec "$LAB_NS" "$LAB_TOP/$BUILD/lab/bin/labclock" serve 1123 &
	echo $! >"$LAB_RUN/labclock.pid"
}

lab_ip() { echo "169.254.10.${LAB_INDEX[$1]}"; }

# lab_start NAME [stock|shadow]: starts one host's QEMU (returns at once).
lab_start() {
	local name=$1 hv=${2:-stock} idx dir mac
	lab_hv_available "$hv" >/dev/null || { lab_log "no $hv hypervisor"; return 1; }
	idx=${LAB_INDEX[$name]:-$(( $(echo "$LAB_HOSTS" | wc -w) + 1 ))}
	LAB_INDEX[$name]=$idx
	LAB_HV[$name]=$hv
	dir=$LAB_RUN/$name
	rm -rf "$dir"; mkdir -p "$dir/share/cmd"
	cp "$LAB_RUN/migr.deb" "$dir/share/migr.deb" || { lab_log "$name: no package to install"; return 1; }
	mac=$(printf '52:54:00:00:10:%02x' "$idx")
	ip -n "$LAB_NS" tuntap add dev "tap-$name" mode tap || return 1
	ip -n "$LAB_NS" link set "tap-$name" master br0 up
	LAB_HOSTS="$LAB_HOSTS $name"
	ip netns exec "$LAB_NS" qemu-system-x86_64 -accel tcg -cpu max,-smap,-rdtscp,-xsave \
		-m "$LAB_MEM" -smp 1 -display none -no-reboot -nodefaults \
		-serial "file:$dir/serial.log" -pidfile "$dir/qemu.pid" \
		-monitor "unix:$dir/monitor,server,nowait" \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$LAB_CACHE/hv/$hv/xen" \
		-append "console=com1 com1=115200,8n1 dom0_mem=${LAB_DOM0_MEM}M,max:${LAB_DOM0_MEM}M dom0_max_vcpus=1 bootscrub=0 loglvl=all guest_loglvl=all noreboot" \
		-initrd "$LAB_IMG/vmlinuz console=hvc0 earlyprintk=xen loglevel=6 lab.host=$name lab.ip=169.254.10.$idx/24,$LAB_IMG/dom0.cpio.gz" \
		-virtfs "local,path=$LAB_TOP,mount_tag=src,security_model=none,readonly=on,id=src" \
		-virtfs "local,path=$dir/share,mount_tag=host,security_model=none,id=host" \
		-netdev "tap,id=n0,ifname=tap-$name,script=no,downscript=no" \
		-device "virtio-net-pci,netdev=n0,mac=$mac" \
		>"$dir/qemu.out" 2>&1 &
	echo $! >"$dir/qemu.launcher"
	disown $! 2>/dev/null   # ended by pid (lab_down, lab_power_cut); no job notices
	date +%s >"$dir/started"
}

# lab_ready NAME: waits until NAME's dom0 answers `xl info` (fails loudly otherwise).
lab_ready() {
	local name=$1 dir=$LAB_RUN/$1 t0
	t0=$(cat "$dir/started")
	while :; do
		[ -f "$dir/share/ready" ] && break
		if [ -f "$dir/share/failed" ]; then
			lab_log "$name: dom0 came up but is not usable: $(cat "$dir/share/failed")"
			[ -f "$dir/share/dpkg.log" ] && tail -n 20 "$dir/share/dpkg.log" >&2
			return 1
		fi
		if ! lab_alive "$name"; then
			lab_log "$name: QEMU exited during boot: $(tail -n 3 "$dir/qemu.out" "$dir/serial.log" 2>/dev/null)"
			return 1
		fi
		if [ $(($(date +%s) - t0)) -ge "$LAB_BOOT_TIMEOUT" ]; then
			lab_log "$name: not ready after ${LAB_BOOT_TIMEOUT}s (serial log: $dir/serial.log)"
			return 1
		fi
		sleep 0.5
	done
	lab_log "$name: up (${LAB_HV[$name]} hypervisor, $(lab_ip "$name")) in $(($(date +%s) - t0))s"
	lab_sh "$name" 'labclock sync 169.254.10.254 1123 --set' >"$dir/clock" 2>&1 ||
		lab_log "$name: clock not set: $(cat "$dir/clock")"
	# What the tests run is what the package installed.
	local pkg
	pkg=$(lab_sh "$name" 'dpkg-query -W -f "\${Status} \${Version}" migr; echo " $(command -v migr) $(command -v migrd)"')
	case $pkg in
	"install ok installed "*" /usr/sbin/migr /usr/sbin/migrd") lab_log "$name: migr package: $pkg" ;;
	*) lab_log "$name: migr's package is not what runs: '$pkg'"; return 1 ;;
	esac
}

# lab_boot NAME:HV...: starts the hosts side by side and waits for all of them.
lab_boot() {
	local spec
	for spec in "$@"; do lab_start "${spec%%:*}" "$(echo "$spec" | cut -s -d: -f2)" || return 1; done
	for spec in "$@"; do lab_ready "${spec%%:*}" || return 1; done
}

LAB_CMD_SEQ=0
lab_sh_bg() {
	local name=$1 script=$2 dir=$LAB_RUN/$1/share/cmd id
	LAB_CMD_SEQ=$((LAB_CMD_SEQ + 1))
	id=$$-$BASHPID-$LAB_CMD_SEQ-$RANDOM
	# migr and migrd are the package's, in /usr/sbin; the lab's own tools come from the share.
	printf 'export PATH=/src/%s/lab/bin:/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin\n%s\n' "$BUILD" "$script" >"$dir/$id.tmp"
	mv "$dir/$id.tmp" "$dir/$id.cmd"
	echo "$id"
}

# migrd is started as the package's systemd unit starts it (the lab's dom0 has no systemd):
# the directories the unit asks systemd for (RuntimeDirectory= with its mode,
# StateDirectory=, LogsDirectory=), then the unit's ExecStart= line, read from the unit
# file the package installed. Its settings come from /etc/migr/migrd.conf only.
LAB_MIGRD_UNIT_START='u=/lib/systemd/system/migrd.service
m=$(sed -n "s/^RuntimeDirectoryMode=//p" $u)
for d in $(sed -n "s/^RuntimeDirectory=//p" $u); do mkdir -p -m "${m:-0755}" "/run/$d"; done
for d in $(sed -n "s/^StateDirectory=//p" $u); do mkdir -p "/var/lib/$d"; done
for d in $(sed -n "s/^LogsDirectory=//p" $u); do mkdir -p "/var/log/$d"; done
echo "starting the unit: $(sed -n "s/^ExecStart=//p" $u)"
exec $(sed -n "s/^ExecStart=//p" $u) 2>&1'

lab_wait() {
	local name=$1 id=$2 timeout=${3:-$LAB_SH_TIMEOUT} dir=$LAB_RUN/$1/share/cmd t0=$SECONDS rc
	while [ ! -f "$dir/$id.rc" ]; do
		if [ $((SECONDS - t0)) -ge "$timeout" ]; then
			lab_log "$name: command $id still running after ${timeout}s"
			cat "$dir/$id.out" 2>/dev/null
			return 124
		fi
		if ! lab_alive "$name"; then
			lab_log "$name: host died while running command $id"
			cat "$dir/$id.out" 2>/dev/null
			return 125
		fi
		sleep 0.1
	done
	rc=$(cat "$dir/$id.rc")
	cat "$dir/$id.out"
	rm -f "$dir/$id".*
	return "$rc"
}

lab_sh() { local id; id=$(lab_sh_bg "$1" "$2") && lab_wait "$1" "$id" "${3:-$LAB_SH_TIMEOUT}"; }

# lab_power_cut NAME: NAME dies at once, as a host whose power fails (its QEMU killed).
lab_power_cut() {
	local pid
	pid=$(cat "$LAB_RUN/$1/qemu.launcher" 2>/dev/null) || return 1
	kill -9 "$pid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}

# lab_restart NAME: boots NAME again (after lab_power_cut) with the same address and
# hypervisor, and waits until it is ready. Its dom0 starts afresh: RAM-backed state is gone.
lab_restart() {
	local name=$1
	lab_alive "$name" && lab_power_cut "$name"
	ip -n "$LAB_NS" link del "tap-$name" 2>/dev/null
	LAB_HOSTS=$(echo " $LAB_HOSTS " | sed "s/ $name / /; s/^ *//; s/ *$//")
	lab_start "$name" "${LAB_HV[$name]}" && lab_ready "$name"
}

lab_alive() { kill -0 "$(cat "$LAB_RUN/$1/qemu.launcher" 2>/dev/null)" 2>/dev/null; }

# lab_cut NAME / lab_mend NAME: NAME's wire is cut (its bridge port stops forwarding both
# ways) and mended. The tap itself stays up, so QEMU and the host's NIC never see a link
# change: only the frames are lost, as on a cable pulled between two switches.
lab_cut()  { bridge -n "$LAB_NS" link set dev "tap-$1" state 0; }
lab_mend() { bridge -n "$LAB_NS" link set dev "tap-$1" state 3; }

# lab_shape RATE HOST... / lab_unshape HOST...: the lab bridge sends at most RATE (tc tbf,
# e.g. 24mbit) toward each HOST; a stream into a shaped host is held to RATE. lab_down
# removes the taps and their qdiscs with them; a test that shapes unshapes on its way out.
lab_shape() {
	local rate=$1 h; shift
	for h in "$@"; do
		ip netns exec "$LAB_NS" tc qdisc replace dev "tap-$h" root tbf rate "$rate" \
			burst 32kb latency 50ms || return 1
	done
}
lab_unshape() {
	local h
	for h in "$@"; do ip netns exec "$LAB_NS" tc qdisc del dev "tap-$h" root 2>/dev/null; done
	return 0
}

# lab_linked A B [TIMEOUT]: A's dom0 reaches B's within TIMEOUT seconds (ping).
lab_linked() {
	lab_sh "$1" "t=0; until ping -c 1 -W 1 $(lab_ip "$2") >/dev/null 2>&1; do
		t=\$((t + 1)); [ \$t -ge ${3:-20} ] && exit 1; done" $(( ${3:-20} * 3 + 30 )) >/dev/null
}

# lab_end_commands NAME: ends every command a test left running on NAME (each runs in its
# own session, see lab/agent.sh: its whole process group is signalled), and says which.
lab_end_commands() {
	lab_sh "$1" 'ended=
	for p in /host/cmd/*.pgid; do
		[ -e "$p" ] || continue
		id=${p%.pgid}; [ -e "$id.rc" ] || [ "$id.run" = "$0" ] && continue
		g=$(cat "$p"); [ -n "$g" ] || continue
		echo "ending leftover command $(basename "$id") (process group $g): $(head -c 120 "$id.run" | tail -n 1)"
		kill -TERM -- "-$g" 2>/dev/null && ended="$ended $g"
	done
	[ -n "$ended" ] || exit 0
	sleep 2
	for g in $ended; do kill -KILL -- "-$g" 2>/dev/null; done
	true'
}

# lab_clock_offset NAME: the host's clock minus this machine's, in ms (about 1 ms precise).
lab_clock_offset() {
	lab_sh "$1" 'labclock sync 169.254.10.254 1123' | sed -n 's/.*offset_ms=\([-0-9.]*\).*/\1/p'
}

# lab_observe_start IP / lab_observe_stop: an outside observer of a guest's blackout. A ping
# every 10 ms from the lab namespace (a wire the guest's vif is bridged onto); stop prints
# the longest gap between two answers in ms (the network blackout: from the guest's last
# answer on the source to its first on the target), and the answers counted. Under emulation
# the hosts' clocks drift apart by seconds within minutes, so the guest's own realtime gap
# across hosts cannot be corrected reliably; this observer has one clock.
lab_observe_start() {
	ip netns exec "$LAB_NS" ping -D -n -i 0.01 -W 1 "$1" >"$LAB_RUN/observe.log" 2>&1 &
	echo $! >"$LAB_RUN/observe.pid"
}
lab_observe_stop() {
	kill "$(cat "$LAB_RUN/observe.pid")" 2>/dev/null
	wait "$(cat "$LAB_RUN/observe.pid")" 2>/dev/null
	rm -f "$LAB_RUN/observe.pid"
	awk -F'[][]' '/bytes from/ { t = $2 + 0; if (n++ && t - last > max) max = t - last; last = t }
		END { if (n < 2) print "none 0"; else printf "%.0f %d\n", max * 1000, n }' "$LAB_RUN/observe.log"
}

# lab_serial NAME: the host's serial log (Xen + dom0 console).
lab_serial() { echo "$LAB_RUN/$1/serial.log"; }

lab_down() {
	local name pid
	for name in $LAB_HOSTS; do
		pid=$(cat "$LAB_RUN/$name/qemu.launcher" 2>/dev/null) || continue
		kill "$pid" 2>/dev/null
	done
	for name in $LAB_HOSTS; do
		pid=$(cat "$LAB_RUN/$name/qemu.launcher" 2>/dev/null) || continue
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	done
	LAB_HOSTS=""
	[ -f "$LAB_RUN/fabric.pid" ] && kill "$(cat "$LAB_RUN/fabric.pid")" 2>/dev/null
	rm -f "$LAB_RUN/fabric.pid"
	[ -f "$LAB_RUN/labclock.pid" ] && kill "$(cat "$LAB_RUN/labclock.pid")" 2>/dev/null
	rm -f "$LAB_RUN/labclock.pid"
	ip netns del "$LAB_NS" 2>/dev/null
	return 0
}

# ---- the slow fabric (switch-over tests) --------------------------------------------
# The lab bridge normally learns every MAC at once, so a moved guest is reachable as soon as
# it sends its first frame: nothing to forward. A test that needs a fabric that reroutes
# late turns learning and unknown-unicast flooding off on the hosts' ports
# (lab_fabric_on): what was learned so far (the dom0s) stays as static entries, a guest's
# MAC is placed on its host's port by lab_fabric_place, and only the controller
# (lab/fabric.py) moves it, FABRIC_DELAY_MS after a host's switch-over hook asked by
# writing /host/fabric/MAC (lab_fabric_hook installs such a hook). lab_fabric_off puts the
# learning bridge back. Broadcast (ARP requests) still reaches every host.
lab_fabric_on() {   # DELAY_MS
	local h m
	for h in $LAB_HOSTS; do
		for m in $(ip netns exec "$LAB_NS" bridge fdb show br br0 brport "tap-$h" |
			   awk '!/permanent|static/ {print $1}'); do
			ip netns exec "$LAB_NS" bridge fdb replace "$m" dev "tap-$h" master static
		done
		ip netns exec "$LAB_NS" bridge link set dev "tap-$h" learning off flood off || return 1
		rm -rf "$LAB_RUN/$h/share/fabric"
	done
	ip netns exec "$LAB_NS" python3 "$LAB_TOP/tests/nested/lab/fabric.py" "$LAB_RUN" "$1" \
		"$LAB_RUN/fabric.log" $(for h in $LAB_HOSTS; do echo "$h=$(lab_ip "$h")"; done) &
	echo $! >"$LAB_RUN/fabric.pid"
}
lab_fabric_place() {   # MAC HOST
	ip netns exec "$LAB_NS" bridge fdb replace "$1" dev "tap-$2" master static
}
lab_fabric_off() {
	local h m
	[ -f "$LAB_RUN/fabric.pid" ] && kill "$(cat "$LAB_RUN/fabric.pid")" 2>/dev/null
	rm -f "$LAB_RUN/fabric.pid"
	for h in $LAB_HOSTS; do
		ip netns exec "$LAB_NS" bridge link set dev "tap-$h" learning on flood on 2>/dev/null
		for m in $(ip netns exec "$LAB_NS" bridge fdb show br br0 brport "tap-$h" 2>/dev/null |
			   awk '/static/ && !/permanent/ {print $1}'); do
			ip netns exec "$LAB_NS" bridge fdb del "$m" dev "tap-$h" master 2>/dev/null
		done
	done
	return 0
}
# lab_fabric_hook HOST FILE: writes on HOST a switch-over hook (FILE, executable) that asks
# the fabric controller to move each of the guest's MACs ($MIGR_MACS) to the target
# ($MIGR_TARGET, an address the controller knows).
lab_fabric_hook() {
	lab_sh "$1" "mkdir -p \$(dirname $2) && cat >$2 <<'EOH'
#!/bin/sh
mkdir -p /host/fabric
for m in \$(echo \"\$MIGR_MACS\" | tr ',' ' '); do
	echo \"\$MIGR_TARGET\" >/host/fabric/.\$m && mv /host/fabric/.\$m /host/fabric/\$m
done
echo \"fabric asked: \$MIGR_MACS to \$MIGR_TARGET for \$MIGR_GUEST (\$MIGR_ID)\" >>/host/fabric.log
EOH
chmod 755 $2"
}
# lab_fabric_log: the controller's log (see lab/fabric.py).
lab_fabric_log() { cat "$LAB_RUN/fabric.log" 2>/dev/null; }

# ---- guests ------------------------------------------------------------------------
# guest_create HOST NAME pv|pvh [MEMWORK_ARGS] [MEMORY_MIB]
#   Creates a guest from the lab's guest image on HOST; MEMWORK_ARGS are memwork's options
#   with commas for spaces (e.g. "-w,16,-r,1000"); empty = no workload. The guest gets
#   169.254.10.(100+N) and a fixed MAC derived from its name's number N (g1 -> 101).
#   GUEST_EXTRA: more kernel arguments (lab.echo=1 for the echo services of guest-init).
#   GUEST_DISK: a block device of HOST given to the guest as xvda, which the guest writes
#   and reads back all along (guest-init's lab.disk=1: "guest-disk: ok N" on its console).
guest_create() {
	local host=$1 name=$2 type=$3 mw=${4:-} mem=${5:-128} n ip mac
	n=$(echo "$name" | tr -cd '0-9'); n=$((100 + ${n:-0}))
	ip=$(guest_ip "$name")
	mac=$(printf '00:16:3e:0a:00:%02x' "$n")
	lab_sh "$host" "cat >/root/$name.cfg <<'EOC'
name = \"$name\"
type = \"$type\"
kernel = \"$GUEST_KERNEL\"
ramdisk = \"/src/$BUILD/lab/img/guest.cpio.gz\"
extra = \"console=hvc0 noxsave loglevel=4 lab.ip=$ip/24 lab.memwork=$mw${GUEST_DISK:+ lab.disk=1}${GUEST_EXTRA:+ $GUEST_EXTRA}\"
memory = $mem
vcpus = 1
vif = [ \"mac=$mac,bridge=xenbr0\" ]
${GUEST_DISK:+disk = [ \"phy:$GUEST_DISK,xvda,w\" ]}
on_crash = \"preserve\"
EOC
xl create -q /root/$name.cfg"
}

# guest_mac NAME: the MAC of guest gN's vif.
guest_mac() { local n; n=$(echo "$1" | tr -cd '0-9'); printf '00:16:3e:0a:00:%02x\n' "$((100 + ${n:-0}))"; }
# guest_ip NAME: the lab address of guest gN.
guest_ip() { local n; n=$(echo "$1" | tr -cd '0-9'); echo "169.254.10.$((100 + ${n:-0}))"; }

# guest_ping_ready NAME [TIMEOUT]: waits until the guest answers a ping from the lab namespace.
guest_ping_ready() {
	local t0=$SECONDS
	until ip netns exec "$LAB_NS" ping -c 1 -W 1 "$(guest_ip "$1")" >/dev/null 2>&1; do
		[ $((SECONDS - t0)) -ge "${2:-60}" ] && return 1
	done
}

# guest_console HOST NAME: the guest's console log as xenconsoled on HOST keeps it.
guest_console() { echo "$LAB_RUN/$1/share/console/guest-$2.log"; }

# guest_wait_console HOST NAME REGEX [TIMEOUT]: waits for a console line on HOST.
guest_wait_console() {
	local f; f=$(guest_console "$1" "$2")
	local t0=$SECONDS
	until grep -qE "$3" "$f" 2>/dev/null; do
		[ $((SECONDS - t0)) -ge "${4:-120}" ] && { lab_log "$2 on $1: no console line /$3/"; return 1; }
		sleep 0.5
	done
}

# guest_domid HOST NAME: prints the domid (fails if the guest is not there).
guest_domid() { lab_sh "$1" "xl domid $2 2>/dev/null"; }

# lab_clean_guests HOST: destroys every guest on HOST (a test's leftovers), says which.
lab_clean_guests() {
	lab_sh "$1" 'for d in $(xl list | awk "NR>2{print \$1}"); do echo "destroying leftover $d"; xl destroy "$d"; done'
}

# ---- talking to memwork (tests/nested/guest/README.md) --------------------------------

# mw_node HOST NAME NODE: prints data/memwork/NODE of guest NAME on HOST.
mw_node() {
	lab_sh "$1" "D=\$(xl domid $2) && xenstore-read /local/domain/\$D/data/memwork/$3"
}

# mw_node_wait HOST NAME NODE [TIMEOUT]: the same, waiting up to TIMEOUT seconds (dom0's
#   clock, default 15) for the node: after a pause memwork keeps quiet for 3 s, then writes
#   its tree again (a restored guest's is empty until then). Fails, printing nothing, if
#   the node is still missing.
mw_node_wait() {
	lab_sh "$1" "D=\$(xl domid $2) && t0=\$(date +%s) && until xenstore-read /local/domain/\$D/data/memwork/$3 2>/dev/null; do [ \$((\$(date +%s) - t0)) -ge ${4:-15} ] && exit 1; sleep 0.2; done"
}

# mw_ready HOST NAME [TIMEOUT]: waits until memwork on NAME has reported a status (TIMEOUT
#   seconds by dom0's clock, default 120; an emulated dom0 under load runs the loop slowly,
#   so the wait is timed, not counted). Prints the status.
mw_ready() {
	local to=${3:-120}
	lab_sh "$1" "D=\$(xl domid $2) || exit 1; end=\$((\$(date +%s) + $to))
until xenstore-read /local/domain/\$D/data/memwork/status >/dev/null 2>&1; do
  [ \$(date +%s) -ge \$end ] && { echo 'memwork on $2: no status after $to s'; exit 1; }; usleep 200000; done
xenstore-read /local/domain/\$D/data/memwork/status" $((to + 30))
}

# mw_cmd HOST NAME COMMAND [TIMEOUT]: sends one memwork command, prints the result text.
#   No answer within TIMEOUT seconds (default 120): says so with memwork's status node.
mw_cmd() {
	local id=$(( $(date +%s%N) / 1000 % 1000000000 ))   # unique: callers run it in subshells
	local to=${4:-120}
	lab_sh "$1" "D=\$(xl domid $2) || exit 1; P=/local/domain/\$D/data/memwork
xenstore-write \$P/cmd '$id $3' || exit 1; end=\$((\$(date +%s) + $to))
until [ \"\$(xenstore-read \$P/cmd-done 2>/dev/null)\" = $id ]; do
  [ \$(date +%s) -ge \$end ] && { echo \"memwork on $2: no answer to $3 after $to s (status: \$(xenstore-read \$P/status 2>&1))\"; exit 1; }
  usleep 100000; done
r=\$(xenstore-read \$P/result); echo \"\${r#$id }\"" $((to + 30))
}

# mw_verify HOST NAME: asks for a full verification; 0 if it passed. Prints the result.
mw_verify() {
	local r; r=$(mw_cmd "$1" "$2" verify) || { echo "$r"; return 1; }
	echo "$r"
	case $r in ok*) return 0 ;; *) return 1 ;; esac
}

# guest_running HOST NAME: 0 if NAME exists on HOST and is neither paused, suspended, crashed
# nor dying (under emulation a runnable guest often shows no flag at all).
guest_running() {
	local st
	st=$(lab_sh "$1" "xl list $2 2>/dev/null | awk 'NR==2{print \$5}'") || return 1
	[ -n "$st" ] && [[ $st != *[pscd]* ]]
}

# lab_domains HOST: names of the domains on HOST other than Domain-0, one per line.
lab_domains() { lab_sh "$1" 'xl list | awk "NR>2{print \$1}"'; }

# lab_attach: in a test script run by tests/nested/run, adopts the hosts it booted.
lab_attach() {
	local spec name idx hv
	for spec in ${LAB_HOSTS_ENV:?not run from tests/nested/run}; do
		IFS=: read -r name idx hv <<<"$spec"
		LAB_INDEX[$name]=$idx; LAB_HV[$name]=$hv; LAB_HOSTS="$LAB_HOSTS $name"
	done
}

# lab_export: what lab_attach reads, for the tests this shell runs.
lab_export() {
	local name spec=""
	for name in $LAB_HOSTS; do spec="$spec $name:${LAB_INDEX[$name]}:${LAB_HV[$name]}"; done
	export LAB_HOSTS_ENV=$spec LAB_RUN LAB_NS BUILD
}

# fail MESSAGE: ends a test with a failure that says what went wrong.
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
