#!/usr/bin/env bash
# Builds gpiobridge's Debian packages: gpiobridge_<version>-1~deb12_<arch>.deb for bookworm
# (libgpiod 1.6, the v1 API) and ~deb13 for trixie (libgpiod 2.x, the v2 API), for amd64 and arm64.
#
#   scripts/package.sh [--arch amd64|arm64|all] [--release bookworm|trixie|all] [--out DIR]
#
# Each release gets a sysroot of its own -dev packages (mmdebstrap --variant=extract), so the binary
# links that release's libgpiod and asks for no newer glibc than it has (checked with objdump -T).
# - amd64 builds with this machine's Swift: bookworm is the ordinary release build in .build (this
#   machine is bookworm); trixie links trixie's libgpiod3 through a private pkg-config prefix.
# - arm64 cross-compiles in a Debian sid root (scripts/package/sid-root.sh): sid's swiftlang with
#   the arm64 runtime of swiftlang:arm64, through a Swift SDK bundle over the release's sysroot.
# Depends come from dpkg-shlibdeps, run against a dpkg database written from the sysroot's
# packages; lintian checks every package. Needs root (mmdebstrap, chroot). Cache: .build-pkg.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
here=$(pwd)
cache="$here/.build-pkg"
out="$here/dist"
archs=(amd64)
releases=(bookworm)
mirror=${GPIOBRIDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
started=$SECONDS

while [ $# -gt 0 ]; do
    case $1 in
        --arch) case $2 in all) archs=(amd64 arm64) ;; amd64|arm64) archs=("$2") ;; *) echo "package.sh: --arch amd64|arm64|all" >&2; exit 64 ;; esac; shift 2 ;;
        --release) case $2 in all) releases=(bookworm trixie) ;; bookworm|trixie) releases=("$2") ;; *) echo "package.sh: --release bookworm|trixie|all" >&2; exit 64 ;; esac; shift 2 ;;
        --out) out=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
        *) echo "usage: scripts/package.sh [--arch amd64|arm64|all] [--release bookworm|trixie|all] [--out DIR]" >&2; exit 64 ;;
    esac
done

log() { printf "[package %6.1fs] %s\n" "$((SECONDS - started))" "$*" >&2; }
die() { echo "package.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap and chroot need it)"

version=$(sed -n 's/^public let gpiobridgeVersion = "\(.*\)"$/\1/p' Sources/Scheme/Version.swift)
[ -n "$version" ] || die "cannot read gpiobridgeVersion from Sources/Scheme/Version.swift"

needed=(mmdebstrap dpkg-dev lintian binutils file)
for arch in "${archs[@]}"; do [ "$arch" = arm64 ] && needed+=(binutils-aarch64-linux-gnu); done
missing=()
for package in "${needed[@]}"; do dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p "$cache" "$out"

release_number() { case $1 in bookworm) echo 12 ;; trixie) echo 13 ;; esac; }
glibc_of() { case $1 in bookworm) echo 2.36 ;; trixie) echo 2.41 ;; esac; }
triplet_of() { case $1 in amd64) echo x86_64-linux-gnu ;; arm64) echo aarch64-linux-gnu ;; esac; }
objdump_for() { case $1 in amd64) echo objdump ;; arm64) echo aarch64-linux-gnu-objdump ;; esac; }

