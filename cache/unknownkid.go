package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/MicahParks/jwkset"
)

// What KeyRead does with a kid that is not in the served set. A token's kid
// is either a key the provider has just published (a rotation: it must be
// found within seconds, or the client is told to retry, never that its
// token is bad) or junk (a withdrawn key, a forged or random kid: it must be
// told 401 and cost the provider next to nothing). Certainty is a matter of
// freshness:
//
//   - a set that a fetch sent less than UnknownKIDInterval (1s) before the
//     read fetched or revalidated (200 or 304) is authoritative: a kid not in
//     it is unknown (401), with no fetch;
//   - otherwise the read waits, at most UnknownKIDWait and its ctx, for one
//     conditional refetch shared by every read that needs one. A new one
//     starts only when the served set is no longer authoritative, so a
//     flood of any kids costs at most one request per UnknownKIDInterval,
//     and a key published at t is found by t + UnknownKIDInterval + one
//     fetch whatever else arrives;
//   - while the provider fails, a probe at most every probeSpacing after the
//     end of the last failed refresh, past an open circuit breaker.
//
// A kid that cannot be judged, because the provider fails or the wait
// ended, gets a *DeferredError: ErrKeysUnavailable (503) with a RetryAfter.
// KeyRecheck, for a known kid whose key failed a signature, goes through the
// same refetch.

// probeSpacing is the least time between the end of a failed refresh and an
// unknown-kid probe: a failing provider sees at most one probe a second,
// and a rotation is found within a second of the provider coming back. The
// background retries keep the same distance from a probe.
const probeSpacing = time.Second

// DeferredError is KeyRead's error for a kid that is not in the served set
// and that the cache could not look for, or not in time: the provider is
// failing, the refresh outlasted UnknownKIDWait, or the caller's ctx ended.
// The token may well be good, so it wraps ErrKeysUnavailable (HTTP 503,
// never 401); it also wraps jwkset.ErrKeyNotFound, since the kid is not in
// the set. Get it with errors.As, or ask any error for
// interface{ RetryAfter() time.Duration }.
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

// errUnknownKID is returned for a kid that an authoritative set does not
// hold. It does not name the kid: that comes from the token, and errors
// never echo token content.
var errUnknownKID = fmt.Errorf("cache: unknown kid: %w", jwkset.ErrKeyNotFound)

// authoritative reports whether s answers for every kid of a read that
// arrived at at: the request that last fetched or revalidated it was sent
// less than UnknownKIDInterval before. A set read from CacheFile never is.
// With UnknownKIDInterval negative every set is (unknown kids never fetch).
func (c *Cache) authoritative(s *snapshot, at time.Time) bool {
	if c.cfg.UnknownKIDInterval < 0 {
		return true
	}
	return !s.checkedAt.IsZero() && at.Before(s.checkedAt.Add(c.cfg.UnknownKIDInterval))
}

// unknownKID is KeyRead for a kid not in s, the served set at now.
func (c *Cache) unknownKID(ctx context.Context, s *snapshot, kid string, now time.Time) (jwkset.JWK, error) {
	if kid == "" || c.authoritative(s, now) {
		return jwkset.JWK{}, errUnknownKID
	}
	s, err := c.awaitFresh(ctx, ReasonUnknownKID, now, func(s *snapshot) bool {
		return s.byKID[kid] != nil || c.authoritative(s, now)
	})
	if err != nil {
		return jwkset.JWK{}, err
	}
	if k := s.byKID[kid]; k != nil {
		return *k, nil
	}
	return jwkset.JWK{}, errUnknownKID
}

