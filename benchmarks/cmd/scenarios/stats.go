package main

import (
	"slices"
	"time"
)

// percentile of sorted durations, in microseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return us(sorted[i])
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func sortedCopy(ds []time.Duration) []time.Duration {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}
