// Hand-written bindings of the world `plugin` (wit/plugin.wit) for Go's
// wasip1 port: lifting and lowering of the canonical ABI for the functions
// this plugin uses, over the raw imports in imports.go.in.
//
// witSHA256 is the SHA-256 of the wit/plugin.wit these bindings were
// written against. When that file changes, check the layouts below against
// it, then update the digest; tests/plugin_go.rs fails until the two agree.

package main

import (
	"runtime"
	"unsafe"
)

const witSHA256 = "b540081dfac3806d6bf340297ea5d6d451a631f4151c2fd51adfd8c140f7ce0f"

// Arg is one `--arg key=value` pair of `run`.
type Arg struct {
	Key   string
	Value string
}

// WitError is a case of the WIT variant `error`, such as `not-found`, with
// the message it carries.
type WitError struct {
	Case    string
	Message string
}

func (e *WitError) Error() string {
	return e.Case + ": " + e.Message
}

// Case names of the variant `error`, in the order of their discriminants.
var witErrorCases = []string{
	"not-found", "already-exists", "conflict", "invalid", "forbidden",
	"unauthorized", "unavailable", "timeout", "denied",
}

// VersionInfo is the WIT record `version-info`.
type VersionInfo struct {
	Major      string
	Minor      string
	GitVersion string
	Platform   string
}

// HTTPResponse is the WIT record `http-response`.
type HTTPResponse struct {
	Status uint16
	Body   string
}

// ListOptions is the WIT record `list-options`, with nil fields for `none`.
type ListOptions struct {
	Namespace     *string
	LabelSelector *string
	FieldSelector *string
	Limit         *uint32
	ContinueToken *string
}

// Percentiles is the WIT record `percentiles`.
type Percentiles struct {
	P50Ms float64
	P95Ms float64
	P99Ms float64
}

// Latency is the WIT record `latency`.
type Latency struct {
	Cluster     string
	Verb        string
	Count       uint64
	Errors      uint64
	AvgMs       float64
	RecentCount uint64
	P50Ms       float64
	P95Ms       float64
	P99Ms       float64
	AllTime     Percentiles
}

// hostAllocations keeps the buffers that the host allocated through
// cabi_realloc reachable, so that Go's garbage collector does not free them
// before the bindings copy them into Go values. The key is the address
// handed to the host.
var hostAllocations = map[uint32][]byte{}

// cabiRealloc is the allocator that the canonical ABI calls to place the
// strings and lists that the host returns, and the arguments of `run`.
//
//go:wasmexport cabi_realloc
func cabiRealloc(oldPtr, oldSize, align, newSize uint32) uint32 {
	if newSize == 0 {
		// A zero-sized allocation is never read, so any aligned address works.
		return align
	}
	buffer := make([]byte, newSize+align)
	start := uint32(uintptr(unsafe.Pointer(&buffer[0])))
	aligned := (start + align - 1) &^ (align - 1)
	hostAllocations[aligned] = buffer
	if oldPtr != 0 {
		copy(bytesAt(aligned, min(oldSize, newSize)), bytesAt(oldPtr, min(oldSize, newSize)))
		delete(hostAllocations, oldPtr)
	}
	return aligned
}

// releaseHostAllocations drops every buffer of cabiRealloc. It is called
// once the values in them have been copied.
func releaseHostAllocations() {
	clear(hostAllocations)
}

// bytesAt returns `length` bytes of linear memory at `address`.
func bytesAt(address, length uint32) []byte {
	if length == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(address))), length)
}

func loadU8(address uint32) uint8 {
	return *(*uint8)(unsafe.Pointer(uintptr(address)))
}

func loadU16(address uint32) uint16 {
	return *(*uint16)(unsafe.Pointer(uintptr(address)))
}

func loadU32(address uint32) uint32 {
	return *(*uint32)(unsafe.Pointer(uintptr(address)))
}

func loadU64(address uint32) uint64 {
	return *(*uint64)(unsafe.Pointer(uintptr(address)))
}

func loadF64(address uint32) float64 {
	return *(*float64)(unsafe.Pointer(uintptr(address)))
}

func storeU8(address uint32, value uint8) {
	*(*uint8)(unsafe.Pointer(uintptr(address))) = value
}

