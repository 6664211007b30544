package main

import (
	"math"
	"slices"
)

// spread is a median with its min and max over the rounds of one run.
type spread struct{ min, med, max float64 }

func (s spread) ok() bool { return !math.IsNaN(s.med) }

func spreadOf(vs []float64) spread {
	if len(vs) == 0 {
		return spread{math.NaN(), math.NaN(), math.NaN()}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{s[0], med, s[len(s)-1]}
}

func values(rs []benchRun, unit string) []float64 {
	out := make([]float64, 0, len(rs))
	for _, r := range rs {
		if v, ok := r[unit]; ok {
			out = append(out, v)
		}
	}
	return out
}

// pairedRatios divides the i-th run of a by the i-th run of b: both come
// from the same round (benchmarks/run makes each round a separate pass), so
// slow phases of a noisy machine cancel out.
func pairedRatios(a, b []benchRun, unit string) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, 0, n)
	for i := range n {
		x, okx := a[i][unit]
		y, oky := b[i][unit]
		if okx && oky && y > 0 {
			out = append(out, x/y)
		}
	}
	return out
}
