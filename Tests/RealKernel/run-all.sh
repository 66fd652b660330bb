#!/bin/sh
# Runs every real-kernel test script copied into /tests, in one guest boot.
status=0
for test in /tests/gpio.sh /tests/i2c.sh /tests/sensors.sh /tests/expander.sh /tests/agent.sh; do
    sh "$test" || status=1
done
exit $status
