// Package usedmath is the arithmetic the in-process and Redis budgets
// share: from a window's limit, what a key has used and when the window
// ends, the ratelimit.Decision for the next request.
package usedmath

import (
	"math"
	"time"

	"github.com/jwtgate/jwtgate/ratelimit"
)

// Decide is the answer for a key that has used `used` of limit in a
// window ending after `left`: allowed while anything is left (a request
// is let through on the last token and may overrun it), refused with
// RetryAfter at the window's end otherwise.
func Decide(limit, used int64, left time.Duration) ratelimit.Decision {
	left = max(left, time.Second) // never "retry now" at a window's edge
	d := ratelimit.Decision{
		Limit:      clampInt(limit),
		Remaining:  clampInt(max(limit-used, 0)),
		ResetAfter: left,
	}
	if used < limit {
		d.Allowed = true
	} else {
		d.RetryAfter = left
	}
	return d
}

func clampInt(n int64) int {
	if n > math.MaxInt {
		return math.MaxInt
	}
	return int(n)
}

// AddSat is a+b without overflow.
func AddSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