func storeU32(address uint32, value uint32) {
	*(*uint32)(unsafe.Pointer(uintptr(address))) = value
}

// loadString lifts a string stored as a pointer and a length at `address`.
func loadString(address uint32) string {
	return string(bytesAt(loadU32(address), loadU32(address+4)))
}

// stringPtr returns the address of a string's bytes, 0 for an empty one.
// The caller keeps the string alive until the host call returns.
func stringPtr(s string) uint32 {
	if len(s) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s))))
}

// storeString lowers a string into a pointer and a length at `address`.
func storeString(address uint32, s string) {
	storeU32(address, stringPtr(s))
	storeU32(address+4, uint32(len(s)))
}

// storeOptionString lowers an option<string>: the discriminant at
// `address`, and the string 4 bytes later when it is `some`.
func storeOptionString(address uint32, s *string) {
	if s == nil {
		storeU8(address, 0)
		return
	}
	storeU8(address, 1)
	storeString(address+4, *s)
}

// optionFlat returns the flat lowering of an option<string> as parameters:
// the discriminant, the pointer and the length.
func optionFlat(s *string) (uint32, uint32, uint32) {
	if s == nil {
		return 0, 0, 0
	}
	return 1, stringPtr(*s), uint32(len(*s))
}

// area is a zeroed buffer of linear memory with 8-byte alignment, for the
// parameter and return areas of the canonical ABI.
type area struct {
	words []uint64
}

func newArea(size uint32) area {
	return area{words: make([]uint64, (size+7)/8)}
}

func (a area) address() uint32 {
	return uint32(uintptr(unsafe.Pointer(&a.words[0])))
}

// loadError lifts the variant `error` stored at `address`.
func loadError(address uint32) *WitError {
	tag := int(loadU8(address))
	name := "unknown"
	if tag < len(witErrorCases) {
		name = witErrorCases[tag]
	}
	return &WitError{Case: name, Message: loadString(address + 4)}
}

// loadResultString lifts a result<string, error> with its payload at offset 4.
func loadResultString(address uint32) (string, error) {
	if loadU8(address) != 0 {
		return "", loadError(address + 4)
	}
	return loadString(address + 4), nil
}

// ServerVersion calls `client.server-version`.
func ServerVersion(cluster string) (VersionInfo, error) {
	ret := newArea(36)
	witClientServerVersion(stringPtr(cluster), uint32(len(cluster)), ret.address())
	runtime.KeepAlive(cluster)
	defer releaseHostAllocations()
	base := ret.address()
	if loadU8(base) != 0 {
		return VersionInfo{}, loadError(base + 4)
	}
	return VersionInfo{
		Major:      loadString(base + 4),
		Minor:      loadString(base + 12),
		GitVersion: loadString(base + 20),
		Platform:   loadString(base + 28),
	}, nil
}

// Request calls `client.request`, with a nil body for `none`.
func Request(cluster, method, path string, body *string) (HTTPResponse, error) {
	ret := newArea(16)
	bodyIsSome, bodyPtr, bodyLen := optionFlat(body)
	witClientRequest(
		stringPtr(cluster), uint32(len(cluster)),
		stringPtr(method), uint32(len(method)),
		stringPtr(path), uint32(len(path)),
		bodyIsSome, bodyPtr, bodyLen,
		ret.address(),
	)
	runtime.KeepAlive(cluster)
	runtime.KeepAlive(method)
	runtime.KeepAlive(path)
	runtime.KeepAlive(body)
	defer releaseHostAllocations()
	base := ret.address()
	if loadU8(base) != 0 {
		return HTTPResponse{}, loadError(base + 4)
	}
	return HTTPResponse{Status: loadU16(base + 4), Body: loadString(base + 8)}, nil
}

