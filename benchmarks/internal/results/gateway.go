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
	fmt.Fprintf(&b, "| proxy | tokens | CPU µs/request | ÷ %s | req/s | ÷ %s | new upstream conns per 1,000 requests | peak RSS | errors |\n|---|---|---|---|---|---|---|---|---|\n", GatewayFloor, GatewayFloor)
	for _, k := range order {
		var cpu, cpuR, rps, rpsR, conns, rss []float64
		errs := 0
		for _, r := range by[k] {
			cpu, rps = append(cpu, r.CPUusPerReq), append(rps, r.RPS)
			conns, rss = append(conns, 1000*r.UpstreamConnsPerReq), append(rss, r.PeakRSSMiB)
			errs += r.Errors
			if f, ok := floor[[2]any{r.Mix, r.Round}]; ok && f.CPUusPerReq > 0 && f.RPS > 0 {
				cpuR, rpsR = append(cpuR, r.CPUusPerReq/f.CPUusPerReq), append(rpsR, r.RPS/f.RPS)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %.0f | %s | %.2f | %.0f MiB | %d |\n", k.proxy, k.mix, median(cpu), ratio(cpuR), median(rps), ratio(rpsR), median(conns), slices.Max(rss), errs)
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
