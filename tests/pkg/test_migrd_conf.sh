#!/usr/bin/env bash
# test_migrd_conf.sh: the built migrd's settings from the outside: `migrd --check-config`
# (its exit statuses, its listing, every error with file and line, the command line
# replacing the file's values, FILE, --check-config=FILE and $MIGRD_CONF), migrd refusing
# to start on bad settings before it touches anything, and the shipped
# tools/migrd/migrd.conf and man/migrd.conf.5 against the settings migrd knows: every key
# of the listing is in both, and each of the shipped file's commented examples parses.
# tests/unit/test_migrd_conf.c tests the parser itself.
set -u
cd "$(dirname "$0")/../.." || exit 1
: "${BUILD:=build}"
migrd=$BUILD/bin/migrd
[ -x "$migrd" ] || { echo "FAIL: $migrd is not built (make all)"; exit 1; }

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
secret=00112233445566778899aabbccddeeff
(umask 077 && echo "h:$secret" >"$tmp/psk.key")

# run EXPECTED-STATUS ARGS...: runs migrd, output in $tmp/out and $tmp/err.
run() {
	local want=$1 rc
	shift
	"$migrd" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" = "$want" ] || fail "migrd $* exits $rc, not $want: $(head -c 2000 "$tmp/err")"
}

cat >"$tmp/good.conf" <<EOF
# a good file
psk = "$tmp/psk.key"
psk_identity = "h"
max_incoming = 8
allow_bridge = [ "xenbr0", "br1" ]
targets = [ "hostb:8002" ]
notice = 120
EOF
run 0 --check-config "$tmp/good.conf"
grep -q "^max_incoming = 8 .*# $tmp/good.conf:4\$" "$tmp/out" ||
	fail "the listing lacks max_incoming from line 4: $(cat "$tmp/out")"
grep -q "^notice = 120 " "$tmp/out" || fail "the listing lacks notice = 120"
grep -q "^psk = \"$tmp/psk.key\"" "$tmp/out" || fail "the listing lacks the psk file's name"
grep -q "$secret" "$tmp/out" "$tmp/err" && fail "--check-config printed the pre-shared key"
[ -s "$tmp/err" ] && fail "a good file gives messages: $(cat "$tmp/err")"

# The command line replaces the file's values; the other forms of naming the file.
run 0 --check-config "$tmp/good.conf" --max-incoming 2 --allow-bridge br9
grep -q '^max_incoming = 2 .*# --max-incoming$' "$tmp/out" || fail "--max-incoming 2 does not win"
grep -q '^allow_bridge = \[ "br9" \]' "$tmp/out" || fail "--allow-bridge does not replace the list"
# The reports' and metrics' places: keys and options; metrics_file = "" keeps none.
printf 'metrics_file = ""\nreport_dir = "%s/reports"\n' "$tmp" >"$tmp/report.conf"
run 0 --check-config "$tmp/report.conf" --insecure
grep -q "^metrics_file = \"\" .*# $tmp/report.conf:1 (none)\$" "$tmp/out" ||
	fail "the listing lacks metrics_file = \"\" from line 1: $(cat "$tmp/out")"
grep -q "^report_dir = \"$tmp/reports\" .*# $tmp/report.conf:2\$" "$tmp/out" ||
	fail "the listing lacks report_dir from line 2"
run 0 --check-config "$tmp/report.conf" --insecure --metrics-file "$tmp/m.prom" --report-dir /srv/r
grep -q "^metrics_file = \"$tmp/m.prom\" .*# --metrics-file\$" "$tmp/out" ||
	fail "--metrics-file does not win: $(cat "$tmp/out")"
grep -q '^report_dir = "/srv/r" .*# --report-dir$' "$tmp/out" || fail "--report-dir does not win"
run 0 --check-config="$tmp/good.conf"
MIGRD_CONF=$tmp/good.conf run 0 --check-config
grep -q "^notice = 120 " "$tmp/out" || fail "\$MIGRD_CONF is not read"
MIGRD_CONF=$tmp/missing.conf run 1 --check-config --insecure
grep -q "missing.conf: No such file" "$tmp/err" || fail "a missing \$MIGRD_CONF is not an error"

# Every error, each with the file and line, and status 1; the credentials' modes.
printf 'notice = 100000\nbogus = 1\nmax_incoming = "x"\n' >"$tmp/bad.conf"
run 1 --check-config "$tmp/bad.conf" --insecure
for want in "bad.conf:1: notice: 100000 is out of range" "bad.conf:2: unknown key 'bogus'" \
	    "bad.conf:3: max_incoming: expected a number" "3 error(s)"; do
	grep -qF "$want" "$tmp/err" || fail "no \"$want\" in: $(cat "$tmp/err")"
done
[ -s "$tmp/out" ] && fail "a bad file's settings are listed"
printf 'targets = hostb:8002\n' >"$tmp/old.conf"
run 1 --check-config "$tmp/old.conf" --insecure
grep -q "old.conf:1: config parsing error" "$tmp/err" || fail "a syntax error names no line"
chmod 0644 "$tmp/psk.key"
run 1 --check-config "$tmp/good.conf"
grep -q "good.conf:2: psk: credentials: .*mode 0644" "$tmp/err" ||
	fail "a pre-shared key file others may read passes: $(cat "$tmp/err")"
