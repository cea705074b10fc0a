#!/bin/sh
# make-deb.sh: `make deb`. Builds the Debian package (debian/, debhelper) with
# dpkg-buildpackage -b in a copy of the tree under $BUILD/deb/ (dpkg-buildpackage writes
# its output beside the source tree, and its clean step empties the tree's build/), then
# moves the .deb to $BUILD/ and prints its path as the last line.
# Environment: BUILD (default build), V=1 for the whole build log on the terminal.
set -eu
cd "$(dirname "$0")/.."
build=${BUILD:-build}
mkdir -p "$build"
build=$(cd "$build" && pwd)

for t in dpkg-buildpackage dpkg-parsechangelog dh; do
	command -v $t >/dev/null || { echo "deb: $t is missing; run 'make deps'" >&2; exit 1; }
done
version=$(dpkg-parsechangelog -S Version)
upstream=$(sed -n 's/^#define MIGR_VERSION_STRING "\(.*\)"/\1/p' libmigr/include/libmigr.h)
case $version in
"$upstream"|"$upstream"[+~-]*) ;;
*) echo "deb: debian/changelog says $version but libmigr.h says $upstream" >&2; exit 1 ;;
esac
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
src=$build/deb/migr-$version
rm -rf "$build/deb"
mkdir -p "$src"

# The tracked and new files (not what .gitignore excludes, so not build/), or, outside
# a git checkout, everything but build/.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./build -cf - . | tar -xf - -C "$src"
fi

log=$build/deb/build.log
# Nothing of the calling make's leaks into the package build.
unset BUILD MAKEFLAGS MFLAGS MAKELEVEL CFLAGS CPPFLAGS LDFLAGS
[ "${V:-0}" = 1 ] || echo "  DEB    migr $version ($arch), log $log"
if [ "${V:-0}" = 1 ]; then
	(cd "$src" && dpkg-buildpackage -b -us -uc -jauto)
elif ! (cd "$src" && dpkg-buildpackage -b -us -uc -jauto) >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	echo "deb: dpkg-buildpackage failed; the whole log is $log" >&2
	exit 1
fi
deb=migr_${version}_$arch.deb
mv "$build/deb/$deb" "$build/$deb"
echo "$build/$deb"
