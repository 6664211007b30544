package ratelimit

import (
	"context"
	"time"
)

// Limiter decides whether the holder of key may spend cost units now.
//
// Implementations are safe for concurrent use. An error means the limiter
// could not decide (for example Redis was unreachable); what the caller does
// then is a policy choice, not the limiter's.
type Limiter interface {
	Allow(ctx context.Context, key string, cost int) (Decision, error)
}

// Decision is the outcome of one Allow call, with everything needed to fill
// the RateLimit-* and Retry-After response headers.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Limit is the burst size: the most units the key can spend at once.
	Limit int
	// Remaining is how many units the key may still spend right now.
	Remaining int
	// ResetAfter is how long until the key's bucket is full again.
	ResetAfter time.Duration
	// RetryAfter is how long to wait before the same request would be
	// allowed; zero when Allowed is true.
	RetryAfter time.Duration
}
