package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

// What KeyRead does with a kid that is not in the served set. A token's kid
// is either a key the provider has just published (a rotation: it must be
// found within seconds, or the client is told to retry, never that its
// token is bad) or junk (a removed key, a forged or random kid: it must cost
// the provider next to nothing). Three mechanisms tell them apart:
//
//   - negative entries: a kid that a successful fetch, sent after the kid was
//     first asked for, did not bring is settled as unknown (401) for
//     UnknownKIDInterval after the last successful fetch; a kid the provider
//     dropped from its set is settled without any fetch until it reappears;
//   - a budget for the refreshes that unsettled kids start: UnknownKIDBurst
//     back to back, then one per UnknownKIDInterval (GCRA on the cache's
//     clock), shared by all kids, so that a flood costs a few conditional
//     requests a minute;
//   - while the provider fails, a probe at most every probeSpacing, which
//     passes an open circuit breaker: a failed probe gives its budget back,
//     so an outage does not use up the refreshes needed once it ends.
//
// A kid that is neither in the set nor settled and that cannot be looked for
// now gets a *DeferredError: ErrKeysUnavailable (503) with a RetryAfter.

// maxNegativeKIDs bounds the negative entries; the oldest is evicted first.
const maxNegativeKIDs = 4096

// probeSpacing is the least time between the end of a failed refresh and an
// unknown-kid probe: a failing provider sees at most one probe a second,
// and a rotation is found within a second of the provider coming back.
const probeSpacing = time.Second

// DeferredError is KeyRead's error for a kid that is not in the served set
// and that the cache could not look for, or not in time: the refresh
// budget is spent, the provider is failing, the refresh outlasted
// UnknownKIDWait, or the caller's ctx ended. The token may well be good, so
// it wraps ErrKeysUnavailable (HTTP 503, never 401); it also wraps
// jwkset.ErrKeyNotFound, since the kid is not in the set. Get it with
// errors.As, or ask any error for interface{ RetryAfter() time.Duration }.
type DeferredError struct {
	// Reason says why the kid was not looked for; it never names the kid.
	Reason string
	// Retry is when a refresh that can look for the kid may start, rounded
	// up to whole seconds, at least 1s.
	Retry time.Duration
	// Err is the failed refresh's error or the caller's ctx error, if any.
	Err error
}

func (e *DeferredError) Error() string {
	msg := "cache: kid not in the key set and not judged: " + e.Reason + " (" + ErrKeysUnavailable.Error() + ")"
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// RetryAfter is Retry: the time until a refresh that can find the kid may
// start. A 503 built from this error can send it as Retry-After.
func (e *DeferredError) RetryAfter() time.Duration { return e.Retry }

// Unwrap returns the unknown-kid error (jwkset.ErrKeyNotFound),
// ErrKeysUnavailable and Err (if not nil).
func (e *DeferredError) Unwrap() []error {
	if e.Err == nil {
		return []error{errUnknownKID, ErrKeysUnavailable}
	}
	return []error{errUnknownKID, ErrKeysUnavailable, e.Err}
}

// retryHint rounds d up to whole seconds, at least one: Retry-After has
// second resolution, and 0 would invite an immediate retry.
func retryHint(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// errUnknownKID is returned for a kid that is settled as not in the set. It
// does not name the kid: that comes from the token, and errors never echo
// token content.
var errUnknownKID = fmt.Errorf("cache: unknown kid: %w", jwkset.ErrKeyNotFound)

// negEntry is what the cache remembers of a kid it did not find.
type negEntry struct {
	// askedSeq is the number of refreshes started before the first read
	// that did not find the kid: only a later refresh can have looked for
	// it. A sequence, not a time, so that a read and a fetch at the same
	// clock reading are still ordered.
	askedSeq uint64
	removed  bool // the provider dropped it from the set
}

// negCache holds the negative entries, keyed by a seeded hash of the kid so
// that each entry costs the same whatever the kid's length, and an attacker
// who does not know the seed cannot aim collisions. The zero value is not
// usable; see newNegCache. It is safe for concurrent use.
type negCache struct {
	seed maphash.Seed

	mu      sync.Mutex // guards the fields below
	entries map[uint64]negEntry
	order   []uint64 // insertion order, a ring once full: order[next] is the oldest
	next    int
}

func newNegCache() *negCache {
	return &negCache{seed: maphash.MakeSeed(), entries: make(map[uint64]negEntry)}
}

// ask returns kid's entry, recording seq (refreshes started so far) as its
// first look-up if it had none.
func (n *negCache) ask(kid string, seq uint64) negEntry {
	h := maphash.String(n.seed, kid)
	n.mu.Lock()
	defer n.mu.Unlock()
	if e, ok := n.entries[h]; ok {
		return e
	}
	e := negEntry{askedSeq: seq}
	n.insert(h, e)
	return e
}

// markRemoved records that the provider's set no longer holds kids.
func (n *negCache) markRemoved(kids []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, kid := range kids {
		h := maphash.String(n.seed, kid)
		if e, ok := n.entries[h]; ok {
			e.removed = true
			n.entries[h] = e
			continue
		}
		n.insert(h, negEntry{removed: true})
	}
}

// insert adds a new entry, evicting the oldest when full. n.mu must be held.
func (n *negCache) insert(h uint64, e negEntry) {
	if len(n.order) < maxNegativeKIDs {
		n.order = append(n.order, h)
	} else {
		delete(n.entries, n.order[n.next])
		n.order[n.next] = h
		n.next = (n.next + 1) % maxNegativeKIDs
	}
	n.entries[h] = e
}

func (n *negCache) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.entries)
}

