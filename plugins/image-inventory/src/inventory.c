#include "inventory.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void *checked_realloc(void *pointer, size_t size) {
    void *resized = realloc(pointer, size);
    if (resized == NULL) {
        abort();
    }
    return resized;
}

static char *copy_string(const char *text, size_t len) {
    char *copy = checked_realloc(NULL, len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

// Compares two strings of which either may be NULL; NULL sorts first.
static int compare_optional(const char *a, const char *b) {
    if (a == NULL || b == NULL) {
        return (a != NULL) - (b != NULL);
    }
    return strcmp(a, b);
}

// Splits an image reference into name, tag and digest. A digest follows `@`.
// A tag follows the last `:` after the last `/`, because a `:` before that
// slash belongs to a registry port, as in `localhost:5000/app`.
static void split_reference(const char *reference, char **name, char **tag, char **digest) {
    const char *at = strchr(reference, '@');
    size_t base_len = at != NULL ? (size_t)(at - reference) : strlen(reference);
    *digest = at != NULL ? copy_string(at + 1, strlen(at + 1)) : NULL;

    const char *last_segment = reference;
    for (const char *p = reference; p < reference + base_len; p++) {
        if (*p == '/') {
            last_segment = p + 1;
        }
    }
    const char *colon = NULL;
    for (const char *p = last_segment; p < reference + base_len; p++) {
        if (*p == ':') {
            colon = p;
        }
    }
    if (colon != NULL) {
        *name = copy_string(reference, (size_t)(colon - reference));
        *tag = copy_string(colon + 1, base_len - (size_t)(colon + 1 - reference));
    } else {
        *name = copy_string(reference, base_len);
        *tag = *digest == NULL ? copy_string("latest", 6) : NULL;
    }
}

static image_entry *find_or_add(inventory *inventory, char *name, char *tag, char *digest) {
    for (size_t i = 0; i < inventory->len; i++) {
        image_entry *entry = &inventory->entries[i];
        if (strcmp(entry->name, name) == 0 && compare_optional(entry->tag, tag) == 0 &&
            compare_optional(entry->digest, digest) == 0) {
            free(name);
            free(tag);
            free(digest);
            return entry;
        }
    }
    if (inventory->len == inventory->capacity) {
        inventory->capacity = inventory->capacity == 0 ? 16 : inventory->capacity * 2;
        inventory->entries = checked_realloc(inventory->entries, inventory->capacity * sizeof(image_entry));
    }
    image_entry *entry = &inventory->entries[inventory->len++];
    *entry = (image_entry){.name = name, .tag = tag, .digest = digest};
    return entry;
}

static void add_namespace(image_entry *entry, const char *namespace) {
    for (size_t i = 0; i < entry->namespace_count; i++) {
        if (strcmp(entry->namespaces[i], namespace) == 0) {
            return;
        }
    }
    entry->namespaces = checked_realloc(entry->namespaces, (entry->namespace_count + 1) * sizeof(char *));
    entry->namespaces[entry->namespace_count++] = copy_string(namespace, strlen(namespace));
}

// Adds the containers of one list field of a pod's spec, such as
// `initContainers`.
static void add_containers(inventory *inventory, json_span spec, const char *field, const char *namespace) {
    json_span containers;
    if (!json_object_get(spec, field, &containers)) {
        return;
    }
    const char *cursor = NULL;
    json_span container;
    while (json_array_next(containers, &cursor, &container)) {
        inventory->containers++;
        json_span image;
        char *reference = json_object_get(container, "image", &image) ? json_string_decode(image) : NULL;
        if (reference == NULL || reference[0] == '\0') {
            // NOTE: a container without an image counts in the totals but
            // gets no entry. The API server rejects such pods, so only
            // objects that it did not validate can reach this branch.
            free(reference);
            continue;
        }
        char *name;
        char *tag;
        char *digest;
        split_reference(reference, &name, &tag, &digest);
        free(reference);
        image_entry *entry = find_or_add(inventory, name, tag, digest);
        entry->containers++;
        if (entry->last_pod != inventory->pods) {
            entry->last_pod = inventory->pods;
            entry->pods++;
            add_namespace(entry, namespace);
        }
    }
}

void inventory_add_pod(inventory *inventory, json_span pod) {
    // Pods are numbered from 1, so an entry's `last_pod` of 0 matches none.
    inventory->pods++;
    json_span metadata;
    json_span namespace_value;
    char *namespace = NULL;
    if (json_object_get(pod, "metadata", &metadata) &&
        json_object_get(metadata, "namespace", &namespace_value)) {
        namespace = json_string_decode(namespace_value);
    }
    json_span spec;
    if (json_object_get(pod, "spec", &spec)) {
        add_containers(inventory, spec, "initContainers", namespace != NULL ? namespace : "");
        add_containers(inventory, spec, "containers", namespace != NULL ? namespace : "");
    }
    free(namespace);
}

static int compare_entries(const void *left, const void *right) {
    const image_entry *a = left;
    const image_entry *b = right;
    int order = strcmp(a->name, b->name);
    if (order == 0) {
        order = compare_optional(a->tag, b->tag);
    }
    if (order == 0) {
        order = compare_optional(a->digest, b->digest);
    }
    return order;
}

static int compare_names(const void *left, const void *right) {
    return strcmp(*(char *const *)left, *(char *const *)right);
}

void inventory_sort(inventory *inventory) {
    if (inventory->len > 1) {
        qsort(inventory->entries, inventory->len, sizeof(image_entry), compare_entries);
    }
    for (size_t i = 0; i < inventory->len; i++) {
        image_entry *entry = &inventory->entries[i];
        if (entry->namespace_count > 1) {
            qsort(entry->namespaces, entry->namespace_count, sizeof(char *), compare_names);
        }
    }
}

static void append_optional_string(json_buffer *out, const char *text) {
    if (text == NULL) {
        json_append(out, "null");
    } else {
        json_append_string(out, text);
    }
}

void inventory_append_json(const inventory *inventory, json_buffer *out) {
    json_append(out, "[");
    for (size_t i = 0; i < inventory->len; i++) {
        const image_entry *entry = &inventory->entries[i];
        json_append(out, i == 0 ? "{\"image\":" : ",{\"image\":");
        json_append_string(out, entry->name);
        json_append(out, ",\"tag\":");
        append_optional_string(out, entry->tag);
        json_append(out, ",\"digest\":");
        append_optional_string(out, entry->digest);
        json_appendf(out, ",\"containers\":%zu,\"pods\":%zu,\"namespaces\":[", entry->containers, entry->pods);
        for (size_t n = 0; n < entry->namespace_count; n++) {
            if (n > 0) {
                json_append(out, ",");
            }
            json_append_string(out, entry->namespaces[n]);
        }
        json_append(out, "]}");
    }
    json_append(out, "]");
}

void inventory_free(inventory *inventory) {
    for (size_t i = 0; i < inventory->len; i++) {
        image_entry *entry = &inventory->entries[i];
        free(entry->name);
        free(entry->tag);
        free(entry->digest);
        for (size_t n = 0; n < entry->namespace_count; n++) {
            free(entry->namespaces[n]);
        }
        free(entry->namespaces);
    }
    free(inventory->entries);
    *inventory = (struct inventory){0};
}
