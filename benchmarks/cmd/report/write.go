package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/benchmarks/cases"
	"github.com/jwtgate/jwtgate/benchmarks/internal/results"
	"github.com/jwtgate/jwtgate/cache"
)

// countedWarmReport is cmd/scenarios' countedWarm, for the report's text.
const countedWarmReport = 20

// coldBar is the target for jwtgate_cold / crypto_floor.
var coldBar = map[string]float64{"RS256": 1.15, "ES256": 1.08, "EdDSA": 1.10}

// verdict of one bar.
type verdict struct {
	what, target, measured string
	met                    bool
	// profiles names the jwtgate benchmarks whose CPU profile explains a miss.
	profiles []string
}

func (d *data) bars() []verdict {
	var vs []verdict
	if d.has("jwtgate_cold") {
		for _, alg := range d.algs {
			t := d.timeRatio("Serial", "jwtgate_cold", alg)
			cpu := d.cpuRatio("Serial", "jwtgate_cold", alg)
			in := d.instrRatio("", "jwtgate_cold", alg)
			bar := coldBar[alg]
			// Instruction counts repeat exactly; wall time on a shared
			// 2-core machine does not. The count decides when there is one.
			met, decided := t.ok() && t.med <= bar, "time"
			if in.ok() {
				met, decided = in.med <= bar, "instructions"
			}
			vs = append(vs, verdict{
				what:     "jwtgate_cold / crypto_floor, " + alg,
				target:   fmt.Sprintf("≤ %.2f", bar),
				measured: fmt.Sprintf("instructions %s, wall time %s, CPU time %s (decided by %s)", fmtRatio(in), fmtRatio(t), fmtRatio(cpu), decided),
				met:      met, profiles: []string{"jwtgate_cold-" + alg},
			})
		}
	}
	for _, hit := range []string{"jwtgate_verify_hit", "jwtgate_hit"} {
		if !d.has(hit) {
			continue
		}
		for _, alg := range d.algs {
			ns := d.ns("Serial", hit, alg)
			allocs := spreadOf(values(d.runs("Serial", hit, alg), "allocs/op"))
			vs = append(vs, verdict{
				what:     hit + " (verified-token cache hit), " + alg,
				target:   "< 1 µs, ≤ 1 alloc",
				measured: fmt.Sprintf("wall %s (CPU %s), %.0f allocs", fmtSpreadNs(ns), fmtNs(d.cpuNs("Serial", hit, alg).med), allocs.max),
				met:      ns.ok() && ns.med < 1000 && allocs.max <= 1, profiles: []string{hit + "-" + alg},
			})
		}
	}
	if d.has("jwtgate_hit") && d.has("jwtgate_hit_limited") {
		// The per-subject rate limit on a hit: at most one allocation more
		// (its RateLimit-* header values), in the same run.
		for _, alg := range d.algs {
			hit := spreadOf(values(d.runs("Serial", "jwtgate_hit", alg), "allocs/op"))
			lim := spreadOf(values(d.runs("Serial", "jwtgate_hit_limited", alg), "allocs/op"))
			instr := "–"
			if a, b := d.instrRatio("", "jwtgate_hit", alg), d.instrRatio("", "jwtgate_hit_limited", alg); a.ok() && b.ok() {
				instr = fmt.Sprintf("%.2f ×", b.med/a.med)
			}
			vs = append(vs, verdict{
				what:   "jwtgate_hit_limited (a hit with a rate limit that never limits) against jwtgate_hit, " + alg,
				target: "≤ 1 added alloc",
				measured: fmt.Sprintf("%.0f allocs against %.0f; wall %s against %s; instructions %s", lim.max, hit.max,
					fmtNs(d.ns("Serial", "jwtgate_hit_limited", alg).med), fmtNs(d.ns("Serial", "jwtgate_hit", alg).med), instr),
				met: hit.ok() && lim.ok() && lim.max <= hit.max+1, profiles: []string{"jwtgate_hit_limited-" + alg},
			})
		}
	}
	for _, mode := range []string{"Serial", "Parallel"} {
		if !d.has("jwtgate_cold") {
			break
		}
		for _, alg := range d.algs {
			peer := d.bestPeer(mode, alg)
			if peer == "" {
				continue
			}
			g, p := d.ns(mode, "jwtgate_cold", alg), d.ns(mode, peer, alg)
			r := spreadOf(pairedRatios(d.runs(mode, "jwtgate_cold", alg), d.runs(mode, peer, alg), "ns/op"))
			rc := spreadOf(pairedRatios(d.runs(mode, "jwtgate_cold", alg), d.runs(mode, peer, alg), "cpu-ns/op"))
			measured := fmt.Sprintf("wall time jwtgate_cold %s vs %s %s: ratio %s; CPU time ratio %s", fmtNs(g.med), peer, fmtNs(p.med), fmtRatio(r), fmtRatio(rc))
			met := g.ok() && p.ok() && g.med < p.med
			if mode == "Serial" {
				if ip := d.bestPeerInstr(alg); ip != "" {
					gi, pi := d.instr[key{"Serial", "jwtgate_cold", alg}], d.instr[key{"Serial", ip, alg}]
					if gi > 0 {
						measured += fmt.Sprintf("; instructions %s vs %s %s (%.3f; decides)", fmtInstr(gi), ip, fmtInstr(pi), gi/pi)
						met = gi < pi
					}
				}
			}
			vs = append(vs, verdict{
				what:   fmt.Sprintf("jwtgate_cold ahead of every peer, %s, %s", strings.ToLower(mode), alg),
				target: "< best peer", measured: measured, met: met,
				profiles: []string{"jwtgate_cold-" + alg},
			})
		}
	}
	if d.has("jwtgate_echo") {
		for _, alg := range d.algs {
			g, p := d.ns("Serial", "jwtgate_echo", alg), d.ns("Serial", "echojwt", alg)
			measured := fmt.Sprintf("wall time %s vs %s", fmtNs(g.med), fmtNs(p.med))
			met := g.ok() && p.ok() && g.med < p.med
			gi, pi := d.instr[key{"Serial", "jwtgate_echo", alg}], d.instr[key{"Serial", "echojwt", alg}]
			if gi > 0 && pi > 0 {
				measured += fmt.Sprintf("; instructions %s vs %s (%.3f; decides)", fmtInstr(gi), fmtInstr(pi), gi/pi)
				met = gi < pi
			}
			vs = append(vs, verdict{
				what:   "jwtgate_echo ahead of echojwt (same framework), " + alg,
				target: "< echojwt", measured: measured, met: met, profiles: []string{"jwtgate_echo-" + alg},
			})
		}
	}
	for _, r := range d.sc.Refresh {
		if strings.HasPrefix(r.Case, "jwtgate") {
			vs = append(vs, verdict{
				what:   "no request slower than steady p99 + 1 ms during a (300 ms) JWKS refresh",
				target: fmt.Sprintf("≤ %s", fmtUs(r.SteadyP99us+1000)),
				measured: fmt.Sprintf("worst during refresh %s (steady max %s; p99 during refresh %s; %d stalled ≥ 250 ms) over %d refreshes, %d requests overlapping one",
					fmtUs(r.DuringRefreshMaxus), fmtUs(r.SteadyMaxus), fmtUs(r.DuringRefreshP99us), r.Stalled, r.Refreshes, r.DuringRefresh),
				met: r.MeetsBar,
			})
		}
	}
	for _, f := range d.sc.Flood {
		if strings.HasPrefix(f.Case, "jwtgate") {
			vs = append(vs, verdict{
				what: fmt.Sprintf("unknown-kid flood (%d requests in %.1f s): JWKS fetches", f.Requests, f.Seconds),
				// The cache refetches for unknown kids only once its set
				// is no longer authoritative: at most one conditional
				// request per cache.DefaultUnknownKIDInterval, plus the
				// one that may be running as the flood starts.
				target:   fmt.Sprintf("≤ 1 + 1 per unknown-kid interval (%s)", cache.DefaultUnknownKIDInterval),
				measured: fmt.Sprintf("%d fetches, %d accepted", f.Fetches, f.Accepted),
				met: f.Fetches <= int64(1+time.Duration(f.Seconds*float64(time.Second))/cache.DefaultUnknownKIDInterval) &&
					f.Accepted == 0,
			})
		}
	}
	return vs
}

