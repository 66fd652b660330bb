#!/usr/bin/env bash
# Usage: gen-certs.sh DIR   -- generate EC P-256 test PKI for mosquitto TLS/mTLS tests.
set -euo pipefail
DIR=${1:?usage: gen-certs.sh DIR}
mkdir -p "$DIR"; cd "$DIR"
DAYS=3650
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }  # SEC1 "EC PRIVATE KEY"

# CA (and unrelated other CA)
for ca in ca other-ca; do
  key $ca.key
  openssl req -x509 -new -key $ca.key -sha256 -days $DAYS -subj "/CN=gpiobridge-test-$ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out $ca.crt
done

# leaf <name> <CN> <SAN> <EKU>
leaf() {
  key $1.key
  openssl req -new -key $1.key -subj "/CN=$2" -out $1.csr
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' "$4" "${3:+subjectAltName=$3}" > $1.ext
  openssl x509 -req -in $1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days $DAYS \
    -extfile $1.ext -out $1.crt 2>/dev/null
  rm -f $1.csr $1.ext
}
leaf server     localhost     "DNS:localhost,IP:127.0.0.1" serverAuth
leaf wrong-host wrong.example "DNS:wrong.example"          serverAuth
leaf client     client1       ""                            clientAuth
rm -f ca.srl

# readable by the mosquitto user (broker started as root drops to user mosquitto)
chmod 755 .
chmod 644 ./*.crt ./*.key   # test keys only: world-readable is simplest (mosquitto user + any test user)
echo "certs in $(pwd):"; ls -l
