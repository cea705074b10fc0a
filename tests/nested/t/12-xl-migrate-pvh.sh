#!/usr/bin/env bash
# lab: stock
# Stock `xl migrate` of a PVH guest from a to b on Debian's current hypervisor while the
# workload dirties 1000 pages/s over 16 MiB: the guest runs on b only, its memory verifies,
# and the pause it saw is reported.
set -u
. "$(dirname "$0")/../lib.sh"
lab_attach
. "$(dirname "$0")/xl-migrate.inc"
xl_migrate_roundtrip pvh
