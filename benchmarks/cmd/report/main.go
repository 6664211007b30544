// Command report turns one run of benchmarks/run (benchmark output,
// instruction counts, scenario JSON, CPU profiles, machine notes) into
// RESULTS.md and its charts. Every ratio is computed between figures of
// that same run.
//
// Usage:
//
//	go run ./cmd/report -dir out -results RESULTS.md
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/jwtgate/jwtgate/benchmarks/cases"
	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

func main() {
	dir := flag.String("dir", "out", "folder with bench.txt, instructions.tsv, scenarios.json, env.txt, profile-*.txt")
	results := flag.String("results", "RESULTS.md", "markdown file to write")
	flag.Parse()
	if err := run(*dir, *results); err != nil {
		log.Fatal(err)
	}
}

// data is everything one run produced.
type data struct {
	bench  map[key][]benchRun
	cpu    string
	instr  map[key]float64
	sc     *scenarios
	env    string
	dir    string
	cases  []cases.Case
	algs   []string
	counts int
}

func run(dir, results string) error {
	d := &data{dir: dir, cases: cases.All(), algs: fixture.Algs}
	var err error
	if d.bench, d.cpu, err = parseBench(filepath.Join(dir, "bench.txt")); err != nil {
		return err
	}
	if len(d.bench) == 0 {
		return fmt.Errorf("report: no benchmark results in %s", filepath.Join(dir, "bench.txt"))
	}
	for _, rs := range d.bench {
		d.counts = max(d.counts, len(rs))
	}
	if d.instr, err = parseInstr(filepath.Join(dir, "instructions.tsv")); err != nil {
		return err
	}
	if d.sc, err = parseScenarios(filepath.Join(dir, "scenarios.json")); err != nil {
		return err
	}
	if env, err := os.ReadFile(filepath.Join(dir, "env.txt")); err == nil {
		d.env = string(env)
	}
	resDir := filepath.Dir(results)
	timeChart, instrChart := "results-time.png", "results-instructions.png"
	// CPU time when the run measured it: on a shared machine it moves far
	// less than wall time.
	timeTitle, timeRatio := "jwtgate vs peers: wall time per request / crypto_floor (serial, median)", d.timeRatio
	if d.cpuRatio("Serial", "crypto_floor", d.algs[0]).ok() {
		timeTitle, timeRatio = "jwtgate vs peers: CPU time per request / crypto_floor (serial, median)", d.cpuRatio
	}
	if err := writeChart(filepath.Join(resDir, timeChart), timeTitle,
		"ratio to the bare signature check", d.algs, d.chartSeries(timeRatio)); err != nil {
		return err
	}
	haveInstr := len(d.instr) > 0
	if haveInstr {
		if err := writeChart(filepath.Join(resDir, instrChart),
			"jwtgate vs peers: instructions per request / crypto_floor (callgrind)",
			"ratio to the bare signature check", d.algs, d.chartSeries(d.instrRatio)); err != nil {
			return err
		}
	}
	var b strings.Builder
	d.write(&b, timeChart, instrChart, haveInstr)
	return os.WriteFile(results, []byte(b.String()), 0o644)
}

// chartCases are the cases drawn: every verifier (peers and jwtgate).
func (d *data) chartSeries(ratio func(mode, cas, alg string) spread) []series {
	var ss []series
	for _, c := range d.cases {
		if c.Kind != cases.Verifier {
			continue
		}
		s := series{name: c.Name}
		any := false
		for _, alg := range d.algs {
			r := ratio("Serial", c.Name, alg)
			s.ratios = append(s.ratios, r.med)
			any = any || r.ok()
		}
		if any {
			ss = append(ss, s)
		}
	}
	return ss
}

func (d *data) runs(mode, cas, alg string) []benchRun { return d.bench[key{mode, cas, alg}] }

func (d *data) ns(mode, cas, alg string) spread {
	return spreadOf(values(d.runs(mode, cas, alg), "ns/op"))
}

// timeRatio is cas over crypto_floor, paired by round.
func (d *data) timeRatio(mode, cas, alg string) spread {
	return spreadOf(pairedRatios(d.runs(mode, cas, alg), d.runs(mode, "crypto_floor", alg), "ns/op"))
}

// cpuRatio is the same for process CPU time per request.
func (d *data) cpuRatio(mode, cas, alg string) spread {
	return spreadOf(pairedRatios(d.runs(mode, cas, alg), d.runs(mode, "crypto_floor", alg), "cpu-ns/op"))
}

func (d *data) cpuNs(mode, cas, alg string) spread {
	return spreadOf(values(d.runs(mode, cas, alg), "cpu-ns/op"))
}

func (d *data) instrRatio(_, cas, alg string) spread {
	a, okA := d.instr[key{"Serial", cas, alg}]
	f, okF := d.instr[key{"Serial", "crypto_floor", alg}]
	if !okA || !okF || f == 0 {
		return spreadOf(nil)
	}
	return spread{a / f, a / f, a / f}
}

// bestPeer is the peer with the lowest median time for mode and alg.
func (d *data) bestPeer(mode, alg string) string {
	best, bestNs := "", math.Inf(1)
	for _, c := range d.cases {
		if !c.Peer {
			continue
		}
		if s := d.ns(mode, c.Name, alg); s.ok() && s.med < bestNs {
			best, bestNs = c.Name, s.med
		}
	}
	return best
}

// bestPeerInstr is the peer with the fewest instructions for alg.
func (d *data) bestPeerInstr(alg string) string {
	best, bestN := "", math.Inf(1)
	for _, c := range d.cases {
		if v, ok := d.instr[key{"Serial", c.Name, alg}]; ok && c.Peer && v < bestN {
			best, bestN = c.Name, v
		}
	}
	return best
}

func (d *data) has(cas string) bool {
	for k := range d.bench {
		if k.cas == cas {
			return true
		}
	}
	return false
}

func fmtNs(ns float64) string {
	switch {
	case math.IsNaN(ns):
		return "–"
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}

func fmtUs(us float64) string { return fmtNs(us * 1e3) }

func fmtSpreadNs(s spread) string {
	if !s.ok() {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", fmtNs(s.med), fmtNs(s.min), fmtNs(s.max))
}

func fmtRatio(s spread) string {
	if !s.ok() {
		return "–"
	}
	if s.min == s.max {
		return fmt.Sprintf("%.3f", s.med)
	}
	return fmt.Sprintf("**%.2f** (%.2f–%.2f)", s.med, s.min, s.max)
}

func fmtInstr(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}
