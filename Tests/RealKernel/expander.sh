#!/bin/sh
# Runs inside the qemu guest: an MCP23017 on i2c-stub (whose byte cells behave like the part's
# registers) used as a GPIO chip beside gpio-sim, with its INT output on gpio-sim line 7.
. /etc/gpiobridge/env
bin=/usr/local/bin/gpiobridge
bus=$GPIOBRIDGE_I2C_BUS
int_pull=$(dirname "$GPIOBRIDGE_SIM_GPIO17")/sim_gpio7/pull
expander="--expander mcp23017@$bus:0x20,int=gpiochip0:7"
chip=mcp23017-$bus-20
reg() { /usr/sbin/i2cget -y "$bus" 0x20 "$1"; }
passed=0
failed=0
check() {
    description=$1; shift
    if "$@"; then echo "PASS: $description"; passed=$((passed + 1)); else echo "FAIL: $description"; failed=$((failed + 1)); fi
}

# The part powers up with every pin an input (IODIR 0xff); i2c-stub powers up with zeros.
/usr/sbin/i2cset -y "$bus" 0x20 0x00 0xff 0xff i

detect=$($bin gpio detect $expander 2>&1)
check "gpio detect lists the expander beside the kernel chips" sh -c "echo '$detect' | grep -q '^$chip \[mcp23017\] (16 lines)'"
info=$($bin gpio info $expander $chip 2>&1)
check "gpio info names the expander's pins" sh -c "echo '$info' | grep -q 'line 11: \"GPB3\" input'"

$bin gpio set $expander GPA3=1 --hold 2 & holder=$!
sleep 1
check "set GPA3=1 writes OLATA bit 3" [ "$(reg 0x14)" = 0x08 ]
check "set GPA3=1 makes GPA3 an output (IODIRA 0xf7)" [ "$(reg 0x00)" = 0xf7 ]
wait $holder
check "released, GPA3 is an input again" [ "$(reg 0x00)" = 0xff ]

/usr/sbin/i2cset -y "$bus" 0x20 0x13 0x04
check "get GPB2 reads the GPIOB register" [ "$($bin gpio get $expander --bias pull-up GPB2)" = GPB2=1 ]
check "pull-up on GPB2 sets GPPUB bit 2" [ "$(reg 0x0d)" = 0x04 ]

# An edge: the pin changes, the part pulls INT low, gpiobridge reads GPIOB and reports the edge.
echo pull-up > "$int_pull"
$bin gpio monitor $expander "$chip:9" -n 1 > /tmp/expander-edges 2>&1 & monitor=$!
(sleep 15; kill $monitor 2>/dev/null) &  # a missing edge fails the check below instead of hanging
sleep 1.5
check "watching GPB1 enables its interrupt (GPINTENB 0x02)" [ "$(reg 0x05)" = 0x02 ]
info=$($bin gpio info gpiochip0 2>&1)
check "the INT line is held by gpiobridge" sh -c "echo '$info' | grep -q 'line 7: unnamed input used by \"gpiobridge $chip INT\"'"
/usr/sbin/i2cset -y "$bus" 0x20 0x13 0x06
echo pull-down > "$int_pull"
wait $monitor
cat /tmp/expander-edges
check "the INT edge becomes a rising edge on GPB1" grep -q " rising $chip:9\$" /tmp/expander-edges
check "the last watcher gone, interrupts are disabled again" [ "$(reg 0x05)" = 0x00 ]
echo pull-up > "$int_pull"

unsupported=$($bin gpio get $expander --bias pull-down GPA0 2>&1)
check "a pull-down is refused with a reason" sh -c "echo '$unsupported' | grep -q 'Error: $chip: a mcp23017 has no pull-down resistors'"

echo "expander: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
