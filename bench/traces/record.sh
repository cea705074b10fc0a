#!/bin/sh
# record.sh OUTDIR [NAME...]: records (all, or only the NAMEs) the dirty-page traces of ordinary programs on this machine with
# build/bench/libmigr-trace-rec.so (see README.md). Needs userfaultfd (root, or
# vm.unprivileged_userfaultfd=1) and Linux >= 6.7 for PAGEMAP_SCAN.
set -eu
out=${1:?usage: record.sh OUTDIR [NAME...]}
shift
only=" $* "
here=$(cd "$(dirname "$0")/../.." && pwd)
rec=$here/build/bench/libmigr-trace-rec.so
[ -f "$rec" ] || { echo "build it first: make $rec" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {   # NAME EPOCH_MS MAX_S CMD...
	name=$1 ep=$2 max=$3; shift 3
	case $only in "  " | *" $name "*) ;; *) return 0 ;; esac
	MIGR_TRACE_OUT=$out/$name.trc MIGR_TRACE_EPOCH_MS=$ep MIGR_TRACE_MAX_S=$max \
		LD_PRELOAD=$rec "$@"
}

# A small database under load: sqlite3 in memory, bulk inserts then random updates.
cat >"$work/db.sql" <<'SQL'
PRAGMA cache_size = -200000;
CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT, n INTEGER);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)
INSERT INTO kv SELECT x, hex(randomblob(48)), 0 FROM c;
CREATE INDEX kv_n ON kv(n);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60)
SELECT count(*) FROM c;
SQL
i=0; while [ $i -lt 40 ]; do
	echo "UPDATE kv SET n = n + 1, v = hex(randomblob(48)) WHERE k % 97 = $((i % 97));" >>"$work/db.sql"
	echo "UPDATE kv SET n = n + 1 WHERE k IN (SELECT abs(random()) % 400000 FROM kv LIMIT 20000);" >>"$work/db.sql"
	i=$((i + 1))
done
run sqlite-update 20 40 sqlite3 :memory: <"$work/db.sql" >/dev/null

# Compression with a 8 MiB dictionary (xz -6, one thread) of a mix of system files.
find /usr/lib /usr/share -type f -size +100k 2>/dev/null | head -400 | xargs cat 2>/dev/null |
	head -c 120000000 >"$work/blob"
run xz-compress 20 40 xz -6 -T1 -c "$work/blob" >/dev/null

# An interpreter churning a dict (python3): inserts, updates, deletes over a 300k-key set.
cat >"$work/churn.py" <<'PY'
import random
random.seed(1)
d = {}
for i in range(300000):
    d[i] = [i, str(i) * 3]
for step in range(40):
    for _ in range(60000):
        k = random.randrange(300000)
        d[k] = [k, step, str(k)]
    for k in random.sample(range(300000), 20000):
        d.pop(k, None)
        d[k] = (k, step)
print(len(d))
PY
# (the interpreter itself, not a wrapper script that would exec it untraced)
py=$(command -v python3.11 || command -v python3)
case $(head -c 2 "$py") in '#!') py=/usr/bin/python3 ;; esac
run python-dict 20 40 "$py" "$work/churn.py" >/dev/null

# GNU sort of 2 million lines in one thread with a 256 MiB buffer.
awk 'BEGIN { srand(2); for (i = 0; i < 2000000; i++) printf "%08x %d\n", int(rand() * 4294967295), i }' \
	>"$work/lines"
run sort-lines 20 40 sort --parallel=1 -S 256M -o "$work/sorted" "$work/lines"
