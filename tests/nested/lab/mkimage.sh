#!/usr/bin/env bash
# mkimage.sh CACHE: builds the nested lab's boot images from the unpacked packages in
# CACHE/stage (see fetch.sh):
#   CACHE/img/vmlinuz          the Debian kernel (dom0 and guests)
#   CACHE/img/guest-vmlinux.gz the same kernel as a gzip'd ELF, in each dom0 at
#                              /boot/guest-vmlinux.gz: what the lab's guests boot
#   CACHE/img/dom0.cpio.gz     dom0 initramfs: busybox, Xen userspace and its libraries, the
#                              libraries the project's binaries need, dpkg, kernel modules, init
#   CACHE/img/guest.cpio.gz    guest initramfs: busybox, memwork, fwdtraf, netfront, blkfront, init
# The project's own programs are not copied in: each dom0 installs migr's Debian package
# (BUILD/migr_*.deb, built by lab_prepare) with dpkg at boot, and mounts the source tree
# read-only over 9p at /src for the lab's own tools (BUILD/lab/bin). Rebuilt only when
# an input changed (a hash of the inputs is kept in CACHE/img/.inputs).
set -euo pipefail
cache=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
stage=$cache/stage
img=$cache/img
kver=$(ls "$stage/lib/modules" | head -n 1)
mkdir -p "$img"
# Several lab runs may share the cache: one builder at a time.
exec 9>>"$cache/.lock"
flock 9

