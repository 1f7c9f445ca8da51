// node-capacity: reports how much of each node's allocatable CPU and memory
// the pods scheduled on it request.
//
// For the target cluster the plugin lists nodes and pods with the typed
// `kube-client.list`, in pages. Per node and for the whole cluster it sums
// the effective requests of the pods that are neither Succeeded nor Failed
// and sets them against the node's `status.allocatable`. It reads the
// server version with `client.server-version` and records the time of its
// lists with `stats.record-request`.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"time"
)

// Objects per page of each list.
const pageSize = 500

// The verb under which the plugin records the time its lists took.
const listVerb = "node-capacity-list"

// Soft limit of the Go heap. It keeps the collector ahead of the memory
// that build.sh reserves for the heap below the WASI adapter's pages.
const heapLimitBytes = 96 << 20

func main() {}

func init() {
	debug.SetMemoryLimit(heapLimitBytes)
}

type node struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Status struct {
		Allocatable map[string]string `json:"allocatable"`
	} `json:"status"`
}

type container struct {
	Name          string `json:"name"`
	RestartPolicy string `json:"restartPolicy"`
	Resources     struct {
		Requests map[string]string `json:"requests"`
	} `json:"resources"`
}

type pod struct {
	Metadata struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		NodeName       string            `json:"nodeName"`
		Containers     []container       `json:"containers"`
		InitContainers []container       `json:"initContainers"`
		Overhead       map[string]string `json:"overhead"`
	} `json:"spec"`
	Status struct {
		Phase string `json:"phase"`
	} `json:"status"`
}

// resources is an amount of CPU in millicores and memory in bytes.
type resources struct {
	cpuMillis   int64
	memoryBytes int64
}

func (r resources) plus(other resources) resources {
	return resources{r.cpuMillis + other.cpuMillis, r.memoryBytes + other.memoryBytes}
}

func (r resources) max(other resources) resources {
	return resources{max(r.cpuMillis, other.cpuMillis), max(r.memoryBytes, other.memoryBytes)}
}

// parseResources reads `cpu` and `memory` from a resource map such as
// `requests` or `allocatable`. A missing entry counts as zero.
func parseResources(values map[string]string, owner string) (resources, error) {
	var parsed resources
	var err error
	if text, ok := values["cpu"]; ok {
		if parsed.cpuMillis, err = parseMillicores(text); err != nil {
			return parsed, fmt.Errorf("%s: cpu: %w", owner, err)
		}
	}
	if text, ok := values["memory"]; ok {
		if parsed.memoryBytes, err = parseBytes(text); err != nil {
			return parsed, fmt.Errorf("%s: memory: %w", owner, err)
		}
	}
	return parsed, nil
}

// podRequests returns a pod's effective requests as the scheduler counts
// them: the larger of the containers' sum and the peak of the init phase,
// plus the pod overhead. Sidecars (init containers with restartPolicy
// Always) keep running, so they add to every later phase.
func podRequests(p *pod) (resources, error) {
	owner := p.Metadata.Namespace + "/" + p.Metadata.Name
	var sidecars, initPeak, containers resources
	for _, c := range p.Spec.InitContainers {
		requests, err := parseResources(c.Resources.Requests, owner+" init container "+c.Name)
		if err != nil {
			return resources{}, err
		}
		if c.RestartPolicy == "Always" {
			sidecars = sidecars.plus(requests)
			initPeak = initPeak.max(sidecars)
		} else {
			initPeak = initPeak.max(requests.plus(sidecars))
		}
	}
	for _, c := range p.Spec.Containers {
		requests, err := parseResources(c.Resources.Requests, owner+" container "+c.Name)
		if err != nil {
			return resources{}, err
		}
		containers = containers.plus(requests)
	}
	overhead, err := parseResources(p.Spec.Overhead, owner+" overhead")
	if err != nil {
		return resources{}, err
	}
	return containers.plus(sidecars).max(initPeak).plus(overhead), nil
}

// listAll lists every object of `resource` page by page and decodes the
// items into `decode`, which is called once per page.
func listAll(cluster, resource string, decode func(items json.RawMessage) error) error {
	limit := uint32(pageSize)
	var token *string
	for {
		text, err := KubeList(cluster, resource, ListOptions{Limit: &limit, ContinueToken: token})
		if err != nil {
			return fmt.Errorf("listing %s failed: %w", resource, err)
		}
		var page struct {
			Items    json.RawMessage `json:"items"`
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(text), &page); err != nil {
			return fmt.Errorf("the %s list is not valid JSON: %w", resource, err)
		}
		if len(page.Items) > 0 {
			if err := decode(page.Items); err != nil {
				return err
			}
		}
		if page.Metadata.Continue == "" {
			return nil
		}
		token = &page.Metadata.Continue
	}
}

