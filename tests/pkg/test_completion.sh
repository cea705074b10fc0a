#!/usr/bin/env bash
# test_completion.sh: the bash completion (tools/migr/migr.bash-completion) against the
# built programs: every command of `migr help`, every long option of each command's
# --help, option arguments (taken or not, and their candidates), positional arguments
# counted past options and their arguments.
set -u
cd "$(dirname "$0")/../.." || exit 1
: "${BUILD:=build}"
for b in migr migrd; do
	[ -x "$BUILD/bin/$b" ] || { echo "FAIL: $BUILD/bin/$b is not built (make all)"; exit 1; }
done
case $BUILD in /*) BIN=$BUILD/bin ;; *) BIN=$PWD/$BUILD/bin ;; esac
PATH=$BIN:$PATH
. tools/migr/migr.bash-completion

fails=0
# expect "WANTED WORDS" WORD...: completing the command line WORD... (the last one is the
# word under the cursor) offers exactly WANTED WORDS (sorted, space-separated).
expect() {
	local want=$1 got
	shift
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	_migr
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ')
	got=${got% }
	if [ "$got" != "$want" ]; then
		echo "FAIL: [$*] offers \"$got\", not \"$want\""
		fails=$((fails + 1))
	fi
}
opts() {   # the long options of `migr ... --help`, sorted
	"$@" --help | grep -oE -- '(^|[^A-Za-z0-9-])--[a-z][a-z0-9-]*' | grep -oE -- '--.*' |
		sort -u | tr '\n' ' ' | sed 's/ $//'
}

cmds=$(migr help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
expect "$(printf '%s\n' $cmds --help --version | sort | tr '\n' ' ' | sed 's/ $//')" migr ""
expect "migrate" migr mig
for c in $cmds; do
	[ "$c" = version ] && continue
	expect "$(opts migr "$c")" migr "$c" --
done
expect "$(opts migrd)" migrd --
expect "--max-incoming --max-per-address" migrd --max
expect "--max-incoming" "$BIN"/migrd --max-inc

expect "abort stop" migr migrate --on-timeout ""
expect "auto" migr evacuate --parallel ""
expect "source stop target" migr forward ""
expect "--no-announce --no-arp" migr forward source --no
# An option without an argument is not taken for one; one with an argument consumes it.
expect "" migr migrate --json --downtime ""
expect "--downtime" migr migrate --json --downti
# -s takes a command (what --ssh-style takes); after it and two positionals, nothing.
COMP_WORDS=(migr migrate -s ech); COMP_CWORD=3; _migr
printf '%s\n' "${COMPREPLY[@]}" | grep -qx echo ||
	{ echo "FAIL: [migr migrate -s ech] does not offer echo"; fails=$((fails + 1)); }
expect "" migr migrate -s ssh --downtime 300 dom host ""
expect "" migr resolve -s ssh id dom host ""
# FILE and DIR arguments complete paths.
expect "tools/migr/migr.bash-completion" migr migrate --psk tools/migr/migr.bash
expect "tools/migrd" migr receive --record-dir tools/migrd
expect "tools/migrd" migrd --record-dir tools/migrd
expect "tools/migrd" migr report --report-dir tools/migrd
expect "tools/migr/migr.bash-completion" migr report -o tools/migr/migr.bash
expect "" migr report --evacuation ""
expect "--evacuation --event-log" migr report --ev

if [ $fails -gt 0 ]; then
	echo "$fails completion(s) wrong"
	exit 1
fi
echo "completion offers every command and option, and the arguments --help describes"
