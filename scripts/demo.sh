#!/usr/bin/env bash
# The demo: sets up a fresh Debian 12 machine, builds gpiobridge, starts a local Mosquitto with a
# TLS listener (CA, server certificate for localhost, user and password), and shows a subscriber
# and a publisher talking through it, as the ESP8266 tutorial's board does with its cloud broker.
# Then it shows what a wrong CA file looks like.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

scripts/setup.sh
echo "== building gpiobridge (release)"
swift build -c release --static-swift-stdlib --product gpiobridge >/dev/null
bin=.build/release/gpiobridge

work=$(mktemp -d)
broker_pid=""
cleanup() { [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
scripts/gen-test-certs.sh "$work/certs" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
touch "$work/passwd" && mosquitto_passwd -b "$work/passwd" demo demo-password
cat >"$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous false
password_file $work/passwd
cafile $work/certs/ca.crt
certfile $work/certs/server.crt
keyfile $work/certs/server.key
log_dest none
CONF
chmod 755 "$work"; chmod 644 "$work/passwd" "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" & broker_pid=$!
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.02; done

tls=(-h localhost -p "$port" --cafile "$work/certs/ca.crt" -u demo -P demo-password)
echo "== broker: Mosquitto with TLS on localhost:$port (hostname verified against the CA)"
echo "\$ gpiobridge sub ${tls[*]} -t 'demo/#' -v -C 3"
"$bin" sub "${tls[@]}" -t 'demo/#' -v -C 3 & sub=$!
sleep 1
for args in "-t demo/temperature -m 21.5 -q 0" "-t demo/relay/1 -m ON -q 1" "-t demo/random -m $((RANDOM % 500 + 1)) -q 2"; do
    echo "\$ gpiobridge pub ${tls[*]} $args"
    # shellcheck disable=SC2086
    "$bin" pub "${tls[@]}" $args
done
wait "$sub"

echo "== the same publish with the wrong CA file fails and says why:"
echo "\$ gpiobridge pub -h localhost -p $port --cafile other-ca.crt -u demo -P demo-password -t demo/x -m 1"
if "$bin" pub -h localhost -p "$port" --cafile "$work/certs/other-ca.crt" -u demo -P demo-password -t demo/x -m 1; then
    echo "unexpected: the wrong CA was accepted" >&2
    exit 1
else
    echo "(exit code $?)"
fi
