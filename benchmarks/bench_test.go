package benchmarks

import (
	"testing"

	"github.com/jwtgate/jwtgate/benchmarks/cases"
	"github.com/jwtgate/jwtgate/benchmarks/fixture"
	"github.com/jwtgate/jwtgate/internal/growstack"
)

// BenchmarkSerial is one request at a time through each case.
// benchmarks/run counts its instructions under callgrind, collecting only
// inside benchLoop.
func BenchmarkSerial(b *testing.B) { benchAll(b, false) }

// BenchmarkParallel is the same with b.RunParallel (GOMAXPROCS goroutines).
func BenchmarkParallel(b *testing.B) { benchAll(b, true) }

func benchAll(b *testing.B, parallel bool) {
	// Algorithm-major, so that a case and the crypto_floor it is divided by
	// run minutes apart at most, not a whole round apart.
	for _, alg := range fixture.Algs {
		for _, c := range cases.All() {
			b.Run("alg="+alg+"/case="+c.Name, func(b *testing.B) { benchOne(b, c, alg, parallel) })
		}
	}
}

func benchOne(b *testing.B, c cases.Case, alg string, parallel bool) {
	fx := sharedFixture(b)
	inst := build(b, c, alg)
	defer inst.Close()
	tok := fx.Tokens[alg]
	// Warm up (first JWKS fetch, first cache fill) outside the timer, and
	// refuse to measure a case that does not accept the good token.
	if ok, _ := newCaller(inst, tok).call(); !ok {
		b.Fatalf("%s/%s rejects the good token", c.Name, alg)
	}
	before := fx.Server.Fetches(c.Name)
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			cl := newCaller(inst, tok)
			for pb.Next() {
				if !cl.accepted() {
					b.Error("rejected the good token")
					return
				}
			}
		})
	} else {
		cl := newCaller(inst, tok)
		growstack.Grow() // see package growstack
		if !benchLoop(b.N, cl) {
			b.Fatal("rejected the good token")
		}
	}
	b.StopTimer()
	if cpu := processCPU(); cpu0 > 0 && cpu > cpu0 {
		b.ReportMetric(float64(cpu-cpu0)/float64(b.N), "cpu-ns/op")
	}
	b.ReportMetric(float64(fx.Server.Fetches(c.Name)-before), "jwksfetches")
}

// benchLoop is the only code callgrind counts (--toggle-collect), so its
// name is part of benchmarks/run's contract.
//
//go:noinline
func benchLoop(n int, cl *caller) bool {
	ok := true
	for range n {
		ok = cl.accepted() && ok
	}
	return ok
}