chmod 0600 "$tmp/psk.key"
run 1 --check-config "$tmp/good.conf" --max-incoming 0
grep -q -- "--max-incoming: 0 is out of range" "$tmp/err" || fail "a bad option value passes"
run 2 --check-config "$tmp/good.conf" --no-such-option

# migrd itself refuses to start on the same errors, before anything else.
MIGRD_CONF=$tmp/bad.conf run 1 --insecure
grep -q "not starting: 3 error(s)" "$tmp/err" || fail "migrd starts on a bad file: $(cat "$tmp/err")"
MIGRD_CONF=$tmp/good.conf run 2 --timeout 5s

# etcd: the endpoints' syntax, a certificate with its key, a key readable by its owner only.
printf 'etcd = "http://e1:2379,e2"\n' >"$tmp/etcd.conf"
run 1 --check-config "$tmp/etcd.conf" --insecure
grep -qF "etcd.conf:1: etcd: etcd endpoint \"e2\"" "$tmp/err" || fail "a bad etcd endpoint: $(cat "$tmp/err")"
: >"$tmp/etcd.pem"
(umask 022 && : >"$tmp/etcd.key")
printf 'etcd = "e1:2379"\netcd_cert = "%s/etcd.pem"\n' "$tmp" >"$tmp/etcd.conf"
run 1 --check-config "$tmp/etcd.conf" --insecure
grep -qF "etcd_cert and etcd_key go together" "$tmp/err" || fail "a certificate without its key: $(cat "$tmp/err")"
printf 'etcd_key = "%s/etcd.key"\n' "$tmp" >>"$tmp/etcd.conf"
run 1 --check-config "$tmp/etcd.conf" --insecure
grep -qF "mode 644" "$tmp/err" || fail "a key file readable by others: $(cat "$tmp/err")"
chmod 600 "$tmp/etcd.key"
run 0 --check-config "$tmp/etcd.conf" --insecure --etcd https://e3:2379
grep -q '^etcd = "https://e3:2379" .*# --etcd$' "$tmp/out" || fail "--etcd does not win: $(cat "$tmp/out")"
# failure_domain: a name of the key layout, at most 63 characters.
printf 'etcd = "e1:2379"\nfailure_domain = "rack 7"\n' >"$tmp/fd.conf"
run 1 --check-config "$tmp/fd.conf" --insecure
grep -qF "is not a failure domain's name" "$tmp/err" || fail "a bad failure domain: $(cat "$tmp/err")"
printf 'etcd = "e1:2379"\nfailure_domain = "rack7"\n' >"$tmp/fd.conf"
run 0 --check-config "$tmp/fd.conf" --insecure
grep -q '^failure_domain = "rack7" ' "$tmp/out" || fail "failure_domain not listed: $(cat "$tmp/out")"

# The keys migrd knows, against the man page and the shipped file.
run 0 --check-config /dev/null --insecure
keys=$(sed -n 's/^#\{0,1\}\([a-z_][a-z_]*\)\( = \| \).*#.*/\1/p' "$tmp/out" | sort -u)
[ "$(echo "$keys" | wc -l)" -ge 30 ] || fail "the listing has too few keys: $keys"
man_keys=$(awk 'tag { print $2; tag = 0 } /^\.TP/ { tag = 1 }' man/migrd.conf.5 |
	   grep -E '^[a-z_]+$' | sort -u)
conf_keys=$(sed -n 's/^#\([a-z_][a-z_]*\) = .*/\1/p' tools/migrd/migrd.conf | sort -u)
for k in $(comm -23 <(echo "$keys") <(echo "$man_keys")); do
	fail "man/migrd.conf.5 does not document the key $k"
done
for k in $(comm -13 <(echo "$keys") <(echo "$man_keys")); do
	fail "man/migrd.conf.5 documents $k, which migrd does not know"
done
for k in $(comm -23 <(echo "$keys") <(echo "$conf_keys")); do
	fail "tools/migrd/migrd.conf has no commented line for the key $k"
done
run 0 --check-config tools/migrd/migrd.conf --insecure
# Each commented example, alone, parses (the credentials are left unchecked).
grep -E '^#[a-z_]+ = ' tools/migrd/migrd.conf | sed 's/^#//' | while read -r line; do
	printf '%s\n' "$line" >"$tmp/one.conf"
	"$migrd" --check-config "$tmp/one.conf" --insecure >/dev/null 2>"$tmp/err" ||
		echo "FAIL: tools/migrd/migrd.conf's example '$line' does not parse: $(cat "$tmp/err")"
done >"$tmp/examples"
[ -s "$tmp/examples" ] && { cat "$tmp/examples"; fails=$((fails + $(grep -c "^FAIL" "$tmp/examples"))); }

if [ $fails -gt 0 ]; then
	echo "$fails problem(s)"
	exit 1
fi
echo "migrd --check-config: statuses, listing, errors with lines, precedence; the shipped" \
     "file and migrd.conf(5) name every key"
