package ratelimit

import (
	"time"

	"github.com/jwtgate/jwtgate/ratelimit/internal/bucket"
)

// newLimit validates a rate for LocalConfig and redislimit.Config-like configs
// and fills the documented defaults (period one second, burst = rate).
func newLimit(rateN int, period time.Duration, burst int) (bucket.Limit, error) {
	l, field, reason := bucket.New(rateN, period, burst)
	if field != "" {
		return bucket.Limit{}, &ConfigError{Field: field, Reason: reason}
	}
	return l, nil
}

// TooCostly is the decision for a cost above l's burst: never allowed, and
// the suggested back-off is one full refill. For limiters built on this
// package's arithmetic (the Redis limiter).
func tooCostly(l bucket.Limit, remaining int, resetAfter time.Duration) Decision {
	return Decision{
		Allowed:          false,
		Limit:            l.Burst,
		Remaining:        remaining,
		ResetAfter:       resetAfter,
		RetryAfter:       l.Earn(float64(l.Burst)),
		CostExceedsLimit: true,
	}
}
