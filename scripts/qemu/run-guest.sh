#!/usr/bin/env bash
# Boots Debian's own kernel under qemu (TCG) with gpio-sim and i2c-stub, runs GUEST_SCRIPT in the
# guest with busybox sh, prints the script's output and exits with the script's exit code.
# Needs scripts/qemu/prepare.sh to have run (same GPIOBRIDGE_QEMU_CACHE).
#
# usage: run-guest.sh [options] GUEST_SCRIPT
#   --file SRC:DEST     copy SRC (file or directory) to DEST in the guest (DEST ending in / means
#                       "into that folder"); ELF files get every library ldd lists (repeatable)
#   --lib-dir DIR       copy DIR's shared libraries to the same path in the guest, resolve ldd
#                       with DIR on LD_LIBRARY_PATH and add DIR to the guest's ld.so.cache (repeatable)
#   --env NAME=VALUE    export NAME to the guest script (repeatable)
#   --i2c-addrs LIST    i2c-stub chip addresses, comma-separated, at most 10
#                       (default $GPIOBRIDGE_I2C_ADDRS or 0x76,0x23,0x44,0x38,0x48)
#   --module NAME       also load kernel module NAME (and its dependencies) (repeatable)
#   --timeout SECONDS   whole-run limit (default $GPIOBRIDGE_QEMU_TIMEOUT or 240)
#   --mem MB            guest memory (default $GPIOBRIDGE_QEMU_MEM or 512; below 256 panics)
#   --no-host-tools     do not add Debian's gpiod v1 tools and i2c-tools to the guest
#   --console           print the whole console log (kernel + init) instead of the framed output
#   --keep              keep the work folder (initramfs, console log) and print its path
# Exit: the guest script's code; 124 timeout; 125 boot/setup failure; 2 usage or host-side error.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${GPIOBRIDGE_QEMU_CACHE:-$REPO/.build-qemu}
ME=run-guest.sh

usage() { awk '/^# usage:/ { p = 1 } p && !/^#/ { exit } p { sub(/^# ?/, ""); print }' "$0" >&2; exit 2; }
die() { echo "$ME: error: $*" >&2; exit 2; }

FILES=() LIBDIRS=() ENVS=() MODULES=()
I2C_ADDRS=${GPIOBRIDGE_I2C_ADDRS:-0x76,0x23,0x44,0x38,0x48}
TIMEOUT=${GPIOBRIDGE_QEMU_TIMEOUT:-240}
MEM=${GPIOBRIDGE_QEMU_MEM:-512}
HOST_TOOLS=1 SHOW_CONSOLE=0 KEEP=0 SCRIPT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --file) [ $# -ge 2 ] || usage; FILES+=("$2"); shift 2 ;;
        --file=*) FILES+=("${1#*=}"); shift ;;
        --lib-dir) [ $# -ge 2 ] || usage; LIBDIRS+=("$2"); shift 2 ;;
        --lib-dir=*) LIBDIRS+=("${1#*=}"); shift ;;
        --env) [ $# -ge 2 ] || usage; ENVS+=("$2"); shift 2 ;;
        --env=*) ENVS+=("${1#*=}"); shift ;;
        --module) [ $# -ge 2 ] || usage; MODULES+=("$2"); shift 2 ;;
        --module=*) MODULES+=("${1#*=}"); shift ;;
        --i2c-addrs) [ $# -ge 2 ] || usage; I2C_ADDRS=$2; shift 2 ;;
        --i2c-addrs=*) I2C_ADDRS=${1#*=}; shift ;;
        --timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
        --timeout=*) TIMEOUT=${1#*=}; shift ;;
        --mem) [ $# -ge 2 ] || usage; MEM=$2; shift 2 ;;
        --mem=*) MEM=${1#*=}; shift ;;
        --no-host-tools) HOST_TOOLS=0; shift ;;
        --console) SHOW_CONSOLE=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage ;;
        --) shift; [ $# -eq 1 ] || usage; SCRIPT=$1; shift ;;
        -*) echo "$ME: unknown option $1" >&2; usage ;;
        *) [ -z "$SCRIPT" ] || usage; SCRIPT=$1; shift ;;
    esac
done
[ -n "$SCRIPT" ] || usage
[ -f "$SCRIPT" ] || die "guest script '$SCRIPT' not found"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"
[[ "$MEM" =~ ^[0-9]+$ ]] && [ "$MEM" -ge 256 ] || die "--mem must be a number of MB, at least 256"

