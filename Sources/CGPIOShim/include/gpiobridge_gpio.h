// One C API over libgpiod v1 (1.6, Debian 12) and v2 (2.x, Raspberry Pi OS trixie, Pi 5).
// The API is chosen at compile time: v1's gpiod.h defines GPIOD_LINE_BULK_MAX_LINES, v2's does
// not. Define GPIOBRIDGE_LIBGPIOD_V1 or GPIOBRIDGE_LIBGPIOD_V2 to override the detection.
#ifndef GPIOBRIDGE_GPIO_H
#define GPIOBRIDGE_GPIO_H

#include <stddef.h>
#include <stdint.h>

typedef struct gb_chip gb_chip;
typedef struct gb_request gb_request;

enum gb_direction { GB_DIRECTION_INPUT = 0, GB_DIRECTION_OUTPUT = 1 };
enum gb_drive { GB_DRIVE_PUSH_PULL = 0, GB_DRIVE_OPEN_DRAIN = 1, GB_DRIVE_OPEN_SOURCE = 2 };
enum gb_bias { GB_BIAS_AS_IS = 0, GB_BIAS_DISABLED = 1, GB_BIAS_PULL_UP = 2, GB_BIAS_PULL_DOWN = 3 };
enum gb_edge { GB_EDGE_NONE = 0, GB_EDGE_RISING = 1, GB_EDGE_FALLING = 2, GB_EDGE_BOTH = 3 };

/// How every line of one request is configured.
typedef struct {
    int direction;             // gb_direction
    int active_low;            // 0 or 1
    int drive;                 // gb_drive (outputs)
    int bias;                  // gb_bias
    int edge;                  // gb_edge (inputs)
    unsigned debounce_us;      // kernel debounce (v2 only; v1 reports ENOTSUP if non-zero)
} gb_line_config;

/// What the kernel says about one line.
typedef struct {
    char name[64];
    char consumer[64];
    int used;
    int direction;             // gb_direction
    int active_low;
    int bias;                  // gb_bias, GB_BIAS_AS_IS when unknown
    int drive;                 // gb_drive
} gb_line_info;

typedef struct {
    unsigned offset;
    int rising;                // 1 rising, 0 falling
    uint64_t timestamp_ns;     // kernel timestamp (CLOCK_MONOTONIC)
} gb_edge_event;

/// "v1 1.6.3" or "v2 2.2.1": the API this build uses and the library's version.
const char *gb_library_version(void);

/// NULL with errno set on failure.
gb_chip *gb_chip_open(const char *path);
void gb_chip_close(gb_chip *chip);
/// 0, or -1 with errno.
int gb_chip_describe(gb_chip *chip, char *name, size_t name_size, char *label, size_t label_size, unsigned *num_lines);
int gb_line_describe(gb_chip *chip, unsigned offset, gb_line_info *info);

/// Requests `count` lines with one configuration. `values` holds the initial output values
/// (logical, after active-low) or may be NULL for inputs. NULL with errno on failure (EBUSY when
/// another consumer holds a line).
gb_request *gb_request_lines(gb_chip *chip, const char *consumer, const unsigned *offsets, size_t count,
                             const gb_line_config *config, const int *values);
/// Sets (outputs) or reads the logical values of every requested line, in request order.
int gb_request_set_values(gb_request *request, const int *values);
int gb_request_get_values(gb_request *request, int *values);
/// The file descriptors that become readable when edge events are pending (v2: one, v1: one per
/// line). Returns how many were written to `fds`.
size_t gb_request_event_fds(gb_request *request, int *fds, size_t capacity);
/// Reads pending events from `fd` (one of gb_request_event_fds), without blocking if it is
/// readable. Returns how many were stored, or -1 with errno.
int gb_request_read_events(gb_request *request, int fd, gb_edge_event *events, size_t capacity);
void gb_request_release(gb_request *request);

#endif
