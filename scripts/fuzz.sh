#!/usr/bin/env bash
# Fuzzes the MQTT packet decoder with libFuzzer and AddressSanitizer for SECONDS (default 60),
# starting from the seed corpus in Fuzz/corpus. A crash fails the run and leaves its input in
# fuzz-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
seconds="${1:-60}"

swift build -c release --product MQTTDecoderFuzz --sanitize=fuzzer --sanitize=address \
    --scratch-path .build-fuzz >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp Fuzz/corpus/* "$work/"
mkdir -p fuzz-artifacts
status=0
SWIFT_BACKTRACE=enable=no .build-fuzz/release/MQTTDecoderFuzz "$work" -max_total_time="$seconds" -max_len=4096 \
    -artifact_prefix=fuzz-artifacts/ -print_final_stats=1 >"$work/log" 2>&1 || status=$?
grep -E "stat::number_of_executed_units|stat::peak_rss_mb|ERROR|SUMMARY|Fatal error|Precondition" "$work/log" || true
if [ "$status" -ne 0 ]; then
    tail -n 40 "$work/log"
    echo "fuzzing FAILED: see fuzz-artifacts/" >&2
    exit 1
fi
echo "fuzzing: no crash in ${seconds} s, corpus grew to $(ls "$work" | wc -l) inputs"