# i2c-stub takes up to 10 addresses, 7-bit, outside the reserved ranges.
IFS=, read -r -a _addrs <<< "$I2C_ADDRS"
[ ${#_addrs[@]} -ge 1 ] && [ ${#_addrs[@]} -le 10 ] || die "--i2c-addrs needs 1 to 10 addresses (got '$I2C_ADDRS')"
for a in "${_addrs[@]}"; do
    [[ "$a" =~ ^0x[0-9a-fA-F]{1,2}$ ]] && [ $((a)) -ge 3 ] && [ $((a)) -le 119 ] \
        || die "bad i2c address '$a' (want 0x03..0x77)"
done

[ -f "$CACHE/stamps/ready" ] && [ -f "$CACHE/env.sh" ] \
    || die "the qemu cache $CACHE is not prepared: run scripts/qemu/prepare.sh first"
# shellcheck disable=SC1091
. "$CACHE/env.sh"
for f in "$QEMU_VMLINUZ" "$QEMU_GPIO_SIM_KO" "$QEMU_BUSYBOX" "$QEMU_MODDIR/modules.dep"; do
    [ -e "$f" ] || die "$f is missing: run scripts/qemu/prepare.sh"
done
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not installed: run scripts/qemu/prepare.sh"

WORK=$(mktemp -d /tmp/gpiobridge-qemu.XXXXXX)
QPID=""
cleanup() {
    if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill "$QPID" 2>/dev/null || true; fi
    if [ "$KEEP" -eq 1 ]; then echo "$ME: work folder kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ROOT="$WORK/root"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc/gpiobridge,proc,sys,dev,tmp,run,root,lib/modules,guest}
T_START=${EPOCHREALTIME/./}

# ------------------------------------------------------------------ busybox
cp "$QEMU_BUSYBOX" "$ROOT/bin/busybox"
for a in $("$QEMU_BUSYBOX" --list); do
    [ "$a" = busybox ] || ln -s busybox "$ROOT/bin/$a"
done
# Device nodes need root; without them /init reattaches to /dev/console once devtmpfs is up.
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$ROOT/dev/null" c 1 3 2>/dev/null || true

# ------------------------------------------------------------------ kernel modules
MODLIST="$ROOT/etc/gpiobridge/modules"   # "file.ko params" in load order
: > "$MODLIST"
declare -A MOD_DONE=()
moddep_line() { # module name (- or _) -> its modules.dep line
    local n=${1//_/-}
    awk -v n="$n" -F: '{ b = $1; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b); gsub(/_/, "-", b);
                         if (b == n) { print; exit } }' "$QEMU_MODDIR/modules.dep"
}
add_module() { # name [params] ; depth-first so that dependencies load first
    local name=$1 params=${2:-} line path deps d base
    line=$(moddep_line "$name")
    [ -n "$line" ] || die "kernel module '$name' is not in $QEMU_MODDIR (built in? then drop it)"
    path=${line%%:*}; deps=${line#*:}
    for d in $deps; do
        base=$(basename "$d"); base=${base%%.ko*}
        add_module "$base"
    done
    base=$(basename "$path"); base=${base%%.ko*}
    [ -z "${MOD_DONE[$base]:-}" ] || return 0
    MOD_DONE[$base]=1
    case "$path" in
        *.ko) cp "$QEMU_MODDIR/$path" "$ROOT/lib/modules/$base.ko" ;;
        *.ko.xz) xz -dc "$QEMU_MODDIR/$path" > "$ROOT/lib/modules/$base.ko" ;;
        *.ko.zst) zstd -qdc "$QEMU_MODDIR/$path" > "$ROOT/lib/modules/$base.ko" ;;
        *.ko.gz) gzip -dc "$QEMU_MODDIR/$path" > "$ROOT/lib/modules/$base.ko" ;;
        *) die "unknown module file $path" ;;
    esac
    echo "$base.ko $params" >> "$MODLIST"
}
add_module configfs
for d in $(modinfo -F depends "$QEMU_GPIO_SIM_KO" | tr ',' ' '); do add_module "$d"; done
cp "$QEMU_GPIO_SIM_KO" "$ROOT/lib/modules/gpio-sim.ko"
echo "gpio-sim.ko" >> "$MODLIST"
add_module i2c-dev
add_module i2c-stub "chip_addr=$I2C_ADDRS"
for m in ${MODULES[@]+"${MODULES[@]}"}; do add_module "$m"; done