func (d *data) write(b *strings.Builder, timeChart, instrChart string, haveInstr bool) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("# jwtgate benchmarks: results\n\n")
	p("Written by `benchmarks/run` (do not edit by hand). Every ratio below is between figures of this one run: ")
	p("times are medians over %d rounds (each round a separate pass over every benchmark), with (min–max) of the per-round ratios, each round's case divided by the same round's `crypto_floor`; ", d.counts)
	p("instruction counts come from `valgrind --tool=callgrind` on the same test binary, counting only the benchmark loop, divided per request. ")
	p("Instruction counts repeat to within a fraction of a per cent from run to run, wall time on this shared 2-core machine does not, so **where a bar can be judged by instruction count, the count decides** and the time is shown beside it; the parallel bars have only time.\n\n")
	if d.cpu != "" {
		p("CPU: %s. ", d.cpu)
	}
	p("See [machine and noise](#machine-and-noise) at the end.\n\n")

	p("## Headline\n\n")
	p("Ratio to `crypto_floor` (the stdlib signature check alone), serial, one request at a time:\n\n")
	p("| alg | crypto_floor | jwtgate_cold | jwtgate_verify_hit | jwtgate_hit | jwtgate_hit_limited | best peer | best peer ratio | jwtgate_cold / best peer |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, alg := range d.algs {
		peer, peerI := d.bestPeer("Serial", alg), d.bestPeerInstr(alg)
		if peerI != "" {
			peer = peerI // the exact count picks the best peer when there is one
		}
		coldI, pI := d.instrRatio("", "jwtgate_cold", alg), d.instrRatio("", peer, alg)
		vsPeer := "–"
		if coldI.ok() && pI.ok() {
			vsPeer = fmt.Sprintf("**%.3f**", coldI.med/pI.med)
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", alg, fmtNs(d.ns("Serial", "crypto_floor", alg).med),
			headRatio(coldI, d.timeRatio("Serial", "jwtgate_cold", alg), d.cpuRatio("Serial", "jwtgate_cold", alg)),
			fmtNs(d.ns("Serial", "jwtgate_verify_hit", alg).med), fmtNs(d.ns("Serial", "jwtgate_hit", alg).med),
			fmtNs(d.ns("Serial", "jwtgate_hit_limited", alg).med), peer,
			headRatio(pI, d.timeRatio("Serial", peer, alg), d.cpuRatio("Serial", peer, alg)), vsPeer)
	}
	p("\nEach ratio cell: **instructions** · wall time · CPU time, all divided by the same run's `crypto_floor` (time ratios are round-paired medians). The hit columns are absolute wall times per request.\n\n")

	vs := d.bars()
	if len(vs) > 0 {
		p("## The bar\n\n| target | bar | measured | met |\n|---|---|---|---|\n")
		for _, v := range vs {
			p("| %s | %s | %s | %s |\n", v.what, v.target, v.measured, yesNo(v.met))
		}
		p("\n")
	} else {
		p("## The bar\n\njwtgate's own cases were not part of this run (the middleware was not on main yet), so no bar could be checked.\n\n")
	}

	p("## Charts\n\n![time ratios](%s)\n\n", timeChart)
	if haveInstr {
		p("![instruction ratios](%s)\n\n", instrChart)
	}

	for _, mode := range []string{"Serial", "Parallel"} {
		title := "Serial (one request at a time)"
		if mode == "Parallel" {
			title = "Parallel (`b.RunParallel`, GOMAXPROCS=2 goroutines)"
		}
		p("## %s\n\n", title)
		for _, alg := range d.algs {
			peer := d.bestPeer(mode, alg)
			p("### %s\n\n", alg)
			p("| case | wall time/request | ÷ crypto_floor | ÷ best peer (%s) | CPU time/request | ÷ crypto_floor | allocs | bytes | JWKS fetches |", peer)
			if mode == "Serial" {
				p(" instructions | instr. ÷ crypto_floor |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
			} else {
				p("\n|---|---|---|---|---|---|---|---|---|\n")
			}
			for _, c := range d.cases {
				rs := d.runs(mode, c.Name, alg)
				if len(rs) == 0 {
					continue
				}
				vsPeer := "–"
				if c.Kind == cases.Verifier {
					vsPeer = fmtRatio(spreadOf(pairedRatios(rs, d.runs(mode, peer, alg), "ns/op")))
				}
				fetches := 0.0
				for _, v := range values(rs, "jwksfetches") {
					fetches += v
				}
				p("| %s | %s | %s | %s | %s | %s | %.0f | %.0f | %.0f |", c.Name, fmtSpreadNs(d.ns(mode, c.Name, alg)),
					fmtRatio(d.timeRatio(mode, c.Name, alg)), vsPeer,
					fmtNs(d.cpuNs(mode, c.Name, alg).med), fmtRatio(d.cpuRatio(mode, c.Name, alg)),
					spreadOf(values(rs, "allocs/op")).med, spreadOf(values(rs, "B/op")).med, fetches)
				if mode == "Serial" {
					if v, ok := d.instr[key{"Serial", c.Name, alg}]; ok {
						p(" %s | %s |", fmtInstr(v), fmtRatio(d.instrRatio("", c.Name, alg)))
					} else {
						p(" – | – |")
					}
				}
				p("\n")
			}
			p("\n")
		}
	}
	d.writeScenarios(p)
	d.writeMisses(p, vs)
	d.writeMethod(p)
}

