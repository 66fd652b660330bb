// i2c-dev for Swift: Swift cannot call the variadic ioctl(), so the address and functionality
// requests are wrapped here; the SMBus transfers come from libi2c (i2c/smbus.h).
#ifndef GPIOBRIDGE_I2C_H
#define GPIOBRIDGE_I2C_H

#include <i2c/smbus.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <sys/ioctl.h>

/// Directs later transfers on `fd` to the 7-bit `address`. 0, or -1 with errno (EBUSY when a
/// kernel driver owns the address).
static inline int gb_i2c_set_address(int fd, int address) {
    return ioctl(fd, I2C_SLAVE, address);
}

/// The adapter's I2C_FUNC_* bits, or -1 with errno.
static inline long gb_i2c_functionality(int fd, unsigned long *functionality) {
    return ioctl(fd, I2C_FUNCS, functionality);
}

static const unsigned long GB_I2C_FUNC_I2C = I2C_FUNC_I2C;
static const unsigned long GB_I2C_FUNC_SMBUS_QUICK = I2C_FUNC_SMBUS_QUICK;
static const unsigned long GB_I2C_FUNC_SMBUS_READ_BYTE = I2C_FUNC_SMBUS_READ_BYTE;
static const unsigned long GB_I2C_FUNC_SMBUS_READ_I2C_BLOCK = I2C_FUNC_SMBUS_READ_I2C_BLOCK;

#endif
