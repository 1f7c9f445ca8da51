#include "json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Maximum nesting of arrays and objects. Deeper input is rejected, so a
// hostile document cannot exhaust the module's stack.
#define JSON_MAX_DEPTH 256

static const char *skip_whitespace(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }
    return p;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Reads the four hex digits of a \u escape at `p`. Returns -1 when they are invalid.
static long read_hex4(const char *p, const char *end) {
    if (end - p < 4) {
        return -1;
    }
    long code = 0;
    for (int i = 0; i < 4; i++) {
        int digit = hex_digit(p[i]);
        if (digit < 0) {
            return -1;
        }
        code = code * 16 + digit;
    }
    return code;
}

// Each scan function takes `p` at the first byte of a value and returns the
// byte after it, or NULL at the first byte that is not valid JSON, stored in
// `*error`.
static const char *scan_value(const char *p, const char *end, int depth, const char **error);

static const char *scan_string(const char *p, const char *end, const char **error) {
    p++;  // the opening quote
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            return p + 1;
        }
        if (c < 0x20) {
            *error = p;
            return NULL;
        }
        if (c != '\\') {
            p++;
            continue;
        }
        if (p + 1 >= end) {
            break;
        }
        switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p += 2;
            break;
        case 'u':
            if (read_hex4(p + 2, end) < 0) {
                *error = p;
                return NULL;
            }
            p += 6;
            break;
        default:
            *error = p;
            return NULL;
        }
    }
    *error = end;
    return NULL;
}

static const char *scan_digits(const char *p, const char *end) {
    while (p < end && *p >= '0' && *p <= '9') {
        p++;
    }
    return p;
}

static const char *scan_number(const char *p, const char *end, const char **error) {
    if (p < end && *p == '-') {
        p++;
    }
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && *p >= '1' && *p <= '9') {
        p = scan_digits(p, end);
    } else {
        *error = p;
        return NULL;
    }
    if (p < end && *p == '.') {
        const char *digits = p + 1;
        p = scan_digits(digits, end);
        if (p == digits) {
            *error = p;
            return NULL;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        const char *digits = p;
        p = scan_digits(digits, end);
        if (p == digits) {
            *error = p;
            return NULL;
        }
    }
    return p;
}

static const char *scan_literal(const char *p, const char *end, const char *word, const char **error) {
    size_t len = strlen(word);
    if ((size_t)(end - p) < len || memcmp(p, word, len) != 0) {
        *error = p;
        return NULL;
    }
    return p + len;
}

// Scans an array or an object, whose closing bracket is `close`.
static const char *scan_container(const char *p, const char *end, int depth, const char **error) {
    char close = *p == '[' ? ']' : '}';
    if (depth >= JSON_MAX_DEPTH) {
        *error = p;
        return NULL;
    }
    p = skip_whitespace(p + 1, end);
    if (p < end && *p == close) {
        return p + 1;
    }
    for (;;) {
        if (close == '}') {
            if (p >= end || *p != '"') {
                *error = p;
                return NULL;
            }
            p = scan_string(p, end, error);
            if (p == NULL) {
                return NULL;
            }
            p = skip_whitespace(p, end);
            if (p >= end || *p != ':') {
                *error = p;
                return NULL;
            }
            p = skip_whitespace(p + 1, end);
        }
        p = scan_value(p, end, depth + 1, error);
        if (p == NULL) {
            return NULL;
        }
        p = skip_whitespace(p, end);
        if (p < end && *p == ',') {
            p = skip_whitespace(p + 1, end);
            continue;
        }
        if (p < end && *p == close) {
            return p + 1;
        }
        *error = p;
        return NULL;
    }
}

static const char *scan_value(const char *p, const char *end, int depth, const char **error) {
    if (p >= end) {
        *error = p;
        return NULL;
    }
    switch (*p) {
    case '{':
    case '[':
        return scan_container(p, end, depth, error);
    case '"':
        return scan_string(p, end, error);
    case 't':
        return scan_literal(p, end, "true", error);
    case 'f':
        return scan_literal(p, end, "false", error);
    case 'n':
        return scan_literal(p, end, "null", error);
    default:
        return scan_number(p, end, error);
    }
}

bool json_parse(const char *text, size_t len, json_span *value, size_t *error_offset) {
    const char *end = text + len;
    const char *error = NULL;
    const char *start = skip_whitespace(text, end);
    const char *after = scan_value(start, end, 0, &error);
    if (after != NULL) {
        error = skip_whitespace(after, end);
        if (error == end) {
            value->start = start;
            value->end = after;
            return true;
        }
    }
    *error_offset = (size_t)(error - text);
    return false;
}

bool json_is_object(json_span value) {
    return value.start < value.end && *value.start == '{';
}

bool json_is_array(json_span value) {
    return value.start < value.end && *value.start == '[';
}

bool json_is_string(json_span value) {
    return value.start < value.end && *value.start == '"';
}

bool json_is_null(json_span value) {
    return value.start < value.end && *value.start == 'n';
}

// The span was validated by json_parse, so these walks skip the checks. No
// error can occur, and `ignored` only satisfies the scanners' signature.
static const char *next_value_end(const char *p, const char *end) {
    const char *ignored = NULL;
    return scan_value(p, end, 0, &ignored);
}

