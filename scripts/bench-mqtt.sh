#!/usr/bin/env bash
# Benchmarks the MQTT client side by side with the bare broker, in one run, against one Mosquitto
# on a free 127.0.0.1 port, and prints the figures and their ratios. Nothing is asserted.
#   bare round trip: Benchmarks/bare_rtt.py, a raw-socket client with no library
#   bare throughput: mosquitto_pub -l -> mosquitto_sub -C N (Mosquitto's own C clients)
#   ours:            the release build of Benchmarks/MQTTBench (mqtt-bench)
# BENCH_QUICK=1 runs fewer messages (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

if [ "${BENCH_QUICK:-0}" = 1 ]; then samples=500; n0=20000; n1=5000; else samples=3000; n0=100000; n1=30000; fi

swift build -c release --static-swift-stdlib --product mqtt-bench >/dev/null
source scripts/bench-broker.sh

bare_throughput() { # qos count -> msgs/s
    local qos=$1 count=$2 topic="bench/bare/$$/$1"
    seq -f '%016g' 1 "$count" >"$work/in"
    timeout 120 stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -q "$qos" -t "$topic" -C "$count" -d >"$work/sub" 2>&1 &
    local sub=$!
    for _ in $(seq 500); do grep -q '^Subscribed' "$work/sub" && break; sleep 0.01; done
    local start end
    start=$(date +%s%N)
    # One mosquitto_pub per 60000 lines: it stops early once QoS 1 packet ids wrap past 65535.
    split -l 60000 -d -a 3 "$work/in" "$work/chunk."
    for chunk in "$work"/chunk.*; do mosquitto_pub -h 127.0.0.1 -p "$port" -q "$qos" -t "$topic" -l <"$chunk"; done
    rm -f "$work"/chunk.*
    wait "$sub"
    end=$(date +%s%N)
    echo $(( count * 1000000000 / (end - start) ))
}

echo "MQTT benchmark: Mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}') on 127.0.0.1:$port, 16-byte payloads, $(nproc) cores"
python3 Benchmarks/bare_rtt.py "$port" "$samples" 0 >"$work/bare"
python3 Benchmarks/bare_rtt.py "$port" "$samples" 1 >>"$work/bare"
echo "bare throughput qos0 msgs_per_s $(bare_throughput 0 "$n0")" >>"$work/bare"
echo "bare throughput qos1 msgs_per_s $(bare_throughput 1 "$n1")" >>"$work/bare"
.build/release/mqtt-bench "$port" "$samples" "$n0" "$n1" >"$work/ours"

table() {
    printf '%-34s %14s %14s %8s\n' "figure" "bare broker" "gpiobridge" "ratio"
    for row in "rtt qos0 p50_us" "rtt qos0 p99_us" "rtt qos1 p50_us" "rtt qos1 p99_us" \
               "throughput qos0 msgs_per_s" "throughput qos1 msgs_per_s"; do
        set -- $row
        local bare ours
        bare=$(grep "^bare $1 $2 " "$work/bare" | awk -v key="$3" '{for (i = 4; i < NF; i++) if ($i == key) print $(i + 1)}')
        ours=$(grep "^gpiobridge $1 $2 " "$work/ours" | awk -v key="$3" '{for (i = 4; i < NF; i++) if ($i == key) print $(i + 1)}')
        printf '%-34s %14s %14s %8s\n' "$row" "$bare" "$ours" "$(awk -v a="$ours" -v b="$bare" 'BEGIN { printf "%.2f", a / b }')"
    done
}
table
echo "gpiobridge client peak RSS: $(awk '/peak_rss_kb/ {print $3}' "$work/ours") kB"
echo "(rtt: one connection publishing to its own subscription; throughput: one publisher, one subscriber)"
