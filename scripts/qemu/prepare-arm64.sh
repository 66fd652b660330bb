#!/usr/bin/env bash
# Prepares an arm64 guest kernel for scripts/test-package.sh: Debian's arm64 kernel of the same ABI
# as the amd64 one scripts/qemu/prepare.sh chose, fetched through a private apt state (the
# machine's own sources, arm64 only; the machine's apt state is not touched), and gpio-sim.ko
# cross-compiled for it with gcc-aarch64-linux-gnu and the host's kbuild of the same series.
# Also makes qemu-user work for arm64 (binfmt_misc), which mmdebstrap needs for an arm64 root.
# Writes $CACHE/env-arm64.sh. Cache: GPIOBRIDGE_QEMU_CACHE (default .build-qemu). Needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=$(mkdir -p "${GPIOBRIDGE_QEMU_CACHE:-.build-qemu}" && cd "${GPIOBRIDGE_QEMU_CACHE:-.build-qemu}" && pwd)
log() { echo "[prepare-arm64] $*"; }
die() { echo "prepare-arm64.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"

scripts/qemu/prepare.sh >/dev/null
# shellcheck disable=SC1091
. "$CACHE/env.sh"
KVER=${QEMU_KVER%-amd64}-arm64
AROOT="$CACHE/kernel-$KVER"
SIMBUILD="$CACHE/gpio-sim-$KVER"

missing=()
for package in qemu-system-arm qemu-user-static binfmt-support gcc-aarch64-linux-gnu arch-test; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# qemu-user for arm64 programs (mmdebstrap runs the arm64 root's maintainer scripts with it).
[ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 \
    || die "cannot register qemu-aarch64 with binfmt_misc"

if [ ! -f "$AROOT/.ready" ]; then
    apt_dir="$CACHE/apt-arm64"
    rm -rf "$apt_dir" "$AROOT" && mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/sources.list.d" "$apt_dir/debs"
    : > "$apt_dir/status"
    cp /etc/apt/sources.list.d/*.sources "$apt_dir/sources.list.d/" 2>/dev/null || true
    [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$apt_dir/sources.list.d/machine.list"
    apt=(-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status" -o "Dir::Cache::archives=$apt_dir/archives"
         -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
         -o APT::Architecture=arm64 -o APT::Architectures=arm64 -o Acquire::Languages=none -o APT::Sandbox::User=root)
    log "private apt update for arm64 (the machine's mirrors)"
    apt-get -qq "${apt[@]}" update || die "apt-get update for arm64 failed"
    packages=("linux-image-$KVER" "linux-headers-$KVER" "linux-headers-${QEMU_KVER%-amd64}-common")
    log "apt-get download ${packages[*]}"
    (cd "$apt_dir/debs" && apt-get -qq "${apt[@]}" download "${packages[@]}") || die "cannot download ${packages[*]}"
    mkdir -p "$AROOT"
    for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$AROOT"; done
    [ -f "$AROOT/boot/vmlinuz-$KVER" ] || die "no vmlinuz-$KVER in linux-image-$KVER"
    # The headers name /usr/src absolutely, and their scripts are the host's kbuild (same series).
    grep -rlI --include=Makefile --include='*.mk' "/usr/src/linux-headers-" "$AROOT/usr/src" 2>/dev/null \
        | while read -r f; do sed -i "s#/usr/src/linux-headers-#$AROOT/usr/src/linux-headers-#g" "$f"; done || true
    find "$AROOT" -type l | while read -r l; do
        t=$(readlink "$l")
        case "$t" in /*) [ -e "$AROOT$t" ] && ln -sfn "$AROOT$t" "$l" ;; esac
    done || true
    for kbuild in "$QEMU_KROOT"/usr/lib/linux-kbuild-*; do ln -sfn "$kbuild" "$AROOT/usr/lib/$(basename "$kbuild")"; done
    depmod -b "$AROOT" "$KVER"
    rm -rf "$apt_dir/debs" "$apt_dir/lists"
    touch "$AROOT/.ready"
fi

if [ ! -f "$SIMBUILD/gpio-sim.ko" ]; then
    log "cross-compiling gpio-sim.ko for $KVER"
    rm -rf "$SIMBUILD" && mkdir -p "$SIMBUILD"
    # The same sources and Makefile prepare.sh built the amd64 module from.
    cp "$(dirname "$QEMU_GPIO_SIM_KO")"/{gpio-sim-main.c,gpiolib.h,irq_sim.c,Makefile} "$SIMBUILD/"
    if ! make -C "$AROOT/usr/src/linux-headers-$KVER" M="$SIMBUILD" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- \
            -j"$(nproc)" modules > "$SIMBUILD/build.log" 2>&1; then
        tail -n 40 "$SIMBUILD/build.log" >&2
        die "the gpio-sim.ko cross build failed (log: $SIMBUILD/build.log)"
    fi
    grep -q 'undefined!' "$SIMBUILD/build.log" && { grep 'undefined!' "$SIMBUILD/build.log" >&2; die "gpio-sim.ko needs symbols $KVER does not export"; }
    vermagic=$(modinfo -F vermagic "$SIMBUILD/gpio-sim.ko")
    case "$vermagic" in "$KVER "*) ;; *) rm -f "$SIMBUILD/gpio-sim.ko"; die "gpio-sim.ko vermagic '$vermagic' does not match $KVER" ;; esac
fi

cat > "$CACHE/env-arm64.sh" <<EOF
# written by prepare-arm64.sh
QEMU_KVER='$KVER'
QEMU_KROOT='$AROOT'
QEMU_VMLINUZ='$AROOT/boot/vmlinuz-$KVER'
QEMU_MODDIR='$AROOT/lib/modules/$KVER'
QEMU_GPIO_SIM_KO='$SIMBUILD/gpio-sim.ko'
EOF
log "ready: $KVER with $SIMBUILD/gpio-sim.ko"
