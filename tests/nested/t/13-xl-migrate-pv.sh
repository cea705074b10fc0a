#!/usr/bin/env bash
# lab: shadow
# Stock `xl migrate` of a PV guest from a to b on a hypervisor with shadow paging (PV
# log-dirty needs it) while the workload dirties memory: runs on b only, memory verifies.
set -u
. "$(dirname "$0")/../lib.sh"
lab_attach
. "$(dirname "$0")/xl-migrate.inc"
xl_migrate_roundtrip pv
