#!/usr/bin/env bash
# Checks the systemd units: `systemd-analyze verify` (syntax, directives, the binary it starts, the
# manual pages they name) and `systemd-analyze security --offline=yes`, which must rate the exposure
# at most 2.0 ("OK").
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-$(pwd)/.build/debug/gpiobridge}
command -v systemd-analyze >/dev/null || { echo "check-systemd: systemd-analyze is missing (apt-get install systemd)" >&2; exit 1; }
[ -x "$binary" ] || { echo "check-systemd: $binary is missing: build first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# verify opens the Documentation= pages with man: give it the pages the binary writes.
"$binary" manual --output "$work/man/man1" >/dev/null
export MANPATH="$work/man"
# verify wants the ExecStart binary to exist: point the copies at the built one.
sed "s|/usr/local/bin/gpiobridge|$binary|g" systemd/gpiobridge.service > "$work/gpiobridge.service"
sed "s|/usr/local/bin/gpiobridge|$binary|g" systemd/gpiobridge@.service > "$work/gpiobridge@check.service"
sed "s|/usr/local/bin/gpiobridge|$binary|g" systemd/gpiobridge-relay.service > "$work/gpiobridge-relay.service"
status=0
for unit in "$work/gpiobridge.service" "$work/gpiobridge@check.service" "$work/gpiobridge-relay.service"; do
    if output=$(systemd-analyze verify "$unit" 2>&1) && [ -z "$output" ]; then
        echo "verify $(basename "$unit"): ok"
    else
        echo "verify $(basename "$unit"): FAILED"; echo "$output"; status=1
    fi
done
for unit in systemd/gpiobridge.service systemd/gpiobridge@.service systemd/gpiobridge-relay.service; do
    level=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
    if systemd-analyze security --offline=yes --threshold=20 "$unit" >/dev/null 2>&1; then
        echo "security $(basename "$unit"): exposure $level (limit 2.0)"
    else
        echo "security $(basename "$unit"): exposure $level is above 2.0: FAILED"; status=1
    fi
done
exit $status
