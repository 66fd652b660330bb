#!/bin/sh
# Runs in a booted Debian (systemd as PID 1, the release's stock Mosquitto, gpio-sim) and proves the
# package as a user meets it: install, user and groups, udev, a profile, the running unit toggling
# a line by publish, reloads, journald, the watchdog, remove and purge. Prints "PROOF ok: ..." or
# "PROOF FAIL: ..." per check and "PROOF RESULT pass|fail", then powers the guest off.
# The mode comes from the kernel command line: gpiobridge.proof=full (every check) or smoke.
set -u
mode=$(sed -n 's/.*gpiobridge\.proof=\([a-z]*\).*/\1/p' /proc/cmdline)
deb=$(ls /root/gpiobridge_*.deb)
failed=0
say() { echo "PROOF $*" > /dev/console; }
check() { # DESCRIPTION COMMAND...
    description=$1; shift
    if "$@" > /tmp/check.out 2>&1; then say "ok: $description"; else
        say "FAIL: $description"; sed 's/^/PROOF   | /' /tmp/check.out | head -20 > /dev/console; failed=1; fi
}
finish() {
    if [ "$failed" -eq 0 ]; then say "RESULT pass"; else say "RESULT fail"; fi
    systemctl poweroff --no-block
    exit 0
}
wait_until() { # SECONDS COMMAND...: retries every 0.2 s
    limit=$(($1 * 5)); shift
    while [ "$limit" -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; limit=$((limit - 1)); done
    "$@"
}
full() { [ "$mode" = full ]; }
sim_value() { cat "/sys/devices/platform/$sim_device/$sim_chip/sim_gpio$1/value"; }
line_is() { [ "$(sim_value "$1")" = "$2" ]; }

say "start: $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME"), systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'), mode $mode"
check "mosquitto runs with its packaged configuration" wait_until 30 systemctl is-active --quiet mosquitto

check "apt install ./$(basename "$deb")" sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y $deb"
[ "$failed" -eq 0 ] || finish
check "the gpiobridge user is in the gpio and i2c groups" sh -c 'id -nG gpiobridge | tr " " "\n" | grep -qx gpio && id -nG gpiobridge | tr " " "\n" | grep -qx i2c'
check "/etc/gpiobridge is root:gpiobridge 750" sh -c '[ "$(stat -c %U:%G:%a /etc/gpiobridge)" = root:gpiobridge:750 ]'
check "the example profile is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' gpiobridge | grep -q /etc/gpiobridge/example.yml"
if full; then
    check "man gpiobridge-profile-apply is installed" sh -c 'man -w gpiobridge-profile-apply | grep -q gpiobridge-profile-apply.1.gz'
fi
systemctl enable --now gpiobridge > /tmp/enable.out 2>&1
check "without a profile the agent does not start (ConditionPathExists)" sh -c \
    '[ "$(systemctl show -P ConditionResult gpiobridge)" = no ] && ! systemctl is-active --quiet gpiobridge'

# A gpio-sim chip with the Pi's line names, made after the install so that udev applies its rule.
modprobe gpio-sim
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
mkdir -p /sys/kernel/config/gpio-sim/proof/bank0
echo 32 > /sys/kernel/config/gpio-sim/proof/bank0/num_lines
for line in 17 22 27; do
    mkdir -p "/sys/kernel/config/gpio-sim/proof/bank0/line$line"
    echo "GPIO$line" > "/sys/kernel/config/gpio-sim/proof/bank0/line$line/name"
done
echo 1 > /sys/kernel/config/gpio-sim/proof/live
sim_device=$(cat /sys/kernel/config/gpio-sim/proof/dev_name)
sim_chip=$(cat /sys/kernel/config/gpio-sim/proof/bank0/chip_name)
udevadm settle
check "udev gives /dev/$sim_chip to the gpio group (mode 660)" sh -c "[ \"\$(stat -c %G:%a /dev/$sim_chip)\" = gpio:660 ]"

# profile NAME LINE: light on GPIO17 and a second output
profile() { printf 'device: {id: proof}\noutputs:\n  - {name: light, line: GPIO17, initial: off}\n  - {name: %s, line: %s, initial: off}\n' "$1" "$2" > /root/relay.yml; }
profile fan GPIO27
check "gpiobridge profile apply /root/relay.yml" gpiobridge profile apply /root/relay.yml
timeout 30 mosquitto_sub -t gpiobridge/proof/status -t gpiobridge/proof/light -v > /tmp/sub.log 2>&1 &
sleep 0.5
systemctl start gpiobridge
check "systemctl is-active gpiobridge says active (after READY=1)" systemctl is-active --quiet gpiobridge
check "the agent announces itself online" wait_until 15 grep -qx "gpiobridge/proof/status online" /tmp/sub.log
mosquitto_pub -t gpiobridge/proof/light/set -m ON -q 1
check "publishing ON to gpiobridge/proof/light/set drives GPIO17 high (sysfs)" wait_until 10 line_is 17 1
check "the state ON comes back on gpiobridge/proof/light" wait_until 10 grep -qx "gpiobridge/proof/light ON" /tmp/sub.log
# libdispatch may say once that it could not raise a worker's priority; nothing else is not ours.
check "journald holds only the agent's own lines" sh -c \
    'journalctl -b -o cat _SYSTEMD_UNIT=gpiobridge.service _COMM=gpiobridge | grep -v "^\(info\|notice\|warning\|error\|debug\) [a-z]*: " \
        | grep -v "Failed to set thread priority" | { ! grep .; }'

