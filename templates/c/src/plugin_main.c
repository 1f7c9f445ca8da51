// {{name}}: a lazyhost plugin written in C.
//
// `run` is called once per target cluster. It counts the cluster's pods in
// every namespace with a typed list and returns the count as JSON.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "plugin.h"

// Stores a copy of `message` with the cluster's error text in `err` and
// returns false.
static bool fail_with(plugin_string_t *err, const char *message, plugin_string_t detail) {
    json_buffer text = {0};
    json_append(&text, message);
    json_append_bytes(&text, (const char *)detail.ptr, detail.len);
    err->ptr = (uint8_t *)text.data;
    err->len = text.len;
    return false;
}

static bool count_pods(plugin_string_t *cluster, plugin_string_t *ret, plugin_string_t *err) {
    plugin_string_t resource;
    plugin_string_set(&resource, "pods");
    // All fields unset: every namespace, no selectors, one page.
    lazyhost_plugin_kube_client_list_options_t options = {0};
    plugin_string_t list;
    lazyhost_plugin_kube_client_error_t error;
    if (!lazyhost_plugin_kube_client_list(cluster, &resource, &options, &list, &error)) {
        // Every case of the WIT variant `error` carries its message as a
        // string, so any member of `val` reads it.
        bool ok = fail_with(err, "listing pods failed: ", error.val.not_found);
        lazyhost_plugin_kube_client_error_free(&error);
        return ok;
    }

    json_span root;
    json_span items;
    size_t error_offset = 0;
    bool ok = json_parse((const char *)list.ptr, list.len, &root, &error_offset) &&
              json_object_get(root, "items", &items);
    size_t count = 0;
    if (ok) {
        const char *cursor = NULL;
        json_span pod;
        while (json_array_next(items, &cursor, &pod)) {
            count++;
        }
    }
    plugin_string_free(&list);
    if (!ok) {
        plugin_string_dup(err, "the pod list is not a JSON list object");
        return false;
    }

    json_buffer out = {0};
    json_append(&out, "{\"cluster\":");
    char *name = malloc(cluster->len + 1);
    if (name == NULL) {
        abort();
    }
    memcpy(name, cluster->ptr, cluster->len);
    name[cluster->len] = '\0';
    json_append_string(&out, name);
    json_appendf(&out, ",\"pods\":%zu}", count);
    printf("%s: %zu pods\n", name, count);
    free(name);
    ret->ptr = (uint8_t *)out.data;
    ret->len = out.len;
    return true;
}

// The export of the world `plugin`. It returns true with JSON text in `ret`,
// or false with a message in `err`. Both must come from malloc, because the
// bindings free them once the host has copied them.
bool exports_plugin_run(plugin_string_t *cluster, plugin_list_tuple2_string_string_t *args, plugin_string_t *ret,
                        plugin_string_t *err) {
    bool ok = count_pods(cluster, ret, err);
    // Under wit-bindgen's C conventions the export owns its arguments.
    plugin_string_free(cluster);
    plugin_list_tuple2_string_string_free(args);
    return ok;
}
