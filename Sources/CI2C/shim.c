// The API is in include/gpiobridge_i2c.h (static inline); this file gives the target a source.
#include "gpiobridge_i2c.h"
