package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/singleflight"
)

// run is the cache's one background goroutine: it loads the set, then
// refreshes it ahead of expiry, backing off after failures.
func (c *Cache) run() {
	defer c.wg.Done()
	reason := ReasonStartup
	for {
		startup := reason == ReasonStartup
		ch := c.flight(nil, reason, func(now time.Time) bool {
			// A refresh keeps a second away from the last unknown-kid or
			// recheck probe (checked here, under flightMu: a probe may
			// have started and ended since retryNow looked). A probe that
			// succeeded renewed the set, one that failed is as good as a
			// retry.
			return startup || !now.Before(c.lastProbe.Add(probeSpacing))
		})
		var err error
		switch {
		case ch != nil:
			select {
			case r := <-ch:
				err = r.Err
			case <-c.ctx.Done():
				return
			}
		case c.isClosed():
			return
		case c.retryNow(): // a probe came first and failed: a second after it, try again
			continue
		case c.ctx.Err() != nil:
			return
		default:
			// A probe found the provider back: wait for the scheduled refresh.
		}
		// Wait for the next attempt; an unknown-kid refresh may renew the
		// set meanwhile, which moves the refresh-ahead point.
		for {
			now := c.cfg.now()
			var due time.Time
			if err == nil || c.consecutiveFailures() == 0 {
				reason = ReasonScheduled
				due = now
				if s := c.snap.Load(); s != nil {
					due = s.refreshAt
				}
			} else {
				reason = ReasonRetry
				due = now.Add(backoff(c.consecutiveFailures(), c.cfg.RetryMin, c.cfg.RetryMax, rand.Float64()))
			}
			c.mu.Lock()
			c.nextRefresh = due
			c.mu.Unlock()
			t := time.NewTimer(due.Sub(now))
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if reason == ReasonScheduled {
				if s := c.snap.Load(); s != nil && s.refreshAt.After(c.cfg.now()) {
					continue
				}
			}
			if reason == ReasonRetry && !c.retryNow() {
				if c.ctx.Err() != nil {
					return
				}
				continue // an unknown-kid probe found the provider back meanwhile
			}
			break
		}
	}
}

