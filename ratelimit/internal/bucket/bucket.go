// Package bucket holds the token-bucket arithmetic and key bounding shared
// by the in-process limiter (ratelimit.Local) and the Redis one
// (ratelimit/redislimit), so both answer the same numbers for one limit.
package bucket

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a validated rate: Rate units earned per Period, into a bucket
// that holds at most Burst units.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
	PerSec rate.Limit // units earned per second
}

// New fills the documented defaults (period one second, burst = rate). A
// value that cannot work is reported as the name of its field and why, for
// the caller's own config error.
func New(rateN int, period time.Duration, burst int) (l Limit, field, reason string) {
	switch {
	case rateN <= 0:
		return Limit{}, "Rate", "must be positive"
	case period < 0:
		return Limit{}, "Period", "must not be negative"
	case burst < 0:
		return Limit{}, "Burst", "must not be negative"
	}
	if period == 0 {
		period = time.Second
	}
	if burst == 0 {
		burst = rateN
	}
	return Limit{Rate: rateN, Period: period, Burst: burst, PerSec: rate.Limit(float64(rateN) / period.Seconds())}, "", ""
}

// Earn is how long the bucket takes to earn units, plus a nanosecond so that
// waiting that long is always enough despite float rounding.
func (l Limit) Earn(units float64) time.Duration {
	if units <= 0 {
		return 0
	}
	ns := math.Floor(units/float64(l.PerSec)*1e9) + 1
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// EarnOne is the exact time one unit takes (the GCRA emission interval).
func (l Limit) EarnOne() time.Duration {
	return time.Duration(float64(l.Period) / float64(l.Rate))
}

// MaxKeyBytes defaults a MaxKeyBytes field (0 means def) and reports false
// for a negative one.
func MaxKeyBytes(n, def int) (int, bool) {
	switch {
	case n < 0:
		return 0, false
	case n == 0:
		return def, true
	}
	return n, true
}
