// Command scenarios runs the benchmarks beyond the micro-benchmarks, each
// bounded in time and count and on loopback only, and writes their results
// as JSON for cmd/report:
//
//   - load: a server per case over real TCP, a fixed-concurrency Go load
//     generator; requests/s and p50/p99/p999 latency;
//   - refresh: the JWKS endpoint answers slowly (300 ms) while the library
//     refreshes under load; worst latency during a refresh vs steady state;
//   - flood: 10,000 requests with random unknown kids; JWKS fetches caused
//     and the rejection latency;
//   - memory: bytes held by jwtgate's limiter and verified-token cache with
//     1,000,000 distinct subjects/tokens;
//   - gateway: the gateway, a bare ReverseProxy and a hand-rolled
//     golang-jwt + keyfunc proxy, each in a process of its own, under 32
//     keep-alive clients with repeated and never-repeated tokens; CPU time
//     per request of the proxy's process, requests/s, new upstream
//     connections per request, peak RSS.
//
// Usage:
//
//	go run ./cmd/scenarios -out out/scenarios.json [-only load,refresh,flood,memory,gateway] [-quick]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/benchmarks/fixture"
	"github.com/jwtgate/jwtgate/benchmarks/internal/results"
)

// The result shapes live in internal/results, shared with cmd/report.
type (
	Results       = results.Results
	LoadResult    = results.LoadResult
	RefreshResult = results.RefreshResult
	FloodResult   = results.FloodResult
	MemoryResult  = results.MemoryResult
)

type settings struct {
	loadDur     time.Duration
	loadConc    int
	refreshDur  time.Duration
	floodN      int
	memoryN     int
	gwRequests  int // per proxy × mix × round
	gwRounds    int
	gwConc      int
	gwCounted   bool          // also count instructions (callgrind) per request
	scenarioCap time.Duration // hard bound for any one library in a scenario
}

func main() {
	if childMain() {
		return
	}
	out := flag.String("out", "out/scenarios.json", "where to write the JSON results")
	only := flag.String("only", "load,refresh,flood,memory,gateway", "comma-separated scenarios to run")
	quick := flag.Bool("quick", false, "short runs (for CI and smoke tests)")
	keys := flag.String("keys", os.Getenv("JWTGATE_BENCH_KEYS"), "shared key file (see fixture.Options.KeyFile)")
	flag.Parse()

	s := settings{loadDur: 2 * time.Second, loadConc: 16, refreshDur: 4 * time.Second,
		floodN: 10000, memoryN: 1000000, scenarioCap: 30 * time.Second,
		gwRequests: 20000, gwRounds: 3, gwConc: 32, gwCounted: true}
	if *quick {
		s = settings{loadDur: 200 * time.Millisecond, loadConc: 4, refreshDur: 2500 * time.Millisecond,
			floodN: 500, memoryN: 10000, scenarioCap: 10 * time.Second,
			gwRequests: 1000, gwRounds: 1, gwConc: 32}
	}
	if err := run(*out, strings.Split(*only, ","), s, *keys); err != nil {
		log.Fatal(err)
	}
}

func run(out string, only []string, s settings, keyFile string) error {
	fx, err := fixture.New(fixture.Options{KeyFile: keyFile})
	if err != nil {
		return err
	}
	defer fx.Close()
	ctx := context.Background()
	res := Results{Started: time.Now().UTC()}
	if slices.Contains(only, "load") {
		if res.Load, err = runLoad(ctx, fx, s); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	if slices.Contains(only, "refresh") {
		if res.Refresh, err = runRefresh(ctx, fx, s); err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
	}
	if slices.Contains(only, "flood") {
		if res.Flood, err = runFlood(ctx, fx, s); err != nil {
			return fmt.Errorf("flood: %w", err)
		}
	}
	if slices.Contains(only, "memory") {
		var notes []string
		if res.Memory, notes, err = runMemory(ctx, fx, s); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		res.Notes = append(res.Notes, notes...)
	}
	if slices.Contains(only, "gateway") {
		if res.Gateway, err = runGateway(ctx, fx, s); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		if s.gwCounted {
			c := counting{proxies: countedProxies, requests: 500, rounds: s.gwRounds}
			if res.GatewayInstructions, err = runGatewayInstructions(fx, c); err != nil {
				return fmt.Errorf("gateway instructions: %w", err)
			}
		}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}
