package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// Unknown-kid behaviour over a real Cache in a synctest bubble (virtual
// time, in-memory provider). The numbers are the defaults: burst 3, one
// refresh per 10s after it, UnknownKIDWait 2s, a failing provider probed at
// most once a second.

// retryAfter returns the retry hint an error carries, if any.
func retryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) {
		return 0, false
	}
	return ra.RetryAfter(), true
}

// wantUnknown fails unless err is a settled "unknown kid" (401).
func wantUnknown(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, jwkset.ErrKeyNotFound) || errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("%s: err = %v, want only ErrKeyNotFound (401)", what, err)
	}
	if _, ok := retryAfter(err); ok {
		t.Fatalf("%s: a settled unknown kid carries a retry hint: %v", what, err)
	}
}

// wantDeferred fails unless err is "keys unavailable" (503) with a retry
// hint within [1s, max], and returns the hint.
func wantDeferred(t *testing.T, err error, max time.Duration, what string) time.Duration {
	t.Helper()
	if !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, jwkset.ErrKeyNotFound) {
		t.Fatalf("%s: err = %v, want ErrKeysUnavailable (503) and ErrKeyNotFound", what, err)
	}
	ra, ok := retryAfter(err)
	if !ok || ra < time.Second || ra > max || ra%time.Second != 0 {
		t.Fatalf("%s: retry hint %v (present %v), want whole seconds in [1s, %v]", what, ra, ok, max)
	}
	return ra
}

// Goal: a rotated-in kid is found on its first read even though other
// unknown kids were looked up seconds before (they used to take the single
// 30s slot, and the new kid got 401 for up to 30s).
func TestRotationSeenAtOnceAfterOtherUnknownKIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA") // its ETag changes with its set
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		for _, kid := range []string{"old-1", "old-2"} {
			_, err := c.KeyRead(context.Background(), kid)
			wantUnknown(t, err, kid)
			time.Sleep(time.Second)
		}
		b := rotate(t, idp)
		published := time.Now()
		time.Sleep(500 * time.Millisecond)
		if _, err := c.KeyRead(context.Background(), b); err != nil {
			t.Fatalf("first read of the rotated-in kid %v after publication: %v", time.Since(published), err)
		}
	})
}

// Goal: tokens of a withdrawn key cost no fetch at all (the kid becomes a
// negative entry when a refresh drops it), and a key published while they
// keep coming is found on its first read.
func TestRemovedKIDCostsNoFetchAndTheNextKeyIsSeenAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		b := rotate(t, idp)
		setJWKS(t, idp, jwtgatetest.Behavior{CacheControl: "max-age=60"})
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(),
			MinRefreshInterval: time.Second, RefreshJitter: -1})
		synctest.Wait()
		mustRead(t, c, b)
		remove(t, idp, b)
		time.Sleep(48 * time.Second) // the scheduled refresh (0.8 × 60s) drops b
		synctest.Wait()
		n0 := fetches(idp)
		if n0 != 2 {
			t.Fatalf("%d fetches, want 2 (start-up, scheduled)", n0)
		}
		// For 40s (past UnknownKIDInterval, before the next scheduled
		// refresh at 96s) clients keep sending b: 401, and no fetch.
		for range 40 {
			_, err := c.KeyRead(context.Background(), b)
			wantUnknown(t, err, "withdrawn kid b")
			time.Sleep(time.Second)
		}
		if n := fetches(idp); n != n0 {
			t.Fatalf("a withdrawn kid caused %d fetches", n-n0)
		}
		if _, err := c.KeyRead(context.Background(), rotate(t, idp)); err != nil {
			t.Fatalf("kid published while withdrawn-kid tokens keep coming: %v", err)
		}
	})
}

