#!/usr/bin/env bash
# Prepares the real-kernel test harness (idempotent; run as root, or with sudo available):
#   - installs host tools with apt (qemu-system-x86, kmod, cpio, build tools, libgpiod v1 + gpiod,
#     i2c-tools, libi2c);
#   - downloads Debian's own kernel (linux-image-amd64's current ABI), its headers, kbuild and
#     linux-source with `apt-get download` and unpacks them with `dpkg-deb -x` into the cache, so
#     the machine's boot kernel is left alone; busybox-static the same way;
#   - builds gpio-sim.ko out of tree (gpio-sim.c + gpiolib.h + irq_sim.c in one module);
#   - fetches libgpiod 2.x (v2 API) from Debian trixie's source archive through a private apt
#     state (the machine's apt sources are not touched) and builds it into $CACHE/libgpiod2.
# Cache: $GPIOBRIDGE_QEMU_CACHE (default <repo>/.build-qemu). Optional overrides:
#   GPIOBRIDGE_QEMU_KVER=6.1.0-NN-amd64    kernel ABI to use (default: linux-image-amd64's)
#   GPIOBRIDGE_LIBGPIOD2_VERSION=2.2.1     upstream libgpiod version required from trixie
#   GPIOBRIDGE_LIBGPIOD2_SUITE=trixie      Debian suite to take libgpiod's source from
# Exits non-zero with a message when anything cannot be obtained or built.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${GPIOBRIDGE_QEMU_CACHE:-$REPO/.build-qemu}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
LIBGPIOD2_VERSION=${GPIOBRIDGE_LIBGPIOD2_VERSION:-2.2.1}
LIBGPIOD2_SUITE=${GPIOBRIDGE_LIBGPIOD2_SUITE:-trixie}
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

T0=${EPOCHREALTIME/./}
log() { local t=$(( ${EPOCHREALTIME/./} - T0 )); printf '[prepare %4d.%ds] %s\n' $((t / 1000000)) $((t / 100000 % 10)) "$*" >&2; }
die() { echo "prepare.sh: error: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && SUDO="sudo" || SUDO="__need_root__"
fi
as_root() {
    [ "$SUDO" = "__need_root__" ] && die "must run as root (or with sudo) to: $*"
    $SUDO "$@"
}

# One prepare at a time per cache (CI jobs may share it).
exec 9>"$CACHE/.lock"
flock 9

STAMPS="$CACHE/stamps"
mkdir -p "$STAMPS"

# ---------------------------------------------------------------- 1. host packages (apt)
APT_PKGS=(qemu-system-x86 kmod cpio xz-utils build-essential pkg-config libelf1 libssl3
          libgpiod2 libgpiod-dev gpiod i2c-tools libi2c0 libi2c-dev)
APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        as_root apt-get update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
}
missing=()
for p in "${APT_PKGS[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = "installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt_update_once
    log "apt-get install ${missing[*]}"
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi
for t in qemu-system-x86_64 modinfo depmod cpio xz make gcc ldd ldconfig /usr/bin/gpioset /usr/sbin/i2cset; do
    command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || die "$t not found after installing packages"
done
log "host packages ok"

# apt-get download as root without the _apt sandbox warning
APT_DL=(apt-get -qq -oAPT::Sandbox::User=root download)

# ---------------------------------------------------------------- 2. kernel version
if [ -n "${GPIOBRIDGE_QEMU_KVER:-}" ]; then
    KVER=$GPIOBRIDGE_QEMU_KVER
elif [ -s "$CACHE/KVER" ] && [ -f "$STAMPS/kernel-$(cat "$CACHE/KVER")" ]; then
    KVER=$(cat "$CACHE/KVER")       # keep using the kernel already prepared
else
    apt_update_once
    KVER=$(apt-cache depends linux-image-amd64 2>/dev/null \
           | sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n1)
    [ -n "$KVER" ] || die "cannot resolve linux-image-amd64 to a kernel ABI (apt-cache depends linux-image-amd64)"
fi
KSERIES=$(echo "$KVER" | sed -n 's/^\([0-9]*\.[0-9]*\)\..*/\1/p')   # 6.1
KABI=${KVER%-amd64}                                                 # 6.1.0-56
[ -n "$KSERIES" ] || die "unexpected kernel version '$KVER'"
KROOT="$CACHE/kernel-$KVER"       # unpacked image + headers + kbuild
log "kernel $KVER (series $KSERIES)"

