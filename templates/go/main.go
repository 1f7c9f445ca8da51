// {{name}}: a lazyhost plugin written in Go.
//
// `run` is called once per target cluster. It counts the cluster's pods in
// every namespace with a typed list and returns the count as JSON.
package main

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
)

// Soft limit of the Go heap. It keeps the collector ahead of the memory
// that build.sh reserves for the heap below the WASI adapter's pages.
const heapLimitBytes = 96 << 20

// main is empty: the host calls `run` through the export in bindings.go.
func main() {}

func init() {
	debug.SetMemoryLimit(heapLimitBytes)
}

func run(cluster string, args []Arg) (string, error) {
	// Empty options: every namespace, no selectors, one page.
	text, err := KubeList(cluster, "pods", ListOptions{})
	if err != nil {
		// err is a *WitError with the case of the WIT variant `error`.
		return "", fmt.Errorf("listing pods failed: %w", err)
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal([]byte(text), &list); err != nil {
		return "", fmt.Errorf("the pod list is not valid JSON: %w", err)
	}
	fmt.Printf("%s: %d pods\n", cluster, len(list.Items))
	encoded, err := json.Marshal(map[string]any{"cluster": cluster, "pods": len(list.Items)})
	if err != nil {
		return "", err
	}
	return string(encoded), nil
}