func headRatio(instr, wall, cpu spread) string {
	f := func(s spread) string {
		if !s.ok() {
			return "–"
		}
		return fmt.Sprintf("%.2f", s.med)
	}
	in := "–"
	if instr.ok() {
		in = fmt.Sprintf("**%.3f**", instr.med)
	}
	return in + " · " + f(wall) + " · " + f(cpu)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**NO**"
}

func (d *data) writeScenarios(p func(string, ...any)) {
	sc := d.sc
	if len(sc.Load) > 0 {
		p("## Load over real TCP\n\n")
		p("A loopback server per case, a Go load generator with %d keep-alive connections in the same process (the two share the 2 cores, so these are comparative, not capacity, figures).\n\n", sc.Load[0].Concurrency)
		p("| case | alg | req/s | ÷ nethttp_floor | p50 | p99 | p99.9 | errors |\n|---|---|---|---|---|---|---|---|\n")
		floor := map[string]float64{}
		for _, l := range sc.Load {
			if l.Case == "nethttp_floor" {
				floor[l.Alg] = l.RPS
			}
		}
		for _, l := range sc.Load {
			rel := "–"
			if f := floor[l.Alg]; f > 0 {
				rel = fmt.Sprintf("%.3f", l.RPS/f)
			}
			p("| %s | %s | %.0f | %s | %s | %s | %s | %d |\n", l.Case, l.Alg, l.RPS, rel, fmtUs(l.P50us), fmtUs(l.P99us), fmtUs(l.P999us), l.Errors)
		}
		p("\n")
	}
	if len(sc.Refresh) > 0 {
		p("## Refresh under load\n\n")
		p("Each library refreshes its JWKS every second (its TTL or refresh interval set to 1 s, `Cache-Control: max-age=1`) while 4 connections send ES256 requests; every JWKS fetch takes 300 ms. A request overlapping a fetch counts as during the refresh.\n\n")
		p("| library | refreshes | requests | during refresh | steady p99 | steady max | p99 during refresh | worst during refresh | stalled ≥ 250 ms | worst within steady p99 + 1 ms | errors |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range sc.Refresh {
			p("| %s | %d | %d | %d | %s | %s | %s | %s | %d | %s | %d |\n", r.Case, r.Refreshes, r.Requests, r.DuringRefresh,
				fmtUs(r.SteadyP99us), fmtUs(r.SteadyMaxus), fmtUs(r.DuringRefreshP99us), fmtUs(r.DuringRefreshMaxus), r.Stalled, yesNo(r.MeetsBar), r.Errors)
		}
		p("\n\"Stalled\" requests waited for the fetch: a library that blocks requests while it refreshes shows them; the worst-case column also carries the scheduling noise of the shared machine (compare with the steady max).\n")
		p("\n")
	}
	if len(sc.Flood) > 0 {
		p("## Unknown-kid flood\n\n")
		p("Requests with EdDSA tokens signed by a key outside the JWKS, each with a random kid, sent by 8 goroutines straight into the handler.\n\n")
		p("| library | requests | accepted | JWKS fetches caused | seconds | p50 | p99 | max |\n|---|---|---|---|---|---|---|---|\n")
		for _, f := range sc.Flood {
			tr := ""
			if f.Truncated {
				tr = " (stopped at the time cap)"
			}
			p("| %s | %d%s | %d | %d | %.2f | %s | %s | %s |\n", f.Case, f.Requests, tr, f.Accepted, f.Fetches, f.Seconds,
				fmtUs(f.P50us), fmtUs(f.P99us), fmtUs(f.Maxus))
		}
		p("\n")
	}
	if len(sc.Gateway) > 0 {
		p("## Gateway over real TCP\n\n")
		p("Each proxy in a process of its own (GOMAXPROCS=1), %d keep-alive clients and the upstream in the scenarios process, ES256 tokens: one token repeated, or a new token on every request. CPU time is the proxy process's (user + system, /proc/<pid>/stat, 10 ms ticks); each ratio is to `%s` (httputil.ReverseProxy, 256 idle connections per host) of the same round. `bare_default` is the same proxy on http.DefaultTransport (2 idle per host); `gateway_limited` is the gateway with a per-subject rate limit high enough never to limit; `handrolled` is golang-jwt + keyfunc + the tuned ReverseProxy, verifying every request (no cache); `library_cold` is jwtgate's Verifier with its verified-token cache off in front of the tuned ReverseProxy, the library's cold path in the same conditions; `express` (when node and npm are there) is express + express-jwt + jwks-rsa in front of http-proxy with a keep-alive agent, one Node process. p50/p99 come from a second, open-loop phase at a fixed rate, each latency measured from the request's scheduled send time.\n\n", sc.Gateway[0].Concurrency, results.GatewayFloor)
		p("%s\n", results.GatewayTable(sc.Gateway))
	}
	if len(sc.GatewayInstructions) > 0 {
		p("### Gateway over real TCP, instructions\n\n")
		p("The CPU times above spread by ±20 %% between rounds on this shared machine, more than the rate limit's cost. Here each proxy runs alone under callgrind (`GOGC=off`), one keep-alive connection, one request at a time with the repeated ES256 token: after %d warm-up requests its counts are zeroed (`callgrind_control --zero`), %d requests sent, and the counts dumped. Per request: what the whole proxy process executed in user space (its server, handler, transport and runtime; the kernel's socket work, the same for every proxy, is not counted). Counts spread by about 1 %% between rounds, far less than CPU time (the runtime's scheduler and network poller are counted with everything else, and they run as long as the waits for the upstream last).\n\n", countedWarmReport, sc.GatewayInstructions[0].Requests)
		p("%s\n", results.GatewayInstructionsTable(sc.GatewayInstructions))
	}
	if len(sc.Memory) > 0 || len(sc.Notes) > 0 {
		p("## Memory\n\n")
		if len(sc.Memory) > 0 {
			p("Live heap after a GC, before and after filling the structure, with its entries still referenced.\n\n")
			p("| structure | entries offered | entries held | bytes held | bytes per held entry |\n|---|---|---|---|---|\n")
			for _, m := range sc.Memory {
				p("| %s | %d | %d | %.1f MiB | %.0f |\n", m.What, m.Entries, m.HeldEntries, float64(m.Bytes)/(1<<20), m.BytesPerEntry)
			}
			p("\n")
		}
		for _, n := range sc.Notes {
			p("- %s\n", n)
		}
		p("\n")
	}
}

