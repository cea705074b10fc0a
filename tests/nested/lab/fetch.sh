#!/usr/bin/env bash
# fetch.sh CACHE: downloads (apt-get download, never installs) and unpacks the Debian
# packages a nested lab host is made of, into CACHE/:
#   CACHE/stage/        Xen userspace + dom0/guest kernel + modules, unpacked (dpkg -x)
#   CACHE/hv/stock/     Debian's current hypervisor (what users have; no shadow paging)
#   CACHE/hv/shadow/    a Xen 4.17 hypervisor built with CONFIG_SHADOW_PAGING=y, if any
#                       version the archive serves has it (PV log-dirty needs it); else
#                       CACHE/hv/shadow.missing says why and PV tests skip.
# The userspace is pinned to the version of the libxen-dev this machine builds against, so
# the project's binaries run unchanged in the nested dom0. Idempotent: a complete cache is
# reused (CACHE/.fetched records what it was made from).
set -euo pipefail
cache=$1
mkdir -p "$cache/debs" "$cache/hv"
cache=$(cd "$cache" && pwd)
# Several lab runs may share the cache: one builder at a time.
exec 9>>"$cache/.lock"
flock 9

xenver=$(dpkg-query -W -f='${Version}' libxen-dev)
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-6/{print $2; exit}')
if [ -z "$kpkg" ]; then
	apt-get update -qq
	kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-6/{print $2; exit}')
fi
stamp="xen=$xenver kernel=$kpkg"
if [ -f "$cache/.fetched" ] && [ "$(cat "$cache/.fetched")" = "$stamp" ]; then
	exit 0
fi

userspace="xen-utils-4.17 xen-utils-common xenstore-utils libxenmisc4.17 libxencall1
 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1 libxengnttab1 libxenstore4
 libxentoolcore1 libxentoollog1 libxenhypfs1"
cd "$cache/debs"
rm -f ./*.deb
want=""
for p in $userspace; do want="$want $p=$xenver"; done
echo "lab: downloading Xen $xenver userspace, $kpkg"
apt-get download -q=2 $want libyajl2 "$kpkg" >/dev/null

rm -rf "$cache/stage" && mkdir -p "$cache/stage"
for d in ./*.deb; do dpkg -x "$d" "$cache/stage"; done

# Hypervisors: the current one, and the first served 4.17 version with shadow paging.
pick_hv() {   # VERSION DEST -> 0 if DEST/xen (uncompressed ELF) and DEST/config made
	local v=$1 dest=$2 tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -q=2 "xen-hypervisor-4.17-amd64=$v" >/dev/null 2>&1) || { rm -rf "$tmp"; return 1; }
	dpkg -x "$tmp"/*.deb "$tmp/x"
	mkdir -p "$dest"
	zcat "$tmp"/x/boot/xen-4.17-amd64.gz >"$dest/xen"
	cp "$tmp"/x/boot/xen-4.17-amd64.config "$dest/config"
	echo "$v" >"$dest/version"
	rm -rf "$tmp"
}
rm -rf "$cache/hv/stock" "$cache/hv/shadow" "$cache/hv/shadow.missing"
stockver=$(apt-cache policy xen-hypervisor-4.17-amd64 | awk '/Candidate:/{print $2}')
pick_hv "$stockver" "$cache/hv/stock"
if grep -q '^CONFIG_SHADOW_PAGING=y' "$cache/hv/stock/config"; then
	cp -r "$cache/hv/stock" "$cache/hv/shadow"
else
	found=""
	for v in $(apt-cache madison xen-hypervisor-4.17-amd64 | awk '{print $3}'); do
		[ "$v" = "$stockver" ] && continue
		pick_hv "$v" "$cache/hv/shadow.try" || continue
		if grep -q '^CONFIG_SHADOW_PAGING=y' "$cache/hv/shadow.try/config"; then
			mv "$cache/hv/shadow.try" "$cache/hv/shadow"; found=$v; break
		fi
		rm -rf "$cache/hv/shadow.try"
	done
	if [ -z "$found" ]; then
		echo "no xen-hypervisor-4.17-amd64 version served by the archive has CONFIG_SHADOW_PAGING=y (current: $stockver)" >"$cache/hv/shadow.missing"
	fi
fi
echo "$stamp" >"$cache/.fetched"
echo "lab: stock hypervisor $(cat "$cache/hv/stock/version"); shadow: $(cat "$cache/hv/shadow/version" 2>/dev/null || cat "$cache/hv/shadow.missing")"
