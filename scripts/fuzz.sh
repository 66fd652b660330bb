#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted input, each with libFuzzer and AddressSanitizer for
# SECONDS (default 30): the MQTT packet decoder (Fuzz/corpus), the JSON parser, which reads every
# command and board announcement (Fuzz/corpus-json), and the profile loader (Fuzz/corpus-profile).
# None of them needs the MQTT client (MQTTCore has no I/O), so the instrumented build stays small.
# A crash fails the run and leaves its input in fuzz-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
targets=("MQTTDecoderFuzz:Fuzz/corpus:4096" "JSONFuzz:Fuzz/corpus-json:4096" "ProfileFuzz:Fuzz/corpus-profile:16384")
seconds="${1:-30}"

# swiftc keeps only the last -sanitize= it is given, and SwiftPM passes --sanitize=fuzzer and
# --sanitize=address as two flags: the Swift code would get AddressSanitizer and no coverage, and
# libFuzzer would mutate blindly. The combined -sanitize=fuzzer,address comes last and wins.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
    product=${target%%:*}
    swift build -c release --product "$product" --sanitize=fuzzer --sanitize=address \
        -Xswiftc -sanitize=fuzzer,address --scratch-path .build-fuzz >"$work/build.log" 2>&1 \
        || { grep -vE '^\[[0-9]+/[0-9]+\]' "$work/build.log" | tail -n 60; echo "fuzzing FAILED: $product did not build" >&2; exit 1; }
done

mkdir -p fuzz-artifacts
for target in "${targets[@]}"; do
    IFS=: read -r product corpus max_len <<< "$target"
    # Coverage feedback is what makes libFuzzer better than random input: a short probe run must
    # see the code's edges, or the run fails.
    rm -rf "$work/probe" "$work/corpus" && mkdir -p "$work/probe" "$work/corpus"
    cp "$corpus"/* "$work/probe/"
    # The probe mutates too: a crash here fails the run like one in the timed run below.
    status=0
    SWIFT_BACKTRACE=enable=no ".build-fuzz/release/$product" "$work/probe" -runs=2000 -artifact_prefix="fuzz-artifacts/$product-" \
        >"$work/probe.log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        grep -E "ERROR|SUMMARY|Fatal error|Precondition" "$work/probe.log" || true
        echo "fuzzing FAILED: $product crashed in its probe run; see fuzz-artifacts/" >&2
        exit 1
    fi
    if grep -q "no interesting inputs" "$work/probe.log" || ! grep -qE "INITED cov: [1-9]" "$work/probe.log"; then
        tail -n 5 "$work/probe.log"
        echo "fuzzing FAILED: $product has no coverage feedback" >&2
        exit 1
    fi
    coverage=$(grep -oE "INITED cov: [0-9]+" "$work/probe.log" | head -1)
    cp "$corpus"/* "$work/corpus/"
    status=0
    SWIFT_BACKTRACE=enable=no ".build-fuzz/release/$product" "$work/corpus" -max_total_time="$seconds" -max_len="$max_len" \
        -artifact_prefix="fuzz-artifacts/$product-" -print_final_stats=1 >"$work/log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        grep -E "ERROR|SUMMARY|Fatal error|Precondition" "$work/log" || true
        tail -n 40 "$work/log"
        echo "fuzzing FAILED: $product; see fuzz-artifacts/" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    echo "fuzzing $product: $coverage, ${runs:-?} runs in ${seconds} s, no crash; corpus grew to $(ls "$work/corpus" | wc -l) inputs"
done