xenbin=$stage/usr/lib/xen-4.17/bin
libpath=$stage/usr/lib/x86_64-linux-gnu:$stage/usr/lib/xen-4.17/lib/x86_64-linux-gnu:$stage/lib/x86_64-linux-gnu
xen_progs="xl xenstored xenconsoled xenconsole xen-init-dom0 libxl-save-helper verify-stream-v2"
xs_progs="xenstore xenstore-read xenstore-write xenstore-ls xenstore-list xenstore-rm xenstore-exists xenstore-watch xenstore-chmod xenstore-control"
host_progs="/bin/bash /usr/bin/flock /usr/bin/setsid /usr/bin/timeout /usr/bin/stdbuf"
# dpkg (with GNU tar, which dpkg-deb runs, and coreutils' install, which the package's postinst
# runs: both Essential on Debian) installs migr's package into each dom0 at boot
# (dom0-init), as on a real host.
dpkg_progs="/usr/bin/dpkg /usr/bin/dpkg-deb /usr/bin/dpkg-query /usr/bin/dpkg-split /sbin/ldconfig /usr/bin/tar /usr/bin/install"
proj_bins=$(ls "$top"/build/bin/* "$top"/build/lab/bin/* 2>/dev/null | grep -v '\.static$' || true)
dom0_mods="xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-netback xen-blkback bridge
 tun virtio_pci virtio_net virtio_console 9pnet_virtio 9p vxlan geneve ip_gre gre ip6_gre
 sch_ingress sch_plug sch_htb sch_tbf sch_netem cls_u32 cls_flower cls_bpf act_mirred act_gact
 act_tunnel_key nf_tables nft_fwd_netdev nft_chain_nat dummy veth macvlan loop"
guest_mods="xen-netfront xen-blkfront"

# Libraries of a set of ELF files, resolved against the staged Xen libraries first.
libs_of() {
	LD_LIBRARY_PATH=$libpath ldd "$@" 2>/dev/null |
		awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | sort -u
}
# Module files for a list of names, with their dependencies (modinfo -F depends).
declare -A KO
while read -r f; do
	m=${f##*/}; m=${m%.ko}; KO[${m//-/_}]=$f
done < <(find "$stage/lib/modules/$kver" -name '*.ko')
mods_of() {
	local todo="$*" seen=" " m f deps
	while [ -n "${todo// /}" ]; do
		set -- $todo; m=${1//-/_}; shift; todo="$*"
		case "$seen" in *" $m "*) continue ;; esac
		seen="$seen$m "
		f=${KO[$m]:-}
		[ -n "$f" ] || { echo "mkimage: no module $m" >&2; continue; }
		echo "$f"
		deps=$(modinfo -F depends "$f" | tr "," " ")
		todo="$todo $deps"
	done
}

inputs=$( { cat "$0" "$here"/dom0-init "$here"/agent.sh "$here"/guest-init; echo "$kver";
	libs_of $proj_bins 2>/dev/null || true; sha1sum "$top"/build/lab/bin/memwork 2>/dev/null || true
	sha1sum "$top"/build/lab/bin/fwdtraf 2>/dev/null || true
	sha1sum "$top"/build/examples/migr-notice 2>/dev/null || true; } |
	sha1sum | cut -d' ' -f1)
if [ -f "$img/.inputs" ] && [ "$(cat "$img/.inputs")" = "$inputs" ] && [ -f "$img/guest.cpio.gz" ]; then
	exit 0
fi

# Lays out a busybox root with its applets in ROOT.
busybox_root() {
	local root=$1 a
	mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,var/log,var/run,var/lib,root,usr/bin,usr/sbin,lib64}
	cp /bin/busybox "$root/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
	done
}
copy_file() {   # SRC ROOT [DEST]: copies SRC into ROOT at DEST (default: same path)
	local dst=$2${3:-$1}
	mkdir -p "$(dirname "$dst")"
	cp -L "$1" "$dst"
}
copy_mods() {   # ROOT NAMES...
	local root=$1 f rel; shift
	for f in $(mods_of "$@"); do
		rel=${f#"$stage"}
		copy_file "$f" "$root" "$rel"
	done
	cp "$stage/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/" 2>/dev/null || true
	/bin/busybox depmod -b "$root" "$kver"
}

cp "$stage/boot/vmlinuz-$kver" "$img/vmlinuz"
# The guests' kernel: the bzImage's own ELF, gzip'd, kept in dom0's initramfs. libxenguest
# then inflates a gzip'd ELF read from dom0's memory, where the bzImage costs it an xz
# decompression and a read over 9p: xl create of a lab guest took 8.3-11.0 s with the
# bzImage from /src, 3.4-6.7 s this way (a dom0 on an emulated CPU). A kernel whose payload
# is not xz is kept as the bzImage.
python3 - "$img/vmlinuz" "$img/guest-vmlinux.gz.tmp" <<'EOP'
import gzip, lzma, shutil, sys
data = open(sys.argv[1], "rb").read()
at = data.find(b"\xfd7zXZ\x00")
elf = lzma.LZMADecompressor().decompress(data[at:]) if at >= 0 else b""
if elf[:4] == b"\x7fELF":
    with gzip.open(sys.argv[2], "wb", compresslevel=1) as out:
        out.write(elf)
else:
    print("mkimage: the kernel's payload is not xz: the guests boot the bzImage", file=sys.stderr)
    shutil.copyfile(sys.argv[1], sys.argv[2])
EOP
mv "$img/guest-vmlinux.gz.tmp" "$img/guest-vmlinux.gz"

# ---- dom0 ----
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/dom0
busybox_root "$root"
mkdir -p "$root/usr/lib/xen-4.17/bin" "$root/var/lib/xen" "$root/var/log/xen/console" \
	"$root/var/run/xen" "$root/var/run/xenstored" "$root/src" "$root/host" "$root/etc/xen"
elfs=""
for p in $xen_progs; do copy_file "$xenbin/$p" "$root" "/usr/lib/xen-4.17/bin/$p"; elfs="$elfs $xenbin/$p"; done
for p in $xs_progs; do copy_file "$stage/usr/bin/$p" "$root" "/usr/bin/$p"; elfs="$elfs $stage/usr/bin/$p"; done
for p in $host_progs $dpkg_progs; do copy_file "$p" "$root"; elfs="$elfs $p"; done
# verify-stream-v2 is python: only useful if python3 is there; drop it (run it outside).
rm -f "$root/usr/lib/xen-4.17/bin/verify-stream-v2"
for l in $(libs_of $elfs $proj_bins) /lib/x86_64-linux-gnu/libgcc_s.so.1; do
	case $l in "$stage"/*) copy_file "$l" "$root" "${l#"$stage"}" ;; *) copy_file "$l" "$root" ;; esac
done
cp -r "$stage/etc/xen/." "$root/etc/xen/"
mkdir -p "$root/usr/lib/xen-4.17/lib"
copy_mods "$root" $dom0_mods
mkdir -p "$root/boot"
cp "$img/guest-vmlinux.gz" "$root/boot/guest-vmlinux.gz"
cp "$here/dom0-init" "$root/init"
cp "$here/agent.sh" "$root/bin/lab-agent"
chmod +x "$root/init" "$root/bin/lab-agent"
# An empty package database: migr's package is the only one dpkg knows of (what it
# depends on, Xen's libraries, is in the image without a record, hence --force-depends).
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers" \
	"$root/etc/dpkg/dpkg.cfg.d"
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$img/dom0.cpio.gz.tmp"
mv "$img/dom0.cpio.gz.tmp" "$img/dom0.cpio.gz"

# ---- guest ----
root=$work/guest
busybox_root "$root"
if [ -x "$top/build/lab/bin/memwork" ]; then
	cp "$top/build/lab/bin/memwork" "$root/bin/memwork"
fi
# Echo services for the switch-over tests (tests/net/fwdtraf.c), started by lab.echo=1.
if [ -x "$top/build/lab/bin/fwdtraf" ]; then
	cp "$top/build/lab/bin/fwdtraf" "$root/bin/fwdtraf"
fi
# The guest-side maintenance notice watcher (examples/guest-notice/), started by lab.notice=.
if [ -x "$top/build/examples/migr-notice" ]; then
	cp "$top/build/examples/migr-notice" "$root/bin/migr-notice"
fi
copy_mods "$root" $guest_mods
cp "$here/guest-init" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$img/guest.cpio.gz.tmp"
mv "$img/guest.cpio.gz.tmp" "$img/guest.cpio.gz"
echo "$inputs" >"$img/.inputs"
echo "lab: images built: dom0 $(du -h "$img/dom0.cpio.gz" | cut -f1), guest $(du -h "$img/guest.cpio.gz" | cut -f1)"
