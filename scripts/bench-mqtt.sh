#!/usr/bin/env bash
# Benchmarks the MQTT client side by side with the bare broker, in one run, on a stock Mosquitto
# (its defaults) and a tuned one (set_tcp_nodelay true), each on a free 127.0.0.1 port, and prints
# the figures and their ratios. Nothing is asserted.
#   bare round trip: Benchmarks/bare_rtt.py, a raw-socket client with no library
#   bare throughput: mosquitto_pub -l -> mosquitto_sub -C N (Mosquitto's own C clients)
#   ours:            the release build of Benchmarks/MQTTBench (mqtt-bench)
# BENCH_QUICK=1 runs fewer messages (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

if [ "${BENCH_QUICK:-0}" = 1 ]; then samples=500; n0=20000; n1=5000; else samples=3000; n0=100000; n1=30000; fi

source scripts/bench-build.sh
build_release mqtt-bench
source scripts/bench-broker.sh

bare_throughput() { # port qos count -> msgs/s
    local port=$1 qos=$2 count=$3 topic="bench/bare/$$/$2"
    seq -f '%016g' 1 "$count" >"$work/in"
    timeout 60 stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -q "$qos" -t "$topic" -C "$count" -d >"$work/sub" 2>&1 &
    local sub=$!
    for _ in $(seq 500); do grep -q '^Subscribed' "$work/sub" && break; sleep 0.01; done
    local start end
    start=$(date +%s%N)
    # One mosquitto_pub per 60000 lines: it stops early once QoS 1 packet ids wrap past 65535.
    split -l 60000 -d -a 3 "$work/in" "$work/chunk."
    for chunk in "$work"/chunk.*; do mosquitto_pub -h 127.0.0.1 -p "$port" -q "$qos" -t "$topic" -l <"$chunk"; done
    rm -f "$work"/chunk.*
    # A broker that dropped messages (a stock queue overflowing) leaves the count short: the figure
    # is then what arrived, and a note says so.
    wait "$sub" || true
    end=$(date +%s%N)
    local got
    got=$(grep -c '^Client .* received PUBLISH' "$work/sub" || true)
    [ "$got" -ge "$count" ] || echo "note: bare qos$qos throughput: $((count - got)) of $count messages did not arrive" >&2
    echo $(( got * 1000000000 / (end - start) ))
}

echo "MQTT benchmark: Mosquitto $mosquitto_version, 16-byte payloads, $(nproc) cores"
for broker in stock tuned; do
    p=$port; [ "$broker" = tuned ] && p=$tuned_port
    python3 Benchmarks/bare_rtt.py "$p" "$samples" 0 >"$work/bare-$broker"
    python3 Benchmarks/bare_rtt.py "$p" "$samples" 1 >>"$work/bare-$broker"
    echo "bare throughput qos0 msgs_per_s $(bare_throughput "$p" 0 "$n0")" >>"$work/bare-$broker"
    echo "bare throughput qos1 msgs_per_s $(bare_throughput "$p" 1 "$n1")" >>"$work/bare-$broker"
    .build/release/mqtt-bench "$p" "$samples" "$n0" "$n1" >"$work/ours-$broker"
    grep '^note:' "$work/ours-$broker" | sed "s/^/$broker broker: /" || true
done

field() { # file key... -> the value after the last key
    grep "^$2 $3 $4 " "$work/$1" | awk -v key="$5" '{for (i = 4; i < NF; i++) if ($i == key) print $(i + 1)}'
}
printf '%-28s %12s %12s %7s %12s %12s %7s\n' "" "stock" "" "" "tuned" "" ""
printf '%-28s %12s %12s %7s %12s %12s %7s\n' "figure" "bare broker" "gpiobridge" "ratio" "bare broker" "gpiobridge" "ratio"
for row in "rtt qos0 p50_us" "rtt qos0 p99_us" "rtt qos1 p50_us" "rtt qos1 p99_us" \
           "throughput qos0 msgs_per_s" "throughput qos1 msgs_per_s"; do
    set -- $row
    line=$(printf '%-28s' "$row")
    for broker in stock tuned; do
        bare=$(field "bare-$broker" bare "$1" "$2" "$3")
        ours=$(field "ours-$broker" gpiobridge "$1" "$2" "$3")
        line+=$(printf ' %12s %12s %7s' "$bare" "$ours" "$(awk -v a="$ours" -v b="$bare" 'BEGIN { printf "%.2f", a / b }')")
    done
    echo "$line"
done
echo "gpiobridge client peak RSS: $(awk '/peak_rss_kb/ {print $3}' "$work/ours-stock") kB (stock), $(awk '/peak_rss_kb/ {print $3}' "$work/ours-tuned") kB (tuned)"
echo "(rtt: one connection publishing to its own subscription, one hop; throughput: one publisher, one subscriber)"
