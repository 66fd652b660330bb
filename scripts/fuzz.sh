#!/usr/bin/env bash
# Fuzzes the MQTT packet decoder with libFuzzer and AddressSanitizer for SECONDS (default 60),
# starting from the seed corpus in Fuzz/corpus. A crash fails the run and leaves its input in
# fuzz-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
seconds="${1:-60}"

# swiftc keeps only the last -sanitize= it is given, and SwiftPM passes --sanitize=fuzzer and
# --sanitize=address as two flags: the Swift code would get AddressSanitizer and no coverage, and
# libFuzzer would mutate blindly. The combined -sanitize=fuzzer,address comes last and wins.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build() {
    swift build -c release --product MQTTDecoderFuzz --sanitize=fuzzer --sanitize=address \
        -Xswiftc -sanitize=fuzzer,address --scratch-path .build-fuzz >"$work/build.log" 2>&1 \
        || { grep -vE '^\[[0-9]+/[0-9]+\]' "$work/build.log" | tail -n 60; echo "fuzzing FAILED: the fuzz target did not build" >&2; exit 1; }
}

# Coverage feedback is what makes libFuzzer better than random input: a short probe run must see
# the decoder's edges, or the run fails.
build
mkdir -p "$work/probe"
cp Fuzz/corpus/* "$work/probe/"
SWIFT_BACKTRACE=enable=no .build-fuzz/release/MQTTDecoderFuzz "$work/probe" -runs=2000 >"$work/probe.log" 2>&1 || true
if grep -q "no interesting inputs" "$work/probe.log" || ! grep -qE "INITED cov: [1-9]" "$work/probe.log"; then
    tail -n 5 "$work/probe.log"
    echo "fuzzing FAILED: the fuzz binary has no coverage feedback" >&2
    exit 1
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
