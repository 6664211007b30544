// Package results holds the JSON shapes cmd/scenarios writes and
// cmd/report reads, so the two programs cannot drift apart.
package results

import "time"

// Results is the JSON cmd/scenarios writes to -out.
type Results struct {
	Started time.Time       `json:"started"`
	Load    []LoadResult    `json:"load,omitempty"`
	Refresh []RefreshResult `json:"refresh,omitempty"`
	Flood   []FloodResult   `json:"flood,omitempty"`
	Memory  []MemoryResult  `json:"memory,omitempty"`
	Gateway []GatewayResult `json:"gateway,omitempty"`
	// GatewayInstructions is the gateway scenario's instruction counts
	// (absent when valgrind is not installed, and in -quick runs).
	GatewayInstructions []GatewayInstructions `json:"gateway_instructions,omitempty"`
	Notes               []string              `json:"notes,omitempty"`
}

// LoadResult is one case × alg over real TCP.
type LoadResult struct {
	Case        string  `json:"case"`
	Alg         string  `json:"alg"`
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	RPS         float64 `json:"rps"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	P999us      float64 `json:"p999_us"`
}

// RefreshResult is one library under load while its JWKS refreshes slowly.
type RefreshResult struct {
	Case     string `json:"case"`
	Alg      string `json:"alg"`
	Requests int    `json:"requests"`
	Errors   int    `json:"errors"`
	// Refreshes is how many JWKS fetches (each taking 300 ms) overlapped the run.
	Refreshes int `json:"refreshes"`
	// DuringRefresh is how many requests overlapped a fetch.
	DuringRefresh      int     `json:"during_refresh"`
	SteadyP99us        float64 `json:"steady_p99_us"`
	SteadyMaxus        float64 `json:"steady_max_us"`
	DuringRefreshP99us float64 `json:"during_refresh_p99_us"`
	DuringRefreshMaxus float64 `json:"during_refresh_max_us"`
	// Stalled counts requests during a refresh that took at least 250 ms:
	// requests that waited for the 300 ms fetch, as opposed to the
	// scheduling noise of a shared 2-core machine.
	Stalled int `json:"stalled"`
	// MeetsBar: no request during a refresh slower than steady p99 + 1 ms.
	MeetsBar bool `json:"meets_bar"`
}

// FloodResult is one library answering tokens whose kids it has never seen.
type FloodResult struct {
	Case     string `json:"case"`
	Requests int    `json:"requests"`
	// Accepted must be 0: every token is signed by a key outside the JWKS.
	Accepted int     `json:"accepted"`
	Fetches  int64   `json:"fetches"`
	Seconds  float64 `json:"seconds"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	Maxus    float64 `json:"max_us"`
	// Truncated is set when the scenario's time cap stopped the flood early.
	Truncated bool `json:"truncated"`
}

// MemoryResult is the heap held by one structure filled with N entries.
type MemoryResult struct {
	What          string  `json:"what"`
	Entries       int     `json:"entries"`
	HeldEntries   int     `json:"held_entries"`
	Bytes         uint64  `json:"bytes"`
	BytesPerEntry float64 `json:"bytes_per_entry"`
	Seconds       float64 `json:"seconds"`
}
