#!/usr/bin/env bash
# lab: stock
# 27-hostile: the target decides what a guest may use, and idle peers cannot starve it.
#   1. a guest on a bridge the target does not allow: refused before anything is made,
#      the reason names the field; the guest runs on A, nothing on B
#   2. a source that lies (tests/nested/lab/hostile-src.c): g1's real configuration with a
#      dom0 disk added, then with a hotplug script of its own (a program of the source's
#      choosing, run as root in B's dom0): each refused with the field named, nothing on B
#   3. a source whose certificate is from the CA but whose name is not on B's allow-list:
#      refused, both ends say why
#   4. sixteen idle TCP connections held against B's listener (that many allowed from
#      their address, so that they fill the handshake pool): a migration from A still
#      goes through, the idle ones are closed at the handshake deadline and said so
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

eng_begin a:stock b:stock
guest_create a g1 pvh "-w,16,-r,1000,-g,1000" || { echo "guest_create failed"; exit 1; }
eng_verify a g1 || eng_end

# refused NAME OUT: the migration of NAME was refused by B's rules and backed out
refused() {
	local name=$1 out=$2 why=$3
	echo "$out" | grep -q '^exit=3$' || eng_fail "$name: exit status is not 3"
	echo "$out" | grep -q "refused by the target's rules" || eng_fail "$name: no rules refusal"
	echo "$out" | grep -q -- "$why" || eng_fail "$name: the reason does not name $why"
	eng_running a "$name"
	eng_absent b "$name"
}

echo "== 1. a bridge the target does not allow"
id=$(eng_migrd b --allow-bridge xenbr9)
eng_listening b "$id"
out=$(eng_migrate a g1 b)
echo "$out"
refused g1 "$out" 'nics\[0\].bridge'
lab_wait b "$id" 60
eng_verify a g1

echo "== 2. a source that lies: g1's real configuration plus a dom0 disk, or a script"
for lie in "--disk /dev/sda" "--script /root/evil"; do
	id=$(eng_migrd b)
	eng_listening b "$id"
	out=$(lab_sh a "hostile-src --psk $PSK $lie g1 $(lab_ip b) 2>&1; echo exit=\$?")
	echo "$out"
	echo "$out" | grep -q '^exit=0$' || eng_fail "2 ($lie): not refused"
	case $lie in
	--disk*)   echo "$out" | grep -q 'disks\[0\].pdev_path "/dev/sda"' ||
			eng_fail "2: the reason does not name the disk" ;;
	--script*) echo "$out" | grep -q 'nics\[0\].script "/root/evil"' ||
			eng_fail "2: the reason does not name the script" ;;
	esac
	lab_wait b "$id" 60
	eng_absent b g1
	lab_sh b 'xl list | awk "NR>2" | grep . && echo "domains on b"' | grep -q 'domains on b' &&
		eng_fail "2 ($lie): something was created on b"
done
eng_running a g1
eng_verify a g1

echo "== 3. a certificate from the CA, of a peer not on the allow-list"
creds=$LAB_RUN/creds
rm -rf "$creds"; mkdir -p "$creds"
(
	cd "$creds" && umask 077
	certtool --generate-privkey --key-type=ecdsa --outfile ca-key.pem 2>/dev/null
	printf 'cn = "lab CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >t
	certtool --generate-self-signed --load-privkey ca-key.pem --template t --outfile ca.pem 2>/dev/null
	leaf() {   # NAME CN IP PURPOSE
		certtool --generate-privkey --key-type=ecdsa --outfile "$1-key.pem" 2>/dev/null
		printf 'cn = "%s"\nip_address = "%s"\n%s\nsigning_key\nexpiration_days = 2\n' \
			"$2" "$3" "$4" >t
		certtool --generate-certificate --load-privkey "$1-key.pem" --load-ca-certificate ca.pem \
			--load-ca-privkey ca-key.pem --template t --outfile "$1.pem" 2>/dev/null
	}
	leaf b b-host "$(lab_ip b)" tls_www_server
	leaf a a-host "$(lab_ip a)" tls_www_client
	rm -f t
) || eng_fail "3: credentials not made (certtool)"
for h in a b; do mkdir -p "$LAB_RUN/$h/share/creds" && cp -p "$creds"/*.pem "$LAB_RUN/$h/share/creds/"; done
id=$(lab_sh_bg b "migrd --ca /host/creds/ca.pem --cert /host/creds/b.pem --key /host/creds/b-key.pem --allow-peer c-host 2>&1 & echo \$! >/tmp/migrd.pid; wait")
eng_listening b "$id"
out=$(lab_sh a "migr migrate --ca /host/creds/ca.pem --cert /host/creds/a.pem --key /host/creds/a-key.pem g1 $(lab_ip b) 2>&1; echo exit=\$?")
echo "$out"
echo "$out" | grep -q '^exit=3$' || eng_fail "3: exit status is not 3"
echo "$out" | grep -q 'refused us' || eng_fail "3: the source does not say the target refused it"
lab_sh b 'kill $(cat /tmp/migrd.pid)'
log=$(lab_wait b "$id" 30)
echo "$log"
echo "$log" | grep -q 'not on the allowed peers list.*a-host' ||
	eng_fail "3: B's log does not name the peer it refused"
eng_running a g1
eng_absent b g1
eng_verify a g1

echo "== 4. sixteen idle connections against the listener"
id=$(eng_migrd b --max-per-address 16 --handshake-timeout 5)
eng_listening b "$id"
idle=()
for _ in $(seq 16); do
	ip netns exec "$LAB_NS" bash -c "exec 3<>/dev/tcp/$(lab_ip b)/8002 && sleep 40" &
	idle+=($!)
done
sleep 1
out=$(eng_migrate a g1 b)
echo "$out"
kill "${idle[@]}" 2>/dev/null; wait "${idle[@]}" 2>/dev/null
echo "$out" | grep -q '^exit=0$' || eng_fail "4: the migration did not go through"
log=$(lab_wait b "$id" 60)
echo "$log"
echo "$log" | grep -q "169.254.10.254.*handshake timed out\|handshake timed out.*169.254.10.254" ||
	eng_fail "4: B did not close the idle connections at the handshake deadline"
eng_running b g1 && eng_verify b g1
eng_absent a g1
eng_end
