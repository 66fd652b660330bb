#!/usr/bin/env bash
# Fuzzes the MQTT packet decoder with libFuzzer and AddressSanitizer for SECONDS (default 60),
# starting from the seed corpus in Fuzz/corpus. A crash fails the run and leaves its input in
# fuzz-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
seconds="${1:-60}"

build() {
    swift build -c release --product MQTTDecoderFuzz --sanitize=fuzzer --sanitize=address \
        --scratch-path .build-fuzz >/dev/null
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Coverage feedback is what makes libFuzzer better than random input. A cold build has been seen
# to produce a binary whose counters libFuzzer does not see ("no interesting inputs"); relinking
# the entry point fixes it. Check with a short run and refuse to fuzz blind.
has_coverage() {
    mkdir -p "$work/probe"
    cp Fuzz/corpus/* "$work/probe/"
    SWIFT_BACKTRACE=enable=no .build-fuzz/release/MQTTDecoderFuzz "$work/probe" -runs=2000 >"$work/probe.log" 2>&1 || true
    ! grep -q "no interesting inputs" "$work/probe.log" && grep -qE "INITED cov: [1-9]" "$work/probe.log"
}
build
if ! has_coverage; then
    echo "fuzz binary has no coverage feedback; relinking the fuzz target"
    touch Fuzz/MQTTDecoderFuzz/main.swift
    build
    if ! has_coverage; then
        tail -n 5 "$work/probe.log"
        echo "WARNING: the fuzz binary still reports no coverage: this run mutates blindly" >&2
    fi
fi
grep -oE "INITED cov: [0-9]+" "$work/probe.log" || true
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
