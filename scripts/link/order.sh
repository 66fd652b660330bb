#!/usr/bin/env bash
# Regenerates scripts/link/gpiobridge.order, the functions the release link places first (lld's
# --symbol-ordering-file, set in Package.swift). The kernel maps a program's code 64 kB around each
# page it touches, so code that runs scattered among code that never does costs resident memory:
# packed together, the agent's code touched after start fell from 8.3 MB to 5.5 MB.
#
# It records which functions run (valgrind's callgrind) while the release binary, on a stock
# Mosquitto on a free 127.0.0.1 port, runs what a daemon runs: the agent on the simulated chip with
# the demo and sensor profiles (start, commands, a bad payload, a reload, a stop) and the relay with
# a Tasmota, an ESPHome and a PubSubClient board. The agent's functions come first. Run it after a
# change that moves much code; a stale list costs memory, never correctness.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
command -v valgrind >/dev/null || { echo "order.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }

swift build -c release --static-swift-stdlib --product gpiobridge >/dev/null
work=$(mktemp -d)
broker=""
cleanup() { [ -z "$broker" ] || kill "$broker" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# valgrind cannot read the compiler's DWARF 5; the symbol table is all it needs.
strip --strip-debug -o "$work/gpiobridge" .build/release/gpiobridge

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >/dev/null 2>&1 & broker=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
pub() { mosquitto_pub -p "$port" "$@"; }
waitfor() { # TOPIC PAYLOAD: until the retained message says so (valgrind is slow to start)
    for _ in $(seq 60); do
        [ "$(timeout 2 mosquitto_sub -p "$port" -t "$1" -C 1 -W 1 2>/dev/null)" = "$2" ] && return
        sleep 0.5
    done
    echo "order.sh: $1 never said $2" >&2
    exit 1
}
record() { # NAME ARGS...: runs gpiobridge ARGS under callgrind until finish; sets $pid
    local name=$1
    shift
    GPIOBRIDGE_DIR="$work/$name" GPIOBRIDGE_RUN_DIR="$work/$name" valgrind --tool=callgrind --demangle=no \
        --callgrind-out-file="$work/$name.callgrind" "$work/gpiobridge" "$@" --broker "mqtt://127.0.0.1:$port" --log-level debug \
        >"$work/$name.log" 2>&1 &
    pid=$!
}
finish() { # NAME: a graceful stop, as systemd does it; the run must have ended well
    kill -TERM "$pid"
    wait "$pid" || { echo "order.sh: the $1 run failed:" >&2; tail -n 20 "$work/$1.log" >&2; exit 1; }
}

mkdir -p "$work/agent" "$work/sensors" "$work/relay"
cp Profiles/demo.yml "$work/agent/profile.yml"
record agent agent --simulate --profile "$work/agent/profile.yml"
waitfor gpiobridge/demo/status online
for payload in ON OFF '{"state":"ON"}' TOGGLE bogus; do pub -t gpiobridge/demo/led/set -m "$payload" -q 1; sleep 0.3; done
pub -t gpiobridge/demo/led/set -m ON -r -q 1
sleep 6 # the uptime publisher's interval
finish agent
pub -t gpiobridge/demo/led/set -r -n

cp Profiles/sensors.yml "$work/sensors/profile.yml"
record sensors agent --simulate --profile "$work/sensors/profile.yml"
waitfor gpiobridge/hallway/status online
sleep 12 # one reading of each sensor
finish sensors

cat >"$work/relay/relay.yml" <<YAML
relay: {id: order-relay}
fleet: {host: 127.0.0.1, port: $port}
boards:
  - {name: kitchen, tasmota: {topic: tasmota_A1B2C3, relays: {light: 1}, sensors: {temperature: BME280.Temperature}}}
  - {name: porch, esphome: {node: porch, switches: {light: relay_1}, sensors: {temperature: temperature}}}
  - {name: tutorial, pubsubclient: {interval: 3s, values: {number: test}, commands: {led: {topic: test, on: "1", off: "0"}}}}
discover: {tasmota: true, esphome: true}
discovery: true
YAML
record relay relay --profile "$work/relay/relay.yml"
waitfor gpiobridge/order-relay/status online
pub -t tele/tasmota_A1B2C3/LWT -m Online -r
pub -t stat/tasmota_A1B2C3/RESULT -m '{"POWER1":"OFF"}'
pub -t tele/tasmota_A1B2C3/SENSOR -m '{"BME280":{"Temperature":21.5}}'
pub -t porch/status -m online -r
pub -t porch/switch/relay_1/state -m OFF
pub -t porch/sensor/temperature/state -m 20.25
pub -t test -m 42
sleep 1
pub -t gpiobridge/kitchen/light/set -m ON -q 1
pub -t stat/tasmota_A1B2C3/RESULT -m '{"POWER1":"ON"}'
pub -t gpiobridge/porch/light/set -m ON -q 1
pub -t gpiobridge/tutorial/led/set -m ON -q 1
pub -t gpiobridge/kitchen/light/set -m bogus -q 1
sleep 2
finish relay


# The functions that ran and are defined in the binary: the agent's first, then the relay's.
nm "$work/gpiobridge" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u >"$work/defined"
functions() { sed -n 's/^c\{0,1\}fn=([0-9]*) \([^ ]*\).*/\1/p' "$@" | sort -u | comm -12 - "$work/defined"; }
functions "$work/agent.callgrind" "$work/sensors.callgrind" >"$work/agent.functions"
functions "$work/relay.callgrind" | comm -23 - "$work/agent.functions" >"$work/relay.functions"
cat "$work/agent.functions" "$work/relay.functions" >scripts/link/gpiobridge.order
echo "scripts/link/gpiobridge.order: $(wc -l <"$work/agent.functions") functions of the agent, $(wc -l <"$work/relay.functions") more of the relay"