// kidBudget paces unknown-kid refreshes: a GCRA token bucket of burst
// tokens refilled one per period, on the caller's clock. The zero tat is a
// full bucket. It is not safe for concurrent use (flightMu guards it).
type kidBudget struct {
	period time.Duration
	burst  int
	tat    time.Time // theoretical arrival time of the next refresh
}

// take spends a token at now, or reports how long until one is available.
func (b *kidBudget) take(now time.Time) (ok bool, wait time.Duration) {
	tat := b.tat
	if tat.Before(now) {
		tat = now
	}
	if d := tat.Sub(now) - time.Duration(b.burst-1)*b.period; d > 0 {
		return false, d
	}
	b.tat = tat.Add(b.period)
	return true, 0
}

// refund gives back the token of a refresh that could not look.
func (b *kidBudget) refund() { b.tat = b.tat.Add(-b.period) }

// settled reports whether s, the served set, answers that kid (not in it)
// is unknown at now: the provider dropped it, or a successful fetch sent
// after its first look-up did not bring it and is recent enough. The second
// rule is what lets a rotation through: a kid first asked for after the
// last fetch started is never settled by it.
func (c *Cache) settled(s *snapshot, e negEntry, now time.Time) bool {
	if e.removed {
		return true
	}
	return answered(s, e) && now.Before(s.checkedAt.Add(c.cfg.UnknownKIDInterval))
}

// removedKIDs returns the kids of old that ns no longer holds.
func removedKIDs(old, ns *snapshot) []string {
	var out []string
	for kid := range old.byKID {
		if ns.byKID[kid] == nil {
			out = append(out, kid)
		}
	}
	return out
}

// unknownKID is KeyRead for a kid not in s, the served set at now.
func (c *Cache) unknownKID(ctx context.Context, s *snapshot, kid string, now time.Time) (jwkset.JWK, error) {
	if kid == "" || c.cfg.UnknownKIDInterval < 0 {
		return jwkset.JWK{}, errUnknownKID
	}
	e := c.neg.ask(kid, c.refreshSeq.Load())
	var timer *time.Timer // bounds the whole wait, across rounds
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// A round joins the running refresh or starts one. A refresh that
	// started before this read cannot settle the kid, and a background
	// retry that the open breaker refused did not look: then, if the budget
	// allows, the next round starts this read's own refresh. Refreshes do
	// not overlap, so that one started after the first look-up.
	for range 3 {
		if c.settled(s, e, now) {
			return jwkset.JWK{}, errUnknownKID
		}
		if err := ctx.Err(); err != nil { // gone already: spend no budget on it
			return jwkset.JWK{}, c.deferred(&DeferredError{Reason: "the caller left", Retry: time.Second, Err: err})
		}
		var deny *DeferredError
		ch := c.flight(ReasonUnknownKID, func(now time.Time) bool {
			// A refresh that ended since this read's last look may have
			// brought or settled the kid: the loop looks again.
			if cur := c.snap.Load(); cur != nil && (cur.byKID[kid] != nil || c.settled(cur, e, now)) {
				return false
			}
			if now.Before(c.probeAfter) {
				deny = &DeferredError{Reason: "the provider is failing", Retry: retryHint(c.probeAfter.Sub(now)), Err: c.lastRefreshErr()}
				return false
			}
			if ok, wait := c.budget.take(now); !ok {
				deny = &DeferredError{Reason: "unknown-kid refresh budget spent", Retry: retryHint(wait)}
				return false
			}
			c.kidRefreshes.Add(1)
			return true
		})
		if deny != nil {
			return jwkset.JWK{}, c.deferred(deny)
		}
		var flightErr error
		if ch != nil {
			if timer == nil {
				timer = time.NewTimer(c.cfg.UnknownKIDWait)
			}
			select {
			case r := <-ch:
				flightErr = r.Err
			case <-ctx.Done():
				return jwkset.JWK{}, c.deferred(&DeferredError{Reason: "the caller left", Retry: time.Second, Err: ctx.Err()})
			case <-timer.C:
				return jwkset.JWK{}, c.deferred(&DeferredError{Reason: "the refresh outlasted UnknownKIDWait", Retry: time.Second})
			}
		}
		now = c.cfg.now()
		var err error
		if s, err = c.servable(now); err != nil {
			return jwkset.JWK{}, err
		}
		if k := s.byKID[kid]; k != nil {
			return *k, nil
		}
		if ch == nil {
			continue
		}
		// However short UnknownKIDInterval, the refresh just waited for
		// answers this read if it was sent after the kid's first look-up.
		if c.settled(s, e, now) || flightErr == nil && answered(s, e) {
			return jwkset.JWK{}, errUnknownKID
		}
		if errors.Is(flightErr, ErrBreakerOpen) {
			continue
		}
		if flightErr != nil {
			return jwkset.JWK{}, c.deferred(&DeferredError{Reason: "the refresh failed", Retry: retryHint(c.probeWait(now)), Err: flightErr})
		}
	}
	return jwkset.JWK{}, c.deferred(&DeferredError{Reason: "no refresh settled the kid", Retry: time.Second})
}

// answered reports whether s comes from a fetch sent after kid's first look-up.
func answered(s *snapshot, e negEntry) bool { return s.checkedSeq > e.askedSeq }

func (c *Cache) deferred(e *DeferredError) error {
	c.deferredReads.Add(1)
	return e
}

// probeWait is the time from now until an unknown-kid probe may follow a
// failed refresh.
func (c *Cache) probeWait(now time.Time) time.Duration {
	c.flightMu.Lock()
	defer c.flightMu.Unlock()
	return c.probeAfter.Sub(now)
}

func (c *Cache) lastRefreshErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}
