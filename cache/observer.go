package cache

import (
	"context"
	"time"
)

// Observer receives the cache's events, so that metrics (a Prometheus
// package, say) can be attached without this package importing them. Each
// field is optional: nil means that event is not observed.
//
// Hooks are called synchronously from the goroutine doing the work (the
// background refresher, or the goroutine running a shared unknown-kid
// refresh), never with a lock of the cache held, never on the KeyRead hit
// path. They must be fast, must not block, and must not call Close. Event
// structs only grow: new fields may be added, existing ones keep their meaning.
type Observer struct {
	// OnFetch is called after every HTTP request the cache makes (JWKS or
	// discovery document), successful or not. It is not called for fetches
	// the circuit breaker refused (see RefreshEvent.Outcome).
	OnFetch func(FetchEvent)

	// OnRefresh is called once at the end of every refresh attempt
	// (start-up, scheduled, retry, unknown kid or recheck), after the served set has
	// been updated if it was and after the refresh stopped accepting
	// joiners: a KeyRead for an unknown kid made from the hook may start a
	// new refresh (when the set is no longer authoritative).
	OnRefresh func(RefreshEvent)

	// OnBreakerStateChange is called when the circuit breaker moves between
	// "closed", "open" and "half-open". Transitions are reported in order,
	// shortly after they happen (gobreaker notices open → half-open lazily,
	// on the next request or Status call).
	OnBreakerStateChange func(BreakerEvent)
}

// FetchKind tells what a fetch was for.
type FetchKind string

// Fetch kinds.
const (
	FetchJWKS      FetchKind = "jwks"
	FetchDiscovery FetchKind = "discovery"
)

// FetchEvent describes one HTTP request to the provider.
type FetchEvent struct {
	Provider string        // Config.Name
	Kind     FetchKind     // what was fetched
	URL      string        // the URL requested (before redirects)
	Status   int           // HTTP status; 0 if no response was received
	Bytes    int           // body bytes read (at most MaxBodyBytes+1)
	Duration time.Duration // request start to body read or failure
	Err      error         // nil on success (including 304 Not Modified)
	// Waiters are the contexts of reads waiting for the refresh this fetch
	// belongs to (see RefreshEvent.Waiters), as far as known when the fetch
	// ended; nil for a fetch nobody waited for.
	Waiters []context.Context
}

// RefreshReason tells why a refresh ran.
type RefreshReason string

// Refresh reasons.
const (
	ReasonStartup    RefreshReason = "startup"     // the first load
	ReasonScheduled  RefreshReason = "scheduled"   // refresh ahead of expiry
	ReasonRetry      RefreshReason = "retry"       // after a failed refresh
	ReasonUnknownKID RefreshReason = "unknown_kid" // a KeyRead missed
	ReasonRecheck    RefreshReason = "recheck"     // KeyRecheck: a served key failed a signature
)

// RefreshOutcome is the result of a refresh attempt.
type RefreshOutcome string

// Refresh outcomes.
const (
	OutcomeUpdated     RefreshOutcome = "updated"      // a new set with different keys is served
	OutcomeUnchanged   RefreshOutcome = "unchanged"    // 200 with the same keys; TTL renewed
	OutcomeNotModified RefreshOutcome = "not_modified" // 304; TTL renewed
	OutcomeFromFile    RefreshOutcome = "from_file"    // provider down; the on-disk set was loaded
	OutcomeFailed      RefreshOutcome = "failed"       // the fetch or parse failed; the old set stays
	OutcomeRejected    RefreshOutcome = "rejected"     // the breaker refused; no request was sent
)

// RefreshEvent describes one refresh attempt.
type RefreshEvent struct {
	Provider    string
	Reason      RefreshReason
	Outcome     RefreshOutcome
	Err         error         // nil unless Outcome is failed or rejected (from_file carries the fetch error)
	Duration    time.Duration // whole attempt, discovery included
	Keys        int           // usable keys served after the attempt
	SkippedKeys int           // keys of the fetched set that were skipped as unusable
	Generation  uint64        // Cache.Generation after the attempt
	ExpiresAt   time.Time     // expiry of the served set; zero if none
	// Waiters are the contexts of the reads (an unknown kid, a recheck)
	// that started or joined this refresh and waited for it, the first
	// MaxEventWaiters of them; nil when none did (a scheduled refresh
	// nobody needed). They let a hook tie the refresh, run on the cache's
	// own goroutine, to the requests it served (a tracing span link) without
	// this package knowing about tracing. A hook reads their values only: a
	// waiter may have left, so they are not for cancelling or deadlines, and
	// they must not be kept after the call.
	Waiters []context.Context
}

// MaxEventWaiters bounds RefreshEvent.Waiters and FetchEvent.Waiters: a
// flood of unknown kids all waiting for one refresh is remembered by its
// first few, so the memory a refresh holds does not grow with the flood.
const MaxEventWaiters = 8

// BreakerEvent describes a circuit-breaker state change.
type BreakerEvent struct {
	Provider string
	From, To string // "closed", "open" or "half-open"
	At       time.Time
}
