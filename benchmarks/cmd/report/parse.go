package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/jwtgate/jwtgate/benchmarks/internal/results"
)

// key names one benchmark: mode is "Serial" or "Parallel".
type key struct{ mode, cas, alg string }

// benchRun is one line of `go test -bench` output.
type benchRun map[string]float64 // unit → value ("ns/op", "allocs/op", "B/op", "jwksfetches")

var benchLine = regexp.MustCompile(`^Benchmark(Serial|Parallel)/alg=([A-Za-z0-9]+)/case=([A-Za-z0-9_]+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// parseBench reads benchmark output; runs keep their order, so the i-th run
// of two benchmarks come from the same round.
func parseBench(path string) (map[key][]benchRun, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	out := map[key][]benchRun{}
	var cpu string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if c, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = c
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fields := strings.Fields(m[5])
		r := benchRun{}
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, "", fmt.Errorf("%s: %q: %w", path, line, err)
			}
			r[fields[i+1]] = v
		}
		k := key{mode: m[1], cas: m[3], alg: m[2]}
		out[k] = append(out[k], r)
	}
	return out, cpu, sc.Err()
}

// parseInstr reads "case<TAB>alg<TAB>instructions per request" lines.
func parseInstr(path string) (map[key]float64, error) {
	out := map[key]float64{}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, line, err)
		}
		out[key{"Serial", f[0], f[1]}] = v
	}
	return out, nil
}

// Scenario results, as cmd/scenarios writes them.
type scenarios = results.Results

func parseScenarios(path string) (*scenarios, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &scenarios{}, nil
	}
	if err != nil {
		return nil, err
	}
	var s scenarios
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}
