#!/usr/bin/env bash
# The demo: sets up a fresh Debian 12 machine, builds gpiobridge, starts a local Mosquitto, and runs
# the agent with Profiles/demo.yml on the simulated chip (no GPIO hardware needed). It then toggles
# the LED by publishing (the state comes back), presses the button on the simulated chip (the press
# is published), sends a bad command (refused on the error topic), shows the periodic value and the
# agent's status. Then the relay mirrors two ESP8266 boards of Profiles/fleet.yml (a Tasmota board
# played by a small responder, and the tutorial's sketch) beside the agent, and `gpiobridge fleet ls`
# lists them together. Last, it stops the relay and the agent (offline is published).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

scripts/setup.sh
echo "== building gpiobridge"
swift build --product gpiobridge >/dev/null
bin=$(pwd)/.build/debug/gpiobridge

work=$(mktemp -d)
pids=()
# The subscriber and the agent go before the broker, so nothing reports a lost connection.
cleanup() { for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done; sleep 0.2; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\nlog_dest none\n' "$port" > "$work/mosquitto.conf"
chmod 755 "$work"; chmod 644 "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" & pids+=($!)
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.02; done
export GPIOBRIDGE_RUN_DIR=$work/run GPIOBRIDGE_BROKER=mqtt://127.0.0.1:$port
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { echo "\$ gpiobridge ${*:2}"; "$@"; }

say "== a local Mosquitto on 127.0.0.1:$port; everything under gpiobridge/demo/ is printed as \"mqtt> topic payload\""
"$bin" sub -p "$port" -t 'gpiobridge/demo/#' -t 'gpiobridge/kitchen/#' -t 'gpiobridge/tutorial/#' -t 'cmnd/#' -t 'stat/+/RESULT' -t test -v \
    > >(sed -u 's/^/  mqtt> /') & pids+=($!)
sleep 0.5

say "== the agent, on the simulated chip (Raspberry Pi line names), with Profiles/demo.yml"
echo "\$ gpiobridge agent --profile Profiles/demo.yml --simulate --broker mqtt://127.0.0.1:$port"
"$bin" agent --profile Profiles/demo.yml --simulate > >(sed -u 's/^/  agent> /') 2>&1 & agent=$!
pids+=("$agent")
for _ in $(seq 200); do [ -S "$GPIOBRIDGE_RUN_DIR/agent.sock" ] && break; sleep 0.05; done
sleep 1

say "== 1. toggle the LED (GPIO17) by publishing; the agent sets the line, then publishes its state"
run "$bin" pub -p "$port" -t gpiobridge/demo/led/set -m ON -q 1
sleep 0.5
run "$bin" pub -p "$port" -t gpiobridge/demo/led/set -m '{"state":"TOGGLE"}' -q 1
sleep 0.5
run "$bin" pub -p "$port" -t gpiobridge/demo/led/set -m '{"state":"ON","pulse_ms":800}' -q 1
sleep 1.5

say "== 2. press the button (GPIO27, pull-up, active-low) on the simulated chip; the press is published"
run "$bin" simulate GPIO27=0
sleep 0.5
run "$bin" simulate GPIO27=pull
sleep 0.5

say "== 3. a command the agent does not understand is refused on the error topic; the agent keeps running"
run "$bin" pub -p "$port" -t gpiobridge/demo/led/set -m blink -q 1
sleep 0.5

say "== 4. the periodic value (uptime every 5 s), then the agent's status"
sleep 4
run "$bin" status

say "== 5. the relay mirrors ESP8266 boards into the same scheme (Profiles/fleet.yml)"
# The Tasmota board "kitchen": its LWT, and POWER1 answered on stat/<topic>/RESULT, as Tasmota does.
"$bin" pub -p "$port" -t tele/tasmota_A1B2C3/LWT -m Online -r
( "$bin" sub -p "$port" -t 'cmnd/tasmota_A1B2C3/+' -v -C 2 -W 30 | while read -r topic payload; do
    word=${payload^^}
    [ "${topic##*/}" = POWER1 ] && "$bin" pub -p "$port" -t stat/tasmota_A1B2C3/RESULT -m "{\"POWER1\":\"$word\"}"
  done ) & pids+=($!)
echo "(the agent's profile and the relay's claim nothing twice: validate warns when profiles would collide)"
run "$bin" profile validate Profiles/demo.yml Profiles/fleet.yml
echo "\$ gpiobridge relay --profile Profiles/fleet.yml"
"$bin" relay --profile Profiles/fleet.yml > >(sed -u 's/^/  relay> /') 2>&1 & relay=$!
pids+=("$relay")
sleep 1.5
echo "(the tutorial's sketch publishes a number to test, as it does every 3 s)"
run "$bin" pub -p "$port" -t test -m 217
sleep 0.5
run "$bin" pub -p "$port" -t gpiobridge/kitchen/light/set -m ON -q 1
sleep 0.5
run "$bin" pub -p "$port" -t gpiobridge/kitchen/light/set -m OFF -q 1
sleep 0.5
run "$bin" pub -p "$port" -t gpiobridge/tutorial/led/set -m ON -q 1
sleep 0.5
run "$bin" fleet ls -p "$port"
kill -TERM "$relay"
wait "$relay" && echo "(the relay exited with status 0: its boards are offline to the fleet)"
sleep 0.5

say "== 6. stop the agent (SIGTERM): offline is published, outputs go safe, lines are released"
kill -TERM "$agent"
wait "$agent" && echo "(the agent exited with status 0)"
sleep 0.5
say "== done"
