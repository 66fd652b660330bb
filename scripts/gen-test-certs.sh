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

# A client certificate from the other CA, which the brokers do not trust.
key rogue-client.key
openssl req -new -key rogue-client.key -subj "/CN=rogue" -out rogue-client.csr
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > rogue-client.ext
openssl x509 -req -in rogue-client.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial -sha256 -days $DAYS \
  -extfile rogue-client.ext -out rogue-client.crt 2>/dev/null
rm -f rogue-client.csr rogue-client.ext other-ca.srl

# A server certificate for localhost from the right CA that expired on 2020-01-02 (x509 -req
# cannot set past dates; openssl ca can).
key expired.key
openssl req -new -key expired.key -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -addext "extendedKeyUsage=serverAuth" -out expired.csr 2>/dev/null
: > ca-index.txt; echo 1000 > ca-serial
printf '[ca]\ndefault_ca=test\n[test]\ndatabase=ca-index.txt\nnew_certs_dir=.\nserial=ca-serial\ndefault_md=sha256\npolicy=any\ncopy_extensions=copy\n[any]\ncommonName=supplied\n' > ca.cnf
openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr -out expired.crt -notext \
  -startdate 20200101000000Z -enddate 20200102000000Z 2>/dev/null
rm -f expired.csr ca.cnf ca-index.txt* ca-serial* 1000.pem

# readable by the mosquitto user (broker started as root drops to user mosquitto)
chmod 755 .
chmod 644 ./*.crt ./*.key   # test keys only: world-readable is simplest (mosquitto user + any test user)
echo "certs in $(pwd):"; ls -l
