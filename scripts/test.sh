#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every test: unit tests, the integration tests against
# real Mosquitto (with its default settings) and amqtt brokers (the agent among them), the systemd
# units' checks, a real Home Assistant driving the agent and the relay, bounded fuzzing runs of the
# packet decoder, the JSON parser and the profile loader, the real-kernel tests under qemu, the release binary's size and library check, the
# Debian package for this machine (bookworm, amd64) installed and run by systemd in a booted
# Debian, the fault campaign against the release agent, and short benchmark runs on a stock and a
# tuned broker (figures are printed, never asserted). Each section prints the time since the start.
# scripts/release-check.sh adds the other three packages. Usage: scripts/test.sh [stage...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"
started=$SECONDS
section() { printf '== %s [%dm%02ds]\n' "$1" $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)); }

# Stages, in order; with no argument every one runs (this is the README's test command and CI's).
#   unit         the unit tests: codec, state machines on a mock clock, simulated hardware, profiles
#                (no root, no broker; seconds)
#   integration  real Mosquitto and amqtt brokers, the CLI as processes, the systemd units, a real
#                Home Assistant, and bounded fuzzing
#   kernel       the real kernel under qemu (gpio-sim, i2c-stub), libgpiod v1 and v2
#   release      the release binary's size and libraries, the Debian package in a booted Debian,
#                the fault campaign
#   bench        short benchmark runs (figures only)
stages="${*:-unit integration kernel release bench}"
for stage in $stages; do
    case "$stage" in unit | integration | kernel | release | bench) ;; *) echo "unknown stage $stage (unit, integration, kernel, release, bench)" >&2; exit 64 ;; esac
done
runs() { [[ " $stages " == *" $1 "* ]]; }
unit_targets='^(MQTTTests|HardwareTests|JSONTests|SchemeTests|RelayTests|ProfileTests|AgentCoreTests)\.'

scripts/setup.sh

section "format (swift-format with .swift-format)"
scripts/check-format.sh

section "build"
swift build --build-tests

if runs unit; then
    section "unit tests (no root, no broker)"
    swift test --skip-build --filter "$unit_targets"
fi

if runs integration; then
    section "integration tests (real Mosquitto and amqtt, the CLI as processes)"
    swift test --skip-build --skip "$unit_targets"

    section "systemd units (systemd-analyze verify and security)"
    scripts/check-systemd.sh

    section "Home Assistant 2025.1.4, real, on loopback: the agent's and the relay's devices through its APIs"
    scripts/ha/test-home-assistant.sh .build/debug/gpiobridge

    section "fuzzing the packet decoder, the JSON parser and the profile loader"
    scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
fi

if runs kernel; then
    section "real kernel (qemu: gpio-sim, i2c-stub): the harness, then gpiobridge built for libgpiod v1 and v2"
    scripts/qemu/prepare.sh
    scripts/qemu/selftest.sh --no-prepare
    scripts/qemu/test-gpiobridge.sh
fi

if runs release; then
    section "release binary"
    scripts/check-binary.sh

    section "Debian package for this machine (bookworm, amd64), proven in a booted Debian with systemd"
    scripts/package.sh --arch amd64 --release bookworm
    scripts/test-package.sh --mode full dist/gpiobridge_*~deb12_amd64.deb

    section "fault campaign (broker restarts, a half-open link, kill -9, retained and oversized commands, an announcement flood)"
    scripts/fault-campaign.sh
fi

if runs bench; then
    section "benchmarks (short runs on a stock and a tuned Mosquitto; figures only)"
    BENCH_QUICK=1 scripts/bench-mqtt.sh
    BENCH_QUICK=1 scripts/bench-agent.sh
    BENCH_QUICK=1 scripts/bench-relay.sh
fi
section "done"