// retryNow reports whether a due retry should run: the provider is still
// failing. Unknown kids probe a failing provider once a second; a retry
// right after a probe would only double that, so it first waits until a
// second after the last probe's start. False if a probe found the provider
// back meanwhile, or the cache was closed.
func (c *Cache) retryNow() bool {
	for {
		if c.consecutiveFailures() == 0 {
			return false
		}
		d := c.sinceProbe(c.cfg.now())
		if d >= probeSpacing {
			return true
		}
		t := time.NewTimer(probeSpacing - d)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

func (c *Cache) consecutiveFailures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failures
}

// backoff returns the wait before retry n (n ≥ 1): lo·2^(n-1) capped at hi,
// of which the upper half is jittered by r ∈ [0, 1).
func backoff(n int, lo, hi time.Duration, r float64) time.Duration {
	d := hi
	if n >= 1 && n < 40 {
		if x := lo << (n - 1); x > 0 && x < hi {
			d = x
		}
	}
	return d/2 + time.Duration(r*float64(d/2))
}

// flight joins the running refresh, or starts one if none runs and
// mayStart (called with flightMu held) agrees. It returns nil when no
// refresh runs and none may start, or the cache is closed. Every refresh
// goes through here, so at most one runs at a time and every caller that
// wants one shares it. Each flight gets its own singleflight key, so a
// caller never mistakes a finishing flight for a new one.
func (c *Cache) flight(waiter context.Context, reason RefreshReason, mayStart func(now time.Time) bool) <-chan singleflight.Result {
	c.flightMu.Lock()
	defer c.flightMu.Unlock()
	if c.closed.Load() {
		return nil
	}
	if c.flightActive {
		// flightActive is cleared inside the flight's function, which
		// singleflight has not returned from yet: DoChan joins it.
		c.addWaiter(waiter)
		return c.sf.DoChan(c.flightKey, c.flightFn)
	}
	if !mayStart(c.cfg.now()) {
		return nil
	}
	c.addWaiter(waiter) // flightWaiters is empty: the last flight's end took them
	c.flightSeq++
	c.flightKey = strconv.FormatUint(c.flightSeq, 10)
	c.flightActive = true
	c.wg.Add(1)
	c.flightFn = func() (any, error) {
		defer c.wg.Done()
		ev := c.refresh(reason)
		c.flightMu.Lock()
		c.flightActive = false
		ev.Waiters, c.flightWaiters = c.flightWaiters, nil
		switch {
		case ev.Err == nil:
			c.probeAfter = time.Time{}
		case errors.Is(ev.Err, ErrBreakerOpen):
			// No request was sent: nothing was learnt about the provider.
		default:
			c.probeAfter = c.cfg.now().Add(probeSpacing)
		}
		c.flightMu.Unlock()
		// WaitReady's callers and the hook are released once the flight no
		// longer accepts joiners, so that reading an unknown kid right
		// after starts a new refresh instead of joining this finished one.
		if c.snap.Load() != nil {
			c.loadedOnce.Do(func() { close(c.loaded) })
		}
		if h := c.cfg.Observer.OnRefresh; h != nil {
			h(ev)
		}
		return nil, ev.Err
	}
	return c.sf.DoChan(c.flightKey, c.flightFn)
}

// addWaiter remembers a read's ctx for the running flight's events (the
// first MaxEventWaiters; nil is a background refresh, not a waiter). The
// caller holds flightMu.
func (c *Cache) addWaiter(ctx context.Context) {
	if ctx != nil && len(c.flightWaiters) < MaxEventWaiters {
		c.flightWaiters = append(c.flightWaiters, ctx)
	}
}

// waiters returns the running flight's waiters so far, for a fetch event:
// later joiners append beyond the returned length, never into it.
func (c *Cache) waiters() []context.Context {
	c.flightMu.Lock()
	defer c.flightMu.Unlock()
	if !c.flightActive || len(c.flightWaiters) == 0 {
		return nil
	}
	return c.flightWaiters[:len(c.flightWaiters):len(c.flightWaiters)]
}

// refresh runs one refresh attempt, applies its result and describes it.
func (c *Cache) refresh(reason RefreshReason) RefreshEvent {
	start := c.cfg.now()
	old := c.snap.Load()
	c.mu.Lock()
	c.lastAttempt = start
	c.mu.Unlock()

	var resp *response
	probe := reason == ReasonUnknownKID || reason == ReasonRecheck
	url, err := c.resolveURL(probe)
	if err == nil {
		var etag, lm string
		if old != nil && !old.fromFile && old.url == url {
			etag, lm = old.etag, old.lastModified
		}
		resp, err = c.execute(probe, func() (*response, error) {
			r, err := c.get(c.ctx, FetchJWKS, url, etag, lm)
			if err != nil {
				return nil, err
			}
			if !r.notModified {
				if r.set, err = parseJWKS(r.body, c.cfg.MaxKeys); err != nil {
					return nil, &FetchError{URL: url, StatusCode: 200, Err: err}
				}
			}
			return r, nil
		})
	}

	ev := RefreshEvent{Provider: c.cfg.Name, Reason: reason, Err: err}
	now := c.cfg.now()
	switch {
	case err == nil && resp.notModified:
		if old == nil {
			err = fmt.Errorf("cache: 304 Not Modified without a cached set")
			ev.Outcome, ev.Err = OutcomeFailed, err
			break
		}
		ns := *old
		ns.validatedAt, ns.checkedAt = now, start
		if resp.etag != "" {
			ns.etag = resp.etag
		}
		if resp.lastModified != "" {
			ns.lastModified = resp.lastModified
		}
		c.setTimes(&ns, now, resp.ttl)
		c.serve(&ns)
		c.notModified.Add(1)
		ev.Outcome = OutcomeNotModified
		c.persist(&ns)
	case err == nil:
		ns := &snapshot{
			byKID: resp.set.byKID, keys: resp.set.keys, skipped: resp.set.skipped, digest: resp.set.digest,
			url: url, etag: resp.etag, lastModified: resp.lastModified, body: resp.body,
			loadedAt: now, validatedAt: now, checkedAt: start,
		}
		c.setTimes(ns, now, resp.ttl)
		ev.Outcome = c.install(old, ns)
		c.persist(ns)
	case errors.Is(err, ErrBreakerOpen):
		ev.Outcome = OutcomeRejected
		c.rejected.Add(1)
	default:
		ev.Outcome = OutcomeFailed
		if old == nil {
			if ns := c.loadFile(now); ns != nil {
				c.install(nil, ns)
				ev.Outcome = OutcomeFromFile
			}
		}
	}

	c.mu.Lock()
	if ev.Err == nil {
		c.lastSuccess = now
		c.failures = 0
	} else {
		c.lastErr, c.lastErrAt = ev.Err, now
		c.failures++
	}
	c.mu.Unlock()

	if s := c.snap.Load(); s != nil {
		ev.Keys, ev.Generation, ev.ExpiresAt = len(s.keys), s.generation, s.expiresAt
	}
	if resp != nil && resp.set != nil {
		ev.SkippedKeys = len(resp.set.skipped)
	}
	ev.Duration = c.cfg.now().Sub(start)
	c.logRefresh(ev)
	c.flushBreakerEvents()
	return ev
}

// install serves ns, carrying over the generation when the keys did not change.
func (c *Cache) install(old, ns *snapshot) RefreshOutcome {
	out := OutcomeUpdated
	switch {
	case old == nil:
		ns.generation = 1
	case old.digest == ns.digest:
		ns.generation, ns.loadedAt = old.generation, old.loadedAt
		out = OutcomeUnchanged
	default:
		ns.generation = old.generation + 1
	}
	if out == OutcomeUpdated {
		for _, sk := range ns.skipped {
			c.log.Warn("cache: skipping unusable key", slog.Int("index", sk.Index),
				slog.String("kid", sk.KID), slog.String("reason", sk.Reason))
		}
		c.log.Info("cache: key set updated", slog.Int("keys", len(ns.keys)),
			slog.Uint64("generation", ns.generation), slog.Bool("from_file", ns.fromFile))
	}
	c.serve(ns)
	return out
}

// serve makes ns the served snapshot. A timer latches ns stale at its
// staleAt, so KeyRead's hit path and Ready need no clock read (time.Now
// costs more than the rest of a hit). Only flights, which never overlap,
// call it.
func (c *Cache) serve(ns *snapshot) {
	ns.stale, ns.staleTimer = new(atomic.Bool), nil
	if d := ns.staleAt.Sub(c.cfg.now()); d > 0 {
		latch := ns.stale
		ns.staleTimer = time.AfterFunc(d, func() { latch.Store(true) })
	} else {
		ns.stale.Store(true)
	}
	if old := c.snap.Swap(ns); old != nil && old.staleTimer != nil {
		old.staleTimer.Stop()
	}
}

// setTimes sets a snapshot's expiry, staleness and refresh-ahead point from
// a TTL, with jitter so replicas do not refresh in lock-step.
func (c *Cache) setTimes(s *snapshot, now time.Time, ttl time.Duration) {
	s.expiresAt = now.Add(ttl)
	s.staleAt = s.expiresAt.Add(c.cfg.MaxStale)
	ahead := c.cfg.RefreshAhead - c.cfg.RefreshJitter*rand.Float64()
	s.refreshAt = now.Add(time.Duration(float64(ttl) * ahead))
}

// execute runs fn through the circuit breaker, translating its refusals to
// ErrBreakerOpen. A probe (an unknown-kid or recheck refresh) passes an
// open breaker: it is paced already (probeSpacing), and waiting out
// BreakerTimeout would keep a rotated key unverifiable that long after the
// provider is back. A probe that succeeds so closes the breaker.
func (c *Cache) execute(probe bool, fn func() (*response, error)) (*response, error) {
	counted := func() (*response, error) {
		c.fetches.Add(1)
		r, err := fn()
		if err != nil {
			c.fetchErrors.Add(1)
		}
		return r, err
	}
	brk := c.breaker.Load()
	if probe && brk.State() == gobreaker.StateOpen {
		r, err := counted()
		if err == nil {
			c.breaker.Store(c.newBreaker())
			c.queueBreakerEvent(gobreaker.StateOpen.String(), gobreaker.StateClosed.String())
		}
		return r, err
	}
	r, err := brk.Execute(counted)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, fmt.Errorf("%w: %w", ErrBreakerOpen, err)
	}
	return r, err
}

