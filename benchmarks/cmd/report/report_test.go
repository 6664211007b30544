package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleBench = `goos: linux
cpu: Test CPU
BenchmarkSerial/alg=RS256/case=crypto_floor-2         	    1000	     40000 ns/op	         0 jwksfetches	    2128 B/op	      12 allocs/op
BenchmarkSerial/alg=RS256/case=keyfunc-2              	    1000	     56000 ns/op	         1 jwksfetches	    4474 B/op	      70 allocs/op
BenchmarkSerial/alg=RS256/case=jwx-2                  	    1000	     80000 ns/op	         0 jwksfetches	    4474 B/op	     251 allocs/op
BenchmarkSerial/alg=RS256/case=jwtgate_cold-2         	    1000	     44000 ns/op	         0 jwksfetches	    1000 B/op	      10 allocs/op
BenchmarkSerial/alg=RS256/case=crypto_floor-2         	    1000	     50000 ns/op	         0 jwksfetches	    2128 B/op	      12 allocs/op
BenchmarkSerial/alg=RS256/case=keyfunc-2              	    1000	     75000 ns/op	         0 jwksfetches	    4474 B/op	      70 allocs/op
BenchmarkSerial/alg=RS256/case=jwx-2                  	    1000	     90000 ns/op	         0 jwksfetches	    4474 B/op	     251 allocs/op
BenchmarkSerial/alg=RS256/case=jwtgate_cold-2         	    1000	     60000 ns/op	         0 jwksfetches	    1000 B/op	      10 allocs/op
`

func TestParseAndPairedRatios(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bench.txt"), []byte(sampleBench), 0o644); err != nil {
		t.Fatal(err)
	}
	bench, cpu, err := parseBench(filepath.Join(dir, "bench.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if cpu != "Test CPU" {
		t.Errorf("cpu %q", cpu)
	}
	kf := bench[key{"Serial", "keyfunc", "RS256"}]
	if len(kf) != 2 || kf[1]["ns/op"] != 75000 || kf[0]["allocs/op"] != 70 {
		t.Fatalf("keyfunc runs %v", kf)
	}
	// Round 1: 56000/40000 = 1.4; round 2: 75000/50000 = 1.5.
	r := spreadOf(pairedRatios(kf, bench[key{"Serial", "crypto_floor", "RS256"}], "ns/op"))
	if r.min != 1.4 || r.max != 1.5 || r.med != 1.45 {
		t.Errorf("ratio spread %+v, want 1.4/1.45/1.5", r)
	}
}

func TestReportFromOneRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bench.txt"), []byte(sampleBench), 0o644); err != nil {
		t.Fatal(err)
	}
	instr := "crypto_floor\tRS256\t500000\nkeyfunc\tRS256\t550000\njwtgate_cold\tRS256\t560000\njwx\tRS256\t650000\n"
	if err := os.WriteFile(filepath.Join(dir, "instructions.tsv"), []byte(instr), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "RESULTS.md")
	if err := run(dir, out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	for _, want := range []string{
		"| keyfunc | 65.5 µs (56.0 µs–75.0 µs) | **1.45** (1.40–1.50)", // paired by round
		"| RS256 | 45.0 µs | **1.120** · 1.15 · – |",                   // headline: instr 560/500; cold 1.10, 1.20 by time
		"jwtgate_cold / crypto_floor, RS256 | ≤ 1.15",
		"decided by instructions", // the count decides when there is one
		"| 70 | 4474 | 1 |",       // keyfunc's one JWKS fetch is reported, not hidden
		"results-time.png",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
	// 52 vs 65.5 µs by time, but 560k vs keyfunc's 550k instructions: the
	// count decides, so the bar is not met.
	if !strings.Contains(s, "jwtgate_cold ahead of every peer, serial, RS256 | < best peer | wall time jwtgate_cold 52.0 µs vs keyfunc 65.5 µs") ||
		!strings.Contains(s, "vs keyfunc 550.0k (1.018; decides) | **NO** |") {
		t.Errorf("peer comparison missing:\n%s", s)
	}
	for _, png := range []string{"results-time.png", "results-instructions.png"} {
		if fi, err := os.Stat(filepath.Join(dir, png)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", png, err)
		}
	}
}
