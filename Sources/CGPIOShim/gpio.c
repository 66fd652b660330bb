#include "gpiobridge_gpio.h"

#include <errno.h>
#include <gpiod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(GPIOBRIDGE_LIBGPIOD_V1) && !defined(GPIOBRIDGE_LIBGPIOD_V2)
#  ifdef GPIOD_LINE_BULK_MAX_LINES
#    define GPIOBRIDGE_LIBGPIOD_V1 1
#  else
#    define GPIOBRIDGE_LIBGPIOD_V2 1
#  endif
#endif

struct gb_chip { struct gpiod_chip *chip; };

static char version_text[32];

// gpiod_chip_open and gpiod_chip_close mean the same in both APIs.
gb_chip *gb_chip_open(const char *path) {
    struct gpiod_chip *chip = gpiod_chip_open(path);
    if (chip == NULL) return NULL;
    gb_chip *wrapper = calloc(1, sizeof *wrapper);
    if (wrapper == NULL) { gpiod_chip_close(chip); errno = ENOMEM; return NULL; }
    wrapper->chip = chip;
    return wrapper;
}

void gb_chip_close(gb_chip *chip) {
    if (chip == NULL) return;
    gpiod_chip_close(chip->chip);
    free(chip);
}

static void copy_string(char *destination, size_t size, const char *source) {
    if (size == 0) return;
    if (source == NULL) source = "";
    snprintf(destination, size, "%s", source);
}

#if defined(GPIOBRIDGE_LIBGPIOD_V1)
// ---------------------------------------------------------------------------------------------
// libgpiod 1.x: lines are objects of the chip; a request is a bulk of lines; one event fd per line.

struct gb_request {
    struct gpiod_line_bulk bulk;
    size_t count;
};

const char *gb_library_version(void) {
    snprintf(version_text, sizeof version_text, "v1 %s", gpiod_version_string());
    return version_text;
}

int gb_chip_describe(gb_chip *chip, char *name, size_t name_size, char *label, size_t label_size, unsigned *num_lines) {
    copy_string(name, name_size, gpiod_chip_name(chip->chip));
    copy_string(label, label_size, gpiod_chip_label(chip->chip));
    *num_lines = gpiod_chip_num_lines(chip->chip);
    return 0;
}

int gb_line_describe(gb_chip *chip, unsigned offset, gb_line_info *info) {
    struct gpiod_line *line = gpiod_chip_get_line(chip->chip, offset);
    if (line == NULL) return -1;
    if (gpiod_line_update(line) < 0) return -1;
    memset(info, 0, sizeof *info);
    copy_string(info->name, sizeof info->name, gpiod_line_name(line));
    copy_string(info->consumer, sizeof info->consumer, gpiod_line_consumer(line));
    info->used = gpiod_line_is_used(line);
    info->direction = gpiod_line_direction(line) == GPIOD_LINE_DIRECTION_OUTPUT ? GB_DIRECTION_OUTPUT : GB_DIRECTION_INPUT;
    info->active_low = gpiod_line_active_state(line) == GPIOD_LINE_ACTIVE_STATE_LOW;
    switch (gpiod_line_bias(line)) {
    case GPIOD_LINE_BIAS_DISABLE: info->bias = GB_BIAS_DISABLED; break;
    case GPIOD_LINE_BIAS_PULL_UP: info->bias = GB_BIAS_PULL_UP; break;
    case GPIOD_LINE_BIAS_PULL_DOWN: info->bias = GB_BIAS_PULL_DOWN; break;
    default: info->bias = GB_BIAS_AS_IS; break;
    }
    info->drive = gpiod_line_is_open_drain(line) ? GB_DRIVE_OPEN_DRAIN
        : gpiod_line_is_open_source(line) ? GB_DRIVE_OPEN_SOURCE : GB_DRIVE_PUSH_PULL;
    return 0;
}