// Goal: after an outage, a kid rotated in during it is found within 2s of
// the provider answering again (the failing latch, the 30s slot and the
// open breaker used to keep it 503 for ~29s). During the outage every read
// of it is 503 with a retry hint, and probes are paced.
func TestRotationSeenWithin2sAfterOutageEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		a := kidOf(t, idp, "")
		var breakerOpened atomic.Bool
		cfg := Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(),
			Observer: Observer{OnBreakerStateChange: func(ev BreakerEvent) {
				if ev.To == "open" {
					breakerOpened.Store(true)
				}
			}}}
		c := newTestCache(t, cfg)
		synctest.Wait()
		// The provider rotates to b and goes down before the cache sees it.
		b := rotate(t, idp)
		setJWKS(t, idp, jwtgatetest.Behavior{Status: http.StatusInternalServerError})
		const outage = 100 * time.Second
		before, start := fetches(idp), time.Now()
		var errs []error // checked last: the timing below is the point
		for time.Since(start) < outage {
			_, err := c.KeyRead(context.Background(), b)
			if !errors.Is(err, ErrKeysUnavailable) {
				t.Fatalf("new kid during the outage: %v, want ErrKeysUnavailable", err)
			}
			errs = append(errs, err)
			mustRead(t, c, a)
			time.Sleep(500 * time.Millisecond)
		}
		// Probes come at most once a second; background retries back off
		// (1+2+4+...+64s: at most 8 of them in 100s).
		if n := fetches(idp) - before; n > int(outage/probeSpacing)+8 {
			t.Fatalf("%d fetches during a %v outage", n, outage)
		}

		setJWKS(t, idp, jwtgatetest.Behavior{})
		back := time.Now()
		for {
			_, err := c.KeyRead(context.Background(), b)
			if err == nil {
				break
			}
			if time.Since(back) > 2*time.Second {
				t.Fatalf("new kid still not found %v after the outage ended: %v", time.Since(back), err)
			}
			errs = append(errs, err)
			time.Sleep(250 * time.Millisecond)
		}
		for _, err := range errs {
			wantDeferred(t, err, probeSpacing, "new kid during or just after the outage")
		}
		if !breakerOpened.Load() {
			t.Fatal("the breaker never opened during the outage: the test did not test passing it")
		}
		if st := c.Status(); st.Breaker != "closed" || st.ConsecutiveFailures != 0 {
			t.Fatalf("after the probe succeeded: breaker %q, failures %d", st.Breaker, st.ConsecutiveFailures)
		}
	})
}

// Goal: a kid looked up and not found is not fetched for again within
// UnknownKIDInterval, and that is per kid: another kid still gets its own
// look-up.
func TestUnknownKIDIsNotFetchedAgainWithinTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		before := fetches(idp)
		_, err := c.KeyRead(context.Background(), "x")
		wantUnknown(t, err, "x")
		first := time.Now()
		for time.Since(first) < DefaultUnknownKIDInterval-100*time.Millisecond {
			time.Sleep(100 * time.Millisecond)
			_, err := c.KeyRead(context.Background(), "x")
			wantUnknown(t, err, "x again")
		}
		if n := fetches(idp) - before; n != 1 {
			t.Fatalf("%d fetches for one kid within UnknownKIDInterval, want 1", n)
		}
		_, err = c.KeyRead(context.Background(), "y")
		wantUnknown(t, err, "y")
		if n := fetches(idp) - before; n != 2 {
			t.Fatalf("%d fetches after a second kid, want 2: y gets its own look-up", n)
		}
	})
}

// Goal: 10,000 distinct random kids over 60s cost at most burst + 6
// fetches (3 at once, then one per 10s), all conditional (304), answer 401
// or 503 with a retry hint, never slow a known kid down, and still let a
// key published mid-flood through within one refill period (10s).
func TestUnknownKIDFloodCostsFewConditionalFetches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA") // its ETag changes with its set
		a := kidOf(t, idp, "")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		before := fetches(idp)
		st0 := idp.Stats()

		const n, span = 10_000, 60 * time.Second
		step := span / n
		var unknown, deferred int
		var published, foundB time.Time
		var b string
		for i := range n {
			if i == n*35/60 { // at 35s the provider rotates in b
				b = rotate(t, idp)
				published = time.Now()
			}
			_, err := c.KeyRead(context.Background(), fmt.Sprintf("junk-%d-%x", i, rand.Uint64()))
			if errors.Is(err, ErrKeysUnavailable) {
				wantDeferred(t, err, DefaultUnknownKIDInterval, "flood kid")
				deferred++
			} else {
				wantUnknown(t, err, "flood kid")
				unknown++
			}
			if i%100 == 0 {
				at := time.Now()
				mustRead(t, c, a)
				if !time.Now().Equal(at) {
					t.Fatal("a known kid waited during the flood")
				}
			}
			if !published.IsZero() && foundB.IsZero() && i%50 == 0 {
				if _, err := c.KeyRead(context.Background(), b); err == nil {
					foundB = time.Now()
				} else {
					wantDeferred(t, err, DefaultUnknownKIDInterval, "b during the flood")
				}
			}
			time.Sleep(step)
		}
		got := fetches(idp) - before
		st := idp.Stats()
		cond, nm, cond0, nm0 := st.JWKSConditional, st.JWKSNotModified, st0.JWKSConditional, st0.JWKSNotModified
		t.Logf("%d fetches, %d answered 401, %d answered 503", got, unknown, deferred)
		if max := DefaultUnknownKIDBurst + 6; got > max {
			t.Fatalf("%d fetches for the flood, want at most %d", got, max)
		}
		if cond-cond0 != got || nm-nm0 != got-1 {
			t.Fatalf("%d fetches, %d conditional, %d answered 304; want all conditional, all 304 but b's", got, cond-cond0, nm-nm0)
		}
		if deferred == 0 {
			t.Fatal("no flood read was told to retry: reads beyond the budget must be 503, not 401")
		}
		if foundB.IsZero() || foundB.Sub(published) > DefaultUnknownKIDInterval {
			t.Fatalf("b published at %v found at %v: want within one refill period", published, foundB)
		}
		if allocs := testing.AllocsPerRun(100, func() { mustRead(t, c, a) }); allocs != 0 {
			t.Fatalf("known kid after the flood: %v allocations", allocs)
		}
	})
}