# ------------------------------------------------------------------ files and libraries
declare -A LIB_DONE=()
LDPATH=""
for d in ${LIBDIRS[@]+"${LIBDIRS[@]}"}; do
    [ -d "$d" ] || die "--lib-dir $d is not a directory"
    d=$(cd "$d" && pwd)
    LDPATH=${LDPATH:+$LDPATH:}$d
done
ELVES=()
is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
need_libs() { # ldd FILE -> copy each library it needs to the same path in the guest
    local f=$1 out lib
    if ! out=$(LD_LIBRARY_PATH=$LDPATH ldd "$f" 2>&1); then
        case "$out" in *"not a dynamic executable"*|*"statically linked"*) return 0 ;; esac
        die "ldd ${f#"$ROOT"} failed: $out"
    fi
    if grep -q 'not found' <<< "$out"; then
        die "ldd ${f#"$ROOT"}: missing libraries (add a --lib-dir?):"$'\n'"$(grep 'not found' <<< "$out")"
    fi
    while read -r lib; do
        [ -n "$lib" ] && [ -z "${LIB_DONE[$lib]:-}" ] || continue
        LIB_DONE[$lib]=1
        mkdir -p "$ROOT$(dirname "$lib")"
        cp -L "$lib" "$ROOT$lib"
        need_libs "$lib"
    done < <(sed -n -e 's/^[[:space:]]*[^[:space:]]* => \(\/[^[:space:]]*\) (0x.*/\1/p' \
                    -e 's/^[[:space:]]*\(\/[^[:space:]]*\) (0x.*/\1/p' <<< "$out")
}
add_file() { # SRC:DEST
    local spec=$1 src dest
    case "$spec" in *:/*) ;; *) die "--file wants SRC:/absolute/DEST (got '$spec')" ;; esac
    src=${spec%:/*}; dest=/${spec##*:/}
    [ -e "$src" ] || die "--file source '$src' not found"
    case "$dest" in */) dest="$dest$(basename "$src")" ;; esac
    mkdir -p "$ROOT$(dirname "$dest")"
    rm -rf "${ROOT:?}$dest"
    cp -a -L "$src" "$ROOT$dest"
    while IFS= read -r -d '' g; do if is_elf "$g"; then ELVES+=("$g"); fi; done < <(find "$ROOT$dest" -type f -print0)
}
if [ "$HOST_TOOLS" -eq 1 ]; then
    for t in /usr/bin/gpiodetect /usr/bin/gpioinfo /usr/bin/gpioget /usr/bin/gpioset /usr/bin/gpiomon \
             /usr/bin/gpiofind /usr/sbin/i2cdetect /usr/sbin/i2cdump /usr/sbin/i2cget /usr/sbin/i2cset \
             /usr/sbin/i2ctransfer; do
        [ -x "$t" ] || die "$t missing: run scripts/qemu/prepare.sh (or pass --no-host-tools)"
        add_file "$t:$t"
    done
fi
for spec in ${FILES[@]+"${FILES[@]}"}; do add_file "$spec"; done
for d in ${LIBDIRS[@]+"${LIBDIRS[@]}"}; do
    d=$(cd "$d" && pwd)
    mkdir -p "$ROOT$d"
    find "$d" -maxdepth 1 \( -type f -o -type l \) -name '*.so*' -exec cp -a {} "$ROOT$d/" \;
    while IFS= read -r -d '' g; do if is_elf "$g"; then need_libs "$g"; fi; done \
        < <(find "$d" -maxdepth 1 -type f -name '*.so*' -print0)
