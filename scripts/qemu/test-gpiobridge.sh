#!/usr/bin/env bash
# Runs gpiobridge's real-kernel tests: the release binary, built once against libgpiod v1
# (Debian 12) and once against the libgpiod 2.x prepare.sh built (the v2 API), each in the qemu guest against
# gpio-sim and i2c-stub. Needs scripts/qemu/prepare.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
cache=$(cd "${GPIOBRIDGE_QEMU_CACHE:-.build-qemu}" && pwd)

build() { # describes the build, then swift build ARGS...; the compiler's output only on failure
    local what=$1 log
    shift
    echo "== building gpiobridge against $what"
    log=$(mktemp)
    if ! swift build -c release --static-swift-stdlib --product gpiobridge "$@" >"$log" 2>&1; then
        grep -vE '^\[[0-9]+/[0-9]+\]' "$log" | tail -n 60
        rm -f "$log"
        echo "test-gpiobridge.sh: the build against $what failed" >&2
        exit 1
    fi
    rm -f "$log"
}
# Both in .build, v2 first: only the targets that see libgpiod (the C shim and ours) differ, so the
# second build recompiles those alone (a scratch path of its own was a second cold release build,
# minutes longer), and .build/release ends as the v1 build the rest of the test command uses.
PKG_CONFIG_PATH="$cache/libgpiod2/lib/pkgconfig" build "libgpiod v2 ($cache/libgpiod2)"
mkdir -p .build-v2 && cp .build/release/gpiobridge .build-v2/gpiobridge
build "libgpiod v1"

status=0
tests=(--file Tests/RealKernel/gpio.sh:/tests/gpio.sh --file Tests/RealKernel/i2c.sh:/tests/i2c.sh
       --file Tests/RealKernel/sensors.sh:/tests/sensors.sh --file Tests/RealKernel/expander.sh:/tests/expander.sh
       --file Tests/RealKernel/agent.sh:/tests/agent.sh --file /usr/sbin/mosquitto:/usr/sbin/mosquitto --i2c-addrs 0x20,0x23,0x38,0x40,0x44,0x45,0x48,0x49,0x4f,0x76)
scripts/qemu/run-guest.sh --file .build/release/gpiobridge:/usr/local/bin/gpiobridge --env GPIOBRIDGE_API=v1 \
    "${tests[@]}" Tests/RealKernel/run-all.sh || status=1
scripts/qemu/run-guest.sh --file .build-v2/gpiobridge:/usr/local/bin/gpiobridge --lib-dir "$cache/libgpiod2/lib" \
    --env GPIOBRIDGE_API=v2 "${tests[@]}" Tests/RealKernel/run-all.sh || status=1
exit "$status"
