#!/bin/sh
# Runs inside the qemu guest (scripts/qemu/run-guest.sh): the release gpiobridge binary against
# gpio-sim lines. GPIOBRIDGE_API says which libgpiod API the binary was built with (v1 or v2).
. /etc/gpiobridge/env
bin=/usr/local/bin/gpiobridge
passed=0
failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }
check() { # description, command...
    description=$1; shift
    if "$@"; then pass "$description"; else fail "$description"; fi
}
value() { cat "$1/value"; }
pull() { echo "$2" > "$1/pull"; }

echo "gpiobridge on $GPIOBRIDGE_KERNEL, libgpiod $GPIOBRIDGE_API"
version=$($bin --version)
check "the binary uses the libgpiod $GPIOBRIDGE_API API ($version)" sh -c "echo '$version' | grep -q '(libgpiod $GPIOBRIDGE_API '"

# Chips and lines are found and named.
detect=$($bin gpio detect 2>&1)
check "gpio detect lists the simulated chips" sh -c "echo '$detect' | grep -q '^gpiochip0 \[gpiobridge-sim\] (8 lines)' && echo '$detect' | grep -q '^gpiochip1 \[gpiobridge-sim2\] (4 lines)'"
info=$($bin gpio info gpiochip0 2>&1)
check "gpio info shows line names" sh -c "echo '$info' | grep -q 'line 0: \"GPIO17\" input'"

# Outputs: by name, by chip and offset, active-low; the sim shows what we drive.
$bin gpio set GPIO17=1 --hold 3 & holder=$!
sleep 1
check "set GPIO17=1 drives the line high" [ "$(value "$GPIOBRIDGE_SIM_GPIO17")" = 1 ]
info=$($bin gpio info gpiochip0 2>&1)
check "a held line shows its consumer gpiobridge" sh -c "echo '$info' | grep -q 'line 0: \"GPIO17\" output used by \"gpiobridge\"'"
busy=$($bin gpio get GPIO17 2>&1); status=$?
check "a line held by another gpiobridge is busy, and says by whom" sh -c "[ $status -eq 1 ] && echo '$busy' | grep -q 'Error: line gpiochip0:0 (GPIO17) is busy, held by \"gpiobridge\"'"
wait $holder
check "released, the line falls back to its pull" [ "$(value "$GPIOBRIDGE_SIM_GPIO17")" = 0 ]

$bin gpio set gpiochip0 1=1 --hold 2 & holder=$!
sleep 1
check "set gpiochip0 1=1 (chip and offset) drives GPIO27 high" [ "$(value "$GPIOBRIDGE_SIM_GPIO27")" = 1 ]
wait $holder
$bin gpio set GPIO22=1 --active-low --hold 2 & holder=$!
sleep 1
check "active-low: logical 1 drives the line low" [ "$(value "$GPIOBRIDGE_SIM_GPIO22")" = 0 ]
wait $holder
$bin gpio set GPIO22=0 --active-low --hold 2 & holder=$!
sleep 1
check "active-low: logical 0 drives the line high" [ "$(value "$GPIOBRIDGE_SIM_GPIO22")" = 1 ]
wait $holder

# Another process holding a line.
gpioset --mode=signal gpiochip0 5=1 & other=$!
sleep 0.5
busy=$($bin gpio get LED 2>&1)
check "a line held by gpioset is busy, held by \"gpioset\"" sh -c "echo '$busy' | grep -q 'busy, held by \"gpioset\"'"
kill $other; wait $other 2>/dev/null

# Inputs follow the pull the sim applies.
pull "$GPIOBRIDGE_SIM_GPIO23" pull-up
check "get GPIO23 reads 1 under pull-up" [ "$($bin gpio get GPIO23)" = "GPIO23=1" ]
pull "$GPIOBRIDGE_SIM_GPIO23" pull-down
check "get GPIO23 reads 0 under pull-down" [ "$($bin gpio get GPIO23)" = "GPIO23=0" ]

# Edge events come from the kernel, in order, with timestamps.
pull "$GPIOBRIDGE_SIM_GPIO24" pull-down
$bin gpio monitor GPIO24 -n 2 > /tmp/edges 2>&1 & monitor=$!
sleep 1
pull "$GPIOBRIDGE_SIM_GPIO24" pull-up
sleep 0.2
pull "$GPIOBRIDGE_SIM_GPIO24" pull-down
wait $monitor
check "monitor sees a rising then a falling edge" sh -c "sed -n 1p /tmp/edges | grep -q '^[0-9]*\.[0-9]\{9\} rising GPIO24$' && sed -n 2p /tmp/edges | grep -q ' falling GPIO24$'"

# Debounce: kernel debounce with v2, gpiobridge's software debounce with v1. A glitch shorter than
# the period vanishes; a level that holds is delivered once.
pull "$GPIOBRIDGE_SIM_GPIO24" pull-down
$bin gpio monitor GPIO24 --debounce-us 300000 > /tmp/debounced 2>&1 & monitor=$!
sleep 1
pull "$GPIOBRIDGE_SIM_GPIO24" pull-up; pull "$GPIOBRIDGE_SIM_GPIO24" pull-down
sleep 1
pull "$GPIOBRIDGE_SIM_GPIO24" pull-up
sleep 1
kill -TERM $monitor; wait $monitor
cat /tmp/debounced
check "debounce ($GPIOBRIDGE_API): the glitch vanished and the held level came once" \
    sh -c "[ \$(wc -l < /tmp/debounced) -eq 1 ] && grep -q ' rising GPIO24$' /tmp/debounced"

# Errors name what exists.
ambiguous=$($bin gpio get DUP 2>&1)
check "an ambiguous name lists where it is" sh -c "echo '$ambiguous' | grep -q 'exists on more than one chip (gpiochip0:6, gpiochip1:0)'"
unknown=$($bin gpio get NOPE 2>&1)
check "an unknown name lists the named lines" sh -c "echo '$unknown' | grep -q 'no GPIO line is named NOPE; named lines: GPIO17, GPIO27'"
missing=$($bin gpio set gpiochip9 3=1 2>&1)
check "a missing chip lists the chips" sh -c "echo '$missing' | grep -q 'GPIO chip gpiochip9 does not exist; chips: gpiochip0 \[gpiobridge-sim\], gpiochip1 \[gpiobridge-sim2\]'"
range=$($bin gpio get gpiochip1:9 2>&1)
check "an offset past the chip's end is refused" sh -c "echo '$range' | grep -q 'gpiochip1 has lines 0...3; there is no line 9'"

echo "gpio ($GPIOBRIDGE_API): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
