#!/usr/bin/env bash
# test_deb.sh: the Debian package on this machine (root, dpkg, debhelper, lintian).
#
# Builds the .deb (scripts/make-deb.sh, into $BUILD/test-deb), runs lintian on it (no
# error allowed; warnings printed), checks its contents, then installs it, installs it
# again, upgrades it to a higher version (the same files repacked as VERSION+test1, with
# the configuration locally changed first), removes and purges it, checking after each
# step what is on disk. Refuses (skip) to run where migr is installed or where any path
# the package owns already exists: it would purge them. Leaves nothing behind.
set -u
cd "$(dirname "$0")/../.." || exit 1
: "${BUILD:=build}"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root to install and purge the package"
	exit 77
fi
for t in dpkg dpkg-deb dpkg-buildpackage dh lintian; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed (make deps)"; exit 77; }
done
status=$(dpkg-query -W -f='${db:Status-Status}' migr 2>/dev/null)
if [ -n "$status" ] && [ "$status" != not-installed ]; then
	echo "SKIP: package migr is $status on this machine; this test would purge it"
	exit 77
fi
owned="/usr/sbin/migr /usr/sbin/migrd /usr/libexec/migr /lib/systemd/system/migrd.service
       /etc/migr/migrd.conf /etc/systemd/system/multi-user.target.wants/migrd.service"
for p in $owned; do
	if [ -e "$p" ] || [ -L "$p" ]; then
		echo "SKIP: $p exists on this machine; this test would remove it"
		exit 77
	fi
done
# The purge removes /var/lib/migr and /var/log/migr. Empty directories there (a program
# run from a build tree makes them) are put back afterwards; anything else is data.
for d in /var/lib/migr /var/log/migr; do
	if [ -e "$d" ] && [ -n "$(find "$d" ! -type d | head -n 1)" ]; then
		echo "SKIP: $d holds files on this machine; this test's purge would remove them"
		exit 77
	fi
done
dirs_before=$(find /var/lib/migr /var/log/migr -type d -printf '%m %p\n' 2>/dev/null)
# /etc/migr may hold credentials of a migr run from a build tree: the package must not
# leave it behind, nor remove what it did not install.
etc_migr_before=$([ -d /etc/migr ] && echo yes || echo no)

out=$BUILD/test-deb
tmp=$(mktemp -d)
installed=0
cleanup() {
	if [ $installed = 1 ]; then
		dpkg -P migr >/dev/null 2>&1 || echo "cleanup: dpkg -P migr failed"
	fi
	rm -rf "$tmp" "$out"
	printf '%s\n' "$dirs_before" | while read -r mode d; do
		[ -n "$d" ] && install -d -m "$mode" "$d"
	done
}
trap cleanup EXIT

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
step() {
	[ -f "$tmp/dpkg" ] && sed 's/^/   | /' "$tmp/dpkg" && rm -f "$tmp/dpkg"
	echo "== $*"
}
pkgstate() {
	dpkg-query -W -f='${db:Status-Status} ${Version}' migr 2>/dev/null || echo "not-installed"
}

step "build"
deb=$(BUILD=$out scripts/make-deb.sh | tail -n 1)
if [ ! -f "$deb" ]; then
	echo "FAIL: make-deb.sh built no .deb (log: $out/deb/build.log)"
	exit 1
fi
version=$(dpkg-deb -f "$deb" Version)
echo "$deb (version $version)"
mkdir "$tmp/probe"
printf '%s\n' '#include <stdio.h>' '#include "migr/vif.h"' \
	'int main(void) { const char *p = migr_vif_helper_default(); puts(p ? p : "(none)"); }' \
	>"$tmp/probe/vif-helper.c"
${CC:-cc} -Ilibmigr/include -o "$tmp/probe/vif-helper" "$tmp/probe/vif-helper.c" \
	"$out"/deb/migr-*/build/lib/libmigr.a || fail "cannot link the vif helper probe"
[ "$("$tmp/probe/vif-helper")" = "(none)" ] ||
	fail "before the install the probe already finds $("$tmp/probe/vif-helper")"

step "lintian"
lintian --fail-on error --display-info --pedantic "$deb" >"$tmp/lintian" 2>&1
rc=$?
cat "$tmp/lintian"
grep -q '^E: ' "$tmp/lintian" && fail "lintian reports errors"
[ $rc = 0 ] || fail "lintian exits $rc"

step "contents"
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$tmp/contents"
for f in /usr/sbin/migr /usr/sbin/migrd /usr/libexec/migr/migr-vif-bridge \
	 /usr/libexec/migr/migr-destroy \
	 /lib/systemd/system/migrd.service /etc/migr/migrd.conf \
	 /usr/share/man/man1/migr.1.gz /usr/share/man/man8/migrd.8.gz \
	 /usr/share/man/man5/migrd.conf.5.gz /usr/share/man/man7/migr-notice.7.gz \
	 /usr/share/bash-completion/completions/migr /usr/share/bash-completion/completions/migrd \
	 /var/lib/migr/ /var/log/migr/; do
	grep -qx -- "$f" "$tmp/contents" || fail "the package lacks $f"
done
dpkg-deb -f "$deb" Depends | grep -q libxen || fail "Depends names no Xen library (shlibs)"

