// The image inventory of one cluster: each distinct image reference with the
// number of containers and pods that use it.
#ifndef IMAGE_INVENTORY_INVENTORY_H
#define IMAGE_INVENTORY_INVENTORY_H

#include <stddef.h>

#include "json.h"

// One image reference, split the way container runtimes read it.
typedef struct image_entry {
    // Repository without tag or digest, such as `ghcr.io/example/cart`.
    char *name;
    // Tag; `latest` when the reference has neither tag nor digest, NULL when
    // it has only a digest.
    char *tag;
    // Digest such as `sha256:...`, or NULL.
    char *digest;
    // Containers and init containers that use the image.
    size_t containers;
    // Pods with at least one such container.
    size_t pods;
    // Namespaces of those pods, each once.
    char **namespaces;
    size_t namespace_count;
    // The number of the last pod counted, so a pod with two containers of the
    // same image counts once.
    size_t last_pod;
} image_entry;

typedef struct inventory {
    image_entry *entries;
    size_t len;
    size_t capacity;
    // Pods and containers seen, including containers without an image.
    size_t pods;
    size_t containers;
} inventory;

// Adds the containers and init containers of one pod object.
void inventory_add_pod(inventory *inventory, json_span pod);

// Sorts the entries by name, then tag, then digest, and each entry's
// namespaces by name.
void inventory_sort(inventory *inventory);

// Appends the entries as a JSON array of objects with the keys `image`,
// `tag`, `digest`, `containers`, `pods` and `namespaces`.
void inventory_append_json(const inventory *inventory, json_buffer *out);

void inventory_free(inventory *inventory);

#endif
