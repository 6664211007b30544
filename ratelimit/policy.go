package ratelimit

import "fmt"

// FailurePolicy says what a Redis limiter answers when Redis cannot be used
// (down, slow past Timeout, erroring). Every such decision has
// Decision.Degraded set, is counted (Stats), reaches the Observer as
// OutcomeError, and the first one after a success is logged at Warn level
// (and the recovery at Info), so an outage shows without flooding the log.
type FailurePolicy uint8

const (
	// FailDefault is the zero value: the store's own default — FailOpen
	// for a limiter (redislimit) and a token budget (redisbudget),
	// FailClosed for a DPoP replay store (redisreplay), where letting a
	// proof through unchecked is the unsafe answer. One type for every
	// store, so "open" means the same thing everywhere and a config that
	// says nothing gets each store's documented default.
	FailDefault FailurePolicy = iota
	// FailOpen allows the request, as if the key's bucket were full:
	// Remaining is Limit-cost and ResetAfter the time to earn cost back.
	// A cost above the burst is still refused. It is a limiter's default:
	// a rate-limit store outage should not become an outage of the service.
	FailOpen
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

// Or returns p, or def when p is FailDefault: a store resolves its
// default with it.
func (p FailurePolicy) Or(def FailurePolicy) FailurePolicy {
	if p == FailDefault {
		return def
	}
	return p
}

// MarshalText returns String's name ("" for FailDefault), so a config
// struct can hold a FailurePolicy as YAML or JSON text.
func (p FailurePolicy) MarshalText() ([]byte, error) {
	if p == FailDefault {
		return []byte{}, nil
	}
	if p > FailLocal {
		return nil, fmt.Errorf("%w: FailurePolicy(%d)", ErrInvalidConfig, uint8(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText reads "open", "closed", "local", or "" for FailDefault.
func (p *FailurePolicy) UnmarshalText(b []byte) error {
	switch string(b) {
	case "":
		*p = FailDefault
	case "open":
		*p = FailOpen
	case "closed":
		*p = FailClosed
	case "local":
		*p = FailLocal
	default:
		return fmt.Errorf("%w: failure policy %q: want open, closed or local", ErrInvalidConfig, b)
	}
	return nil
}

// String returns "open", "closed", "local" or "default".
func (p FailurePolicy) String() string {
	switch p {
	case FailDefault:
		return "default"
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	case FailLocal:
		return "local"
	}
	return fmt.Sprintf("FailurePolicy(%d)", uint8(p))
}
