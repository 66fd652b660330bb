#!/usr/bin/env bash
# Makes (once) the build root the arm64 packages are cross-compiled in: Debian sid with its
# swiftlang (the amd64 compiler; sid is the only Debian with a Swift new enough for our packages)
# and, in /opt/swift-arm64, the files of swiftlang:arm64 (the arm64 Swift runtime and its static
# libraries). Usage: scripts/package/sid-root.sh DIR. Needs root and mmdebstrap.
set -euo pipefail
root=$1
mirror=${GPIOBRIDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ -f "$root/.ready" ] && exit 0
if [ ! -f "$root/.installed" ]; then
rm -rf "$root"
mmdebstrap --quiet --variant=apt --architectures=amd64,arm64 \
    --include=swiftlang,build-essential,git,pkg-config,ca-certificates \
    --aptopt="Acquire::Check-Valid-Until \"false\"" --dpkgopt=force-unsafe-io sid "$root" "$mirror" >/dev/null
touch "$root/.installed"
fi
# The arm64 runtime: only its files are needed, so it is unpacked, not installed.
chroot "$root" sh -c 'cd /tmp && apt-get -qq update && apt-get -qq -oAPT::Sandbox::User=root download swiftlang:arm64 && mkdir -p /opt/swift-arm64 \
    && dpkg-deb -x swiftlang_*_arm64.deb /opt/swift-arm64 && rm swiftlang_*_arm64.deb'
touch "$root/.ready"