if full; then
    # Reloads: the output that stays keeps its level throughout; a new one answers; a removed one is released.
    touch /tmp/sampling
    (while [ -f /tmp/sampling ]; do sim_value 17 >> /tmp/samples; sleep 0.05; done) &
    profile pump GPIO22
    check "gpiobridge profile apply of a changed profile reloads the running agent" gpiobridge profile apply /root/relay.yml
    check "systemctl reload gpiobridge" systemctl reload gpiobridge
    sleep 1
    rm -f /tmp/sampling
    sleep 0.2
    check "GPIO17 stayed high through both reloads ($(wc -l < /tmp/samples) samples, never low)" sh -c '[ -s /tmp/samples ] && ! grep -qx 0 /tmp/samples'
    timeout 15 mosquitto_sub -t gpiobridge/proof/pump -v > /tmp/pump.log 2>&1 &
    sleep 0.5
    mosquitto_pub -t gpiobridge/proof/pump/set -m ON -q 1
    check "the new output answers: pump ON drives GPIO22" wait_until 10 line_is 22 1
    check "and its state comes back ON" wait_until 10 grep -qx "gpiobridge/proof/pump ON" /tmp/pump.log
    check "the removed output GPIO27 is released" sh -c 'gpiobridge gpio info '"$sim_chip"' | grep "\"GPIO27\"" | grep -vq "used by"'

    mosquitto_pub -t gpiobridge/proof/light/set -m sideways -q 1
    check "journald has the agent's own info lines at priority 6" wait_until 10 sh -c 'journalctl -b -u gpiobridge -p 6..6 -o cat | grep -q "connected to"'
    check "journald has the refused payload as a warning (priority 4)" wait_until 10 sh -c 'journalctl -b -u gpiobridge -p 4..4 -o cat | grep -q sideways'

    here=$(systemd-analyze security gpiobridge 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
    offline=$(systemd-analyze security --offline=yes /lib/systemd/system/gpiobridge.service /usr/lib/systemd/system/gpiobridge.service 2>/dev/null \
        | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' | head -1)
    check "systemd-analyze security gpiobridge: $here here, $offline offline" systemd-analyze security --threshold=20 gpiobridge

    # The watchdog: a stopped agent misses its pings; systemd kills it and starts another.
    timeout 90 mosquitto_sub -t gpiobridge/proof/status -v > /tmp/watchdog.log 2>&1 &
    sleep 0.5
    first=$(systemctl show -P MainPID gpiobridge)
    kill -STOP "$first"
    check "systemd restarts the SIGSTOPped agent (watchdog)" wait_until 60 sh -c \
        '[ "$(systemctl show -P MainPID gpiobridge)" != '"$first"' ] && systemctl is-active --quiet gpiobridge'
    check "its will said offline, then the new agent said online" wait_until 15 sh -c \
        'grep -n . /tmp/watchdog.log | grep -A5 "status offline" | grep -q "status online"'
    check "journald names the watchdog" sh -c 'journalctl -b -u gpiobridge -o cat | grep -qi "watchdog timeout"'
fi

check "apt remove gpiobridge" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get remove -y gpiobridge'
check "no gpiobridge process runs after remove" sh -c '! pgrep -x gpiobridge'
check "remove leaves the user's profile" test -f /etc/gpiobridge/profile.yml
if full; then
    check "apt purge gpiobridge" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y gpiobridge'
    check "purge removes the gpiobridge user and group, and the gpio and i2c groups it created" sh -c \
        '! getent passwd gpiobridge && ! getent group gpiobridge && ! getent group gpio && ! getent group i2c'
    leftovers=$(find / -xdev -name '*gpiobridge*' -not -path '/etc/gpiobridge' -not -path '/root/*' 2>/dev/null | tr '\n' ' ')
    check "purge leaves nothing named gpiobridge but /etc/gpiobridge (found: ${leftovers:-nothing})" test -z "$leftovers"
    check "/etc/gpiobridge holds only what the user wrote: $(ls /etc/gpiobridge | tr '\n' ' ')" sh -c \
        '[ "$(ls /etc/gpiobridge | tr "\n" " ")" = "profile.yml profile.yml.previous " ]'
fi
finish
