package ratelimit

import "time"

// Outcome classifies one Allow call for observers (metrics, logs).
type Outcome uint8

const (
	// OutcomeAllowed: the limiter let the request through.
	OutcomeAllowed Outcome = iota + 1
	// OutcomeLimited: the key is over its limit (or asked for more than
	// the burst); the request should get 429.
	OutcomeLimited
	// OutcomeError: Redis could not be used; the failure policy decided.
	// Event.Decision.Allowed says what it decided, Event.Err says why
	// Redis failed and Event.Policy which policy answered.
	OutcomeError
)

// String returns "allowed", "limited" or "error": short, stable, and fit
// for a metric label.
func (o Outcome) String() string {
	switch o {
	case OutcomeAllowed:
		return "allowed"
	case OutcomeLimited:
		return "limited"
	case OutcomeError:
		return "error"
	}
	return "unknown"
}

// Event describes one Allow call. It is passed by value to the Observer
// hooks of LocalConfig and redislimit.Config, and is only valid during the call;
// copy what you keep. Future versions may add fields.
//
// A metrics package typically counts events by Backend and Outcome (and
// Policy for OutcomeError) and observes Latency for "redis". Key is the
// caller's key, usually a subject: fine for a debug log, far too many
// values for a metric label.
type Event struct {
	// Backend is "local" or "redis": which limiter produced the event. A
	// Redis limiter falling back to its local limiter (FailLocal) reports
	// "redis" with Outcome OutcomeError.
	Backend string
	// Outcome is allowed, limited or error.
	Outcome Outcome
	// Key and Cost are the Allow call's arguments (Key without the Redis
	// prefix).
	Key  string
	Cost int
	// Decision is what Allow returned.
	Decision Decision
	// Err is the Redis failure, wrapping ErrUnavailable, for OutcomeError;
	// nil otherwise.
	Err error
	// Policy is the failure policy that decided, for OutcomeError.
	Policy FailurePolicy
	// RedisSkipped reports, for OutcomeError, that Redis was not even
	// tried because recent calls failed (the back-off is open); Err is
	// then the last Redis failure.
	RedisSkipped bool
	// Latency is how long the Redis round trip took (successful or not);
	// zero for Backend "local" and when Redis was skipped.
	Latency time.Duration
}