gb_request *gb_request_lines(gb_chip *chip, const char *consumer, const unsigned *offsets, size_t count,
                             const gb_line_config *config, const int *values) {
    if (count == 0 || count > GPIOD_LINE_BULK_MAX_LINES) { errno = EINVAL; return NULL; }
    if (config->debounce_us != 0) { errno = ENOTSUP; return NULL; }
    gb_request *request = calloc(1, sizeof *request);
    if (request == NULL) { errno = ENOMEM; return NULL; }
    gpiod_line_bulk_init(&request->bulk);
    for (size_t index = 0; index < count; index++) {
        struct gpiod_line *line = gpiod_chip_get_line(chip->chip, offsets[index]);
        if (line == NULL) { free(request); return NULL; }
        gpiod_line_bulk_add(&request->bulk, line);
    }
    request->count = count;

    struct gpiod_line_request_config settings = { .consumer = consumer, .flags = 0 };
    if (config->direction == GB_DIRECTION_OUTPUT) {
        settings.request_type = GPIOD_LINE_REQUEST_DIRECTION_OUTPUT;
    } else {
        switch (config->edge) {
        case GB_EDGE_RISING: settings.request_type = GPIOD_LINE_REQUEST_EVENT_RISING_EDGE; break;
        case GB_EDGE_FALLING: settings.request_type = GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE; break;
        case GB_EDGE_BOTH: settings.request_type = GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES; break;
        default: settings.request_type = GPIOD_LINE_REQUEST_DIRECTION_INPUT; break;
        }
    }
    if (config->active_low) settings.flags |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW;
    if (config->drive == GB_DRIVE_OPEN_DRAIN) settings.flags |= GPIOD_LINE_REQUEST_FLAG_OPEN_DRAIN;
    if (config->drive == GB_DRIVE_OPEN_SOURCE) settings.flags |= GPIOD_LINE_REQUEST_FLAG_OPEN_SOURCE;
    if (config->bias == GB_BIAS_DISABLED) settings.flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
    if (config->bias == GB_BIAS_PULL_UP) settings.flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
    if (config->bias == GB_BIAS_PULL_DOWN) settings.flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;

    if (gpiod_line_request_bulk(&request->bulk, &settings, values) < 0) {
        int saved = errno;
        free(request);
        errno = saved;
        return NULL;
    }
    return request;
}

int gb_request_set_values(gb_request *request, const int *values) {
    return gpiod_line_set_value_bulk(&request->bulk, values);
}

int gb_request_get_values(gb_request *request, int *values) {
    return gpiod_line_get_value_bulk(&request->bulk, values);
}

size_t gb_request_event_fds(gb_request *request, int *fds, size_t capacity) {
    size_t written = 0;
    for (size_t index = 0; index < request->count && written < capacity; index++) {
        int fd = gpiod_line_event_get_fd(gpiod_line_bulk_get_line(&request->bulk, (unsigned)index));
        if (fd >= 0) fds[written++] = fd;
    }
    return written;
}

int gb_request_read_events(gb_request *request, int fd, gb_edge_event *events, size_t capacity) {
    for (size_t index = 0; index < request->count; index++) {
        struct gpiod_line *line = gpiod_line_bulk_get_line(&request->bulk, (unsigned)index);
        if (gpiod_line_event_get_fd(line) != fd) continue;
        struct gpiod_line_event raw[16];
        unsigned wanted = capacity < 16 ? (unsigned)capacity : 16;
        int read = gpiod_line_event_read_fd_multiple(fd, raw, wanted);
        if (read < 0) return -1;
        for (int event = 0; event < read; event++) {
            events[event].offset = gpiod_line_offset(line);
            events[event].rising = raw[event].event_type == GPIOD_LINE_EVENT_RISING_EDGE;
            events[event].timestamp_ns = (uint64_t)raw[event].ts.tv_sec * 1000000000ull + (uint64_t)raw[event].ts.tv_nsec;
        }
        return read;
    }
    errno = EBADF;
    return -1;
}

void gb_request_release(gb_request *request) {
    if (request == NULL) return;
    gpiod_line_release_bulk(&request->bulk);
    free(request);
}

