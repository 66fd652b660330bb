#!/usr/bin/env bash
# Benchmarks the agent side by side with the bare broker, in one run, against one Mosquitto on a
# free 127.0.0.1 port, and prints the figures. Nothing is asserted.
#   the agent:  the release gpiobridge, `agent --simulate` with one output, as its own process
#   the client: Benchmarks/AgentBench (agent-bench), which sends the commands and times the states
#   bare:       Benchmarks/bare_rtt.py (a raw-socket client, no library) and the same client's own
#               publish -> subscribe round trip
# BENCH_QUICK=1 runs 20,000 commands and 5 s of idle (CI); the full run 1,000,000 and 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

if [ "${BENCH_QUICK:-0}" = 1 ]; then samples=500; commands=20000; idle=5; else samples=3000; commands=1000000; idle=60; fi

swift build -c release --static-swift-stdlib --product gpiobridge >/dev/null
swift build -c release --static-swift-stdlib --product agent-bench >/dev/null
source scripts/bench-broker.sh

echo "Agent benchmark: Mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}') on 127.0.0.1:$port, $(nproc) cores, $commands commands"
python3 Benchmarks/bare_rtt.py "$port" "$samples" 0 >"$work/bare"
.build/release/agent-bench "$(pwd)/.build/release/gpiobridge" "$port" "$samples" "$commands" "$idle" >"$work/agent"

value() { awk -v key="$2" -v prefix="$1" 'index($0, prefix) == 1 { for (i = 1; i < NF; i++) if ($i == key) print $(i + 1) }' "$3"; }
bare50=$(value "bare rtt qos0" p50_us "$work/bare"); bare99=$(value "bare rtt qos0" p99_us "$work/bare")
client50=$(value "client rtt" p50_us "$work/agent"); client99=$(value "client rtt" p99_us "$work/agent")
agent50=$(value "agent command_rtt" p50_us "$work/agent"); agent99=$(value "agent command_rtt" p99_us "$work/agent")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
printf '%-46s %10s %10s\n' "round trip (us)" "p50" "p99"
printf '%-46s %10s %10s\n' "bare broker: raw socket pub -> sub" "$bare50" "$bare99"
printf '%-46s %10s %10s\n' "bare broker: the bench client pub -> sub" "$client50" "$client99"
printf '%-46s %10s %10s\n' "agent: command -> state" "$agent50" "$agent99"
printf '%-46s %10s %10s\n' "ratio agent / raw socket" "$(ratio "$agent50" "$bare50")" "$(ratio "$agent99" "$bare99")"
printf '%-46s %10s %10s\n' "ratio agent / bench client" "$(ratio "$agent50" "$client50")" "$(ratio "$agent99" "$client99")"
echo "commands per second, sustained (QoS 1, pipelined):   $(value "agent commands_per_s" commands_per_s "$work/agent")"
echo "time from start to online:                           $(value "agent start_to_online_ms" start_to_online_ms "$work/agent") ms"
echo "RSS after start:                                     $(value "agent rss_after_start_kb" rss_after_start_kb "$work/agent") kB"
echo "RSS after $commands commands:                        $(value "agent rss_after_commands_kb" rss_after_commands_kb "$work/agent") kB"
echo "CPU while idle for $idle s:                            $(value "agent idle_cpu_percent" idle_cpu_percent "$work/agent") % ($(value "agent idle_cpu_percent" ticks "$work/agent") clock ticks)"
