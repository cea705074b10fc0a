#!/usr/bin/env bash
# test_manpages.sh: every --option a program's --help names is in its man page, and every
# option a man page documents (its .TP tags) is one the program's --help names.
#
#   migr --help                  man/migr.1, the whole page (that direction only)
#   migr CMD --help              man/migr.1, section "migr CMD" (each command `migr help` lists)
#   migrd --help                 man/migrd.8, section OPTIONS
#   migr-vif-bridge --help       man/migrd.8, section THE VIF HOTPLUG HELPER
#   migr-destroy --help          man/migrd.8, section THE DESTROY HELPER
#   migr-notice --help           man/migr-notice.7, section THE WATCHER
#
# Each miss is one line naming the option, the page and section, and the command whose
# --help names it. With groff installed the pages are also checked for roff warnings.
set -u
cd "$(dirname "$0")/../.." || exit 1
: "${BUILD:=build}"

fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# roff source -> the text a reader sees, near enough to find option names in it.
plain() {
	sed -e '/^\.\\"/d' -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' \
	    -e 's/\\&//g' -e 's/\\c$//' "$1"
}

# section PAGE TITLE: the lines of section TITLE (.SH or .SS), to the next section of the
# same or a higher level; the whole page when TITLE is empty.
section() {
	plain "$1" | awk -v t="$2" '
		t == "" { print; found = 1; next }
		/^\.S[HS] / {
			title = $0; sub(/^\.S[HS] +/, "", title); gsub(/"/, "", title)
			if (on && (substr($0, 2, 2) == "SH" || level == "SS")) on = 0
			if (title == t) { on = 1; level = substr($0, 2, 2); found = 1; next }
		}
		on { print }
		END { if (!found) exit 3 }'
}

# Long options named in text on stdin ("NAME--incoming" is not an option).
long_opts() {
	grep -oE -- '(^|[^A-Za-z0-9-])--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z0-9-]+' | sort -u
}

# Options in the tags of .TP paragraphs (what a page documents as options).
tag_opts() {
	awk 'tag { print; tag = 0 } /^\.TP/ { tag = 1 }' | long_opts
}

# check PAGE SECTION CMD...: compares `CMD... --help` with the section.
check() {
	local page=$1 sect=$2 cmd help text where o
	shift 2
	cmd="${*##*/}"
	where="$page${sect:+ (section \"$sect\")}"
	if ! help=$("$@" --help 2>&1); then
		fail "\`$cmd --help\` exits non-zero"
		return
	fi
	if ! text=$(section "$page" "$sect"); then
		fail "$page has no section \"$sect\" for \`$cmd --help\`"
		return
	fi
	help=$(printf '%s\n' "$help" | long_opts)
	for o in $(comm -23 <(printf '%s\n' "$help") <(printf '%s\n' "$text" | long_opts)); do
		fail "$where does not document $o, which \`$cmd --help\` names"
	done
	# A whole page documents its commands' options too: only a section is held to one --help.
	[ -n "$sect" ] || return
	for o in $(comm -13 <(printf '%s\n' "$help") <(printf '%s\n' "$text" | tag_opts)); do
		[ "$o" = --help ] ||
			fail "$where documents $o, which \`$cmd --help\` does not name"
	done
}

bin=$BUILD/bin
for b in "$bin/migr" "$bin/migrd" "$bin/migr-vif-bridge" "$bin/migr-destroy"; do
	[ -x "$b" ] || { echo "FAIL: $b is not built (make all)"; exit 1; }
done

check man/migr.1 "" "$bin/migr"
cmds=$("$bin/migr" help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[ -n "$cmds" ] || fail "\`migr help\` lists no commands"
for c in $cmds; do
	check man/migr.1 "migr $c" "$bin/migr" "$c"
done
check man/migrd.8 OPTIONS "$bin/migrd"
check man/migrd.8 "THE VIF HOTPLUG HELPER" "$bin/migr-vif-bridge"
check man/migrd.8 "THE DESTROY HELPER" "$bin/migr-destroy"
if [ -x "$BUILD/examples/migr-notice" ]; then
	check man/migr-notice.7 "THE WATCHER" "$BUILD/examples/migr-notice"
else
	fail "$BUILD/examples/migr-notice is not built (make all)"
fi

if command -v groff >/dev/null; then
	for p in man/*.[1-8]; do
		w=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$p" 2>&1)
		[ -z "$w" ] || fail "$p: groff warns: $w"
	done
else
	echo "(groff is not installed: the pages' roff is not linted)"
fi

if [ $fails -gt 0 ]; then
	echo "$fails problem(s): a command's --help and its man page disagree (man/*)"
	exit 1
fi
echo "every option of every --help is in its man page, and no page documents more"
