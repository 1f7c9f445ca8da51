// A small JSON scanner and writer for the plugin's own needs.
//
// The scanner does not build a tree. A `json_span` marks one value inside the
// caller's buffer, and lookups walk that text again, which is enough for
// reading a few fields from each item of a list. The writer appends to a
// growable byte buffer and escapes strings as RFC 8259 requires.
#ifndef PLUGIN_JSON_H
#define PLUGIN_JSON_H

#include <stdbool.h>
#include <stddef.h>

// One JSON value: `start` is its first byte and `end` the byte after it.
typedef struct json_span {
    const char *start;
    const char *end;
} json_span;

// Parses the whole of `text` as one JSON value with optional surrounding
// whitespace. On success stores the value in `value` and returns true. On
// failure returns false and stores the byte offset of the error in
// `error_offset`.
bool json_parse(const char *text, size_t len, json_span *value, size_t *error_offset);

// Returns true when `value` is an object, an array, a string or null.
bool json_is_object(json_span value);
bool json_is_array(json_span value);
bool json_is_string(json_span value);
bool json_is_null(json_span value);

// Finds the member `key` of the object `object` and stores its value in
// `value`. Returns false when `object` is not an object or has no such key.
// The key is compared after decoding its escapes.
bool json_object_get(json_span object, const char *key, json_span *value);

// Iterates over an array. `cursor` starts as NULL. Each call stores the next
// element in `element` and returns true, or returns false after the last one.
bool json_array_next(json_span array, const char **cursor, json_span *element);

// Decodes a JSON string value into a new NUL-terminated UTF-8 string that the
// caller frees. Returns NULL when `value` is not a string, or when the string
// contains a NUL character, which the plugin's C strings cannot hold.
char *json_string_decode(json_span value);

// A growable byte buffer. `data` is NUL-terminated after every append and
// NULL while the buffer is empty.
typedef struct json_buffer {
    char *data;
    size_t len;
    size_t capacity;
} json_buffer;

// Appends bytes, a NUL-terminated string, printf-style text, or a JSON string
// literal with quotes and escapes. They abort the module when memory runs
// out, as the plugin has no way to go on without its output.
void json_append_bytes(json_buffer *buffer, const char *bytes, size_t len);
void json_append(json_buffer *buffer, const char *text);
void json_appendf(json_buffer *buffer, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void json_append_string(json_buffer *buffer, const char *text);

// Releases the buffer's memory and leaves it empty.
void json_buffer_free(json_buffer *buffer);

#endif
