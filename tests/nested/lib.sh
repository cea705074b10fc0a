# lib.sh: the nested-Xen lab harness (bash; source it). See tests/nested/README.md.
#
#   lab_prepare                  fetch packages (cached) and build the boot images (cached)
#   lab_net_up                   private network namespace with the lab bridge (169.254.10.254/24)
#   lab_boot NAME [stock|shadow] boot one host (Xen + dom0), wait until `xl info` answers
#   lab_sh NAME SCRIPT           run SCRIPT (sh) in NAME's dom0; prints its output, returns its status
#   lab_sh_bg NAME SCRIPT        same, in the background; prints an id for lab_wait
#   lab_wait NAME ID             wait for a background command; prints output, returns status
#   lab_ip NAME                  the host's address on the lab network
#   lab_down                     stop every host this shell booted, remove the namespace
# Guests (see guest_* below) run the memwork workload and report over xenstore.
#
# Everything a run makes lives under $LAB_RUN (build/lab/run/PID): each host's serial log,
# its 9p share (command channel, guest consoles). Only processes this shell started are
# ended, by pid; the namespace is removed even when a test fails (trap in the caller).

: "${BUILD:=build}"
LAB_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_CACHE=$LAB_TOP/$BUILD/lab
LAB_IMG=$LAB_CACHE/img
: "${LAB_RUN:=$LAB_CACHE/run/$$}"
: "${LAB_NS:=migrlab-$$}"
: "${LAB_MEM:=1536}"          # MiB of RAM per host
: "${LAB_DOM0_MEM:=384}"      # MiB for dom0
: "${LAB_BOOT_TIMEOUT:=180}"
: "${LAB_SH_TIMEOUT:=600}"
LAB_HOSTS=""
declare -A LAB_HV LAB_INDEX

lab_log() { echo "lab: $*" >&2; }

lab_prepare() {
	"$LAB_TOP/tests/nested/lab/fetch.sh" "$LAB_CACHE" >&2 &&
	"$LAB_TOP/tests/nested/lab/mkimage.sh" "$LAB_CACHE" >&2
}

# lab_hv_available stock|shadow: 0 if that hypervisor can be had; else prints why.
lab_hv_available() {
	if [ -f "$LAB_CACHE/hv/$1/xen" ]; then return 0; fi
	cat "$LAB_CACHE/hv/$1.missing" 2>/dev/null || echo "no $1 hypervisor in $LAB_CACHE/hv"
	return 1
}

lab_net_up() {
	ip netns add "$LAB_NS" || return 1
	ip -n "$LAB_NS" link set lo up
	ip -n "$LAB_NS" link add br0 type bridge stp_state 0 forward_delay 0
	ip -n "$LAB_NS" addr add 169.254.10.254/24 dev br0
	ip -n "$LAB_NS" link set br0 up
	mkdir -p "$LAB_RUN"
}

lab_ip() { echo "169.254.10.${LAB_INDEX[$1]}"; }

lab_boot() {
	local name=$1 hv=${2:-stock} idx dir mac
	lab_hv_available "$hv" >/dev/null || { lab_log "no $hv hypervisor"; return 1; }
	idx=$(( $(echo "$LAB_HOSTS" | wc -w) + 1 ))
	LAB_INDEX[$name]=$idx
	LAB_HV[$name]=$hv
	dir=$LAB_RUN/$name
	rm -rf "$dir"; mkdir -p "$dir/share/cmd"
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
	local t0=$SECONDS
	while :; do
		[ -f "$dir/share/ready" ] && break
		if [ -f "$dir/share/failed" ]; then
			lab_log "$name: dom0 came up but xl info failed"; return 1
		fi
		if ! kill -0 "$(cat "$dir/qemu.launcher")" 2>/dev/null; then
			lab_log "$name: QEMU exited during boot: $(tail -n 3 "$dir/qemu.out" "$dir/serial.log" 2>/dev/null)"
			return 1
		fi
		if [ $((SECONDS - t0)) -ge "$LAB_BOOT_TIMEOUT" ]; then
			lab_log "$name: not ready after ${LAB_BOOT_TIMEOUT}s (serial log: $dir/serial.log)"
			return 1
		fi
		sleep 0.5
	done
	lab_log "$name: up ($hv hypervisor, $(lab_ip "$name")) in $((SECONDS - t0))s"
}

LAB_CMD_SEQ=0
lab_sh_bg() {
	local name=$1 script=$2 dir=$LAB_RUN/$1/share/cmd id
	LAB_CMD_SEQ=$((LAB_CMD_SEQ + 1))
	id=$$-$BASHPID-$LAB_CMD_SEQ-$RANDOM
	printf 'export PATH=/src/build/bin:/src/build/lab/bin:/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin\n%s\n' "$script" >"$dir/$id.tmp"
	mv "$dir/$id.tmp" "$dir/$id.cmd"
	echo "$id"
}

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

lab_alive() { kill -0 "$(cat "$LAB_RUN/$1/qemu.launcher" 2>/dev/null)" 2>/dev/null; }

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
	ip netns del "$LAB_NS" 2>/dev/null
	return 0
}
