#!/usr/bin/env bash
# Benchmarks the relay with 1,000 emulated Tasmota boards, side by side with the bare broker and
# the boards' own round trip, in one run against one Mosquitto on a free 127.0.0.1 port, and
# prints the figures. Nothing is asserted.
#   the relay:  the release gpiobridge, `relay` with a profile of 1,000 boards, as its own process
#   the boards: Benchmarks/RelayBench (relay-bench): one MQTT connection per board, with its will
#   bare:       the bench client's own publish -> subscribe round trip, and cmnd -> stat RESULT
# BENCH_QUICK=1 takes 300 samples, 10 s of telemetry and 5 s of idle (CI); the full run 2,000,
# 60 s and 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

boards=${BENCH_BOARDS:-1000}
if [ "${BENCH_QUICK:-0}" = 1 ]; then samples=300; load=10; idle=5; else samples=2000; load=60; idle=60; fi

swift build -c release --static-swift-stdlib --product gpiobridge >/dev/null
swift build -c release --static-swift-stdlib --product relay-bench >/dev/null
# A connection per board, for the broker and the bench.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
source scripts/bench-broker.sh

echo "Relay benchmark: Mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}') on 127.0.0.1:$port, $(nproc) cores, $boards boards"
.build/release/relay-bench "$(pwd)/.build/release/gpiobridge" "$port" "$boards" "$samples" "$load" "$idle" >"$work/relay"

value() { awk -v key="$2" -v prefix="$1" 'index($0, prefix) == 1 { for (i = 1; i < NF; i++) if ($i == key) print $(i + 1) }' "$3"; }
bare50=$(value "bare client_rtt" p50_us "$work/relay"); bare99=$(value "bare client_rtt" p99_us "$work/relay")
board50=$(value "bare board_rtt" p50_us "$work/relay"); board99=$(value "bare board_rtt" p99_us "$work/relay")
relay50=$(value "relay command_rtt" p50_us "$work/relay"); relay99=$(value "relay command_rtt" p99_us "$work/relay")
printf '%-52s %10s %10s\n' "round trip (us), $samples samples each" "p50" "p99"
printf '%-52s %10s %10s\n' "bare broker: pub -> sub" "$bare50" "$bare99"
printf '%-52s %10s %10s\n' "a board's own: cmnd/<t>/POWER1 -> stat/<t>/RESULT" "$board50" "$board99"
printf '%-52s %10s %10s\n' "translated: gpiobridge/<b>/light/set -> state" "$relay50" "$relay99"
printf '%-52s %10s %10s\n' "added by the relay (translated - board's own)" "$((relay50 - board50))" "$((relay99 - board99))"
echo "boards connected before the relay starts:             $(value "boards connected" connected "$work/relay") in $(value "boards connected" in_ms "$work/relay") ms"
echo "relay start until every board is mirrored online:     $(value "relay start_to_mirrored_ms" start_to_mirrored_ms "$work/relay") ms"
echo "relay RSS after start:                                $(value "relay rss_after_start_kb" rss_after_start_kb "$work/relay") kB"
echo "relay CPU under telemetry ($(value "relay load_cpu_percent" messages_per_s "$work/relay") SENSOR messages/s for $load s): $(value "relay load_cpu_percent" load_cpu_percent "$work/relay") %"
echo "relay RSS after telemetry:                            $(value "relay rss_after_load_kb" rss_after_load_kb "$work/relay") kB"
echo "relay CPU while idle for $idle s:                        $(value "relay idle_cpu_percent" idle_cpu_percent "$work/relay") % ($(value "relay idle_cpu_percent" ticks "$work/relay") clock ticks)"
