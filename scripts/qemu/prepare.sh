#!/usr/bin/env bash
# Prepares the real-kernel test harness (idempotent; run as root, or with sudo available):
#   - installs host tools with apt (qemu-system-x86, kmod, cpio, build tools, libgpiod v1 + gpiod,
#     i2c-tools, libi2c);
#   - downloads Debian's own kernel (linux-image-amd64's current ABI), its headers and kbuild at
#     the versions apt resolves from the archive's dependencies, and linux-source, with
#     `apt-get download`, and unpacks them with `dpkg-deb -x` into the cache, so the machine's
#     boot kernel is left alone; busybox-static the same way;
#   - builds gpio-sim.ko out of tree (gpio-sim.c + gpiolib.h + irq_sim.c in one module);
#   - fetches libgpiod 2.x (v2 API) from Debian trixie's source archive through a private apt
#     state (the machine's apt sources are not touched) and builds it into $CACHE/libgpiod2.
# Cache: $GPIOBRIDGE_QEMU_CACHE (default <repo>/.build-qemu). Optional overrides:
#   GPIOBRIDGE_QEMU_KVER=6.1.0-NN-amd64    kernel ABI to use (default: linux-image-amd64's)
#   GPIOBRIDGE_LIBGPIOD2_VERSION=2.2.1     upstream libgpiod version to require (default: the suite's 2.x)
#   GPIOBRIDGE_LIBGPIOD2_SUITE=trixie      Debian suite to take libgpiod's source from
# Exits non-zero with a message when anything cannot be obtained or built.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${GPIOBRIDGE_QEMU_CACHE:-$REPO/.build-qemu}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
LIBGPIOD2_VERSION=${GPIOBRIDGE_LIBGPIOD2_VERSION:-}
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
# apt resolves every package the harness downloads, from the dependencies the archive states: a
# simulated install against an empty dpkg status (a private file; the machine's state is only
# read) lists each package and the version apt would pick. Versions are never assumed equal: the
# archive moves (a kbuild revision, a point release, an ABI that leaves it).
RESOLVE="$CACHE/apt-resolve"
mkdir -p "$RESOLVE"
: > "$RESOLVE/status"
# Prints "name version" for every package apt would install for the given ones; on failure prints
# apt's own error and returns 1.
apt_resolve() {
    local out
    if ! out=$(apt-get -s -qq -oDir::State::status="$RESOLVE/status" --no-install-recommends \
                   install "$@" 2>&1); then
        printf '%s\n' "$out" | grep -E '^(E|W):|^ ' >&2 || printf '%s\n' "$out" >&2
        return 1
    fi
    printf '%s\n' "$out" | sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1 \2/p'
}
# The kernel ABIs the archive offers, best first: linux-image-amd64's, then any other with headers.
kernel_candidates() {
    apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p'
    apt-cache pkgnames linux-headers- 2>/dev/null \
        | sed -n 's/^linux-headers-\([0-9][0-9.]*-[0-9]*-amd64\)$/\1/p' | sort -rV
}
# Resolves one ABI's image, headers and their kbuild into $RESOLVE/kernel-$1; returns 1 if apt can't.
resolve_kernel() {
    apt_resolve "linux-image-$1" "linux-headers-$1" > "$RESOLVE/all-$1" || return 1
    grep -E '^linux-(image|headers|kbuild)-' "$RESOLVE/all-$1" > "$RESOLVE/kernel-$1"
    grep -q "^linux-image-$1 " "$RESOLVE/kernel-$1" && grep -q "^linux-headers-$1 " "$RESOLVE/kernel-$1"
}

if [ -n "${GPIOBRIDGE_QEMU_KVER:-}" ]; then
    KVER=$GPIOBRIDGE_QEMU_KVER
elif [ -s "$CACHE/KVER" ] && [ -f "$STAMPS/kernel-$(cat "$CACHE/KVER")" ]; then
    KVER=$(cat "$CACHE/KVER")       # keep using the kernel already prepared, even if the archive moved on
