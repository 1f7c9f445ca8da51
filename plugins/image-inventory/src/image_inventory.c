// image-inventory: lists the container images that a cluster runs.
//
// `run` reads every pod of the cluster with raw REST requests
// (`client.request` of GET /api/v1/pods, in pages) and counts the containers
// and init containers that use each image, split into name, tag and digest.
// It also counts the cluster's namespaces with a typed `kube-client.list`
// and records the time of its pod list with `stats.record-request`.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inventory.h"
#include "json.h"
#include "plugin.h"

// Pods per page of the raw list. A cluster with more pods is read in several
// requests that follow `metadata.continue`.
#define PAGE_SIZE 500

// The verb under which the plugin records the time its pod list took.
#define LIST_VERB "image-inventory-list"

// Maximum number of bytes of an unexpected response body quoted in an error.
#define MAX_QUOTED_BODY 200

// Stores a formatted message in `err` and returns false, so a caller can
// write `return fail(err, ...)`.
__attribute__((format(printf, 2, 3)))
static bool fail(plugin_string_t *err, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int len = vsnprintf(NULL, 0, format, args);
    va_end(args);
    char *text = malloc((size_t)len + 1);
    if (len < 0 || text == NULL) {
        abort();
    }
    va_start(args, format);
    vsnprintf(text, (size_t)len + 1, format, args);
    va_end(args);
    err->ptr = (uint8_t *)text;
    err->len = (size_t)len;
    return false;
}

// Returns the WIT name of a case of the `error` variant.
static const char *error_case(uint8_t tag) {
    static const char *const names[] = {
        "not-found", "already-exists", "conflict", "invalid", "forbidden",
        "unauthorized", "unavailable", "timeout", "denied",
    };
    return tag < sizeof(names) / sizeof(names[0]) ? names[tag] : "unknown";
}

// Every case of the `error` variant carries one string, so the message can be
// read through any of them.
static plugin_string_t error_message(const lazyhost_plugin_types_error_t *error) {
    return error->val.not_found;
}

static double now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

// Appends `text` to `buffer` with every byte outside the URL's unreserved
// characters percent-encoded, as a query parameter value needs.
static void append_query_value(json_buffer *buffer, const char *text) {
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        bool unreserved = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                          (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
                          *p == '_' || *p == '~';
        if (unreserved) {
            json_append_bytes(buffer, (const char *)p, 1);
        } else {
            json_appendf(buffer, "%%%02X", *p);
        }
    }
}

// Returns a short description of an unexpected response body: the `message`
// of a Kubernetes Status object, else the body's first bytes. The caller frees
// it.
static char *describe_body(const char *body, size_t len) {
    json_span root;
    json_span message;
    size_t error_offset;
    if (json_parse(body, len, &root, &error_offset) && json_object_get(root, "message", &message)) {
        char *text = json_string_decode(message);
        if (text != NULL) {
            return text;
        }
    }
    size_t quoted = len < MAX_QUOTED_BODY ? len : MAX_QUOTED_BODY;
    char *text = malloc(quoted + 1);
    if (text == NULL) {
        abort();
    }
    memcpy(text, body, quoted);
    text[quoted] = '\0';
    return text;
}

// Sends one GET of the pod list and adds its pods to `inventory`. Stores the
// next page's continue token in `next_token`, or NULL after the last page.
static bool read_pod_page(plugin_string_t *cluster, const char *token, inventory *inventory,
                          char **next_token, plugin_string_t *err) {
    json_buffer path = {0};
    json_appendf(&path, "/api/v1/pods?limit=%d", PAGE_SIZE);
    if (token != NULL) {
        json_append(&path, "&continue=");
        append_query_value(&path, token);
    }
    plugin_string_t method;
    plugin_string_set(&method, "GET");
    plugin_string_t path_string = {(uint8_t *)path.data, path.len};
    lazyhost_plugin_client_http_response_t response;
    lazyhost_plugin_client_error_t error;
    bool sent = lazyhost_plugin_client_request(cluster, &method, &path_string, NULL, &response, &error);
    if (!sent) {
        plugin_string_t message = error_message(&error);
        fail(err, "GET %s failed: %s: %.*s", path.data, error_case(error.tag), (int)message.len,
             (const char *)message.ptr);
        lazyhost_plugin_client_error_free(&error);
        json_buffer_free(&path);
        return false;
    }

    const char *body = (const char *)response.body.ptr;
    size_t body_len = response.body.len;
    bool ok = false;
    json_span root;
    json_span items;
    json_span metadata;
    json_span continue_token;
    size_t error_offset = 0;
    *next_token = NULL;
    if (response.status != 200) {
        char *detail = describe_body(body, body_len);
        fail(err, "GET %s returned HTTP %u: %s", path.data, (unsigned)response.status, detail);
        free(detail);
    } else if (!json_parse(body, body_len, &root, &error_offset)) {
        fail(err, "GET %s returned invalid JSON at byte %zu", path.data, error_offset);
    } else if (!json_object_get(root, "items", &items) || !(json_is_array(items) || json_is_null(items))) {
        fail(err, "GET %s returned no `items` list", path.data);
    } else {
        const char *cursor = NULL;
        json_span pod;
        while (json_array_next(items, &cursor, &pod)) {
            inventory_add_pod(inventory, pod);
        }
        if (json_object_get(root, "metadata", &metadata) &&
            json_object_get(metadata, "continue", &continue_token)) {
            char *decoded = json_string_decode(continue_token);
            if (decoded != NULL && decoded[0] != '\0') {
                *next_token = decoded;
            } else {
                free(decoded);
            }
        }
        ok = true;
    }
    lazyhost_plugin_client_http_response_free(&response);
    json_buffer_free(&path);
    return ok;
}

