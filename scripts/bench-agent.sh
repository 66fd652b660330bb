#!/usr/bin/env bash
# Benchmarks the agent side by side with the bare reference, in one run, on a stock Mosquitto (its
# defaults, as users run it) and a tuned one (set_tcp_nodelay true), each on a free 127.0.0.1
# port, and prints the figures. Nothing is asserted.
#   the agent:  the release gpiobridge, `agent --simulate` with one output, as its own process
#   the client: Benchmarks/AgentBench (agent-bench), which sends the commands and times the states
#   bare:       Benchmarks/BareEcho, a libmosquitto client that republishes each command on a state
#               topic: the same two hops as the agent's command -> state, with no work between
# BENCH_QUICK=1 runs 20,000 commands and 5 s of idle (CI); the full run 1,000,000 and 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

if [ "${BENCH_QUICK:-0}" = 1 ]; then samples=500; commands=20000; idle=5; else samples=3000; commands=1000000; idle=60; fi

source scripts/bench-build.sh
build_release gpiobridge agent-bench
source scripts/bench-broker.sh

echo "Agent benchmark: Mosquitto $mosquitto_version, $(nproc) cores, $samples round trips, $commands commands"
.build/release/agent-bench "$(pwd)/.build/release/gpiobridge" "$bare_echo" "$port" "$samples" "$commands" "$idle" >"$work/stock"
.build/release/agent-bench "$(pwd)/.build/release/gpiobridge" "$bare_echo" "$tuned_port" "$samples" "$commands" 0 >"$work/tuned"

value() { awk -v key="$2" -v prefix="$1" 'index($0, prefix) == 1 { for (i = 1; i < NF; i++) if ($i == key) print $(i + 1) }' "$work/$3"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
row() { printf '%-44s %10s %10s %12s %10s\n' "$@"; }
row "" "stock" "" "tuned" ""
row "round trip (us)" "p50" "p99" "p50" "p99"
for broker in stock tuned; do
    eval "bare50_$broker=$(value "bare echo_rtt" p50_us $broker) bare99_$broker=$(value "bare echo_rtt" p99_us $broker)"
    eval "agent50_$broker=$(value "agent command_rtt" p50_us $broker) agent99_$broker=$(value "agent command_rtt" p99_us $broker)"
done
row "bare two-hop echo (libmosquitto)" "$bare50_stock" "$bare99_stock" "$bare50_tuned" "$bare99_tuned"
row "agent: command -> state" "$agent50_stock" "$agent99_stock" "$agent50_tuned" "$agent99_tuned"
row "ratio agent / bare echo (goals 1.5 and 2.0)" "$(ratio "$agent50_stock" "$bare50_stock")" "$(ratio "$agent99_stock" "$bare99_stock")" \
    "$(ratio "$agent50_tuned" "$bare50_tuned")" "$(ratio "$agent99_tuned" "$bare99_tuned")"
row "commands/s sustained (QoS 1, 2 windows of 400)" "stock" "" "tuned" ""
row "  bare two-hop echo" "$(value "bare echo_commands_per_s" echo_commands_per_s stock)" "" "$(value "bare echo_commands_per_s" echo_commands_per_s tuned)" ""
row "  agent (goal >= 30000)" "$(value "agent commands_per_s" commands_per_s stock)" "" "$(value "agent commands_per_s" commands_per_s tuned)" ""
row "  agent's retained state after them right" "$(value "agent final_state_right" final_state_right stock)" "" "$(value "agent final_state_right" final_state_right tuned)" ""
echo "time from start to online (stock; goal <= 20 ms):     $(value "agent start_to_online_ms" start_to_online_ms stock) ms"
memory() { echo "$(value "$1" "$2" stock) kB (anonymous $(value "$1" anon_kb stock) kB, file-backed $(value "$1" file_kb stock) kB)"; }
echo "RSS after start (stock; goal <= 14000 kB):           $(memory "agent rss_after_start_kb" rss_after_start_kb)"
echo "RSS after $commands commands (stock; goal: as after start): $(memory "agent rss_after_commands_kb" rss_after_commands_kb)"
echo "  (file-backed: the binary's code, shared and reclaimable; the kernel maps code 64 kB around each page that runs)"
echo "CPU while idle for $idle s (stock):                    $(value "agent idle_cpu_percent" idle_cpu_percent stock) % ($(value "agent idle_cpu_percent" ticks stock) clock ticks)"
