#!/usr/bin/env bash
# Proves the qemu harness without any project code: boots the guest once and checks gpio-sim with
# Debian's libgpiod v1 tools (gpioset/gpioget/gpiomon/gpiofind), i2c-stub with i2c-tools, and
# gpio-sim again with the libgpiod 2.x tools built by prepare.sh (passed in with --file/--lib-dir).
# Prints PASS/FAIL per check and "selftest: N passed, N failed"; exits non-zero on any failure.
# usage: selftest.sh [--no-prepare] [extra run-guest.sh options]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${GPIOBRIDGE_QEMU_CACHE:-$REPO/.build-qemu}
PREPARE=1
if [ "${1:-}" = "--no-prepare" ]; then PREPARE=0; shift; fi

T0=${EPOCHREALTIME/./}
if [ "$PREPARE" -eq 1 ]; then "$HERE/prepare.sh"; fi
T1=${EPOCHREALTIME/./}

GUEST=$(mktemp /tmp/gpiobridge-selftest.XXXXXX.sh)
trap 'rm -f "$GUEST"' EXIT
cat > "$GUEST" <<'GUEST_EOF'
# Runs inside the qemu guest under busybox sh.
pass=0 fail=0 skip=0
ok()   { echo "PASS: $1"; pass=$((pass + 1)); }
bad()  { echo "FAIL: $1${2:+ -- $2}"; fail=$((fail + 1)); }
skip() { echo "SKIP: $1${2:+ -- $2}"; skip=$((skip + 1)); }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected '$2', got '$3'"; fi; }
# wait_value FILE WANT: poll a sysfs file for up to ~5 s
wait_value() {
    n=0
    while [ $n -lt 50 ]; do [ "$(cat "$1")" = "$2" ] && return 0; usleep 100000; n=$((n + 1)); done
    return 1
}
# edge_until_exit PID PULLFILE: toggle the pull until PID (a monitor) exits, at most ~15 s
edge_until_exit() {
    n=0
    while kill -0 "$1" 2>/dev/null && [ $n -lt 50 ]; do
        echo pull-down > "$2"; usleep 100000; echo pull-up > "$2"; usleep 200000; n=$((n + 1))
    done
}
C1=$GPIOBRIDGE_GPIOCHIP_NAME C2=$GPIOBRIDGE_GPIOCHIP2_NAME
I2C=/usr/sbin            # absolute paths: busybox sh would run its own i2c applets
BUS=$GPIOBRIDGE_I2C_BUS
echo "kernel $GPIOBRIDGE_KERNEL; chips $C1 $C2; i2c bus $BUS ($GPIOBRIDGE_I2C_ADDRS)"

