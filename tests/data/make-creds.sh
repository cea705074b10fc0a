#!/bin/sh
# make-creds.sh [DIR]: (re)creates the test credentials of the transport tests in DIR
# (default: this folder) with GnuTLS's certtool and psktool. They protect nothing: loopback
# tests only. Two CAs: "ca" signs the server and client certificates the tests trust;
# "other-ca" signs a client certificate that must be refused.
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
leaf() { # NAME CN CA
	certtool --generate-privkey --key-type=ecdsa --outfile "$1-key.pem" 2>/dev/null
	printf 'cn = "%s"\ndns_name = "localhost"\nip_address = "127.0.0.1"\nip_address = "::1"\n' \
		"$2" > "$tmpl"
	printf 'tls_www_server\ntls_www_client\nsigning_key\nexpiration_days = -1\n' >> "$tmpl"
	certtool --generate-certificate --load-privkey "$1-key.pem" --load-ca-certificate "$3.pem" \
		--load-ca-privkey "$3-key.pem" --template "$tmpl" --outfile "$1.pem" 2>/dev/null
}

ca ca "migr test CA"
ca other-ca "migr other test CA"
leaf server "migr test target" ca
leaf client "migr test source" ca
leaf other-client "migr foreign source" other-ca
rm -f psk.key psk-wrong.key psk-otherid.key
psktool -u migr-test -p psk.key >/dev/null
psktool -u migr-test -p psk-wrong.key >/dev/null
psktool -u someone-else -p psk-otherid.key >/dev/null
echo "short:00112233" > psk-short.key