# ---------------------------------------------------------------- 3. kernel, headers, kbuild
if [ ! -f "$STAMPS/kernel-$KVER" ]; then
    apt_update_once
    KPKGVER=$(apt-cache show "linux-headers-$KVER" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
    [ -n "$KPKGVER" ] || die "linux-headers-$KVER is not in the apt lists (is $KVER still in the archive?)"
    rm -rf "$KROOT" "$CACHE/debs"
    mkdir -p "$CACHE/debs" "$KROOT"
    log "apt-get download linux-image/headers/kbuild $KVER ($KPKGVER)"
    (cd "$CACHE/debs" && "${APT_DL[@]}" "linux-image-$KVER" "linux-headers-$KVER" \
        "linux-headers-$KABI-common" "linux-kbuild-$KSERIES=$KPKGVER") \
        || die "apt-get download of the kernel packages failed"
    for d in "$CACHE"/debs/*.deb; do dpkg-deb -x "$d" "$KROOT" || die "dpkg-deb -x $d failed"; done
    [ -f "$KROOT/boot/vmlinuz-$KVER" ] || die "no vmlinuz-$KVER in linux-image-$KVER"
    [ -d "$KROOT/lib/modules/$KVER/kernel" ] || die "no modules in linux-image-$KVER"
    HDR="$KROOT/usr/src/linux-headers-$KVER"
    [ -f "$HDR/Makefile" ] || die "no linux-headers-$KVER/Makefile"
    # The headers' Makefile (and friends) name /usr/src/... absolutely: point them at our copy.
    grep -rlI --include=Makefile --include='*.mk' "/usr/src/linux-headers-" "$KROOT/usr/src" 2>/dev/null \
        | while read -r f; do sed -i "s#/usr/src/linux-headers-#$KROOT/usr/src/linux-headers-#g" "$f"; done || true
    # Absolute symlinks inside the unpacked tree must stay inside it.
    find "$KROOT" -type l | while read -r l; do
        t=$(readlink "$l")
        case "$t" in /*) if [ -e "$KROOT$t" ]; then ln -sfn "$KROOT$t" "$l"; fi ;; esac
    done || true
    # depmod data for the unpacked modules (used to resolve dependencies).
    depmod -b "$KROOT" "$KVER" || die "depmod failed"
    rm -rf "$CACHE/debs"
    echo "$KPKGVER" > "$KROOT/PKGVERSION"
    echo "$KVER" > "$CACHE/KVER"
    touch "$STAMPS/kernel-$KVER"
    log "kernel unpacked in $KROOT"
else
    echo "$KVER" > "$CACHE/KVER"
fi
KPKGVER=$(cat "$KROOT/PKGVERSION")
HDR="$KROOT/usr/src/linux-headers-$KVER"

# ---------------------------------------------------------------- 4. gpio-sim sources
SIMSRC="$CACHE/gpio-sim-src-$KPKGVER"
if [ ! -f "$STAMPS/gpio-sim-src-$KPKGVER" ]; then
    apt_update_once
    rm -rf "$SIMSRC" "$CACHE/debs-src"
    mkdir -p "$SIMSRC" "$CACHE/debs-src"
    log "apt-get download linux-source-$KSERIES=$KPKGVER (large)"
    (cd "$CACHE/debs-src" && "${APT_DL[@]}" "linux-source-$KSERIES=$KPKGVER") \
        || die "apt-get download linux-source-$KSERIES=$KPKGVER failed"
    log "extracting gpio-sim.c, gpiolib.h, irq_sim.c"
    deb=$(ls "$CACHE"/debs-src/linux-source-*.deb)
    dpkg-deb --fsys-tarfile "$deb" \
        | tar -xO "./usr/src/linux-source-$KSERIES.tar.xz" \
        | tar -xJ -C "$SIMSRC" --strip-components=1 \
            "linux-source-$KSERIES/drivers/gpio/gpio-sim.c" \
            "linux-source-$KSERIES/drivers/gpio/gpiolib.h" \
            "linux-source-$KSERIES/kernel/irq/irq_sim.c" \
        || die "could not extract the gpio-sim sources from $deb"
    for f in drivers/gpio/gpio-sim.c drivers/gpio/gpiolib.h kernel/irq/irq_sim.c; do
        [ -s "$SIMSRC/$f" ] || die "missing $f in linux-source-$KSERIES"
    done
    rm -rf "$CACHE/debs-src"
    touch "$STAMPS/gpio-sim-src-$KPKGVER"
    log "gpio-sim sources in $SIMSRC"
fi

# ---------------------------------------------------------------- 5. build gpio-sim.ko
SIMBUILD="$CACHE/gpio-sim-$KVER"
if [ ! -f "$STAMPS/gpio-sim-$KVER" ] || [ ! -f "$SIMBUILD/gpio-sim.ko" ]; then
    rm -rf "$SIMBUILD"
    mkdir -p "$SIMBUILD"
    cp "$SIMSRC/drivers/gpio/gpio-sim.c" "$SIMBUILD/gpio-sim-main.c"
    cp "$SIMSRC/drivers/gpio/gpiolib.h" "$SIMBUILD/gpiolib.h"
    # irq_sim is not built into Debian's kernel: compile it into the module, unexported, and
    # avoid irq_to_desc() (not exported to modules).
    sed -e '/^EXPORT_SYMBOL/d' \
        -e 's/handle_simple_irq(irq_to_desc(\([a-z_]*\)));/generic_handle_irq(\1);/' \
        "$SIMSRC/kernel/irq/irq_sim.c" > "$SIMBUILD/irq_sim.c"
    grep -q 'irq_to_desc' "$SIMBUILD/irq_sim.c" && die "irq_sim.c still calls irq_to_desc(): update the patch in prepare.sh"
    cat > "$SIMBUILD/Makefile" <<'EOF'
obj-m := gpio-sim.o
gpio-sim-y := gpio-sim-main.o irq_sim.o
EOF
    log "building gpio-sim.ko against linux-headers-$KVER"
    if ! make -C "$HDR" M="$SIMBUILD" -j"$(nproc)" modules > "$SIMBUILD/build.log" 2>&1; then
        cat "$SIMBUILD/build.log" >&2
        die "gpio-sim.ko build failed (log above)"
    fi
    if grep -q 'undefined!' "$SIMBUILD/build.log"; then
        grep 'undefined!' "$SIMBUILD/build.log" >&2
        die "gpio-sim.ko references symbols the kernel does not export"
    fi
    [ -f "$SIMBUILD/gpio-sim.ko" ] || die "gpio-sim.ko was not produced"
    vm=$(modinfo -F vermagic "$SIMBUILD/gpio-sim.ko")
    case "$vm" in "$KVER "*) ;; *) die "gpio-sim.ko vermagic '$vm' does not match $KVER" ;; esac
    touch "$STAMPS/gpio-sim-$KVER"
    log "built $SIMBUILD/gpio-sim.ko"
fi

# ---------------------------------------------------------------- 6. busybox-static
BB="$CACHE/busybox"
if [ ! -f "$STAMPS/busybox" ] || [ ! -x "$BB/bin/busybox" ]; then
    apt_update_once
    rm -rf "$BB" "$CACHE/debs-bb"
    mkdir -p "$BB" "$CACHE/debs-bb"
    log "apt-get download busybox-static"
    (cd "$CACHE/debs-bb" && "${APT_DL[@]}" busybox-static) || die "apt-get download busybox-static failed"
    dpkg-deb -x "$CACHE"/debs-bb/busybox-static_*.deb "$BB" || die "dpkg-deb -x busybox-static failed"
    [ -x "$BB/bin/busybox" ] || die "busybox-static has no bin/busybox"
    file_out=$(LC_ALL=C "$BB/bin/busybox" 2>&1 | head -n1 || true)
    case "$file_out" in BusyBox*) ;; *) die "busybox from busybox-static does not run: $file_out" ;; esac
    rm -rf "$CACHE/debs-bb"
    touch "$STAMPS/busybox"
fi

# ---------------------------------------------------------------- 7. libgpiod 2.x from trixie
L2="$CACHE/libgpiod2"
L2SRC="$CACHE/libgpiod2-src"
if [ ! -f "$STAMPS/libgpiod2-$LIBGPIOD2_VERSION" ] || [ ! -e "$L2/lib/libgpiod.so.3" ]; then
    orig="$L2SRC/libgpiod_$LIBGPIOD2_VERSION.orig.tar.xz"
    if [ ! -s "$orig" ]; then
        # The mirror this machine already uses (deb822 .sources or one-line .list files).
        MIRROR=$( { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{for (i = 2; i <= NF; i++) print $i}'
                    grep -hE '^deb(-src)?[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
                        | sed 's/\[[^]]*\]//' | awk '{print $2}'; } | grep -E '^https?://[^ ]*/debian/?$' | head -n1 || true)
        MIRROR=${MIRROR%/}
        MIRROR=${MIRROR:-http://deb.debian.org/debian}
        A="$CACHE/apt-$LIBGPIOD2_SUITE"
        rm -rf "$A"
        mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/sources.d" "$L2SRC"
        cat > "$A/sources.d/$LIBGPIOD2_SUITE.sources" <<EOF
Types: deb-src
URIs: $MIRROR
Suites: $LIBGPIOD2_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        PRIV=(-oDir::State::Lists="$A/lists" -oDir::Etc::SourceList=/dev/null
              -oDir::Etc::SourceParts="$A/sources.d" -oDir::Cache="$A/cache"
              -oDir::Cache::pkgcache= -oDir::Cache::srcpkgcache=
              -oAcquire::Languages=none -oAPT::Sandbox::User=root)
        log "private apt update: deb-src $MIRROR $LIBGPIOD2_SUITE (machine sources untouched)"
        apt-get -qq "${PRIV[@]}" update || die "private apt-get update for $LIBGPIOD2_SUITE deb-src failed"
        log "apt-get source --download-only libgpiod ($LIBGPIOD2_SUITE)"
        # The .dsc may 404 (apt then fails) while the orig tarball arrives: judge by the tarball.
        (cd "$L2SRC" && apt-get -qq "${PRIV[@]}" source --download-only libgpiod) > "$L2SRC/fetch.log" 2>&1 || true
        if [ ! -s "$orig" ]; then
            cat "$L2SRC/fetch.log" >&2
            die "libgpiod_$LIBGPIOD2_VERSION.orig.tar.xz not obtained from $LIBGPIOD2_SUITE (got: $(ls "$L2SRC" | tr '\n' ' '))"
        fi
        rm -rf "$A"
    fi
    rm -rf "$L2" "$L2SRC/build"
    mkdir -p "$L2SRC/build"
    tar -xJf "$orig" -C "$L2SRC/build" || die "cannot unpack $orig"
    srcdir=$(echo "$L2SRC"/build/libgpiod-*)
    [ -x "$srcdir/configure" ] || die "no configure script in $orig"
    build_l2() { # $1 = yes|no (tools)
        ( cd "$srcdir" && make distclean >/dev/null 2>&1 || true
          cd "$srcdir" && ./configure --prefix="$L2" --enable-tools="$1" --disable-static \
                --enable-bindings-cxx=no --enable-bindings-python=no --enable-tests=no \
              && make -j"$(nproc)" && make install ) > "$L2SRC/build.log" 2>&1
    }
    log "building libgpiod $LIBGPIOD2_VERSION (with tools)"
    if ! build_l2 yes; then
        tail -n 30 "$L2SRC/build.log" >&2
        echo "prepare.sh: WARNING: libgpiod $LIBGPIOD2_VERSION tools failed to build; building the library only" >&2
        rm -rf "$L2"
        build_l2 no || { tail -n 40 "$L2SRC/build.log" >&2; die "libgpiod $LIBGPIOD2_VERSION build failed"; }
    fi
    for f in lib/libgpiod.so.3 include/gpiod.h lib/pkgconfig/libgpiod.pc; do
        [ -e "$L2/$f" ] || die "libgpiod $LIBGPIOD2_VERSION install lacks $f"
    done
    grep -q GPIOD_LINE_BULK_MAX_LINES "$L2/include/gpiod.h" && die "$L2/include/gpiod.h is the v1 API"
    rm -rf "$L2SRC/build"
    touch "$STAMPS/libgpiod2-$LIBGPIOD2_VERSION"
    log "libgpiod $LIBGPIOD2_VERSION in $L2 (tools: $([ -x "$L2/bin/gpioset" ] && echo yes || echo no))"
fi

# ---------------------------------------------------------------- summary for run-guest.sh
cat > "$CACHE/env.sh" <<EOF
# written by prepare.sh
QEMU_KVER='$KVER'
QEMU_KROOT='$KROOT'
QEMU_VMLINUZ='$KROOT/boot/vmlinuz-$KVER'
QEMU_MODDIR='$KROOT/lib/modules/$KVER'
QEMU_GPIO_SIM_KO='$SIMBUILD/gpio-sim.ko'
QEMU_BUSYBOX='$BB/bin/busybox'
QEMU_LIBGPIOD2='$L2'
EOF
touch "$STAMPS/ready"
log "ready: cache $CACHE (kernel $KVER, libgpiod $LIBGPIOD2_VERSION in $L2)"
