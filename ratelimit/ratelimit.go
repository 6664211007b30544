package ratelimit

import (
	"context"
	"time"
)

// Limiter decides whether the holder of key may spend cost units now.
//
// Implementations are safe for concurrent use. An error means the limiter
// could not decide (for example Redis was unreachable); what the caller does
// then is a policy choice, not the limiter's. The implementations in this
// package decide whenever they can: [Redis] applies its [FailurePolicy] and
// returns a nil error with [Decision.Degraded] set, so a non-nil error from
// them only reports a caller mistake (a negative cost) or a caller context
// that ended; in every error case Decision.Allowed is false.
//
// A cost of zero spends nothing and reports the key's state. A cost above
// the burst can never be allowed: the answer is Allowed false with
// [Decision.CostExceedsLimit] set, never an error, so a caller that lets
// requests through on limiter errors cannot be tricked into it by a large
// cost.
//
// Package ratelimit/ratelimittest is this contract as a test suite, for
// any implementation.
type Limiter interface {
	Allow(ctx context.Context, key string, cost int) (Decision, error)
}

// LimiterAt is a Limiter's optional capability, found by type assertion:
// AllowAt is Allow at now, a reading of time.Now the caller already holds,
// as golang.org/x/time/rate's AllowN takes one. Callers that read the
// clock anyway pass their reading and save the limiter its own. now must
// come from time.Now (with its monotonic reading), never from another
// clock; a limiter with an injected clock may ignore it. [Local]
// implements it.
type LimiterAt interface {
	Limiter
	AllowAt(ctx context.Context, key string, cost int, now time.Time) (Decision, error)
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
	// allowed; zero when Allowed is true. When CostExceedsLimit is set no
	// wait is enough, and RetryAfter is the time an empty bucket takes to
	// fill (a sane back-off, never zero).
	RetryAfter time.Duration
	// CostExceedsLimit reports that the cost asked for is above Limit, so
	// this request can never be allowed at this limit however long the
	// client waits. Allowed is false. A caller may answer it differently
	// from an ordinary 429 (for example 413), or treat it as one.
	CostExceedsLimit bool
	// Degraded reports that the shared store (Redis) could not be used and
	// the limiter's failure policy decided instead. Remaining and ResetAfter
	// are then the policy's guess (see [FailurePolicy]); callers may leave
	// out the RateLimit-* headers for such decisions.
	Degraded bool
}