func (d *data) writeMisses(p func(string, ...any), vs []verdict) {
	var missed []verdict
	for _, v := range vs {
		if !v.met {
			missed = append(missed, v)
		}
	}
	if len(missed) == 0 {
		if len(vs) > 0 {
			p("## Where jwtgate misses the bar\n\nNowhere in this run.\n\n")
		}
		return
	}
	p("## Where jwtgate misses the bar\n\n")
	for _, v := range missed {
		p("- **%s**: wanted %s, measured %s.\n", v.what, v.target, v.measured)
	}
	for _, v := range missed {
		if strings.HasPrefix(v.what, "jwtgate_hit ") {
			p("\nThrough `Verifier.Handler`, a hit allocates what net/http makes every middleware allocate to hand claims to the next handler: `r.WithContext` copies the request and `context.WithValue` adds a node (the allocation profile below shows both); keyfunc's middleware pays the same two. Through `Verifier.Verify` (jwtgate_verify_hit) a hit allocates nothing.\n")
			break
		}
	}
	p("\nThe profiles of those cases (`go test -cpuprofile`, `go tool pprof -top -cum`; `-memprofile`, `-sample_index=alloc_objects`) say where the time and the allocations go:\n\n")
	seen := map[string]bool{}
	for _, v := range missed {
		for _, prof := range v.profiles {
			if seen[prof] {
				continue
			}
			seen[prof] = true
			if data, err := os.ReadFile(filepath.Join(d.dir, "profile-"+prof+".txt")); err == nil {
				p("<details><summary>%s: CPU</summary>\n\n```\n%s```\n</details>\n\n", prof, topLines(string(data), 30))
			}
			if data, err := os.ReadFile(filepath.Join(d.dir, "profile-"+prof+"-allocs.txt")); err == nil {
				p("<details><summary>%s: allocations (objects)</summary>\n\n```\n%s```\n</details>\n\n", prof, topLines(string(data), 18))
			}
		}
	}
}

func topLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "")
}

func (d *data) writeMethod(p func(string, ...any)) {
	p(`## What is measured

One fixture for all: an RSA-2048, a P-256 and an Ed25519 key with kids, one loopback JWKS server
with a fetch counter per library, one token per algorithm with iss, aud, sub, iat and exp. Every
verifier checks signature, iss, aud and exp and its inner handler reads ` + "`sub`" + `; a test
(` + "`TestCasesVerify`" + `, run before the timings) proves each case rejects a bad signature, a wrong
iss or aud, an expired token and a key outside the JWKS, so no case is measured doing less.

- ` + "`crypto_floor`" + `: base64-decode the signature, SHA-256 the signing input, the stdlib verify with the key in hand. The physical floor.
- ` + "`nethttp_floor`, `gin_floor`, `echo_floor`" + `: the framework answers with no JWT work at all.
- ` + "`golangjwt_raw`" + `: golang-jwt/v5 ` + "`ParseWithClaims`" + ` with a kid → key map, no HTTP.
- ` + "`keyfunc`" + `: golang-jwt + MicahParks/keyfunc/v3 (jwkset HTTP storage) in a minimal net/http middleware.
- ` + "`auth0`" + `: auth0/go-jwt-middleware/v2 with ` + "`jwks.CachingProvider`" + `. It takes an issuer URL and would discover the JWKS over it;
  ` + "`jwks.WithCustomJWKSURI`" + ` points it at the loopback plain-HTTP JWKS (v2.3.1 does not insist on https, so no TLS server is needed). Its validator takes one algorithm, so one is built per algorithm.
- ` + "`echojwt`" + `: labstack/echo-jwt/v4 on echo with keyfunc; its default parse function checks neither iss nor aud, so it gets one that does.
- ` + "`jwx`" + `: lestrrat-go/jwx/v3 with ` + "`jwk.Cache`" + ` and its ` + "`CachedSet`" + `.
- ` + "`jwtgate_cold`" + `: jwtgate's Verifier (` + "`Handler`" + `, keys from jwtgate's own ` + "`cache.Cache`" + `) with the verified-token cache off; ` + "`jwtgate_hit`" + `: with it on (every request after the first is a hit); ` + "`jwtgate_hit_limited`" + `: jwtgate_hit with a ` + "`ratelimit.Local`" + ` per-subject limit that never limits (the limiter and the RateLimit-* headers on every answer).
  ` + "`jwtgate_verify`, `jwtgate_verify_hit`" + `: the same through ` + "`Verifier.Verify`" + ` with no HTTP around it (gRPC or queue consumers; compare with ` + "`golangjwt_raw`" + `).
  ` + "`jwtgate_gin`, `jwtgate_echo`" + `: through the adapters, on the same frameworks as the floors.

The golang-jwt based peers parse into ` + "`jwt.RegisteredClaims`" + `, golang-jwt's cheapest claims type
(its default ` + "`jwt.MapClaims`" + ` costs more): each peer is measured in its fastest documented set-up.

Instruction counts: ` + "`valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*benchLoop*'`" + ` on the
benchmark binary with ` + "`-test.benchtime=Nx`" + ` (the loop runs N+1 times: one calibration run, then N), under
` + "`GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off`" + ` (valgrind 3.19 neither survives Go's preemption signals nor decodes RDTSCP).

Reproduce: ` + "`benchmarks/run`" + ` (about 10 minutes on 2 cores; ` + "`COUNT`, `BENCHTIME`, `CG_N`" + ` shorten it).

`)
	p("## Machine and noise\n\n")
	if d.env != "" {
		p("```\n%s```\n", d.env)
	}
	p("The machine has 2 cores shared with other helpers' builds and tests (the load averages above). ")
	for _, alg := range d.algs {
		w, c := d.ns("Serial", "crypto_floor", alg), d.cpuNs("Serial", "crypto_floor", alg)
		if w.ok() && w.med > 0 {
			p("crypto_floor %s: wall time %s–%s over the rounds (±%.0f %% around the median)", alg, fmtNs(w.min), fmtNs(w.max), 50*(w.max-w.min)/w.med)
			if c.ok() && c.med > 0 {
				p(", CPU time %s–%s (±%.0f %%)", fmtNs(c.min), fmtNs(c.max), 50*(c.max-c.min)/c.med)
			}
			p("; ")
		}
	}
	p("the stdlib verify alone takes about the same on a quiet machine whatever the round, so that spread is the noise. Ratios pair each round's case with the same round's floor, which cancels slow phases that hit both; CPU time leaves out the time spent waiting for a core; instruction counts are not affected by the noise at all.\n")
}
