#!/usr/bin/env bash
# Installs what gpiobridge's build, tests and demo need on Debian 12 (run as root, or with sudo):
# brokers for the tests, libmosquitto for the benchmarks' bare reference, and the libgpiod and libi2c
# headers the hardware layer builds against.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    mosquitto mosquitto-clients libmosquitto-dev gcc libc6-dev openssl python3 python3-venv ca-certificates \
    libgpiod-dev libi2c-dev libyaml-dev pkg-config systemd groff-base man-db >/dev/null
# The tests start their own brokers; the packaged service would only take port 1883.
$SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true

# amqtt, a 3.1.1-only broker, for the tests; paho-mqtt, an independent client, for the fault campaign.
if [ ! -x .build-amqtt/bin/amqtt ]; then
    /usr/bin/python3 -m venv .build-amqtt
    .build-amqtt/bin/pip install --quiet --disable-pip-version-check 'amqtt==0.12.1'
fi
if ! .build-py/bin/python -c 'import paho.mqtt' 2>/dev/null; then
    /usr/bin/python3 -m venv .build-py
    .build-py/bin/pip install --quiet --disable-pip-version-check 'paho-mqtt==2.1.0'
fi

if ! command -v swift >/dev/null 2>&1; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        echo "note: add /opt/swift/usr/bin to PATH" >&2
    else
        echo "error: Swift 6 is not installed (expected /opt/swift/usr/bin/swift)" >&2
        exit 1
    fi
fi