# check_installed VERSION: what an installed package must have put in place.
check_installed() {
	local s
	s=$(pkgstate)
	[ "$s" = "installed $1" ] || fail "dpkg says '$s', not 'installed $1'"
	[ "$(/usr/sbin/migr version)" = "migr ${1%%[+~-]*}" ] ||
		fail "/usr/sbin/migr version prints '$(/usr/sbin/migr version)'"
	/usr/sbin/migrd --help >/dev/null || fail "/usr/sbin/migrd --help fails"
	# The installed settings parse (no credentials here: --insecure leaves them unchecked).
	/usr/sbin/migrd --check-config --insecure >"$tmp/check" 2>&1 ||
		fail "migrd --check-config rejects the installed settings: $(cat "$tmp/check")"
	[ -x /usr/libexec/migr/migr-vif-bridge ] || fail "no /usr/libexec/migr/migr-vif-bridge"
	[ -x /usr/libexec/migr/migr-destroy ] || fail "no /usr/libexec/migr/migr-destroy"
	# A program with no helper beside it finds the installed one (migr/vif.h): the
	# package build's libmigr, linked into a probe in a directory of its own.
	[ "$("$tmp/probe/vif-helper")" = /usr/libexec/migr/migr-vif-bridge ] ||
		fail "migr_vif_helper_default() of the package's libmigr finds" \
		     "'$("$tmp/probe/vif-helper")', not /usr/libexec/migr/migr-vif-bridge"
	grep -qx 'ExecStart=/usr/sbin/migrd' /lib/systemd/system/migrd.service ||
		fail "the unit's ExecStart is not /usr/sbin/migrd"
	[ "$(stat -c %a /var/lib/migr/migrations 2>/dev/null)" = 700 ] ||
		fail "/var/lib/migr/migrations is not a directory of mode 0700"
	[ -d /var/log/migr ] || fail "no /var/log/migr"
	if command -v deb-systemd-helper >/dev/null; then
		[ -L /etc/systemd/system/multi-user.target.wants/migrd.service ] ||
			fail "migrd.service is not enabled (no multi-user.target.wants link)"
	fi
	if command -v systemd-analyze >/dev/null; then
		systemd-analyze verify --man=no /lib/systemd/system/migrd.service >"$tmp/verify" 2>&1 ||
			fail "systemd-analyze verify: $(cat "$tmp/verify")"
	fi
	if command -v man >/dev/null; then
		for p in migr migrd migrd.conf migr-notice; do
			man -w "$p" >/dev/null 2>&1 || fail "man -w $p finds no page"
		done
	fi
}

step "install $version"
installed=1
dpkg -i "$deb" >"$tmp/dpkg" 2>&1 || { cat "$tmp/dpkg"; fail "dpkg -i $deb"; }
check_installed "$version"
# State the purge must remove, and a local change the upgrade must keep.
echo "migr-record 1" >/var/lib/migr/migrations/0123456789abcdef0123456789abcdef
echo '{}' >/var/log/migr/events.jsonl
echo "parallel = 2" >>/etc/migr/migrd.conf

step "install $version again"
dpkg -i "$deb" >"$tmp/dpkg" 2>&1 || { cat "$tmp/dpkg"; fail "dpkg -i $deb (again)"; }
check_installed "$version"

step "upgrade to $version+test1"
dpkg-deb -R "$deb" "$tmp/pkg"
sed -i "s/^Version: .*/Version: $version+test1/" "$tmp/pkg/DEBIAN/control"
dpkg-deb -b "$tmp/pkg" "$tmp/migr-up.deb" >/dev/null
dpkg -i "$tmp/migr-up.deb" >"$tmp/dpkg" 2>&1 || { cat "$tmp/dpkg"; fail "dpkg -i (upgrade)"; }
check_installed "$version+test1"
grep -qx "parallel = 2" /etc/migr/migrd.conf || fail "the upgrade lost the local migrd.conf change"
/usr/sbin/migrd --check-config --insecure 2>&1 | grep -q '^parallel = 2 .*/etc/migr/migrd.conf:' ||
	fail "migrd --check-config does not show the local migrd.conf change"
[ -f /var/lib/migr/migrations/0123456789abcdef0123456789abcdef ] ||
	fail "the upgrade lost a migration record"

step "remove"
dpkg -r migr >"$tmp/dpkg" 2>&1 || { cat "$tmp/dpkg"; fail "dpkg -r migr"; }
s=$(pkgstate)
[ "${s%% *}" = config-files ] || fail "after dpkg -r dpkg says '$s', not config-files"
for p in /usr/sbin/migr /usr/sbin/migrd /usr/libexec/migr /lib/systemd/system/migrd.service; do
	[ -e "$p" ] && fail "$p is left after dpkg -r"
done
[ -f /etc/migr/migrd.conf ] || fail "dpkg -r removed the configuration"
[ -f /var/lib/migr/migrations/0123456789abcdef0123456789abcdef ] ||
	fail "dpkg -r removed the migration records"

step "purge"
dpkg -P migr >"$tmp/dpkg" 2>&1 || { cat "$tmp/dpkg"; fail "dpkg -P migr"; }
installed=0
s=$(pkgstate)
[ "${s%% *}" = not-installed ] || [ -z "${s%% *}" ] || fail "after purge dpkg says '$s'"
for p in $owned /var/lib/migr /var/log/migr /var/lib/systemd/deb-systemd-helper-enabled/migrd.service.dsh-also \
	 /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/migrd.service; do
	if [ -e "$p" ] || [ -L "$p" ]; then
		fail "$p is left after purge"
	fi
done
[ $etc_migr_before = no ] && [ -e /etc/migr ] && fail "/etc/migr is left after purge"
step "done"

if [ $fails -gt 0 ]; then
	echo "$fails problem(s)"
	exit 1
fi
echo "lintian: no error; install, reinstall, upgrade, remove and purge clean"
