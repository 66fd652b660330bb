#!/bin/sh
# Runs inside the qemu guest: `gpiobridge sensor read` through i2c-stub, with each part's registers
# preloaded from its datasheet's example (or a published register dump), checking the physical
# values. The command-based parts (SHT3x, SHT4x, AHT20, BH1750) answer with plain reads, which
# i2c-stub cannot do: gpiobridge reads their reply from stub cell 0x00 on with an I2C-block read.
# Their command writes are wire-identical; their reads are not. i2c-stub word cells are separate
# from byte cells, and SMBus words are low byte first, so the big-endian 16-bit registers of the
# ADS1115, LM75, TMP102 and INA219 are seeded byte-swapped with word writes.
. /etc/gpiobridge/env
bin=/usr/local/bin/gpiobridge
bus=$GPIOBRIDGE_I2C_BUS
set_bytes() { /usr/sbin/i2cset -y "$bus" "$@" i; }  # address register bytes...
set_word() { /usr/sbin/i2cset -y "$bus" "$1" "$2" "$3" w; }
passed=0
failed=0
check() {
    description=$1; shift
    if "$@"; then echo "PASS: $description"; passed=$((passed + 1)); else echo "FAIL: $description"; failed=$((failed + 1)); fi
}
# near OUTPUT QUANTITY EXPECTED TOLERANCE UNIT: the reading is within tolerance, with its unit.
near() {
    echo "$1" | awk -v q="$2" -v want="$3" -v tol="$4" -v unit="$5" '
        $1 == q { found = 1; d = $2 - want; if (d < 0) d = -d; ok = (d <= tol && $3 == unit) }
        END { exit !(found && ok) }'
}

# BME280 at 0x76: the register dump of Bosch's community thread "BME280 Data to test Calculations".
/usr/sbin/i2cset -y "$bus" 0x76 0xd0 0x60
set_bytes 0x76 0x88 0x6c 0x6e 0x77 0x66 0x32 0x00 0xa8 0x92 0x27 0xd5 0xd0 0x0b 0x6f 0x18 0xca 0xff 0xf9 0xff 0xac 0x26 0x0a 0xd8 0xbd 0x10
/usr/sbin/i2cset -y "$bus" 0x76 0xa1 0x4b
set_bytes 0x76 0xe1 0x65 0x01 0x00 0x14 0x0b 0x00 0x1e
set_bytes 0x76 0xf7 0x55 0x33 0x80 0x81 0x7f 0xb0 0x79 0x13
out=$($bin sensor read bme280 --bus "$bus" 2>&1); echo "$out"
check "bme280: 24.44 °C" near "$out" temperature 24.44 0.005 °C
check "bme280: 54.172 %RH" near "$out" humidity 54.172 0.001 %
check "bme280: 996.213 hPa" near "$out" pressure 996.2127 0.001 hPa
check "bme280: forced mode was started (ctrl_meas 0x25)" [ "$(/usr/sbin/i2cget -y "$bus" 0x76 0xf4)" = 0x25 ]

# BH1750 at 0x23: 0x8390 counts is 28067 lx.
set_bytes 0x23 0x00 0x83 0x90
out=$($bin sensor read bh1750 --bus "$bus" 2>&1); echo "$out"
check "bh1750: 28066.667 lx" near "$out" illuminance 28066.667 0.001 lx

# AHT20 at 0x38: status 0x1c (calibrated), then 1C 26 9A 76 42 E7 76.
set_bytes 0x38 0x00 0x1c 0x26 0x9a 0x76 0x42 0xe7 0x76
out=$($bin sensor read aht20 --bus "$bus" 2>&1); echo "$out"
check "aht20: 28.267 °C" near "$out" temperature 28.267 0.001 °C
check "aht20: 15.079 %RH" near "$out" humidity 15.079 0.001 %