// flushBreakerEvents delivers the queued breaker transitions, outside
// gobreaker's lock. Only refresh calls it, and refreshes never overlap, so
// the events arrive in order.
func (c *Cache) flushBreakerEvents() {
	c.brkMu.Lock()
	evs := c.brkPending
	c.brkPending = nil
	c.brkMu.Unlock()
	for _, ev := range evs {
		lvl := slog.LevelInfo
		if ev.To == gobreaker.StateOpen.String() {
			lvl = slog.LevelWarn
		}
		c.log.Log(c.ctx, lvl, "cache: circuit breaker state changed", slog.String("from", ev.From), slog.String("to", ev.To))
		if h := c.cfg.Observer.OnBreakerStateChange; h != nil {
			h(ev)
		}
	}
}

func (c *Cache) logRefresh(ev RefreshEvent) {
	attrs := []any{slog.String("reason", string(ev.Reason)), slog.String("outcome", string(ev.Outcome)),
		slog.Duration("duration", ev.Duration), slog.Int("keys", ev.Keys)}
	switch ev.Outcome {
	case OutcomeFailed, OutcomeRejected, OutcomeFromFile:
		c.log.Warn("cache: key set refresh failed", append(attrs, slog.Any("error", ev.Err))...)
	default:
		c.log.Debug("cache: key set refreshed", attrs...)
	}
}