// Goal: a read never waits longer than UnknownKIDWait (2s) for the refresh
// that looks for its kid, even if the provider hangs for the whole
// FetchTimeout; the fetch goes on in the background, and Close stops it.
func TestUnknownKIDWaitIsBoundedAndTheFetchGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		a := kidOf(t, idp, "")
		cfg := Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), FetchTimeout: 10 * time.Second, Logger: discard()}
		evs := observeRefreshes(&cfg)
		c, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		synctest.Wait()
		<-evs
		setJWKS(t, idp, jwtgatetest.Behavior{Hang: true})
		start := time.Now()
		_, err = c.KeyRead(context.Background(), "new")
		if waited := time.Since(start); waited != DefaultUnknownKIDWait {
			t.Fatalf("waited %v, want UnknownKIDWait %v", waited, DefaultUnknownKIDWait)
		}
		wantDeferred(t, err, time.Second, "new kid, hanging provider")
		if st := c.Status(); st.FetchErrors != 0 || st.Fetches != 2 {
			t.Fatalf("the fetch must still run: %+v", st)
		}
		mustRead(t, c, a)
		// It fails at its own time-out, under the cache's context.
		time.Sleep(10*time.Second - DefaultUnknownKIDWait)
		synctest.Wait()
		if ev := <-evs; ev.Outcome != OutcomeFailed || !errors.Is(ev.Err, context.DeadlineExceeded) {
			t.Fatalf("background fetch: %+v", ev)
		}
		// Another hanging probe, abandoned by its reader, is stopped by Close.
		time.Sleep(probeSpacing)
		_, err = c.KeyRead(context.Background(), "newer")
		wantDeferred(t, err, time.Second, "newer kid, hanging provider")
		start = time.Now()
		c.Close()
		if time.Since(start) != 0 {
			t.Fatal("Close waited for the abandoned fetch")
		}
		// synctest.Test fails if the fetch's goroutine is left behind.
	})
}

// Goal: with the budget spent, a kid that no refresh has looked for is 503
// with a retry hint (the time until the next refresh may start), while a
// kid settled by a recent look-up stays 401. Once the hint has passed, the
// kid is looked for.
func TestSpentBudgetIs503WithRetryAfterAndSettledKIDIs401(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		before := fetches(idp)
		for i := range DefaultUnknownKIDBurst {
			_, err := c.KeyRead(context.Background(), fmt.Sprint("junk-", i))
			wantUnknown(t, err, "within the burst")
		}
		_, err := c.KeyRead(context.Background(), "k4")
		if ra := wantDeferred(t, err, DefaultUnknownKIDInterval, "budget spent"); ra != DefaultUnknownKIDInterval {
			t.Fatalf("retry hint %v, want %v (the next refill)", ra, DefaultUnknownKIDInterval)
		}
		_, err = c.KeyRead(context.Background(), "junk-0")
		wantUnknown(t, err, "settled kid, budget spent")
		if n := fetches(idp) - before; n != DefaultUnknownKIDBurst {
			t.Fatalf("%d fetches, want %d", n, DefaultUnknownKIDBurst)
		}
		time.Sleep(DefaultUnknownKIDInterval)
		_, err = c.KeyRead(context.Background(), "k4")
		wantUnknown(t, err, "k4 after the hint")
		if n := fetches(idp) - before; n != DefaultUnknownKIDBurst+1 {
			t.Fatalf("%d fetches, want %d", n, DefaultUnknownKIDBurst+1)
		}
	})
}

// A read that joins a fetch sent before it arrived cannot trust that
// fetch's "not there": the key may have been published in between. It
// looks again, within UnknownKIDWait.
func TestReadJoiningAnEarlierFetchLooksAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		setJWKS(t, idp, jwtgatetest.Behavior{Delay: time.Second})
		done := make(chan error, 1)
		go func() {
			_, err := c.KeyRead(context.Background(), "junk")
			done <- err
		}()
		time.Sleep(500 * time.Millisecond) // the junk fetch is under way, with the old body
		b := rotate(t, idp)
		published := time.Now()
		if _, err := c.KeyRead(context.Background(), b); err != nil {
			t.Fatalf("kid published while an earlier fetch ran: %v", err)
		}
		if d := time.Since(published); d > 2*time.Second {
			t.Fatalf("found %v after publication", d)
		}
		wantUnknown(t, <-done, "junk")
		if n := fetches(idp); n != 3 {
			t.Fatalf("%d fetches, want 3 (start-up, junk, b)", n)
		}
	})
}
