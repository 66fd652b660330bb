#!/usr/bin/env bash
# Builds the release agent binary with the Swift runtime linked in statically and checks what a
# Raspberry Pi needs to run it: its size once stripped (goal <= 25 MB), the shared libraries it
# asks for (libc and friends only), that neither Foundation nor FoundationEssentials is linked in,
# and that the release link's memory savings took effect.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
limit_mb="${BINARY_LIMIT_MB:-25}"

swift build -c release --static-swift-stdlib --product gpiobridge >/dev/null
stripped=$(mktemp)
trap 'rm -f "$stripped"' EXIT
strip -o "$stripped" .build/release/gpiobridge
size=$(stat -c %s "$stripped")
needed=$(readelf -d "$stripped" | awk '/NEEDED/ {gsub(/[\[\]]/, "", $5); print $5}' | sort | tr '\n' ' ')
echo "gpiobridge: $((size / 1024 / 1024)) MB stripped ($size bytes); NEEDED: $needed"

status=0
allowed=" libc.so.6 libm.so.6 libstdc++.so.6 libgcc_s.so.1 ld-linux-x86-64.so.2 ld-linux-aarch64.so.1 libgpiod.so.2 libgpiod.so.3 libi2c.so.0 libyaml-0.so.2 "
for library in $needed; do
    case "$allowed" in
        *" $library "*) ;;
        *) echo "FAIL: unexpected shared library $library"; status=1 ;;
    esac
done
# The release link (Package.swift) packs relative relocations, exports no symbol and places the
# functions of scripts/link/gpiobridge.order first; losing any of them costs megabytes of RSS.
if ! readelf -SW "$stripped" | grep -q ' \.relr\.dyn '; then
    echo "FAIL: no packed relative relocations (.relr.dyn): the release link flags were not applied"
    status=1
fi
exported=$(readelf --dyn-syms -W "$stripped" | awk '$5 == "GLOBAL" && $7 != "UND"' | wc -l)
if [ "$exported" -gt 20 ]; then
    echo "FAIL: the binary exports $exported symbols (--no-export-dynamic was not applied)"
    status=1
fi
unordered=$(nm -n .build/release/gpiobridge | awk '$2 == "t" || $2 == "T" { print $3 }' | head -n 50 | grep -cvxFf scripts/link/gpiobridge.order || true)
if [ "$unordered" -gt 0 ]; then
    echo "FAIL: $unordered of the first 50 functions are not in scripts/link/gpiobridge.order: the order was not applied"
    status=1
fi
# Swift mangles a module's name with its length: s10Foundation, s20FoundationEssentials,
# s26FoundationInternationalization. The swift-foundation split would slip past a check for the first alone.
if nm .build/release/gpiobridge | grep -q 'Foundation.*NSObject\|s10Foundation\|s20FoundationEssentials\|s26FoundationInternationalization'; then
    echo "FAIL: Foundation (or FoundationEssentials) is linked into the binary"
    status=1
fi
if [ "$size" -gt $((limit_mb * 1024 * 1024)) ]; then
    echo "FAIL: the stripped binary is larger than $limit_mb MB"
    status=1
fi
[ "$status" -eq 0 ] && echo "binary check passed (limit $limit_mb MB)"
exit "$status"
