package results

import (
	"fmt"
	"slices"
	"strings"
)

// GatewayResult is one proxy × token mix × round of the gateway scenario:
// the proxy in a process of its own (GOMAXPROCS=1), the load generator
// and the upstream in another, over loopback TCP.
type GatewayResult struct {
	Proxy       string `json:"proxy"`
	Mix         string `json:"mix"` // "repeated" or "never-repeated"
	Round       int    `json:"round"`
	Concurrency int    `json:"concurrency"`
	Requests    int    `json:"requests"`
	Errors      int    `json:"errors"`
	// CPUusPerReq is the proxy process's user+system CPU time per
	// request, from /proc/<pid>/stat: the figure that survives a noisy
	// machine, unlike RPS.
	CPUusPerReq float64 `json:"cpu_us_per_req"`
	RPS         float64 `json:"rps"`
	// UpstreamConnsPerReq is new upstream TCP connections per request.
	UpstreamConnsPerReq float64 `json:"upstream_conns_per_req"`
	PeakRSSMiB          float64 `json:"peak_rss_mib"`
	// FixedRate is the open-loop phase's request rate (requests per
	// second), and P50us/P99us its latencies, measured from each request's
	// scheduled send time (so a stalled proxy cannot hide its backlog).
	FixedRate float64 `json:"fixed_rate"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
}

// GatewayFloor is the proxy every other is divided by: a bare
// httputil.ReverseProxy with a keep-alive-tuned transport.
const GatewayFloor = "bare_tuned"

// GatewayTable is the scenario's markdown table: medians over rounds, and
// each ratio the median of the per-round ratios to the same round's
// GatewayFloor (min–max across rounds).
func GatewayTable(rs []GatewayResult) string {
	type key struct{ proxy, mix string }
	floor := map[[2]any]GatewayResult{}
	var order []key
	by := map[key][]GatewayResult{}
	for _, r := range rs {
		if r.Proxy == GatewayFloor {
			floor[[2]any{r.Mix, r.Round}] = r
		}
		k := key{r.Proxy, r.Mix}
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], r)
	}
	var b strings.Builder
	rate := 0.0
	for _, r := range rs {
		rate = max(rate, r.FixedRate)
	}
	fmt.Fprintf(&b, "| proxy | tokens | CPU µs/request | ÷ %s | req/s | ÷ %s | p50 / p99 at %.0f req/s | new upstream conns per 1,000 requests | peak RSS | errors |\n|---|---|---|---|---|---|---|---|---|---|\n", GatewayFloor, GatewayFloor, rate)
	for _, k := range order {
		var cpu, cpuR, rps, rpsR, conns, rss, p50, p99 []float64
		errs := 0
		for _, r := range by[k] {
			cpu, rps = append(cpu, r.CPUusPerReq), append(rps, r.RPS)
			conns, rss = append(conns, 1000*r.UpstreamConnsPerReq), append(rss, r.PeakRSSMiB)
			errs += r.Errors
			p50, p99 = append(p50, r.P50us), append(p99, r.P99us)
			if f, ok := floor[[2]any{r.Mix, r.Round}]; ok && f.CPUusPerReq > 0 && f.RPS > 0 {
				cpuR, rpsR = append(cpuR, r.CPUusPerReq/f.CPUusPerReq), append(rpsR, r.RPS/f.RPS)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %.0f | %s | %.0f / %.0f µs | %.2f | %.0f MiB | %d |\n", k.proxy, k.mix, median(cpu), ratio(cpuR), median(rps), ratio(rpsR), median(p50), median(p99), median(conns), slices.Max(rss), errs)
	}
	return b.String()
}

func ratio(x []float64) string {
	if len(x) == 0 {
		return "–"
	}
	if len(x) == 1 {
		return fmt.Sprintf("**%.2f**", x[0])
	}
	return fmt.Sprintf("**%.2f** (%.2f–%.2f)", median(x), slices.Min(x), slices.Max(x))
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}

// GatewayInstructions is one proxy × round of the gateway scenario's
// instruction counts: callgrind on the proxy's process, one keep-alive
// connection, one request at a time.
type GatewayInstructions struct {
	Proxy    string `json:"proxy"`
	Mix      string `json:"mix"`
	Round    int    `json:"round"`
	Requests int    `json:"requests"` // requests the per-request figure is taken over
	// PerRequest is the instructions the proxy's handler, and all that
	// ran in its process meanwhile, executed per request.
	PerRequest float64 `json:"per_request"`
}

// GatewayInstructionsTable is their markdown table: each proxy's count per
// request in every round, ÷ GatewayFloor of the same round, and the
// limited gateway ÷ the gateway of the same round.
func GatewayInstructionsTable(rs []GatewayInstructions) string {
	by := map[int]map[string]float64{}
	var rounds []int
	for _, r := range rs {
		if by[r.Round] == nil {
			by[r.Round] = map[string]float64{}
			rounds = append(rounds, r.Round)
		}
		by[r.Round][r.Proxy] = r.PerRequest
	}
	slices.Sort(rounds)
	var b strings.Builder
	fmt.Fprintf(&b, "| round | %s | gateway | ÷ %s | gateway_limited | ÷ %s | gateway_limited ÷ gateway |\n|---|---|---|---|---|---|---|\n", GatewayFloor, GatewayFloor, GatewayFloor)
	ratio := func(a, b float64) string {
		if a == 0 || b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.3f", a/b)
	}
	for _, rd := range rounds {
		m := by[rd]
		fmt.Fprintf(&b, "| %d | %.0f | %.0f | %s | %.0f | %s | **%s** |\n", rd, m[GatewayFloor], m["gateway"], ratio(m["gateway"], m[GatewayFloor]),
			m["gateway_limited"], ratio(m["gateway_limited"], m[GatewayFloor]), ratio(m["gateway_limited"], m["gateway"]))
	}
	return b.String()
}