done
for g in ${ELVES[@]+"${ELVES[@]}"}; do need_libs "$g"; done
{
    echo /usr/local/lib
    for d in ${LIBDIRS[@]+"${LIBDIRS[@]}"}; do (cd "$d" && pwd); done
    echo /lib/x86_64-linux-gnu; echo /usr/lib/x86_64-linux-gnu; echo /lib64; echo /lib; echo /usr/lib
} > "$ROOT/etc/ld.so.conf"
if [ ${#LIB_DONE[@]} -gt 0 ] || [ ${#LIBDIRS[@]} -gt 0 ]; then
    ldconfig -X -r "$ROOT" 2>/dev/null || die "ldconfig -r for the guest failed"
fi
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\n' > "$ROOT/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$ROOT/etc/hosts"
cp "$SCRIPT" "$ROOT/guest/script.sh"

# ------------------------------------------------------------------ guest configuration + /init
NONCE=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
    echo "NONCE=$NONCE"
    echo "I2C_ADDRS=$I2C_ADDRS"
} > "$ROOT/etc/gpiobridge/config"
: > "$ROOT/etc/gpiobridge/user-env"
for e in ${ENVS[@]+"${ENVS[@]}"}; do
    [[ "$e" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env wants NAME=VALUE (got '$e')"
    echo "export ${e%%=*}=$(sq "${e#*=}")" >> "$ROOT/etc/gpiobridge/user-env"
done

cat > "$ROOT/init" <<'INIT'
#!/bin/sh
# gpiobridge qemu guest init (generated by scripts/qemu/run-guest.sh)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
. /etc/gpiobridge/config
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ifconfig lo 127.0.0.1 up 2>/dev/null

setup_fail() {
    echo "GUEST-SETUP-ERROR: $*"
    echo "@@GPIOBRIDGE-GUEST-SETUP-FAILED-$NONCE@@"
    sleep 1
    poweroff -f
}
while read -r ko params; do
    [ -n "$ko" ] || continue
    # shellcheck disable=SC2086
    insmod "/lib/modules/$ko" $params || setup_fail "insmod $ko $params"
done < /etc/gpiobridge/modules
grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs configfs /sys/kernel/config \
    || setup_fail "mount configfs"

# gpio-sim: make_chip NAME NUM_LINES [OFFSET=LINE_NAME ...]; sets CHIP (gpiochipN) and SIMDIR.
GS=/sys/kernel/config/gpio-sim
make_chip() {
    name=$1 n=$2; shift 2
    mkdir "$GS/$name" "$GS/$name/bank0" || setup_fail "mkdir $GS/$name/bank0"
    echo "$n" > "$GS/$name/bank0/num_lines" || setup_fail "num_lines for $name"
    echo "$name" > "$GS/$name/bank0/label" || setup_fail "label for $name"
    for spec in "$@"; do
        off=${spec%%=*} ln=${spec#*=}
        mkdir "$GS/$name/bank0/line$off" && echo "$ln" > "$GS/$name/bank0/line$off/name" \
            || setup_fail "name line $off of $name"
    done
    echo 1 > "$GS/$name/live" || setup_fail "$name live"
    dev=$(cat "$GS/$name/dev_name") CHIP=$(cat "$GS/$name/bank0/chip_name")
    SIMDIR=/sys/devices/platform/$dev/$CHIP
    [ -c "/dev/$CHIP" ] && [ -d "$SIMDIR" ] || setup_fail "no /dev/$CHIP or $SIMDIR"
}
make_chip gpiobridge-sim 8 0=GPIO17 1=GPIO27 2=GPIO22 3=GPIO23 4=GPIO24 5=LED 6=DUP
C1=$CHIP S1=$SIMDIR
make_chip gpiobridge-sim2 4 0=DUP
C2=$CHIP S2=$SIMDIR

BUS=""
for d in /sys/bus/i2c/devices/i2c-*; do
    [ "$(cat "$d/name" 2>/dev/null)" = "SMBus stub driver" ] && BUS=${d##*/i2c-}
done
[ -n "$BUS" ] && [ -c "/dev/i2c-$BUS" ] || setup_fail "i2c-stub bus or /dev/i2c-N not found"

{
    echo "export GPIOBRIDGE_GUEST=1"
    echo "export GPIOBRIDGE_KERNEL=$(uname -r)"
    echo "export GPIOBRIDGE_GPIOCHIP=/dev/$C1 GPIOBRIDGE_GPIOCHIP_NAME=$C1 GPIOBRIDGE_GPIOCHIP_LABEL=gpiobridge-sim"
    echo "export GPIOBRIDGE_GPIOCHIP2=/dev/$C2 GPIOBRIDGE_GPIOCHIP2_NAME=$C2 GPIOBRIDGE_GPIOCHIP2_LABEL=gpiobridge-sim2"
    echo "export GPIOBRIDGE_SIM=$S1 GPIOBRIDGE_SIM2=$S2"
    i=0; for n in GPIO17 GPIO27 GPIO22 GPIO23 GPIO24 LED; do
        echo "export GPIOBRIDGE_SIM_$n=$S1/sim_gpio$i"; i=$((i + 1))
    done
    echo "export GPIOBRIDGE_SIM_DUP_1=$S1/sim_gpio6 GPIOBRIDGE_SIM_DUP_2=$S2/sim_gpio0"
    for i in 0 1 2 3 4 5 6 7; do echo "export GPIOBRIDGE_SIM1_LINE$i=$S1/sim_gpio$i"; done
    for i in 0 1 2 3; do echo "export GPIOBRIDGE_SIM2_LINE$i=$S2/sim_gpio$i"; done
    echo "export GPIOBRIDGE_I2C_BUS=$BUS GPIOBRIDGE_I2C_DEV=/dev/i2c-$BUS GPIOBRIDGE_I2C_ADDRS=$I2C_ADDRS"
    cat /etc/gpiobridge/user-env
} > /etc/gpiobridge/env
. /etc/gpiobridge/env

cd /tmp
echo; echo "@@GPIOBRIDGE-GUEST-BEGIN-$NONCE@@"
sh /guest/script.sh </dev/null 2>&1
rc=$?
echo "@@GPIOBRIDGE-GUEST-END-$NONCE@@"
echo "GUEST-EXIT $rc"
sleep 0.3
poweroff -f
INIT
chmod 755 "$ROOT/init"

# ------------------------------------------------------------------ initramfs (uncompressed)
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) > "$WORK/initrd.cpio" \
    || die "cpio failed"
T_BUILT=${EPOCHREALTIME/./}

# ------------------------------------------------------------------ boot
CONSOLE="$WORK/console.log"
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -M pc -accel tcg -cpu max -smp 1 -m "$MEM" \
    -nographic -no-reboot -net none \
    -kernel "$QEMU_VMLINUZ" -initrd "$WORK/initrd.cpio" \
    -append "console=ttyS0 quiet panic=-1" \
    < /dev/null > "$CONSOLE" 2> "$WORK/qemu.err" &
QPID=$!
set +e
wait "$QPID"; qrc=$?
set -e
QPID=""
T_END=${EPOCHREALTIME/./}
tr -d '\r' < "$CONSOLE" > "$CONSOLE.txt"

secs() { printf '%d.%d' $(($1 / 1000000)) $(($1 / 100000 % 10)); }
summary="initramfs $(du -k "$WORK/initrd.cpio" | cut -f1) KiB built in $(secs $((T_BUILT - T_START))) s, qemu ran $(secs $((T_END - T_BUILT))) s"

if [ "$SHOW_CONSOLE" -eq 1 ]; then
    cat "$CONSOLE.txt"
else
    # (a last line without a newline shares its line with the end marker)
    awk -v b="@@GPIOBRIDGE-GUEST-BEGIN-$NONCE@@" -v e="@@GPIOBRIDGE-GUEST-END-$NONCE@@" '
        p && (i = index($0, e)) { if (i > 1) print substr($0, 1, i - 1); exit }
        p { print }
        index($0, b) { p = 1 }' "$CONSOLE.txt"
fi
code=$(awk -v e="@@GPIOBRIDGE-GUEST-END-$NONCE@@" '
    f && /^GUEST-EXIT [0-9]+$/ { print $2; exit }
    index($0, e) { f = 1 }' "$CONSOLE.txt")
if [ -n "$code" ]; then
    echo "$ME: guest script exited $code ($summary)" >&2
    exit "$code"
fi
if grep -q "^@@GPIOBRIDGE-GUEST-SETUP-FAILED-$NONCE@@" "$CONSOLE.txt"; then
    echo "$ME: error: guest setup failed: $(grep '^GUEST-SETUP-ERROR:' "$CONSOLE.txt" | head -n1)" >&2
elif [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
    echo "$ME: error: timed out after $TIMEOUT s ($summary)" >&2
else
    echo "$ME: error: the guest did not report an exit code (qemu exit $qrc; boot failure or panic?)" >&2
fi
if [ "$SHOW_CONSOLE" -eq 0 ] && ! grep -q "@@GPIOBRIDGE-GUEST-BEGIN-$NONCE@@" "$CONSOLE.txt"; then
    echo "---- last 40 console lines (the guest script never started) ----" >&2
    tail -n 40 "$CONSOLE.txt" >&2
fi
[ -s "$WORK/qemu.err" ] && { echo "---- qemu stderr ----" >&2; cat "$WORK/qemu.err" >&2; }
if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then exit 124; fi
exit 125