else
    apt_update_once
    KVER=""
    tried=()
    for k in $(kernel_candidates | awk '!seen[$0]++'); do
        tried+=("$k")
        if resolve_kernel "$k" 2> "$RESOLVE/why-$k"; then KVER=$k; break; fi
        log "kernel $k cannot be installed from the archive: $(head -n1 "$RESOLVE/why-$k")"
        [ ${#tried[@]} -lt 4 ] || break
    done
    [ -n "$KVER" ] || die "no kernel ABI can be resolved from the archive (tried: ${tried[*]:-none; linux-image-amd64 names none}); see apt's reasons above"
fi
KSERIES=$(echo "$KVER" | sed -n 's/^\([0-9]*\.[0-9]*\)\..*/\1/p')   # 6.1
[ -n "$KSERIES" ] || die "unexpected kernel version '$KVER'"
KROOT="$CACHE/kernel-$KVER"       # unpacked image + headers + kbuild
log "kernel $KVER (series $KSERIES)"

# ---------------------------------------------------------------- 3. kernel, headers, kbuild
if [ ! -f "$STAMPS/kernel-$KVER" ]; then
    apt_update_once
    if [ ! -s "$RESOLVE/kernel-$KVER" ]; then
        apt-cache show "linux-image-$KVER" >/dev/null 2>&1 \
            || die "linux-image-$KVER is not in the archive (it may have left it; unset GPIOBRIDGE_QEMU_KVER to take linux-image-amd64's ABI)"
        resolve_kernel "$KVER" \
            || die "apt cannot resolve linux-image-$KVER and linux-headers-$KVER from the archive (apt's reason above)"
    fi
    KPKGVER=$(sed -n "s/^linux-headers-$KVER //p" "$RESOLVE/kernel-$KVER")
    mapfile -t KPKGS < <(awk '{print $1 "=" $2}' "$RESOLVE/kernel-$KVER")
    rm -rf "$KROOT" "$CACHE/debs"
    mkdir -p "$CACHE/debs" "$KROOT"
    log "apt-get download ${KPKGS[*]}"
    (cd "$CACHE/debs" && "${APT_DL[@]}" "${KPKGS[@]}") \
        || die "apt-get download of the kernel packages failed: ${KPKGS[*]}"
    for d in "$CACHE"/debs/*.deb; do dpkg-deb -x "$d" "$KROOT" || die "dpkg-deb -x $d failed"; done
    [ -f "$KROOT/boot/vmlinuz-$KVER" ] || die "no vmlinuz-$KVER in linux-image-$KVER"
    [ -d "$KROOT/lib/modules/$KVER/kernel" ] || die "no modules in linux-image-$KVER"
    HDR="$KROOT/usr/src/linux-headers-$KVER"
    [ -f "$HDR/Makefile" ] || die "no linux-headers-$KVER/Makefile"
    ls "$KROOT"/usr/lib/linux-kbuild-*/scripts >/dev/null 2>&1 \
        || die "no kbuild scripts unpacked (apt resolved: ${KPKGS[*]})"
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
    printf '%s\n' "${KPKGS[@]}" > "$KROOT/PACKAGES"
    echo "$KVER" > "$CACHE/KVER"
    touch "$STAMPS/kernel-$KVER"
    log "kernel unpacked in $KROOT"
else
    echo "$KVER" > "$CACHE/KVER"
fi
KPKGVER=$(cat "$KROOT/PKGVERSION")
HDR="$KROOT/usr/src/linux-headers-$KVER"

# ---------------------------------------------------------------- 4. gpio-sim sources
# The headers' own source version if the archive still has it, else the newest of the same
# upstream release, else the newest of the series: gpio-sim.c rarely changes, and the module's
# build and vermagic check below refuse a source that does not fit the headers.
pick_source_version() {
    local versions upstream=${KPKGVER%-*}
    versions=$(apt-cache madison "linux-source-$KSERIES" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' | sort -rV | uniq)
    [ -n "$versions" ] || return 1
    if grep -qxF "$KPKGVER" <<<"$versions"; then echo "$KPKGVER"; return; fi
    grep -m1 -F "$upstream-" <<<"$versions" || head -n1 <<<"$versions"
}
SIMSTAMP="$STAMPS/gpio-sim-src-$KVER"
SIMSRC="$CACHE/gpio-sim-src-$KVER"
if [ ! -f "$SIMSTAMP" ]; then
    apt_update_once
    SRCVER=$(pick_source_version) \
        || die "linux-source-$KSERIES is not in the archive: gpio-sim.c cannot be had for kernel $KVER"
    [ "$SRCVER" = "$KPKGVER" ] || log "linux-source-$KSERIES $KPKGVER has left the archive; using $SRCVER"
    rm -rf "$SIMSRC" "$CACHE/debs-src"
    mkdir -p "$SIMSRC" "$CACHE/debs-src"
    log "apt-get download linux-source-$KSERIES=$SRCVER (large)"
    (cd "$CACHE/debs-src" && "${APT_DL[@]}" "linux-source-$KSERIES=$SRCVER") \
        || die "apt-get download linux-source-$KSERIES=$SRCVER failed"
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
    echo "$SRCVER" > "$SIMSRC/SOURCEVERSION"
    rm -rf "$CACHE/debs-src"
    touch "$SIMSTAMP"
    log "gpio-sim sources ($SRCVER) in $SIMSRC"
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
# Whatever 2.x release the suite carries (the v2 API is what matters), unless one is required.
L2="$CACHE/libgpiod2"
L2SRC="$CACHE/libgpiod2-src"
built_l2=$(cat "$L2/VERSION" 2>/dev/null || true)
if [ ! -f "$STAMPS/libgpiod2" ] || [ ! -e "$L2/lib/libgpiod.so.3" ] || [ -z "$built_l2" ] \
   || { [ -n "$LIBGPIOD2_VERSION" ] && [ "$built_l2" != "$LIBGPIOD2_VERSION" ]; }; then
    orig=$(ls "$L2SRC"/libgpiod_*.orig.tar.* 2>/dev/null | sort -V | tail -n1 || true)
    if [ -z "$orig" ] || { [ -n "$LIBGPIOD2_VERSION" ] && [[ "$orig" != */libgpiod_"$LIBGPIOD2_VERSION".orig.tar.* ]]; }; then
        # The mirror this machine already uses (deb822 .sources or one-line .list files).
        MIRROR=$( { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{for (i = 2; i <= NF; i++) print $i}'
                    grep -hE '^deb(-src)?[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
                        | sed 's/\[[^]]*\]//' | awk '{print $2}'; } | grep -E '^https?://[^ ]*/debian/?$' | head -n1 || true)
        MIRROR=${MIRROR%/}
        MIRROR=${MIRROR:-http://deb.debian.org/debian}
        A="$CACHE/apt-$LIBGPIOD2_SUITE"
        rm -rf "$A" "$L2SRC"
        mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/sources.d" "$L2SRC"
        printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
            "$MIRROR" "$LIBGPIOD2_SUITE" /usr/share/keyrings/debian-archive-keyring.gpg \
            > "$A/sources.d/$LIBGPIOD2_SUITE.sources"
        PRIV=(-oDir::State::Lists="$A/lists" -oDir::Etc::SourceList=/dev/null
              -oDir::Etc::SourceParts="$A/sources.d" -oDir::Cache="$A/cache"
              -oDir::Cache::pkgcache= -oDir::Cache::srcpkgcache=
              -oAcquire::Languages=none -oAPT::Sandbox::User=root)
        log "private apt update: deb-src $MIRROR $LIBGPIOD2_SUITE (machine sources untouched)"
        apt-get -qq "${PRIV[@]}" update || die "private apt-get update for $LIBGPIOD2_SUITE deb-src failed"
        log "apt-get source --download-only libgpiod ($LIBGPIOD2_SUITE)"
        # The .dsc may 404 (apt then fails) while the orig tarball arrives: judge by the tarball.
        (cd "$L2SRC" && apt-get -qq "${PRIV[@]}" source --download-only libgpiod) > "$L2SRC/fetch.log" 2>&1 || true
        orig=$(ls "$L2SRC"/libgpiod_*.orig.tar.* 2>/dev/null | sort -V | tail -n1 || true)
        if [ -z "$orig" ]; then
            cat "$L2SRC/fetch.log" >&2
            die "no libgpiod source tarball obtained from $LIBGPIOD2_SUITE (got: $(ls "$L2SRC" | tr '\n' ' '))"
        fi
        rm -rf "$A"
    fi
    version=$(basename "$orig" | sed -n 's/^libgpiod_\(.*\)\.orig\.tar\..*$/\1/p')
    case "$version" in
        2.*) ;;
        *) die "$LIBGPIOD2_SUITE carries libgpiod $version, not a 2.x release with the v2 API (set GPIOBRIDGE_LIBGPIOD2_SUITE to a suite that has one)" ;;
    esac
    [ -z "$LIBGPIOD2_VERSION" ] || [ "$version" = "$LIBGPIOD2_VERSION" ] \
        || die "libgpiod $LIBGPIOD2_VERSION was required (GPIOBRIDGE_LIBGPIOD2_VERSION) but $LIBGPIOD2_SUITE carries $version"
    rm -rf "$L2" "$L2SRC/build"
    mkdir -p "$L2SRC/build"
    tar -xf "$orig" -C "$L2SRC/build" || die "cannot unpack $orig"
    srcdir=$(echo "$L2SRC"/build/libgpiod-*)
    [ -x "$srcdir/configure" ] || die "no configure script in $orig"
    build_l2() { # $1 = yes|no (tools)
        ( cd "$srcdir" && make distclean >/dev/null 2>&1 || true
          cd "$srcdir" && ./configure --prefix="$L2" --enable-tools="$1" --disable-static \
                --enable-bindings-cxx=no --enable-bindings-python=no --enable-tests=no \
              && make -j"$(nproc)" && make install ) > "$L2SRC/build.log" 2>&1
    }
    log "building libgpiod $version (with tools)"
    if ! build_l2 yes; then
        tail -n 30 "$L2SRC/build.log" >&2
        echo "prepare.sh: WARNING: libgpiod $version tools failed to build; building the library only" >&2
        rm -rf "$L2"
        build_l2 no || { tail -n 40 "$L2SRC/build.log" >&2; die "libgpiod $version build failed"; }
    fi
    for f in lib/libgpiod.so.3 include/gpiod.h lib/pkgconfig/libgpiod.pc; do
        [ -e "$L2/$f" ] || die "libgpiod $version install lacks $f"
    done
    grep -q GPIOD_LINE_BULK_MAX_LINES "$L2/include/gpiod.h" && die "$L2/include/gpiod.h is the v1 API"
    rm -rf "$L2SRC/build"
    echo "$version" > "$L2/VERSION"
    touch "$STAMPS/libgpiod2"
    log "libgpiod $version in $L2 (tools: $([ -x "$L2/bin/gpioset" ] && echo yes || echo no))"
fi
LIBGPIOD2_BUILT=$(cat "$L2/VERSION")

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
log "ready: cache $CACHE (kernel $KVER, libgpiod $LIBGPIOD2_BUILT in $L2)"