// KubeList calls `kube-client.list` and returns the list object as JSON text.
func KubeList(cluster, resource string, options ListOptions) (string, error) {
	// The parameter tuple: cluster and resource (8 bytes each), then the
	// record list-options with its fields at 16, 28, 40, 52 and 60.
	params := newArea(72)
	base := params.address()
	storeString(base, cluster)
	storeString(base+8, resource)
	storeOptionString(base+16, options.Namespace)
	storeOptionString(base+28, options.LabelSelector)
	storeOptionString(base+40, options.FieldSelector)
	if options.Limit != nil {
		storeU8(base+52, 1)
		storeU32(base+56, *options.Limit)
	}
	storeOptionString(base+60, options.ContinueToken)

	ret := newArea(16)
	witKubeClientList(base, ret.address())
	runtime.KeepAlive(cluster)
	runtime.KeepAlive(resource)
	runtime.KeepAlive(options)
	runtime.KeepAlive(params)
	defer releaseHostAllocations()
	return loadResultString(ret.address())
}

// KubeGet calls `kube-client.get` and returns the object as JSON text. A nil
// namespace is `none`.
func KubeGet(cluster, resource string, namespace *string, name string) (string, error) {
	ret := newArea(16)
	namespaceIsSome, namespacePtr, namespaceLen := optionFlat(namespace)
	witKubeClientGet(
		stringPtr(cluster), uint32(len(cluster)),
		stringPtr(resource), uint32(len(resource)),
		namespaceIsSome, namespacePtr, namespaceLen,
		stringPtr(name), uint32(len(name)),
		ret.address(),
	)
	runtime.KeepAlive(cluster)
	runtime.KeepAlive(resource)
	runtime.KeepAlive(namespace)
	runtime.KeepAlive(name)
	defer releaseHostAllocations()
	return loadResultString(ret.address())
}

// RecordRequest calls `stats.record-request`.
func RecordRequest(cluster, verb string, durationMs float64, success bool) {
	var successFlag uint32
	if success {
		successFlag = 1
	}
	witStatsRecordRequest(stringPtr(cluster), uint32(len(cluster)), stringPtr(verb), uint32(len(verb)), durationMs, successFlag)
	runtime.KeepAlive(cluster)
	runtime.KeepAlive(verb)
}

// Recorded calls `stats.recorded`.
func Recorded() []Latency {
	ret := newArea(8)
	witStatsRecorded(ret.address())
	defer releaseHostAllocations()
	// Each latency record takes 96 bytes with 8-byte alignment: two strings,
	// then u64 and f64 fields, then the nested record percentiles at 72.
	elements := loadU32(ret.address())
	count := loadU32(ret.address() + 4)
	latencies := make([]Latency, count)
	for i := range latencies {
		base := elements + uint32(i)*96
		latencies[i] = Latency{
			Cluster:     loadString(base),
			Verb:        loadString(base + 8),
			Count:       loadU64(base + 16),
			Errors:      loadU64(base + 24),
			AvgMs:       loadF64(base + 32),
			RecentCount: loadU64(base + 40),
			P50Ms:       loadF64(base + 48),
			P95Ms:       loadF64(base + 56),
			P99Ms:       loadF64(base + 64),
			AllTime: Percentiles{
				P50Ms: loadF64(base + 72),
				P95Ms: loadF64(base + 80),
				P99Ms: loadF64(base + 88),
			},
		}
	}
	return latencies
}

// runResult keeps the return area and the string of the last `run`
// reachable until the host has read them and called cabi_post_run.
var runResult struct {
	area    area
	message string
}

// witRun is the core export of `run(cluster, args) -> result<string,
// string>`. It lifts the arguments, calls `run` of main.go, and returns the
// address of a result stored as a discriminant and a string at offset 4.
//
//go:wasmexport run
func witRun(clusterPtr, clusterLen, argsPtr, argsLen uint32) uint32 {
	cluster := string(bytesAt(clusterPtr, clusterLen))
	// Each tuple<string, string> is two strings, 16 bytes.
	args := make([]Arg, argsLen)
	for i := range args {
		base := argsPtr + uint32(i)*16
		args[i] = Arg{Key: loadString(base), Value: loadString(base + 8)}
	}
	releaseHostAllocations()

	output, err := run(cluster, args)
	runResult.area = newArea(12)
	base := runResult.area.address()
	if err != nil {
		storeU8(base, 1)
		runResult.message = err.Error()
	} else {
		runResult.message = output
	}
	storeString(base+4, runResult.message)
	return base
}

// witPostRun releases the result of `run` once the host has copied it.
//
//go:wasmexport cabi_post_run
func witPostRun(uint32) {
	runResult.area = area{}
	runResult.message = ""
}
