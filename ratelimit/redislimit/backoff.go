package redislimit

import (
	"sync/atomic"
	"time"
)

// backoff stops calling a failing Redis for a while, so that a Redis that
// is down or blackholed costs requests nothing instead of a full Timeout
// each. After threshold consecutive failures it opens for cooldown; then a
// single caller probes Redis (the others keep using the failure policy for
// another cooldown) and one success closes it. It takes "now" from the
// limiter's clock. Safe for concurrent use; the zero value never opens.
type backoff struct {
	threshold int64 // <= 0: never open
	cooldown  time.Duration
	failures  atomic.Int64 // consecutive failed calls
	openUntil atomic.Int64 // Unix nanoseconds; 0 while closed
}

// try reports whether a call should go to Redis now.
func (b *backoff) try(now time.Time) bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	n := now.UnixNano()
	if n < until {
		return false
	}
	// Cooldown over: exactly one caller wins the probe.
	return b.openUntil.CompareAndSwap(until, n+int64(b.cooldown))
}

// success closes the back-off.
func (b *backoff) success() {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
	}
}

// failure counts a failed call and opens the back-off at the threshold.
func (b *backoff) failure(now time.Time) {
	if b.threshold <= 0 {
		return
	}
	if b.failures.Add(1) >= b.threshold {
		b.openUntil.Store(now.UnixNano() + int64(b.cooldown))
	}
}

// open reports whether calls are being kept away from Redis.
func (b *backoff) open() bool { return b.openUntil.Load() != 0 }