// Reads every page of the pod list into `inventory` and records the time the
// whole list took, as failed when a page fails.
static bool read_pods(plugin_string_t *cluster, inventory *inventory, double *list_ms,
                      plugin_string_t *err) {
    double started = now_ms();
    char *token = NULL;
    bool ok = true;
    do {
        char *next = NULL;
        ok = read_pod_page(cluster, token, inventory, &next, err);
        free(token);
        token = next;
    } while (ok && token != NULL);
    free(token);
    *list_ms = now_ms() - started;

    plugin_string_t verb;
    plugin_string_set(&verb, LIST_VERB);
    lazyhost_plugin_stats_record_request(cluster, &verb, *list_ms, ok);
    return ok;
}

// Counts the cluster's namespaces with a typed list.
static bool count_namespaces(plugin_string_t *cluster, size_t *count, plugin_string_t *err) {
    plugin_string_t resource;
    plugin_string_set(&resource, "namespaces");
    lazyhost_plugin_kube_client_list_options_t options = {0};
    plugin_string_t list;
    lazyhost_plugin_kube_client_error_t error;
    if (!lazyhost_plugin_kube_client_list(cluster, &resource, &options, &list, &error)) {
        plugin_string_t message = error_message(&error);
        fail(err, "listing namespaces failed: %s: %.*s", error_case(error.tag), (int)message.len,
             (const char *)message.ptr);
        lazyhost_plugin_kube_client_error_free(&error);
        return false;
    }
    json_span root;
    json_span items;
    size_t error_offset = 0;
    bool ok = json_parse((const char *)list.ptr, list.len, &root, &error_offset) &&
              json_object_get(root, "items", &items);
    if (ok) {
        const char *cursor = NULL;
        json_span item;
        *count = 0;
        while (json_array_next(items, &cursor, &item)) {
            (*count)++;
        }
    } else {
        fail(err, "the namespace list is not a JSON list object (error at byte %zu)", error_offset);
    }
    plugin_string_free(&list);
    return ok;
}

// Returns how many pod lists of `cluster` the host has stored from this
// plugin's `record-request` calls.
static uint64_t lists_recorded(plugin_string_t *cluster) {
    lazyhost_plugin_stats_list_latency_t recorded;
    lazyhost_plugin_stats_recorded(&recorded);
    uint64_t count = 0;
    size_t verb_len = strlen(LIST_VERB);
    for (size_t i = 0; i < recorded.len; i++) {
        const lazyhost_plugin_stats_latency_t *entry = &recorded.ptr[i];
        bool same_cluster = entry->cluster.len == cluster->len &&
                            memcmp(entry->cluster.ptr, cluster->ptr, cluster->len) == 0;
        bool same_verb = entry->verb.len == verb_len && memcmp(entry->verb.ptr, LIST_VERB, verb_len) == 0;
        if (same_cluster && same_verb) {
            count = entry->count;
        }
    }
    lazyhost_plugin_stats_list_latency_free(&recorded);
    return count;
}

static bool run_inventory(plugin_string_t *cluster, plugin_list_tuple2_string_string_t *args,
                          plugin_string_t *ret, plugin_string_t *err) {
    // The cluster name arrives without a NUL terminator.
    char *cluster_name = malloc(cluster->len + 1);
    if (cluster_name == NULL) {
        abort();
    }
    memcpy(cluster_name, cluster->ptr, cluster->len);
    cluster_name[cluster->len] = '\0';

    if (args->len > 0) {
        plugin_tuple2_string_string_t *arg = &args->ptr[0];
        fail(err, "unknown argument %.*s='%.*s': image-inventory takes no arguments", (int)arg->f0.len,
             (const char *)arg->f0.ptr, (int)arg->f1.len, (const char *)arg->f1.ptr);
        free(cluster_name);
        return false;
    }

    inventory inventory = {0};
    double list_ms = 0;
    size_t namespaces = 0;
    bool ok = read_pods(cluster, &inventory, &list_ms, err) && count_namespaces(cluster, &namespaces, err);
    if (ok) {
        inventory_sort(&inventory);
        printf("%s: %zu images in %zu containers of %zu pods\n", cluster_name, inventory.len,
               inventory.containers, inventory.pods);
        fflush(stdout);

        json_buffer out = {0};
        json_append(&out, "{\"cluster\":");
        json_append_string(&out, cluster_name);
        json_appendf(&out, ",\"pods\":%zu,\"containers\":%zu,\"namespaces\":%zu,\"images\":", inventory.pods,
                     inventory.containers, namespaces);
        inventory_append_json(&inventory, &out);
        json_appendf(&out, ",\"list_ms\":%.3f,\"lists_recorded\":%llu}", list_ms,
                     (unsigned long long)lists_recorded(cluster));
        ret->ptr = (uint8_t *)out.data;
        ret->len = out.len;
    }
    inventory_free(&inventory);
    free(cluster_name);
    return ok;
}

bool exports_plugin_run(plugin_string_t *cluster, plugin_list_tuple2_string_string_t *args, plugin_string_t *ret,
                        plugin_string_t *err) {
    bool ok = run_inventory(cluster, args, ret, err);
    // Under wit-bindgen's C conventions the export owns its arguments.
    plugin_string_free(cluster);
    plugin_list_tuple2_string_string_free(args);
    return ok;
}
