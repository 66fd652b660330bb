#!/usr/bin/env bash
# Benchmarks the relay with 1,000 emulated Tasmota boards, side by side with the bare two-hop echo
# and the boards' own round trip, in one run, on a stock Mosquitto (its defaults) and a tuned one
# (set_tcp_nodelay true), each on a free 127.0.0.1 port, and prints the figures. Nothing is asserted.
#   the relay:  the release gpiobridge, `relay` with a profile of 1,000 boards, as its own process
#   the boards: Benchmarks/RelayBench (relay-bench): one MQTT connection per board, with its will
#   bare:       Benchmarks/BareEcho (a libmosquitto client republishing each command on a state
#               topic); a board's own cmnd -> stat RESULT; and the bare relay, BareEcho passing one
#               board's command and state topics on unchanged: a relay that does no work
#   each with the command at QoS 0 and at QoS 1 (as Home Assistant sends it)
#   the core:   Benchmarks/RelayCoreBench, the relay core's own cost per message, without sockets
# Telemetry load and idle CPU are measured on the stock broker only. BENCH_QUICK=1 takes 300
# samples, 10 s of telemetry and 5 s of idle (CI); the full run 2,000, 60 s and 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

boards=${BENCH_BOARDS:-1000}
if [ "${BENCH_QUICK:-0}" = 1 ]; then samples=300; load=10; idle=5; else samples=2000; load=60; idle=60; fi

source scripts/bench-build.sh
build_release gpiobridge relay-bench relay-core-bench
# A connection per board, for the broker and the bench.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
source scripts/bench-broker.sh

echo "Relay benchmark: Mosquitto $mosquitto_version, $(nproc) cores, $boards boards, $samples samples each"
.build/release/relay-bench "$(pwd)/.build/release/gpiobridge" "$bare_echo" "$port" "$boards" "$samples" "$load" "$idle" >"$work/stock"
.build/release/relay-bench "$(pwd)/.build/release/gpiobridge" "$bare_echo" "$tuned_port" "$boards" "$samples" 0 0 >"$work/tuned"

value() { awk -v key="$2" -v prefix="$1" 'index($0, prefix) == 1 { for (i = 1; i < NF; i++) if ($i == key) print $(i + 1) }' "$work/$3"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '%-52s %9s %9s %11s %9s\n' "$@"; }
row "" "stock" "" "tuned" ""
row "round trip (us)" "p50" "p99" "p50" "p99"
for what in "bare echo_rtt" "bare board_rtt" "bare relay_rtt" "relay command_rtt" "bare board_qos1_rtt" "bare relay_qos1_rtt" "relay command_qos1_rtt"; do
    for broker in stock tuned; do
        key=${what#* }
        eval "${key}50_$broker=$(value "$what" p50_us $broker) ${key}99_$broker=$(value "$what" p99_us $broker)"
    done
done
figures() { row "$1" "$(eval echo "\$${2}50_stock")" "$(eval echo "\$${2}99_stock")" "$(eval echo "\$${2}50_tuned")" "$(eval echo "\$${2}99_tuned")"; }
ratios() {
    row "$1" "$(ratio "$(eval echo "\$${2}50_stock")" "$(eval echo "\$${3}50_stock")")" "$(ratio "$(eval echo "\$${2}99_stock")" "$(eval echo "\$${3}99_stock")")" \
        "$(ratio "$(eval echo "\$${2}50_tuned")" "$(eval echo "\$${3}50_tuned")")" "$(ratio "$(eval echo "\$${2}99_tuned")" "$(eval echo "\$${3}99_tuned")")"
}
figures "bare two-hop echo (libmosquitto)" echo_rtt
# The relay passes each message on with the QoS it came with, so each comparison is at one QoS. A
# translated command crosses the broker four times, a board's own twice: a relay that does no work
# at all (the bare relay) is the floor of the ratio.
for qos in 0 1; do
    suffix=$([ "$qos" = 1 ] && echo _qos1 || true)
    echo "command at QoS $qos$([ "$qos" = 1 ] && echo " (as Home Assistant sends)" || true)"
    figures "  a board's own: cmnd/<t>/POWER1 -> stat/<t>/RESULT" "board${suffix}_rtt"
    figures "  translated: gpiobridge/<b>/light/set -> state" "command${suffix}_rtt"
    figures "  bare relay: the same through a minimal client" "relay${suffix}_rtt"
    ratios "  translated / board's own (goal p50 <= 1.5)" "command${suffix}_rtt" "board${suffix}_rtt"
    ratios "  bare relay / board's own: the floor of the ratio" "relay${suffix}_rtt" "board${suffix}_rtt"
    ratios "  translated / bare relay: the relay's own cost" "command${suffix}_rtt" "relay${suffix}_rtt"
done
echo "relay core without sockets (one broker, 1,000 boards): $(.build/release/relay-core-bench | awk '{print $4 " ns a command, " $6 " ns an answer"}')"
echo "boards connected before the relay starts (stock):     $(value "boards connected" connected stock) in $(value "boards connected" in_ms stock) ms"
echo "relay start until every board is mirrored online:     $(value "relay start_to_mirrored_ms" start_to_mirrored_ms stock) ms (stock), $(value "relay start_to_mirrored_ms" start_to_mirrored_ms tuned) ms (tuned)"
memory() { echo "$(value "$1" "$2" stock) kB (anonymous $(value "$1" anon_kb stock) kB, file-backed $(value "$1" file_kb stock) kB)"; }
echo "relay RSS after start (stock; goal <= 22000 kB):      $(memory "relay rss_after_start_kb" rss_after_start_kb)"
echo "relay CPU under telemetry ($(value "relay load_cpu_percent" messages_per_s stock) SENSOR messages/s for $load s): $(value "relay load_cpu_percent" load_cpu_percent stock) %"
echo "relay RSS after telemetry:                            $(memory "relay rss_after_load_kb" rss_after_load_kb)"
echo "relay CPU while idle for $idle s:                        $(value "relay idle_cpu_percent" idle_cpu_percent stock) % ($(value "relay idle_cpu_percent" ticks stock) clock ticks)"