#else
// ---------------------------------------------------------------------------------------------
// libgpiod 2.x: settings objects, one request object with one event fd for all its lines.

struct gb_request {
    struct gpiod_line_request *request;
    struct gpiod_edge_event_buffer *buffer;
    size_t count;
    unsigned offsets[64];
};

const char *gb_library_version(void) {
    snprintf(version_text, sizeof version_text, "v2 %s", gpiod_api_version());
    return version_text;
}

int gb_chip_describe(gb_chip *chip, char *name, size_t name_size, char *label, size_t label_size, unsigned *num_lines) {
    struct gpiod_chip_info *info = gpiod_chip_get_info(chip->chip);
    if (info == NULL) return -1;
    copy_string(name, name_size, gpiod_chip_info_get_name(info));
    copy_string(label, label_size, gpiod_chip_info_get_label(info));
    *num_lines = (unsigned)gpiod_chip_info_get_num_lines(info);
    gpiod_chip_info_free(info);
    return 0;
}

int gb_line_describe(gb_chip *chip, unsigned offset, gb_line_info *out) {
    struct gpiod_line_info *info = gpiod_chip_get_line_info(chip->chip, offset);
    if (info == NULL) return -1;
    memset(out, 0, sizeof *out);
    copy_string(out->name, sizeof out->name, gpiod_line_info_get_name(info));
    copy_string(out->consumer, sizeof out->consumer, gpiod_line_info_get_consumer(info));
    out->used = gpiod_line_info_is_used(info);
    out->direction = gpiod_line_info_get_direction(info) == GPIOD_LINE_DIRECTION_OUTPUT ? GB_DIRECTION_OUTPUT : GB_DIRECTION_INPUT;
    out->active_low = gpiod_line_info_is_active_low(info);
    switch (gpiod_line_info_get_bias(info)) {
    case GPIOD_LINE_BIAS_DISABLED: out->bias = GB_BIAS_DISABLED; break;
    case GPIOD_LINE_BIAS_PULL_UP: out->bias = GB_BIAS_PULL_UP; break;
    case GPIOD_LINE_BIAS_PULL_DOWN: out->bias = GB_BIAS_PULL_DOWN; break;
    default: out->bias = GB_BIAS_AS_IS; break;
    }
    switch (gpiod_line_info_get_drive(info)) {
    case GPIOD_LINE_DRIVE_OPEN_DRAIN: out->drive = GB_DRIVE_OPEN_DRAIN; break;
    case GPIOD_LINE_DRIVE_OPEN_SOURCE: out->drive = GB_DRIVE_OPEN_SOURCE; break;
    default: out->drive = GB_DRIVE_PUSH_PULL; break;
    }
    gpiod_line_info_free(info);
    return 0;
}

