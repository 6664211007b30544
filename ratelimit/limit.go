package ratelimit

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// limit is a validated rate shared by Local and Redis: rate units earned per
// period, into a bucket that holds at most burst units.
type limit struct {
	rate   int
	period time.Duration
	burst  int
	perSec rate.Limit // units earned per second
}

// newLimit fills the documented defaults (period one second, burst = rate)
// and rejects what cannot work.
func newLimit(rateN int, period time.Duration, burst int) (limit, error) {
	if rateN <= 0 {
		return limit{}, &ConfigError{Field: "Rate", Reason: "must be positive"}
	}
	if period < 0 {
		return limit{}, &ConfigError{Field: "Period", Reason: "must not be negative"}
	}
	if period == 0 {
		period = time.Second
	}
	if burst < 0 {
		return limit{}, &ConfigError{Field: "Burst", Reason: "must not be negative"}
	}
	if burst == 0 {
		burst = rateN
	}
	return limit{
		rate:   rateN,
		period: period,
		burst:  burst,
		perSec: rate.Limit(float64(rateN) / period.Seconds()),
	}, nil
}

// earn is how long the bucket takes to earn units, plus a nanosecond so that
// waiting that long is always enough despite float rounding.
func (l limit) earn(units float64) time.Duration {
	if units <= 0 {
		return 0
	}
	ns := math.Floor(units/float64(l.perSec)*1e9) + 1
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// tooCostly is the decision for a cost above the burst: never allowed, and
// the suggested back-off is one full refill.
func (l limit) tooCostly(remaining int, resetAfter time.Duration) Decision {
	return Decision{
		Allowed:          false,
		Limit:            l.burst,
		Remaining:        remaining,
		ResetAfter:       resetAfter,
		RetryAfter:       l.earn(float64(l.burst)),
		CostExceedsLimit: true,
	}
}

// earnOne is the exact time one unit takes (the GCRA emission interval).
func (l limit) earnOne() time.Duration {
	return time.Duration(float64(l.period) / float64(l.rate))
}