# The release's -dev packages unpacked (no maintainer scripts run), with a dpkg database that
# dpkg-shlibdeps can read through --admindir.
make_sysroot() {
    local release=$1 arch=$2 root="$cache/sysroot-$1-$2" gcc
    [ -f "$root/.ready" ] && return
    case $release in bookworm) gcc=12 ;; trixie) gcc=14 ;; esac
    log "sysroot $release/$arch (mmdebstrap --variant=extract from $mirror)"
    rm -rf "$root"
    mmdebstrap --quiet --variant=extract --architectures="$arch" --skip=cleanup/apt/cache \
        --include="libc6-dev,libgpiod-dev,libi2c-dev,libyaml-dev,libstdc++-$gcc-dev,libgcc-$gcc-dev,linux-libc-dev" \
        "$release" "$root" "$mirror" >/dev/null
    # Merged /usr as the release installs it, and symlinks that stay inside the sysroot.
    for dir in lib bin sbin; do
        if [ -d "$root/$dir" ] && [ ! -L "$root/$dir" ]; then cp -a "$root/$dir/." "$root/usr/$dir/" && rm -rf "${root:?}/$dir"; fi
        [ -e "$root/$dir" ] || ln -s "usr/$dir" "$root/$dir"
    done
    find "$root" -type l -lname '/*' | while read -r link; do
        ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root$(readlink "$link")")" "$link"
    done
    local admin="$root/var/lib/dpkg-sysroot" deb package controls
    rm -rf "$admin" && mkdir -p "$admin/info" "$admin/updates"
    : > "$admin/status"
    controls=$(mktemp -d)
    for deb in "$root"/var/cache/apt/archives/*.deb; do
        package=$(dpkg-deb -f "$deb" Package)
        { dpkg-deb -f "$deb"; echo "Status: install ok installed"; echo; } >> "$admin/status"
        # Both spellings of each path: the sysroot's libraries are found under /lib and /usr/lib.
        dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^/$' \
            | sed -e "p" -e 's|^/lib/|/usr/lib/|' | sed "s|^|$root|" | sort -u > "$admin/info/$package.list"
        rm -rf "${controls:?}"/* && dpkg-deb -e "$deb" "$controls"
        for file in shlibs symbols; do [ -f "$controls/$file" ] && cp "$controls/$file" "$admin/info/$package.$file"; done
    done
    rm -rf "$controls"
    touch "$root/.ready"
}

# A pkg-config prefix holding only the sysroot's libgpiod (header and library): the host compiler
# then links the release's libgpiod without seeing the release's other headers.
gpiod_prefix() {
    local release=$1 arch=$2 root="$cache/sysroot-$1-$2" prefix="$cache/gpiod-$1-$2" triplet
    triplet=$(triplet_of "$arch")
    rm -rf "$prefix" && mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
    cp "$root/usr/include/gpiod.h" "$prefix/include/"
    cp -a "$root/usr/lib/$triplet"/libgpiod.so* "$prefix/lib/"
    sed -e "s|^prefix=.*|prefix=$prefix|" -e "s|^libdir=.*|libdir=$prefix/lib|" -e "s|^includedir=.*|includedir=$prefix/include|" \
        "$root/usr/lib/$triplet/pkgconfig/libgpiod.pc" > "$prefix/lib/pkgconfig/libgpiod.pc"
    echo "$prefix"
}

swift_build() { # ARGS...: a release build of the agent; the compiler's output only on failure
    local build_log
    build_log=$(mktemp)
    if ! "$@" >"$build_log" 2>&1; then
        grep -vE '^\[[0-9]+/[0-9]+\]' "$build_log" | tail -n 60
        rm -f "$build_log"
        die "the build failed: $*"
    fi
    rm -f "$build_log"
}

native_build() { # the ordinary release build, shared with check-binary.sh and the benchmarks
    swift_build swift build -c release --static-swift-stdlib --product gpiobridge
    echo "$here/.build/release/gpiobridge"
}

# amd64 for trixie with this machine's compiler: the binary asks for bookworm's glibc at most,
# which trixie has, and links trixie's libgpiod3.
trixie_amd64_build() {
    local prefix
    prefix=$(gpiod_prefix trixie amd64)
    PKG_CONFIG_PATH="$prefix/lib/pkgconfig" swift_build swift build -c release --static-swift-stdlib --product gpiobridge \
        --scratch-path "$cache/build-trixie-amd64" -Xlinker -rpath-link="$cache/sysroot-trixie-amd64/usr/lib/x86_64-linux-gnu"
    echo "$cache/build-trixie-amd64/release/gpiobridge"
}

# arm64: sid's compiler in its own root, the arm64 runtime and the release's sysroot as an SDK.
arm64_build() {
    local release=$1 sid="$cache/sid-root" root="$cache/sysroot-$1-arm64" bundle="$cache/sdk-$1-arm64.artifactbundle"
    if [ ! -f "$sid/.ready" ]; then
        log "sid build root with swiftlang (amd64 compiler) and the arm64 Swift runtime (large download)"
        scripts/package/sid-root.sh "$sid"
    fi
    # The SDK: the sysroot with the arm64 runtime (shared and static) and clang's headers in it.
    local runtime="$sid/opt/swift-arm64/usr/libexec/swift/lib"
    [ -d "$runtime/swift_static/linux/static-stdlib-args.lnk" ] || [ -f "$runtime/swift_static/linux/static-stdlib-args.lnk" ] \
        || die "no static arm64 runtime in swiftlang:arm64 ($runtime/swift_static)"
    rm -rf "$root/usr/lib/swift" "$root/usr/lib/swift_static" "$root/usr/lib/clang"
    cp -a "$runtime/swift" "$runtime/swift_static" "$runtime/clang" "$root/usr/lib/"
    mkdir -p "$bundle/sdk"
    ln -sfn "$root" "$bundle/sdk/sysroot"
    cat > "$bundle/info.json" <<JSON
{"schemaVersion": "1.0", "artifacts": {"gpiobridge-$release-arm64": {"type": "swiftSDK", "version": "1",
 "variants": [{"path": "sdk"}]}}}
JSON
    cat > "$bundle/sdk/swift-sdk.json" <<JSON
{"schemaVersion": "4.0", "targetTriples": {"aarch64-unknown-linux-gnu": {"sdkRootPath": "sysroot",
 "swiftResourcesPath": "sysroot/usr/lib/swift", "swiftStaticResourcesPath": "sysroot/usr/lib/swift_static",
 "toolsetPaths": ["toolset.json"]}}}
JSON
    cat > "$bundle/sdk/toolset.json" <<JSON
{"schemaVersion": "1.0", "swiftCompiler": {"extraCLIOptions": ["-use-ld=lld"]}}
JSON
    # The project, the SDK and the offline package mirror, seen from inside the sid root.
    local mounts=("$here:/src" "$cache:$cache" "/opt/swift-packages:/opt/swift-packages")
    local pair unmount="umount '$sid/proc' 2>/dev/null || true;"
    for pair in "${mounts[@]}"; do unmount+=" umount '$sid${pair#*:}' 2>/dev/null || true;"; done
    # This function runs in a subshell ($(...)): its EXIT trap unmounts however the build ends. The
    # command is spelled out now, as the function's locals are gone when the trap runs.
    trap "$unmount" EXIT
    for pair in "${mounts[@]}"; do mkdir -p "$sid${pair#*:}"; mountpoint -q "$sid${pair#*:}" || mount --bind "${pair%%:*}" "$sid${pair#*:}"; done
    mountpoint -q "$sid/proc" || mount -t proc proc "$sid/proc"
    git config --get-regexp '^url\..*\.insteadof$' | sed -n 's/^url\.\(.*\)\.insteadof \(.*\)$/[url "\1"]\n\tinsteadOf = \2/p' > "$sid/etc/gitconfig" || true
    # libgpiod is linked through pkg-config (the C shim imports it, so nothing autolinks it); SwiftPM
    # does not look in the SDK's sysroot for .pc files, so a private prefix points at the sysroot's.
    local prefix
    prefix=$(gpiod_prefix "$release" arm64)
    local status=0
    log "build $release/arm64 with $(chroot "$sid" swift --version 2>/dev/null | head -1) (sid), cross-compiling against the sysroot"
    chroot "$sid" sh -c "cd /src && swift sdk remove gpiobridge-$release-arm64 >/dev/null 2>&1; \
        swift sdk install $bundle >/dev/null && PKG_CONFIG_PATH=$prefix/lib/pkgconfig swift build -c release --static-swift-stdlib --product gpiobridge \
        --swift-sdk gpiobridge-$release-arm64 --disable-dependency-cache --scratch-path $cache/build-$release-arm64 $(glibc_compat_flags "$release")" \
        > "$cache/build-$release-arm64.log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        grep -vE '^\[[0-9]+/[0-9]+\]' "$cache/build-$release-arm64.log" | tail -n 60
        die "the arm64 build for $release failed (log: $cache/build-$release-arm64.log)"
    fi
    echo "$cache/build-$release-arm64/aarch64-unknown-linux-gnu/release/gpiobridge"
}

# sid's runtime was compiled against glibc 2.43; for bookworm's 2.36 a few newer entry points are
# forwarded to the classic ones (scripts/package/glibc-compat.c).
glibc_compat_flags() {
    [ "$1" = bookworm ] || return 0
    echo "-Xlinker $cache/glibc-compat-arm64.o"
}

check_glibc() { # BINARY RELEASE ARCH: no symbol version newer than the release's glibc
    local newest limit
    newest=$($(objdump_for "$3") -T "$1" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
    limit=$(glibc_of "$2")
    [ "$(printf '%s\n%s\n' "${newest#GLIBC_}" "$limit" | sort -V | tail -1)" = "$limit" ] \
        || die "$2/$3: the binary needs $newest, newer than the release's glibc $limit"
    log "$2/$3: newest glibc symbol version $newest (the release has $limit)"
}

assemble() { # BINARY RELEASE ARCH: the package tree, then the .deb
    local binary=$1 release=$2 arch=$3 number tree debversion deb unitdir udevdir depends
    number=$(release_number "$release")
    debversion="$version-1~deb$number"
    tree="$cache/tree-$release-$arch"
    deb="$out/gpiobridge_${debversion}_$arch.deb"
    case $release in bookworm) unitdir=/lib/systemd/system; udevdir=/lib/udev/rules.d ;; *) unitdir=/usr/lib/systemd/system; udevdir=/usr/lib/udev/rules.d ;; esac
    rm -rf "$tree"
    install -d -m755 "$tree/DEBIAN" "$tree/usr/bin" "$tree$unitdir" "$tree$udevdir" "$tree/usr/lib/sysusers.d" \
        "$tree/etc/gpiobridge" "$tree/usr/share/man/man1" "$tree/usr/share/doc/gpiobridge"
    $(objdump_for "$arch" | sed 's/objdump$/strip/') --strip-unneeded -o "$tree/usr/bin/gpiobridge" "$binary"
    chmod 755 "$tree/usr/bin/gpiobridge"
    for unit in gpiobridge.service gpiobridge@.service gpiobridge-relay.service; do
        sed 's|/usr/local/bin/gpiobridge|/usr/bin/gpiobridge|g; s|^# Install with `gpiobridge service install`; |# |' \
            "systemd/$unit" > "$tree$unitdir/$unit"
    done
    install -m644 systemd/60-gpiobridge.rules "$tree$udevdir/60-gpiobridge.rules"
    install -m644 systemd/gpiobridge.sysusers "$tree/usr/lib/sysusers.d/gpiobridge.conf"
    install -m644 Profiles/relay.yml "$tree/etc/gpiobridge/example.yml"
    for page in "$cache/man/"*.1; do gzip -9n < "$page" > "$tree/usr/share/man/man1/$(basename "$page").gz"; done
    install -m644 scripts/package/copyright "$tree/usr/share/doc/gpiobridge/copyright"
    sed "s/@VERSION@/$debversion/; s/@RELEASE@/$release/" scripts/package/changelog | gzip -9n > "$tree/usr/share/doc/gpiobridge/changelog.Debian.gz"
    for script in postinst prerm postrm; do install -m755 "scripts/package/$script" "$tree/DEBIAN/$script"; done
    echo /etc/gpiobridge/example.yml > "$tree/DEBIAN/conffiles"

    # Depends: what the binary links, as the release's packages declare it.
    local work root="$cache/sysroot-$release-$arch" triplet
    triplet=$(triplet_of "$arch")
    work=$(mktemp -d)
    mkdir -p "$work/debian"
    printf 'Source: gpiobridge\n\nPackage: gpiobridge\nArchitecture: any\n' > "$work/debian/control"
    depends=$(cd "$work" && DEB_HOST_ARCH=$arch dpkg-shlibdeps --admindir="$root/var/lib/dpkg-sysroot" -O \
        -l"$root/usr/lib/$triplet" -e "$tree/usr/bin/gpiobridge" 2>"$work/warnings" | sed -n 's/^shlibs:Depends=//p') \
        || { cat "$work/warnings"; die "dpkg-shlibdeps failed for $release/$arch"; }
    rm -rf "$work"
    [ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies for $release/$arch"
    cat > "$tree/DEBIAN/control" <<CONTROL
Package: gpiobridge
Version: $debversion
Architecture: $arch
Maintainer: gpiobridge developers <gpiobridge@users.noreply.github.com>
Installed-Size: $(du -sk --exclude=DEBIAN "$tree" | cut -f1)
Depends: $depends, systemd
Section: electronics
Priority: optional
Homepage: https://github.com/gpiobridge/gpiobridge
Description: drive a Linux board's GPIO lines and I2C sensors from MQTT
 gpiobridge runs as a systemd service on a Raspberry Pi-class board. A YAML
 profile maps MQTT topics to GPIO lines (through libgpiod) and to I2C sensors;
 the agent sets outputs when commands arrive, publishes inputs and sensor
 readings, announces itself to Home Assistant and keeps outputs safe when the
 broker is lost. The relay mirrors Tasmota, ESPHome and PubSubClient boards
 into the same topics.
 .
 After installing: gpiobridge profile apply FILE, then
 systemctl enable --now gpiobridge.
CONTROL
    (cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
    chmod 644 "$tree/DEBIAN/md5sums" "$tree/DEBIAN/control" "$tree/DEBIAN/conffiles"
    dpkg-deb --root-owner-group -Zxz --build "$tree" "$deb" >/dev/null
    log "built $(basename "$deb") ($(( $(stat -c %s "$deb") / 1024 )) KiB): Depends: $depends, systemd"
    local findings
    findings=$(cd /tmp && runuser -u nobody -- lintian --tag-display-limit 0 "$deb" 2>&1 || true)
    if echo "$findings" | grep -q '^[EW]:'; then
        echo "$findings"
        die "lintian reports errors or warnings on $(basename "$deb")"
    fi
    log "lintian: clean${findings:+ (notes: $(echo "$findings" | grep -c '^[IN]:'))}"
}

# Manual pages are the same for every package: made from this machine's build of the same source.
host_binary=$(native_build)
rm -rf "$cache/man" && "$host_binary" manual --output "$cache/man" >/dev/null

for release in "${releases[@]}"; do
    for arch in "${archs[@]}"; do
        make_sysroot "$release" "$arch"
        case "$release/$arch" in
            bookworm/amd64)
                log "build bookworm/amd64: this machine is bookworm/amd64, so the ordinary release build in .build"
                binary=$host_binary ;;
            trixie/amd64)
                log "build trixie/amd64 with this machine's Swift against trixie's libgpiod3"
                binary=$(trixie_amd64_build) ;;
            bookworm/arm64)
                aarch64-linux-gnu-gcc --version >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu >/dev/null
                aarch64-linux-gnu-gcc --sysroot="$cache/sysroot-bookworm-arm64" -O2 -fPIC -c scripts/package/glibc-compat.c -o "$cache/glibc-compat-arm64.o"
                binary=$(arm64_build bookworm) ;;
            trixie/arm64)
                binary=$(arm64_build trixie) ;;
        esac
        check_glibc "$binary" "$release" "$arch"
        assemble "$binary" "$release" "$arch"
    done
done
log "packages in $out: $(cd "$out" && ls gpiobridge_*.deb | tr '\n' ' ')"
