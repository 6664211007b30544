package ratelimit

import "fmt"

// FailurePolicy says what a Redis limiter answers when Redis cannot be used
// (down, slow past Timeout, erroring). Every such decision has
// Decision.Degraded set, is counted (Stats), reaches the Observer as
// OutcomeError, and the first one after a success is logged at Warn level
// (and the recovery at Info), so an outage shows without flooding the log.
type FailurePolicy uint8

const (
	// FailOpen allows the request, as if the key's bucket were full:
	// Remaining is Limit-cost and ResetAfter the time to earn cost back.
	// A cost above the burst is still refused. It is the default: a
	// rate-limit store outage should not become an outage of the service.
	FailOpen FailurePolicy = iota
	// FailClosed denies the request: Remaining 0, ResetAfter one full
	// refill, RetryAfter one second.
	FailClosed
	// FailLocal asks an in-process Local limiter, which enforces this
	// replica's share of the limit (redislimit.Config.Replicas) and starts each
	// key from what Redis last reported for it, so an outage neither
	// forgets what a key has spent nor hands it a fresh burst. With
	// Replicas set to the number of replicas N, for every key and every
	// time T into an outage the replicas together allow at most
	// Burst + Rate·T/Period units (what one shared bucket allows a key
	// that starts full), and at most S + Rate·T/Period when every replica
	// had decided the key through Redis, S being the most any of them
	// last saw left (plus what it earned since). Each share is at least
	// one unit, so with Burst below Replicas read Replicas for Burst.
	// Replicas left at 0 means each replica enforces the whole limit: N
	// replicas allow up to N times the above.
	FailLocal
)

// String returns "open", "closed" or "local".
func (p FailurePolicy) String() string {
	switch p {
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	case FailLocal:
		return "local"
	}
	return fmt.Sprintf("FailurePolicy(%d)", uint8(p))
}
