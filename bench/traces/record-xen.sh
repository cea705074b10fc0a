#!/usr/bin/env bash
# record-xen.sh OUT.trc [MEMWORK_ARGS [SECONDS]]: records a guest's dirty trace as migration
# sees it. Boots one host of the nested lab (tests/nested/README.md), starts a 128 MiB PVH
# guest running memwork (default "-w,32,-r,3000": a 32 MiB working set rewritten at up to
# 3000 pages/s), and runs build/bench/xen-trace-rec in dom0 (log-dirty CLEAN with a bitmap
# every 20 ms) for SECONDS (default 20).
set -u
cd "$(dirname "$0")/../.."
. tests/nested/lib.sh
out=${1:?usage: record-xen.sh OUT.trc [MEMWORK_ARGS [SECONDS]]}
mw=${2:-"-w,32,-r,3000"}
secs=${3:-20}
case $out in /*) ;; *) out=$PWD/$out ;; esac
[ -x "$BUILD/bench/xen-trace-rec" ] || { echo "build it first: make $BUILD/bench/xen-trace-rec" >&2; exit 1; }
trap 'lab_down' EXIT INT TERM
lab_prepare || exit 1
lab_net_up || exit 1
lab_boot a:stock || exit 1
guest_create a g1 pvh "$mw" 128 || { echo "xl create failed" >&2; exit 1; }
mw_ready a g1 || { echo "memwork did not start" >&2; exit 1; }
lab_sh a "/src/$BUILD/bench/xen-trace-rec \$(xl domid g1) /host/xen.trc 20 $secs \
'128 MiB PVH guest running memwork $mw in the nested lab (Xen 4.17 under QEMU TCG)'" || exit 1
mw_verify a g1 >&2 || echo "record-xen: memwork verification failed after recording" >&2
lab_sh a 'xl destroy g1'
cp "$LAB_RUN/a/share/xen.trc" "$out"
