#!/bin/sh
# Runs inside the qemu guest: the agent against gpio-sim and a Mosquitto in the guest. A publish
# sets a gpio-sim line; a gpio-sim pull reaches the broker; SIGTERM publishes offline and
# releases the lines.
. /etc/gpiobridge/env
bin=/usr/local/bin/gpiobridge
passed=0
failed=0
check() {
    description=$1; shift
    if "$@"; then echo "PASS: $description"; passed=$((passed + 1)); else echo "FAIL: $description"; failed=$((failed + 1)); fi
}
# wait_for FILE TEXT: up to 10 s for TEXT to appear in FILE.
wait_for() {
    for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

ifconfig lo 127.0.0.1 up
printf 'listener 1883 127.0.0.1\nallow_anonymous true\nuser root\nlog_dest none\n' > /tmp/mosquitto.conf
/usr/sbin/mosquitto -c /tmp/mosquitto.conf -d
for _ in $(seq 50); do $bin pub -t probe -m 1 >/dev/null 2>&1 && break; sleep 0.1; done

cat > /tmp/kernel.yml <<'YAML'
device: {id: kernel}
outputs:
  - {name: relay, line: GPIO17}
inputs:
  - {name: button, line: GPIO23, debounce: 5ms}
YAML
echo pull-down > "$GPIOBRIDGE_SIM_GPIO23/pull"
$bin sub -t 'gpiobridge/kernel/#' -v > /tmp/agent-sub.log 2>&1 & sub=$!
sleep 0.5
mkdir -p /tmp/run
GPIOBRIDGE_RUN_DIR=/tmp/run $bin agent --profile /tmp/kernel.yml --broker mqtt://127.0.0.1:1883 > /tmp/agent.log 2>&1 & agent=$!
check "the agent announces itself online" wait_for /tmp/agent-sub.log "gpiobridge/kernel/status online"
check "the agent holds GPIO17 as gpiobridge" sh -c "$bin gpio info gpiochip0 | grep -q 'line 0: \"GPIO17\" output used by \"gpiobridge\"'"

$bin pub -t gpiobridge/kernel/relay/set -m ON -q 1
check "a publish drives the gpio-sim line high" sh -c 'for _ in $(seq 50); do [ "$(cat '"$GPIOBRIDGE_SIM_GPIO17"'/value)" = 1 ] && exit 0; sleep 0.1; done; exit 1'
check "then the state is published" wait_for /tmp/agent-sub.log "gpiobridge/kernel/relay ON"
$bin pub -t gpiobridge/kernel/relay/set -m off -q 1
check "OFF drives it low again" sh -c 'for _ in $(seq 50); do [ "$(cat '"$GPIOBRIDGE_SIM_GPIO17"'/value)" = 0 ] && exit 0; sleep 0.1; done; exit 1'

echo pull-up > "$GPIOBRIDGE_SIM_GPIO23/pull"
check "a gpio-sim pull reaches the broker as the input's state" wait_for /tmp/agent-sub.log "gpiobridge/kernel/button ON"
echo pull-down > "$GPIOBRIDGE_SIM_GPIO23/pull"
check "and back" sh -c "sleep 0.5; tail -n 3 /tmp/agent-sub.log | grep -q 'gpiobridge/kernel/button OFF'"

status=$(GPIOBRIDGE_RUN_DIR=/tmp/run $bin status 2>&1)
check "gpiobridge status shows the lines" sh -c "echo '$status' | grep -q 'relay            GPIO17           OFF'"

kill -TERM $agent; wait $agent; code=$?
check "SIGTERM: the agent exits 0" [ "$code" -eq 0 ]
check "SIGTERM: offline is published" wait_for /tmp/agent-sub.log "gpiobridge/kernel/status offline"
check "SIGTERM: the lines are released" sh -c "! $bin gpio info gpiochip0 | grep -q 'used by \"gpiobridge\"'"
kill $sub 2>/dev/null
cat /tmp/agent.log

echo "agent: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
