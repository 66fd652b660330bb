#!/usr/bin/env bash
# The fault campaign (scripts/fault/campaign.py): the release agent and relay as their own processes
# against a stock Mosquitto, with broker restarts under a command stream, a half-open link through
# a blackholing proxy, kill -9, retained and oversized commands on MQTT 5.0 and 3.1.1, and the relay
# under a flood of fake board announcements. Each case asserts its outcome and prints its figures.
# FAULT_RESTARTS sets the number of restarts (20).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

source scripts/bench-build.sh
build_release gpiobridge
[ -x .build-py/bin/python ] || { echo "fault campaign: run scripts/setup.sh first (it makes .build-py with paho-mqtt)" >&2; exit 1; }
exec .build-py/bin/python scripts/fault/campaign.py .build/release/gpiobridge --restarts "${FAULT_RESTARTS:-20}"