echo "== libgpiod v1 tools (Debian $(gpioget --version 2>&1 | head -n1))"
check "v1 gpiodetect lists both sim chips" 2 "$(gpiodetect | grep -c 'gpiobridge-sim')"
check "v1 gpiofind LED" "$C1 5" "$(gpiofind LED)"
check "v1 gpioinfo shows GPIO17 at offset 0" 1 "$(gpioinfo "$C1" | grep -c 'line   0:.*"GPIO17"')"
# (a) an output held by gpioset shows in the sim's value; released, it falls back to the pull
gpioset -m signal "$C1" 5=1 & pid=$!
if wait_value "$GPIOBRIDGE_SIM_LED/value" 1; then ok "v1 gpioset LED=1 -> sim value 1"; else bad "v1 gpioset LED=1 -> sim value 1" "value $(cat "$GPIOBRIDGE_SIM_LED/value")"; fi
kill "$pid"; wait "$pid" 2>/dev/null
if wait_value "$GPIOBRIDGE_SIM_LED/value" 0; then ok "v1 released output falls back to pull-down"; else bad "v1 released output falls back to pull-down"; fi
gpioset -m signal "$C1" 7=1 & pid=$!
wait_value "$GPIOBRIDGE_SIM1_LINE7/value" 1
gpioset -m signal "$C1" 7=0 2>/dev/null & pid2=$!
usleep 300000
if kill -0 "$pid2" 2>/dev/null; then bad "v1 second request of a held line is refused"; kill "$pid2"; else ok "v1 second request of a held line is refused"; fi
kill "$pid"; wait "$pid" 2>/dev/null
# (b) pull written to the sim drives inputs: gpioget and gpiomon see it
echo pull-up > "$GPIOBRIDGE_SIM_GPIO17/pull"
check "v1 pull-up -> gpioget GPIO17 = 1" 1 "$(gpioget "$C1" 0)"
echo pull-down > "$GPIOBRIDGE_SIM_GPIO17/pull"
check "v1 pull-down -> gpioget GPIO17 = 0" 0 "$(gpioget "$C1" 0)"
echo pull-down > "$GPIOBRIDGE_SIM_GPIO27/pull"
timeout 20 gpiomon -n 1 -r "$C1" 1 > /tmp/mon1 2>&1 & pid=$!
edge_until_exit "$pid" "$GPIOBRIDGE_SIM_GPIO27/pull"
wait "$pid"; rc=$?
if [ $rc -eq 0 ] && grep -q 'RISING EDGE.*offset: *1' /tmp/mon1; then ok "v1 gpiomon -n 1 -r sees a rising edge from pull-up"; else bad "v1 gpiomon rising edge" "rc $rc: $(cat /tmp/mon1)"; fi
echo pull-up > "$GPIOBRIDGE_SIM_GPIO27/pull"
timeout 20 gpiomon -n 2 -f "$C1" 1 > /tmp/mon2 2>&1 & pid=$!
edge_until_exit "$pid" "$GPIOBRIDGE_SIM_GPIO27/pull"
wait "$pid"; rc=$?
check "v1 gpiomon -n 2 -f counts two falling edges" "0 2" "$rc $(grep -c 'FALLING EDGE' /tmp/mon2)"
echo pull-down > "$GPIOBRIDGE_SIM_GPIO27/pull"

echo "== i2c-stub with i2c-tools"
if [ -c "$GPIOBRIDGE_I2C_DEV" ]; then ok "i2c-stub bus $BUS has $GPIOBRIDGE_I2C_DEV"; else bad "i2c-stub device node"; fi
check "i2cdetect finds 0x76" 1 "$($I2C/i2cdetect -y "$BUS" | grep -c '^70:.* 76')"
$I2C/i2cset -y "$BUS" 0x76 0xd0 0x60 b
check "i2cset/i2cget byte-data 0x76 reg 0xd0" 0x60 "$($I2C/i2cget -y "$BUS" 0x76 0xd0 b)"
$I2C/i2cset -y "$BUS" 0x48 0x01 0x1234 w
check "i2cset/i2cget word-data 0x48 reg 0x01" 0x1234 "$($I2C/i2cget -y "$BUS" 0x48 0x01 w)"
$I2C/i2cset -y "$BUS" 0x44 0x10 0x01 0x02 0x03 i
check "i2cset/i2cget I2C block 0x44 reg 0x10" "0x01 0x02 0x03" "$($I2C/i2cget -y "$BUS" 0x44 0x10 i 3 2>&1)"
if $I2C/i2cget -y "$BUS" 0x10 0x00 b >/dev/null 2>&1; then bad "i2cget at an absent address fails"; else ok "i2cget at an absent address fails"; fi