gb_request *gb_request_lines(gb_chip *chip, const char *consumer, const unsigned *offsets, size_t count,
                             const gb_line_config *config, const int *values) {
    if (count == 0 || count > 64) { errno = EINVAL; return NULL; }
    gb_request *result = NULL;
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    struct gpiod_line_config *line_config = gpiod_line_config_new();
    struct gpiod_request_config *request_config = gpiod_request_config_new();
    if (settings == NULL || line_config == NULL || request_config == NULL) { errno = ENOMEM; goto done; }

    gpiod_line_settings_set_active_low(settings, config->active_low != 0);
    switch (config->bias) {
    case GB_BIAS_DISABLED: gpiod_line_settings_set_bias(settings, GPIOD_LINE_BIAS_DISABLED); break;
    case GB_BIAS_PULL_UP: gpiod_line_settings_set_bias(settings, GPIOD_LINE_BIAS_PULL_UP); break;
    case GB_BIAS_PULL_DOWN: gpiod_line_settings_set_bias(settings, GPIOD_LINE_BIAS_PULL_DOWN); break;
    default: break;
    }
    if (config->direction == GB_DIRECTION_OUTPUT) {
        gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT);
        switch (config->drive) {
        case GB_DRIVE_OPEN_DRAIN: gpiod_line_settings_set_drive(settings, GPIOD_LINE_DRIVE_OPEN_DRAIN); break;
        case GB_DRIVE_OPEN_SOURCE: gpiod_line_settings_set_drive(settings, GPIOD_LINE_DRIVE_OPEN_SOURCE); break;
        default: break;
        }
    } else {
        gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT);
        switch (config->edge) {
        case GB_EDGE_RISING: gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_RISING); break;
        case GB_EDGE_FALLING: gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_FALLING); break;
        case GB_EDGE_BOTH: gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH); break;
        default: break;
        }
        gpiod_line_settings_set_debounce_period_us(settings, config->debounce_us);
        gpiod_line_settings_set_event_clock(settings, GPIOD_LINE_CLOCK_MONOTONIC);
    }
    for (size_t index = 0; index < count; index++) {
        if (config->direction == GB_DIRECTION_OUTPUT && values != NULL) {
            gpiod_line_settings_set_output_value(settings, values[index] ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
        }
        if (gpiod_line_config_add_line_settings(line_config, &offsets[index], 1, settings) < 0) goto done;
    }
    gpiod_request_config_set_consumer(request_config, consumer);

    struct gpiod_line_request *request = gpiod_chip_request_lines(chip->chip, request_config, line_config);
    if (request == NULL) goto done;
    result = calloc(1, sizeof *result);
    if (result == NULL) { gpiod_line_request_release(request); errno = ENOMEM; goto done; }
    result->request = request;
    result->count = count;
    memcpy(result->offsets, offsets, count * sizeof *offsets);
    if (config->direction == GB_DIRECTION_INPUT && config->edge != GB_EDGE_NONE) {
        result->buffer = gpiod_edge_event_buffer_new(64);
    }

done:
    {
        int saved = errno;
        gpiod_line_settings_free(settings);
        gpiod_line_config_free(line_config);
        gpiod_request_config_free(request_config);
        errno = saved;
    }
    return result;
}

int gb_request_set_values(gb_request *request, const int *values) {
    enum gpiod_line_value converted[64];
    for (size_t index = 0; index < request->count; index++) {
        converted[index] = values[index] ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE;
    }
    return gpiod_line_request_set_values_subset(request->request, request->count, request->offsets, converted);
}

int gb_request_get_values(gb_request *request, int *values) {
    enum gpiod_line_value read[64];
    if (gpiod_line_request_get_values_subset(request->request, request->count, request->offsets, read) < 0) return -1;
    for (size_t index = 0; index < request->count; index++) values[index] = read[index] == GPIOD_LINE_VALUE_ACTIVE;
    return 0;
}

size_t gb_request_event_fds(gb_request *request, int *fds, size_t capacity) {
    if (capacity == 0 || request->buffer == NULL) return 0;
    fds[0] = gpiod_line_request_get_fd(request->request);
    return 1;
}

int gb_request_read_events(gb_request *request, int fd, gb_edge_event *events, size_t capacity) {
    (void)fd;
    if (request->buffer == NULL) { errno = EINVAL; return -1; }
    size_t wanted = capacity < 64 ? capacity : 64;
    int read = gpiod_line_request_read_edge_events(request->request, request->buffer, wanted);
    if (read < 0) return -1;
    for (int index = 0; index < read; index++) {
        struct gpiod_edge_event *event = gpiod_edge_event_buffer_get_event(request->buffer, (unsigned long)index);
        events[index].offset = gpiod_edge_event_get_line_offset(event);
        events[index].rising = gpiod_edge_event_get_event_type(event) == GPIOD_EDGE_EVENT_RISING_EDGE;
        events[index].timestamp_ns = gpiod_edge_event_get_timestamp_ns(event);
    }
    return read;
}

void gb_request_release(gb_request *request) {
    if (request == NULL) return;
    if (request->buffer != NULL) gpiod_edge_event_buffer_free(request->buffer);
    gpiod_line_request_release(request->request);
    free(request);
}
#endif
