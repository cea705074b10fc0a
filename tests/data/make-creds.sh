#!/bin/sh
# make-creds.sh [DIR]: (re)creates the test credentials of the transport tests in DIR
# (default: this folder) with GnuTLS's certtool and psktool. They protect nothing: loopback
# tests only. Two CAs: "ca" signs the server and client certificates the tests trust;
# "other-ca" signs a client certificate that must be refused. The transport test runs this
# into a fresh folder each time (its key files must be mode 0600, which git does not keep).
set -eu
dir=${1:-$(dirname "$0")}
cd "$dir"
tmpl=$(mktemp)
trap 'rm -f "$tmpl"' EXIT

ca() { # NAME CN
	certtool --generate-privkey --key-type=ecdsa --outfile "$1-key.pem" 2>/dev/null
	printf 'cn = "%s"\nca\ncert_signing_key\nexpiration_days = -1\n' "$2" > "$tmpl"
	certtool --generate-self-signed --load-privkey "$1-key.pem" --template "$tmpl" \
		--outfile "$1.pem" 2>/dev/null
}
leaf() { # NAME CN CA [PURPOSES: the extended key usage lines, default both TLS ones]
	certtool --generate-privkey --key-type=ecdsa --outfile "$1-key.pem" 2>/dev/null
	printf 'cn = "%s"\ndns_name = "localhost"\nip_address = "127.0.0.1"\nip_address = "::1"\n' \
		"$2" > "$tmpl"
	printf "${4-tls_www_server\ntls_www_client\n}signing_key\nexpiration_days = -1\n" >> "$tmpl"
	certtool --generate-certificate --load-privkey "$1-key.pem" --load-ca-certificate "$3.pem" \
		--load-ca-privkey "$3-key.pem" --template "$tmpl" --outfile "$1.pem" 2>/dev/null
}

ca ca "migr test CA"
ca other-ca "migr other test CA"
leaf server "migr test target" ca
leaf client "migr test source" ca
leaf other-client "migr foreign source" other-ca
# Extended key usage: none at all (accepted), or without the purpose a side needs.
leaf noeku-client "migr plain source" ca ""
leaf serveronly-client "migr server-only source" ca 'tls_www_server\n'
leaf clientonly-server "migr client-only target" ca 'tls_www_client\n'
rm -f psk.key psk-wrong.key psk-otherid.key psk-peers.key
psktool -u migr-test -p psk.key >/dev/null
psktool -u migr-test -p psk-wrong.key >/dev/null
psktool -u someone-else -p psk-otherid.key >/dev/null
# One key per peer: a target's file with the keys of hosts "source-a" and "source-b".
psktool -u source-a -p psk-peers.key >/dev/null
psktool -u source-b -p psk-peers.key >/dev/null
echo "short:00112233" > psk-short.key
# Keys readable by their owner only: migr refuses others (git keeps no such mode).
chmod 600 ./*-key.pem ./*.key