// KeyRecheck is KeyRead for a caller that doubts the served key for kid: a
// signature made under kid did not verify with it, and the provider may
// have published new material under the same kid (RFC 7517 §4.5 asks
// providers not to; some do). Unless the served set is authoritative
// (fetched or revalidated by a request sent within the last
// UnknownKIDInterval), it first waits for the same shared, conditional
// refetch that unknown kids use, paced the same way (at most one per
// UnknownKIDInterval, one probe a second while the provider fails), then
// reads kid from the set. The errors are KeyRead's: a kid the fresh set
// does not hold is unknown (jwkset.ErrKeyNotFound), and a refetch that
// could not be made or waited for is a *DeferredError.
//
// The caller compares the key with the one that failed and verifies again
// only if it changed; a forged signature so costs the provider at most one
// conditional request per UnknownKIDInterval, however many arrive.
func (c *Cache) KeyRecheck(ctx context.Context, kid string) (jwkset.JWK, error) {
	now := c.cfg.now()
	s, err := c.servable(now)
	if err != nil {
		return jwkset.JWK{}, err
	}
	if kid != "" && !c.authoritative(s, now) {
		s, err = c.awaitFresh(ctx, ReasonRecheck, now, func(s *snapshot) bool { return c.authoritative(s, now) })
		if err != nil {
			return jwkset.JWK{}, err
		}
	}
	if k := s.byKID[kid]; k != nil {
		return *k, nil
	}
	return jwkset.JWK{}, errUnknownKID
}

// awaitFresh returns a servable set for which done holds, waiting for the
// shared refetch (starting it if none runs) when the served one does not.
// arrived is when the read began: a set is authoritative for it if the
// fetch behind it was sent within UnknownKIDInterval before that. The wait
// is bounded by UnknownKIDWait and ctx; the refetch itself runs under the
// cache's own life.
func (c *Cache) awaitFresh(ctx context.Context, reason RefreshReason, arrived time.Time, done func(*snapshot) bool) (*snapshot, error) {
	var timer *time.Timer // bounds the whole wait, across rounds
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// A round joins the running refresh or starts one. A refresh sent too
	// long before this read (a slow one) cannot answer for it, and a
	// background retry that the open breaker refused did not look: then the
	// next round starts this read's own refresh, which, refreshes never
	// overlapping, is sent after the read arrived.
	for range 3 {
		if err := ctx.Err(); err != nil { // gone already: start nothing for it
			return nil, c.deferred(&DeferredError{Reason: "the caller left", Retry: time.Second, Err: err})
		}
		var deny *DeferredError
		ch := c.flight(ctx, reason, func(now time.Time) bool {
			// A refresh that ended since this read's last look may have
			// answered it: the loop looks again.
			if cur := c.snap.Load(); cur != nil && done(cur) {
				return false
			}
			if now.Before(c.probeAfter) {
				deny = &DeferredError{Reason: "the provider is failing", Retry: retryHint(c.probeAfter.Sub(now)), Err: c.lastRefreshErr()}
				return false
			}
			c.lastProbe = now
			if reason == ReasonRecheck {
				c.rechecks.Add(1)
			} else {
				c.kidRefreshes.Add(1)
			}
			return true
		})
		if deny != nil {
			return nil, c.deferred(deny)
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
				return nil, c.deferred(&DeferredError{Reason: "the caller left", Retry: time.Second, Err: ctx.Err()})
			case <-timer.C:
				return nil, c.deferred(&DeferredError{Reason: "the refresh outlasted UnknownKIDWait", Retry: time.Second})
			}
		}
		now := c.cfg.now()
		s, err := c.servable(now)
		if err != nil {
			return nil, err
		}
		if done(s) {
			return s, nil
		}
		if flightErr != nil && !errors.Is(flightErr, ErrBreakerOpen) {
			return nil, c.deferred(&DeferredError{Reason: "the refresh failed", Retry: retryHint(c.probeWait(now)), Err: flightErr})
		}
	}
	return nil, c.deferred(&DeferredError{Reason: "no refresh answered in time", Retry: time.Second})
}

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

// sinceProbe is the time from the start of the last unknown-kid or recheck
// refresh to now (large when there was none).
func (c *Cache) sinceProbe(now time.Time) time.Duration {
	c.flightMu.Lock()
	defer c.flightMu.Unlock()
	if c.lastProbe.IsZero() {
		return probeSpacing
	}
	return now.Sub(c.lastProbe)
}

func (c *Cache) lastRefreshErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}
