#!/usr/bin/env bash
# Proves a gpiobridge .deb in a booted Debian of its own release and architecture: a minimal root
# file system (mmdebstrap) with systemd as PID 1, udev, the stock Mosquitto and the package's
# dependencies, on Debian bookworm's kernel with gpio-sim, under qemu (TCG). The whole root file
# system is the initramfs. scripts/package/proof.sh runs there as a unit and prints each check.
#
#   scripts/test-package.sh [--mode full|smoke] DEB
#
# full: install, groups, udev, man, the condition, a toggle by publish, reloads, journald, the
# watchdog, remove and purge. smoke: install, a toggle by publish, remove. Needs root. The kernel
# comes from scripts/qemu/prepare.sh (amd64) or scripts/qemu/prepare-arm64.sh (arm64).
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)
mode=full
while [ $# -gt 1 ]; do
    case $1 in
        --mode) mode=$2; shift 2 ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: scripts/test-package.sh [--mode full|smoke] DEB" >&2; exit 64; }
case $mode in full|smoke) ;; *) echo "test-package.sh: --mode full|smoke" >&2; exit 64 ;; esac
deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
started=$SECONDS
log() { printf '[test-package %6.1fs] %s\n' "$((SECONDS - started))" "$*"; }
die() { echo "test-package.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap and the root file system need it)"
mirror=${GPIOBRIDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}

arch=$(dpkg-deb -f "$deb" Architecture)
case $(dpkg-deb -f "$deb" Version) in *~deb12) release=bookworm ;; *~deb13) release=trixie ;; *) die "cannot tell the release of $deb" ;; esac
case $arch in
    amd64)
        scripts/qemu/prepare.sh >/dev/null
        # shellcheck disable=SC1091
        . .build-qemu/env.sh
        qemu=(qemu-system-x86_64 -M pc -accel tcg -cpu max -smp 2)
        console=ttyS0 ;;
    arm64)
        scripts/qemu/prepare-arm64.sh
        # shellcheck disable=SC1091
        . .build-qemu/env-arm64.sh
        qemu=(qemu-system-aarch64 -M virt -accel tcg -cpu max -smp 2)
        console=ttyAMA0 ;;
    *) die "no guest for architecture $arch" ;;
esac

# The package's dependencies, without versions: the guest has no network, apt installs offline.
depends=$(dpkg-deb -f "$deb" Depends | sed 's/([^)]*)//g; s/ //g')
work=$(mktemp -d /tmp/gpiobridge-package-proof.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"
log "root file system: Debian $release/$arch with systemd, mosquitto and $depends"
extra=()
[ "$mode" = full ] && extra+=(man-db)
mmdebstrap --quiet --variant=minbase --architectures="$arch" \
    --include="systemd-sysv,udev,kmod,procps,mosquitto,mosquitto-clients,$depends$(printf ',%s' "${extra[@]}")" \
    --aptopt='Acquire::Check-Valid-Until "false"' --dpkgopt=force-unsafe-io \
    --essential-hook='echo "man-db man-db/auto-update boolean false" | chroot "$1" debconf-set-selections' \
    "$release" "$root" "$mirror" >/dev/null

# The kernel's modules for gpio-sim (configfs), and gpio-sim built for this kernel.
moddir="$root/lib/modules/$QEMU_KVER"
mkdir -p "$moddir/extra"
(cd "$QEMU_MODDIR" && cp --parents modules.order modules.builtin modules.builtin.modinfo "$moddir/" 2>/dev/null || true)
for module in configfs; do
    path=$(cd "$QEMU_MODDIR" && find . -name "$module.ko*" | head -1)
    [ -n "$path" ] && (cd "$QEMU_MODDIR" && cp --parents "$path" "$moddir/")
done
cp "$QEMU_GPIO_SIM_KO" "$moddir/extra/gpio-sim.ko"
depmod -b "$root" "$QEMU_KVER"

cp "$deb" "$root/root/"
install -m755 scripts/package/proof.sh "$root/root/proof.sh"
cat > "$root/etc/systemd/system/package-proof.service" <<'UNIT'
[Unit]
Description=gpiobridge package proof
After=multi-user.target mosquitto.service systemd-udevd.service
[Service]
Type=oneshot
ExecStart=/root/proof.sh
StandardOutput=journal+console
StandardError=journal+console
[Install]
WantedBy=default.target
UNIT
mkdir -p "$root/etc/systemd/system/default.target.wants"
ln -sf /etc/systemd/system/package-proof.service "$root/etc/systemd/system/default.target.wants/"
echo gpiobridge-proof > "$root/etc/hostname"
printf '127.0.0.1 localhost gpiobridge-proof\n::1 localhost ip6-localhost\n' > "$root/etc/hosts"
# No getty on the console: the proof's lines are the console's.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@$console.service"

if [ "$mode" = full ]; then
    offline=$(systemd-analyze security --offline=yes --root="$root" gpiobridge.service 2>/dev/null \
        | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' || true)
    [ -z "$offline" ] && { dpkg-deb -x "$deb" "$work/deb"; offline=$(systemd-analyze security --offline=yes \
        "$(find "$work/deb" -name gpiobridge.service | head -1)" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p'); }
    log "systemd-analyze security --offline=yes on the packaged unit: $offline"
fi

log "initramfs of the whole root file system"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) > "$work/initrd.cpio"
log "booting $release/$arch ($(( $(stat -c %s "$work/initrd.cpio") / 1048576 )) MB) under qemu (TCG)"
timeout -k 5 "${GPIOBRIDGE_PROOF_TIMEOUT:-900}" "${qemu[@]}" -m 2048 -nographic -no-reboot -net none \
    -kernel "$QEMU_VMLINUZ" -initrd "$work/initrd.cpio" \
    -append "console=$console rdinit=/lib/systemd/systemd panic=-1 quiet systemd.show_status=0 gpiobridge.proof=$mode" \
    < /dev/null > "$work/console.log" 2>&1 || true
tr -d '\r' < "$work/console.log" | grep -o 'PROOF .*' || true
if tr -d '\r' < "$work/console.log" | grep -q 'PROOF RESULT pass'; then
    log "$(basename "$deb"): every check passed in a booted Debian $release/$arch"
else
    echo "---- the console's last lines" >&2
    tr -d '\r' < "$work/console.log" | tail -40 >&2
    die "$(basename "$deb"): the proof failed in Debian $release/$arch"
fi
