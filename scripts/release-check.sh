#!/usr/bin/env bash
# The check before a release: all four Debian packages (bookworm and trixie, amd64 and arm64) are
# built and each is proven in a booted Debian of its own release and architecture, with every
# check (scripts/test-package.sh --mode full). On two cores a cold arm64 cross build takes 6 to 9
# minutes and each arm64 proof about 12 under qemu's emulation (the whole check about an hour), so
# the per-commit test command (scripts/test.sh) proves the amd64 bookworm package only. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
rm -f dist/gpiobridge_*.deb
scripts/package.sh --arch all --release all
results=()
status=0
for deb in dist/gpiobridge_*.deb; do
    begun=$SECONDS
    if scripts/test-package.sh --mode full "$deb"; then outcome=passed; else outcome=FAILED; status=1; fi
    results+=("$(printf '%-40s %s in %d s' "$(basename "$deb")" "$outcome" $((SECONDS - begun)))")
done
echo "== release check ($(((SECONDS - started) / 60)) min)"
printf '%s\n' "${results[@]}"
exit "$status"
