#!/bin/sh
# Installs every Debian 12 package that building, testing, the nested lab and the demo need.
# Idempotent and quiet when everything is there. The lab's own packages (hypervisor, dom0
# kernel, Xen userspace for the nested hosts) are not installed on this machine: the lab
# downloads and unpacks them into its cache (tests/nested/lab/fetch.sh).
set -eu
# libxen-dev also holds libxlutil, which reads migrd.conf (xl.cfg's syntax). libcurl's
# GnuTLS flavour is the etcd client's (GnuTLS is the transport's TLS too); etcd-server is
# the etcd the unit tests start on loopback (its package's own service is not needed).
PKGS="
 build-essential pkg-config clang llvm
 libxen-dev libyajl-dev libgnutls28-dev gnutls-bin libmnl-dev libzstd-dev liblz4-dev
 libcurl4-gnutls-dev etcd-server etcd-client
 qemu-system-x86 busybox-static cpio kmod
 iproute2 nftables iputils-ping python3 procps psmisc util-linux
 flex bison bc
 debhelper lintian groff-base
 libxml2-utils
"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing; run 'make deps' as root" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