# SHT3x at 0x44 and SHT4x at 0x45: 0x6666 (CRC 0x93) is 25 °C; 0x8000 (CRC 0xa2) is 50 / 56.5 %RH.
set_bytes 0x44 0x00 0x66 0x66 0x93 0x80 0x00 0xa2
out=$($bin sensor read sht3x --bus "$bus" 2>&1); echo "$out"
check "sht3x: 25 °C" near "$out" temperature 25 0.001 °C
check "sht3x: 50.001 %RH" near "$out" humidity 50.001 0.001 %
set_bytes 0x45 0x00 0x66 0x66 0x93 0x80 0x00 0xa2
out=$($bin sensor read sht4x --bus "$bus" --address 0x45 2>&1); echo "$out"
check "sht4x: 56.501 %RH" near "$out" humidity 56.501 0.001 %
set_bytes 0x44 0x00 0x66 0x66 0x94
out=$($bin sensor read sht3x --bus "$bus" 2>&1); status=$?
check "sht3x: a CRC mismatch is an error, not a reading" \
    sh -c "[ $status -eq 1 ] && echo '$out' | grep -q 'Error: sht3x at 0x44: CRC mismatch (computed 0x93, received 0x94)'"

# ADS1115 at 0x48: code 0x4000 at ±2.048 V is 1.024 V.
set_word 0x48 0x00 0x0040
out=$($bin sensor read ads1115 --bus "$bus" --full-scale 2.048 --channel 1 2>&1); echo "$out"
check "ads1115: 1.024 V" near "$out" voltage 1.024 0.000001 V
check "ads1115: single shot on AIN1 at ±2.048 V was configured (0xd583)" [ "$(/usr/sbin/i2cget -y "$bus" 0x48 0x01 w)" = 0x83d5 ]

# TMP102 at 0x49 and LM75 at 0x4f.
set_word 0x49 0x00 0x0019
out=$($bin sensor read tmp102 --bus "$bus" --address 0x49 2>&1); echo "$out"
check "tmp102: 0x1900 is 25 °C" near "$out" temperature 25 0 °C
set_word 0x49 0x00 0x00c9
out=$($bin sensor read tmp102 --bus "$bus" --address 0x49 2>&1)
check "tmp102: 0xc900 is -55 °C" near "$out" temperature -55 0 °C
set_word 0x4f 0x00 0x00e7
out=$($bin sensor read lm75 --bus "$bus" --address 0x4f 2>&1); echo "$out"
check "lm75: 0xe700 is -25 °C" near "$out" temperature -25 0 °C

# INA219 at 0x40: datasheet table 3, a 2 mΩ shunt and a 1 mA current LSB.
set_word 0x40 0x01 0xd007
set_word 0x40 0x02 0x985d
set_word 0x40 0x03 0x6617
set_word 0x40 0x04 0x1027
out=$($bin sensor read ina219 --bus "$bus" --shunt-ohms 0.002 --max-current 32.768 2>&1); echo "$out"
check "ina219: calibration 0x5000 written" [ "$(/usr/sbin/i2cget -y "$bus" 0x40 0x05 w)" = 0x0050 ]
check "ina219: 11.98 V" near "$out" voltage 11.98 0.000001 V
check "ina219: 10 A" near "$out" current 10 0.000001 A
check "ina219: 119.8 W" near "$out" power 119.8 0.000001 W

# Errors, never values.
out=$($bin sensor read bme280 --bus "$bus" --address 0x77 2>&1); status=$?
check "an absent sensor is a NACK error" sh -c "[ $status -eq 1 ] && echo '$out' | grep -q 'Error: no device answered at 0x77'"
out=$($bin sensor read bme280 --bus "$bus" --address 0x49 2>&1); status=$?
check "another chip at the address is named, not read" \
    sh -c "[ $status -eq 1 ] && echo '$out' | grep -q 'Error: the device at 0x49 is not a bme280: chip id 0x00, expected 0x60'"

echo "sensors: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