V2=/opt/libgpiod2/bin
if [ -x "$V2/gpioset" ]; then
    echo "== libgpiod 2 tools ($($V2/gpioget --version 2>&1 | head -n1))"
    case "$($V2/gpioget --version 2>&1)" in *v2.*) ok "v2 tools run (libgpiod.so.3 from --lib-dir)" ;; *) bad "v2 tools run" "$($V2/gpioget --version 2>&1)" ;; esac
    # (a) by line name
    $V2/gpioset -c "$C1" LED=1 & pid=$!
    if wait_value "$GPIOBRIDGE_SIM_LED/value" 1; then ok "v2 gpioset LED=1 -> sim value 1"; else bad "v2 gpioset LED=1 -> sim value 1"; fi
    kill "$pid"; wait "$pid" 2>/dev/null
    $V2/gpioset -c "$C2" 2=1 & pid=$!
    if wait_value "$GPIOBRIDGE_SIM2_LINE2/value" 1; then ok "v2 gpioset chip2 offset 2 -> sim value 1"; else bad "v2 gpioset chip2 offset 2"; fi
    kill "$pid"; wait "$pid" 2>/dev/null
    # (b) pull -> gpioget / gpiomon
    echo pull-up > "$GPIOBRIDGE_SIM_GPIO22/pull"
    check "v2 pull-up -> gpioget GPIO22 (by name, no chip) = 1" 1 "$($V2/gpioget --numeric GPIO22)"
    echo pull-down > "$GPIOBRIDGE_SIM_GPIO22/pull"
    check "v2 pull-down -> gpioget -c chip GPIO22 = 0" 0 "$($V2/gpioget --numeric -c "$C1" GPIO22)"
    echo pull-down > "$GPIOBRIDGE_SIM_GPIO23/pull"
    timeout 20 $V2/gpiomon -e rising -n 1 GPIO23 > /tmp/mon3 2>&1 & pid=$!
    edge_until_exit "$pid" "$GPIOBRIDGE_SIM_GPIO23/pull"
    wait "$pid"; rc=$?
    if [ $rc -eq 0 ] && grep -q 'rising.*GPIO23' /tmp/mon3; then ok "v2 gpiomon -e rising -n 1 GPIO23"; else bad "v2 gpiomon rising edge" "rc $rc: $(cat /tmp/mon3)"; fi
    echo pull-down > "$GPIOBRIDGE_SIM_GPIO23/pull"
    # duplicated name across chips
    if $V2/gpioget --strict DUP >/dev/null 2>&1; then bad "v2 gpioget --strict DUP refuses the ambiguous name"; else ok "v2 gpioget --strict DUP refuses the ambiguous name"; fi
    check "v2 gpioinfo -c chip2 DUP finds it there" 1 "$($V2/gpioinfo -c "$C2" DUP 2>&1 | grep -c "^$C2 0[[:space:]]*\"DUP\"")"
    check "v2 gpioinfo DUP without --strict takes the first chip's" 1 "$($V2/gpioinfo DUP 2>&1 | grep -c "^$C1 6[[:space:]]*\"DUP\"")"
else
    skip "libgpiod 2 tools" "not in the guest (prepare.sh could not build them)"
fi

echo "selftest: $pass passed, $fail failed${skip:+, $skip skipped}"
[ "$fail" -eq 0 ]
GUEST_EOF

ARGS=()
L2="$CACHE/libgpiod2"
if [ -x "$L2/bin/gpioset" ]; then
    for t in gpiodetect gpioinfo gpioget gpioset gpiomon; do ARGS+=(--file "$L2/bin/$t:/opt/libgpiod2/bin/$t"); done
    ARGS+=(--lib-dir "$L2/lib")
else
    echo "selftest.sh: NOTE: $L2/bin/gpioset missing: the libgpiod 2 checks will be reported as SKIP" >&2
fi

set +e
"$HERE/run-guest.sh" ${ARGS[@]+"${ARGS[@]}"} "$@" "$GUEST"
rc=$?
set -e
T2=${EPOCHREALTIME/./}
printf 'selftest.sh: prepare %d.%d s, guest run %d.%d s, exit %d\n' \
    $(((T1 - T0) / 1000000)) $(((T1 - T0) / 100000 % 10)) $(((T2 - T1) / 1000000)) $(((T2 - T1) / 100000 % 10)) "$rc" >&2
exit "$rc"