// readObjects lists nodes and pods, and records the time both lists took,
// as failed when either fails.
func readObjects(cluster string) ([]node, []pod, float64, error) {
	started := time.Now()
	var nodes []node
	var pods []pod
	err := listAll(cluster, "nodes", func(items json.RawMessage) error {
		var page []node
		if err := json.Unmarshal(items, &page); err != nil {
			return fmt.Errorf("the node list has invalid items: %w", err)
		}
		nodes = append(nodes, page...)
		return nil
	})
	if err == nil {
		err = listAll(cluster, "pods", func(items json.RawMessage) error {
			var page []pod
			if err := json.Unmarshal(items, &page); err != nil {
				return fmt.Errorf("the pod list has invalid items: %w", err)
			}
			pods = append(pods, page...)
			return nil
		})
	}
	elapsed := float64(time.Since(started).Microseconds()) / 1000
	RecordRequest(cluster, listVerb, elapsed, err == nil)
	return nodes, pods, elapsed, err
}

// usage is one node's, or the cluster's, allocatable resources and requests.
type usage struct {
	allocatable resources
	requested   resources
	pods        int
}

// percent returns part/whole in percent, rounded to one decimal, or nil when
// whole is zero.
func percent(part, whole int64) *float64 {
	if whole == 0 {
		return nil
	}
	value := math.Round(float64(part)*1000/float64(whole)) / 10
	return &value
}

func (u usage) fields() map[string]any {
	return map[string]any{
		"cpu_allocatable_millis":   u.allocatable.cpuMillis,
		"cpu_requests_millis":      u.requested.cpuMillis,
		"cpu_requests_percent":     percent(u.requested.cpuMillis, u.allocatable.cpuMillis),
		"memory_allocatable_bytes": u.allocatable.memoryBytes,
		"memory_requests_bytes":    u.requested.memoryBytes,
		"memory_requests_percent":  percent(u.requested.memoryBytes, u.allocatable.memoryBytes),
		"pods":                     u.pods,
	}
}

func run(cluster string, args []Arg) (string, error) {
	for _, arg := range args {
		return "", fmt.Errorf("unknown argument %s=%q: node-capacity takes no arguments", arg.Key, arg.Value)
	}
	version, err := ServerVersion(cluster)
	if err != nil {
		return "", fmt.Errorf("reading the server version failed: %w", err)
	}
	nodes, pods, listMs, err := readObjects(cluster)
	if err != nil {
		return "", err
	}

	byNode := make(map[string]*usage, len(nodes))
	names := make([]string, 0, len(nodes))
	var total usage
	for i := range nodes {
		name := nodes[i].Metadata.Name
		allocatable, err := parseResources(nodes[i].Status.Allocatable, "node "+name+" allocatable")
		if err != nil {
			return "", err
		}
		byNode[name] = &usage{allocatable: allocatable}
		names = append(names, name)
		total.allocatable = total.allocatable.plus(allocatable)
	}
	unscheduled := 0
	onUnknownNodes := 0
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed" {
			continue
		}
		if p.Spec.NodeName == "" {
			unscheduled++
			continue
		}
		node, known := byNode[p.Spec.NodeName]
		if !known {
			onUnknownNodes++
			continue
		}
		requests, err := podRequests(p)
		if err != nil {
			return "", err
		}
		node.requested = node.requested.plus(requests)
		node.pods++
		total.requested = total.requested.plus(requests)
		total.pods++
	}

	sort.Strings(names)
	nodeReports := make([]map[string]any, 0, len(names))
	for _, name := range names {
		report := byNode[name].fields()
		report["name"] = name
		nodeReports = append(nodeReports, report)
	}
	totalReport := total.fields()
	totalReport["nodes"] = len(names)

	fmt.Fprintln(os.Stdout, summaryLine(cluster, version.GitVersion, len(names), total))
	report := map[string]any{
		"cluster":               cluster,
		"server_version":        version.GitVersion,
		"nodes":                 nodeReports,
		"total":                 totalReport,
		"unscheduled_pods":      unscheduled,
		"pods_on_unknown_nodes": onUnknownNodes,
		"list_ms":               math.Round(listMs*1000) / 1000,
		"lists_recorded":        listsRecorded(cluster),
	}
	encoded, err := json.Marshal(report)
	if err != nil {
		return "", fmt.Errorf("encoding the report failed: %w", err)
	}
	return string(encoded), nil
}

// summaryLine returns the line printed for a cluster, such as
// `sim-1 (v1.32.4): 2 nodes, CPU 3950m of 12000m requested (32.9%), memory 2.1Gi of 46.8Gi (4.6%)`.
func summaryLine(cluster, version string, nodes int, total usage) string {
	formatPercent := func(value *float64) string {
		if value == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", *value)
	}
	const gibibyte = 1 << 30
	return fmt.Sprintf("%s (%s): %d nodes, CPU %dm of %dm requested (%s), memory %.1fGi of %.1fGi (%s)",
		cluster, version, nodes,
		total.requested.cpuMillis, total.allocatable.cpuMillis,
		formatPercent(percent(total.requested.cpuMillis, total.allocatable.cpuMillis)),
		float64(total.requested.memoryBytes)/gibibyte, float64(total.allocatable.memoryBytes)/gibibyte,
		formatPercent(percent(total.requested.memoryBytes, total.allocatable.memoryBytes)))
}

// listsRecorded returns how many lists of `cluster` the host has stored from
// this plugin's `record-request` calls.
func listsRecorded(cluster string) uint64 {
	for _, latency := range Recorded() {
		if latency.Cluster == cluster && latency.Verb == listVerb {
			return latency.Count
		}
	}
	return 0
}
