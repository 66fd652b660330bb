#!/bin/sh
# Runs inside the qemu guest: gpiobridge's i2c commands against i2c-stub, cross-checked with
# i2c-tools (called by absolute path: busybox has applets of the same names).
. /etc/gpiobridge/env
bin=/usr/local/bin/gpiobridge
bus=$GPIOBRIDGE_I2C_BUS
passed=0
failed=0
check() {
    description=$1; shift
    if "$@"; then echo "PASS: $description"; passed=$((passed + 1)); else echo "FAIL: $description"; failed=$((failed + 1)); fi
}

scan=$($bin i2c scan "$bus" 2>&1)
echo "$scan"
check "scan finds every i2c-stub address" sh -c "echo '$scan' | grep -q '^found: 0x20 0x23 0x38 0x40 0x44 0x45 0x48 0x49 0x4f 0x76$'"
check "scan draws the i2cdetect grid" sh -c "echo '$scan' | grep -q '^70: -- -- -- -- -- -- 76 --'"

/usr/sbin/i2cset -y "$bus" 0x76 0xd0 0x60
check "get reads a register i2cset wrote" [ "$($bin i2c get "$bus" 0x76 0xd0)" = 0x60 ]
$bin i2c set "$bus" 0x48 0x01 0x5a
check "set writes a register i2cget reads" [ "$(/usr/sbin/i2cget -y "$bus" 0x48 0x01)" = 0x5a ]
/usr/sbin/i2cset -y "$bus" 0x76 0x88 0x70 0x6b 0x43 i
check "an I2C-block read returns consecutive registers" [ "$($bin i2c get "$bus" 0x76 0x88 --block 3)" = "0x70 0x6b 0x43" ]
$bin i2c set "$bus" 0x44 0x10 0x1234 --word
check "a word write is read back by i2cget w" [ "$(/usr/sbin/i2cget -y "$bus" 0x44 0x10 w)" = 0x1234 ]
check "a word read returns it" [ "$($bin i2c get "$bus" 0x44 0x10 --word)" = 0x1234 ]

absent=$($bin i2c get "$bus" 0x10 0x00 2>&1); status=$?
check "an absent device is an error, not a value" sh -c "[ $status -eq 1 ] && echo '$absent' | grep -q 'Error: no device answered at 0x10 on I2C bus $bus'"
missing=$($bin i2c scan 9 2>&1)
check "a missing bus lists the buses" sh -c "echo '$missing' | grep -q 'I2C bus 9 does not exist; buses: $bus'"

echo "i2c: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