bool json_object_get(json_span object, const char *key, json_span *value) {
    if (!json_is_object(object)) {
        return false;
    }
    const char *end = object.end;
    const char *p = skip_whitespace(object.start + 1, end);
    while (p < end && *p == '"') {
        const char *ignored = NULL;
        json_span name = {p, scan_string(p, end, &ignored)};
        p = skip_whitespace(name.end, end);
        p = skip_whitespace(p + 1, end);  // the colon
        json_span member = {p, next_value_end(p, end)};
        char *decoded = json_string_decode(name);
        bool found = decoded != NULL && strcmp(decoded, key) == 0;
        free(decoded);
        if (found) {
            *value = member;
            return true;
        }
        p = skip_whitespace(member.end, end);
        if (*p == ',') {
            p = skip_whitespace(p + 1, end);
        }
    }
    return false;
}

bool json_array_next(json_span array, const char **cursor, json_span *element) {
    if (!json_is_array(array)) {
        return false;
    }
    const char *end = array.end;
    const char *p = *cursor == NULL ? array.start + 1 : *cursor;
    p = skip_whitespace(p, end);
    if (*p == ',') {
        p = skip_whitespace(p + 1, end);
    }
    if (*p == ']') {
        return false;
    }
    element->start = p;
    element->end = next_value_end(p, end);
    *cursor = element->end;
    return true;
}

// Appends the UTF-8 encoding of `code` to `out` and returns the new end.
static char *put_utf8(char *out, unsigned long code) {
    if (code < 0x80) {
        *out++ = (char)code;
    } else if (code < 0x800) {
        *out++ = (char)(0xC0 | (code >> 6));
        *out++ = (char)(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
        *out++ = (char)(0xE0 | (code >> 12));
        *out++ = (char)(0x80 | ((code >> 6) & 0x3F));
        *out++ = (char)(0x80 | (code & 0x3F));
    } else {
        *out++ = (char)(0xF0 | (code >> 18));
        *out++ = (char)(0x80 | ((code >> 12) & 0x3F));
        *out++ = (char)(0x80 | ((code >> 6) & 0x3F));
        *out++ = (char)(0x80 | (code & 0x3F));
    }
    return out;
}

char *json_string_decode(json_span value) {
    if (!json_is_string(value)) {
        return NULL;
    }

    const char *p = value.start + 1;
    const char *end = value.end - 1;  // the closing quote
    // Every escape decodes to no more bytes than it takes in the source: a
    // \uXXXX escape is 6 bytes for at most 3 bytes of UTF-8, and a surrogate
    // pair is 12 bytes for 4.
    char *decoded = malloc((size_t)(end - p) + 1);
    if (decoded == NULL) {
        abort();
    }

    char *out = decoded;
    while (p < end) {
        if (*p != '\\') {
            if (*p == '\0') {
                free(decoded);
                return NULL;
            }
            *out++ = *p++;
            continue;
        }

        char escape = p[1];
        p += 2;
        switch (escape) {
        case 'b': *out++ = '\b'; break;
        case 'f': *out++ = '\f'; break;
        case 'n': *out++ = '\n'; break;
        case 'r': *out++ = '\r'; break;
        case 't': *out++ = '\t'; break;
        case 'u': {
            unsigned long code = (unsigned long)read_hex4(p, end);
            p += 4;
            if (code >= 0xD800 && code <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                long low = read_hex4(p + 2, end);
                if (low >= 0xDC00 && low <= 0xDFFF) {
                    code = 0x10000 + ((code - 0xD800) << 10) + ((unsigned long)low - 0xDC00);
                    p += 6;
                }
            }
            if (code == 0) {
                free(decoded);
                return NULL;
            }
            if (code >= 0xD800 && code <= 0xDFFF) {
                code = 0xFFFD;  // a lone surrogate has no UTF-8 encoding
            }
            out = put_utf8(out, code);
            break;
        }
        default:
            *out++ = escape;  // one of " \ /
            break;
        }
    }

    *out = '\0';
    return decoded;
}

static void reserve(json_buffer *buffer, size_t extra) {
    size_t needed = buffer->len + extra + 1;
    if (needed <= buffer->capacity) {
        return;
    }
    size_t capacity = buffer->capacity == 0 ? 256 : buffer->capacity;
    while (capacity < needed) {
        capacity *= 2;
    }
    char *data = realloc(buffer->data, capacity);
    if (data == NULL) {
        abort();
    }
    buffer->data = data;
    buffer->capacity = capacity;
}

void json_append_bytes(json_buffer *buffer, const char *bytes, size_t len) {
    reserve(buffer, len);
    memcpy(buffer->data + buffer->len, bytes, len);
    buffer->len += len;
    buffer->data[buffer->len] = '\0';
}

void json_append(json_buffer *buffer, const char *text) {
    json_append_bytes(buffer, text, strlen(text));
}

void json_appendf(json_buffer *buffer, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int len = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (len < 0) {
        abort();
    }
    reserve(buffer, (size_t)len);
    va_start(args, format);
    vsnprintf(buffer->data + buffer->len, (size_t)len + 1, format, args);
    va_end(args);
    buffer->len += (size_t)len;
}

void json_append_string(json_buffer *buffer, const char *text) {
    json_append_bytes(buffer, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        switch (*p) {
        case '"': json_append(buffer, "\\\""); break;
        case '\\': json_append(buffer, "\\\\"); break;
        case '\n': json_append(buffer, "\\n"); break;
        case '\r': json_append(buffer, "\\r"); break;
        case '\t': json_append(buffer, "\\t"); break;
        default:
            if (*p < 0x20) {
                json_appendf(buffer, "\\u%04x", *p);
            } else {
                json_append_bytes(buffer, (const char *)p, 1);
            }
        }
    }
    json_append_bytes(buffer, "\"", 1);
}

void json_buffer_free(json_buffer *buffer) {
    free(buffer->data);
    buffer->data = NULL;
    buffer->len = 0;
    buffer->capacity = 0;
}
