#!/usr/bin/env bash
# Fails when a Swift file is not as swift-format (the toolchain's, with .swift-format) would write
# it, or breaks one of its lint rules. scripts/check-format.sh --fix rewrites the files instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
paths=(Package.swift Sources Tests Benchmarks Fuzz)
if [ "${1:-}" = "--fix" ]; then
    swift-format format --in-place --parallel --recursive "${paths[@]}"
    exit 0
fi
swift-format lint --strict --parallel --recursive "${paths[@]}"
echo "format: every Swift file is as swift-format writes it"
