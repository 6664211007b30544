package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// Unknown-kid behaviour over a real Cache in a synctest bubble (virtual
// time, in-memory provider). The numbers are the defaults: a set fetched or
// revalidated within the last second (UnknownKIDInterval) is
// authoritative, UnknownKIDWait 2s, a failing provider probed at most once
// a second.

// retryAfter returns the retry hint an error carries, if any.
func retryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) {
		return 0, false
	}
	return ra.RetryAfter(), true
}

// isUnknown reports whether err is a plain "unknown kid" (401).
func isUnknown(err error) bool {
	_, hint := retryAfter(err)
	return errors.Is(err, jwkset.ErrKeyNotFound) && !errors.Is(err, ErrKeysUnavailable) && !hint
}

// wantUnknown fails unless err is a plain "unknown kid" (401).
func wantUnknown(t *testing.T, err error, what string) {
	t.Helper()
	if !isUnknown(err) {
		t.Fatalf("%s: err = %v, want only ErrKeyNotFound (401)", what, err)
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
	if !ok || ra < time.Second || ra > max {
		t.Fatalf("%s: retry hint %v (present %v), want whole seconds in [1s, %v]", what, ra, ok, max)
	}
	if ra%time.Second != 0 {
		t.Fatalf("%s: retry hint %v is not whole seconds", what, ra)
	}
	return ra
}

// jwksRequest is one JWK Set request as the provider saw it.
type jwksRequest struct {
	at          time.Time
	conditional bool // If-None-Match was sent
}

// recordingIdP is memIdP (one EdDSA key, an ETag that changes with the
// set) that also records when each JWK Set request arrived.
func recordingIdP(t *testing.T) (*jwtgatetest.Issuer, func() []jwksRequest) {
	t.Helper()
	var mu sync.Mutex
	var reqs []jwksRequest
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{URL: "https://idp.test", Algorithms: []string{"EdDSA"},
		OnRequest: func(r jwtgatetest.Request) {
			if r.Path != jwtgatetest.JWKSPath {
				return
			}
			mu.Lock()
			reqs = append(reqs, jwksRequest{at: time.Now(), conditional: r.Header.Get("If-None-Match") != ""})
			mu.Unlock()
		}})
	return idp, func() []jwksRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]jwksRequest(nil), reqs...)
	}
}

// wantPaced fails unless the JWK Set requests after the first are at least
// a second apart and conditional.
func wantPaced(t *testing.T, reqs []jwksRequest) {
	t.Helper()
	for i := 1; i < len(reqs); i++ {
		if gap := reqs[i].at.Sub(reqs[i-1].at); gap < time.Second {
			t.Fatalf("JWK Set requests %d and %d are %v apart, want at least 1s", i-1, i, gap)
		}
		if !reqs[i].conditional {
			t.Fatalf("JWK Set request %d carried no If-None-Match", i)
		}
	}
}

// Goal (issue 19, item 12): under a continuous flood of junk kids from many
// goroutines, a key published at t is accepted by t+2s; every junk kid is
// 401 (never a 503) while the provider is healthy; the provider sees at
// most one JWK Set request per second, each conditional; a known kid never
// waits. Under the refresh budget this test replaces, the flood spent the
// budget, junk turned into 503s and the new key waited up to 10s.
func TestJunkKIDFloodIs401AndANewKeyIsSeenWithin2s(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp, requests := recordingIdP(t)
		a := kidOf(t, idp, "")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()

		const span = 30 * time.Second
		start := time.Now()
		var junk, bad atomic.Int64
		var firstBad atomic.Value
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				step := time.Duration(3+g%7) * time.Millisecond
				for time.Since(start) < span {
					_, err := c.KeyRead(context.Background(), fmt.Sprintf("junk-%d-%x", g, rand.Uint64()))
					junk.Add(1)
					if !isUnknown(err) {
						bad.Add(1)
						firstBad.CompareAndSwap(nil, err)
					}
					time.Sleep(step)
				}
			})
		}
		// A known kid is answered at once throughout.
		wg.Go(func() {
			for time.Since(start) < span {
				at := time.Now()
				mustRead(t, c, a)
				if !time.Now().Equal(at) {
					t.Error("a known kid waited during the flood")
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
		// Three rotations at awkward moments: each new key is read every
		// 10ms from its publication until it is found. (Errorf, not
		// Fatalf: the flood's goroutines must end first.)
	rotations:
		for _, at := range []time.Duration{5*time.Second + 3*time.Millisecond, 14*time.Second + 990*time.Millisecond, 22*time.Second + 500*time.Millisecond} {
			time.Sleep(time.Until(start.Add(at)))
			b := rotate(t, idp)
			published := time.Now()
			for {
				_, err := c.KeyRead(context.Background(), b)
				if err == nil {
					break
				}
				if !isUnknown(err) {
					t.Errorf("new kid %v after publication: %v, want the key or 401", time.Since(published), err)
					break rotations
				}
				if time.Since(published) > 2*time.Second {
					t.Errorf("new kid not found %v after publication under the flood", time.Since(published))
					break rotations
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if n := bad.Load(); n > 0 {
			t.Fatalf("%d of %d junk kids were not answered 401 while the provider was healthy; first: %v", n, junk.Load(), firstBad.Load())
		}
		reqs := requests()
		t.Logf("%d junk reads, %d JWK Set requests in %v", junk.Load(), len(reqs), span)
		wantPaced(t, reqs)
		if st := c.Status(); st.DeferredKIDReads != 0 {
			t.Fatalf("%d deferred reads", st.DeferredKIDReads)
		}
	})
}

// Goal: a set fetched or revalidated within the last second is
// authoritative: any number of distinct unknown kids are 401 with no
// fetch. A 304 counts as fresh as a 200 does. Past the second, the next
// unknown kid costs one conditional request, which is fresh in turn.
func TestFreshSetIsAuthoritativeAndA304CountsAsFresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp, requests := recordingIdP(t)
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		for i := range 100 { // right after the load (a 200)
			_, err := c.KeyRead(context.Background(), fmt.Sprint("x", i))
			wantUnknown(t, err, "kid read within a second of the load")
			time.Sleep(5 * time.Millisecond)
		}
		if n := len(requests()); n != 1 {
			t.Fatalf("%d requests, want only the load's", n)
		}
		time.Sleep(5 * time.Second)
		_, err := c.KeyRead(context.Background(), "y")
		wantUnknown(t, err, "kid read on a 5s-old set, after the refetch")
		if reqs := requests(); len(reqs) != 2 || !reqs[1].conditional || idp.Stats().JWKSNotModified != 1 {
			t.Fatalf("requests %+v, 304s %d: want one conditional refetch answered 304", reqs, idp.Stats().JWKSNotModified)
		}
		revalidated := time.Now()
		for time.Since(revalidated) < DefaultUnknownKIDInterval {
			_, err := c.KeyRead(context.Background(), fmt.Sprint("z", rand.Uint64()))
			wantUnknown(t, err, "kid read within a second of a 304")
			time.Sleep(10 * time.Millisecond)
		}
		if n := len(requests()); n != 2 {
			t.Fatalf("%d requests: a set revalidated (304) within the last second was not trusted", n)
		}
		_, err = c.KeyRead(context.Background(), "w")
		wantUnknown(t, err, "kid read a second after the 304")
		if n := len(requests()); n != 3 {
			t.Fatalf("%d requests, want a third once the 304 is a second old", n)
		}
		wantPaced(t, requests())
		if st := c.Status(); st.UnknownKIDRefreshes != 2 || st.DeferredKIDReads != 0 {
			t.Fatalf("status: unknown-kid refreshes %d, deferred %d; want 2, 0", st.UnknownKIDRefreshes, st.DeferredKIDReads)
		}
	})
}

// Goal: freshness is the only certainty. A kid read and found absent
// moments before the provider fails is, once the set is no longer fresh,
// 503 (the key may have been published since), not 401 from memory; and a
// kid rotated in during the outage is found within 2s of the provider
// answering again. Probes and background retries together stay at one
// request a second.
func TestRotationSeenWithin2sAfterOutageEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp, requests := recordingIdP(t)
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
		time.Sleep(DefaultUnknownKIDInterval)
		_, err := c.KeyRead(context.Background(), "x")
		wantUnknown(t, err, "x, provider healthy")

		// The provider rotates to b and goes down before the cache sees it.
		b := rotate(t, idp)
		setJWKS(t, idp, jwtgatetest.Behavior{Status: http.StatusInternalServerError})
		time.Sleep(2 * time.Second)
		_, err = c.KeyRead(context.Background(), "x")
		wantDeferred(t, err, probeSpacing, "x again, 2s later, provider failing")

		const outage = 100 * time.Second
		before, start := len(requests()), time.Now()
		var errs []error // checked last: the timing below is the point
		for time.Since(start) < outage {
			_, err := c.KeyRead(context.Background(), b)
			if !errors.Is(err, ErrKeysUnavailable) {
				t.Fatalf("new kid during the outage: %v, want ErrKeysUnavailable", err)
			}
			errs = append(errs, err)
			mustRead(t, c, a)
			time.Sleep(250 * time.Millisecond)
		}
		if n := len(requests()) - before; n > int(outage/probeSpacing)+1 {
			t.Fatalf("%d requests during a %v outage, want at most one a second", n, outage)
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
		wantPaced(t, requests())
		if !breakerOpened.Load() {
			t.Fatal("the breaker never opened during the outage: the test did not test passing it")
		}
		if st := c.Status(); st.Breaker != "closed" || st.ConsecutiveFailures != 0 {
			t.Fatalf("after the probe succeeded: breaker %q, failures %d", st.Breaker, st.ConsecutiveFailures)
		}
	})
}

// Goal: a withdrawn key's tokens keep coming for a while after a rotation;
// they are 401, never 503, cost at most one conditional request a second,
// and a key published meanwhile is found within 2s.
func TestWithdrawnKIDIs401AndTheNextKeyIsSeen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp, requests := recordingIdP(t)
		b := rotate(t, idp)
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		mustRead(t, c, b)
		remove(t, idp, b)
		time.Sleep(DefaultUnknownKIDInterval)
		_, err := c.KeyRead(context.Background(), "other") // its refetch drops b
		wantUnknown(t, err, "other kid")
		for range 40 {
			_, err := c.KeyRead(context.Background(), b)
			wantUnknown(t, err, "withdrawn kid b")
			time.Sleep(500 * time.Millisecond)
		}
		wantPaced(t, requests())
		next := rotate(t, idp)
		published := time.Now()
		for {
			_, err := c.KeyRead(context.Background(), next)
			if err == nil {
				break
			}
			wantUnknown(t, err, "next kid, just published")
			if time.Since(published) > 2*time.Second {
				t.Fatal("a kid published while withdrawn-kid tokens keep coming was not found within 2s")
			}
			time.Sleep(100 * time.Millisecond)
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
		time.Sleep(DefaultUnknownKIDInterval)
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

// A read that joins a fetch sent more than UnknownKIDInterval before it
// arrived cannot trust that fetch's "not there": the key may have been
// published in between. It starts its own, within UnknownKIDWait.
func TestReadJoiningAnOldFetchLooksAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		time.Sleep(DefaultUnknownKIDInterval)
		setJWKS(t, idp, jwtgatetest.Behavior{Delay: 1500 * time.Millisecond})
		done := make(chan error, 1)
		go func() {
			_, err := c.KeyRead(context.Background(), "junk")
			done <- err
		}()
		time.Sleep(200 * time.Millisecond) // the junk fetch is under way, with the old body
		b := rotate(t, idp)
		time.Sleep(time.Second) // the junk fetch is now more than a second old
		asked := time.Now()
		if _, err := c.KeyRead(context.Background(), b); err != nil {
			t.Fatalf("kid published while an old fetch ran: %v", err)
		}
		// 300ms for the junk fetch to end, 1.5s for b's own.
		if d := time.Since(asked); d != 1800*time.Millisecond {
			t.Fatalf("found after %v, want 1.8s", d)
		}
		wantUnknown(t, <-done, "junk")
		if n := fetches(idp); n != 3 {
			t.Fatalf("%d fetches, want 3 (start-up, junk, b)", n)
		}
	})
}

// Goal: reads that arrive while a fetch sent within the last second runs
// share it, and its answer is authoritative for them: a flood of 1,000
// concurrent kids on a set past its second costs exactly one conditional
// fetch, and every kid is 401.
func TestConcurrentUnknownKIDsShareOneFetchAndAreAll401(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp, requests := recordingIdP(t)
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		time.Sleep(time.Minute)
		setJWKS(t, idp, jwtgatetest.Behavior{Delay: 100 * time.Millisecond})
		var wg sync.WaitGroup
		var unknown atomic.Int32
		for range 1000 {
			wg.Go(func() {
				if _, err := c.KeyRead(context.Background(), fmt.Sprintf("kid-%x", rand.Uint64())); isUnknown(err) {
					unknown.Add(1)
				}
			})
		}
		wg.Wait()
		if n := len(requests()); n != 2 {
			t.Fatalf("%d requests, want the load and one refetch", n)
		}
		wantPaced(t, requests())
		if unknown.Load() != 1000 {
			t.Fatalf("%d of 1000 reads were 401", unknown.Load())
		}
		if st := c.Status(); st.UnknownKIDRefreshes != 1 || st.DeferredKIDReads != 0 {
			t.Fatalf("status: unknown-kid refreshes %d, deferred %d; want 1, 0", st.UnknownKIDRefreshes, st.DeferredKIDReads)
		}
	})
}

// Goal: a provider that reuses a kid for new key material. KeyRecheck on a
// set fetched within the last second answers from it, with no fetch; on an
// older set it waits for one conditional refetch and returns the new
// material; a flood of rechecks (forged signatures) costs at most one
// request a second.
func TestKeyRecheckRefetchesOnceRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp, requests := recordingIdP(t)
		old := kidOf(t, idp, "")
		next := rotate(t, idp)
		keys := publishedJWKs(t, idp) // newest first: next, old
		setJWKS(t, idp, jwtgatetest.Behavior{Body: jwks(keys[1]), ETag: `"v1"`})
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		want := mustRead(t, c, old)

		// The provider puts next's material under old's kid.
		setJWKS(t, idp, jwtgatetest.Behavior{Body: jwks(edit(t, keys[0], map[string]any{"kid": old})), ETag: `"v2"`})
		k, err := c.KeyRecheck(context.Background(), old)
		if err != nil || k.Marshal().X != want.Marshal().X || len(requests()) != 1 {
			t.Fatalf("recheck on a fresh set: err %v, %d requests; want the served key and no fetch", err, len(requests()))
		}
		time.Sleep(DefaultUnknownKIDInterval)
		k, err = c.KeyRecheck(context.Background(), old)
		if err != nil || k.Marshal().X == want.Marshal().X {
			t.Fatalf("recheck on a 1s-old set: err %v, same material %v; want the new material", err, k.Marshal().X == want.Marshal().X)
		}
		if n := len(requests()); n != 2 {
			t.Fatalf("%d requests, want one refetch", n)
		}

		// Forged signatures under the kid: rechecks from many goroutines
		// for 10s cost at most one conditional request a second.
		start := time.Now()
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for time.Since(start) < 10*time.Second {
					if _, err := c.KeyRecheck(context.Background(), old); err != nil {
						t.Errorf("recheck during the flood: %v", err)
						return
					}
					time.Sleep(time.Duration(5+g) * time.Millisecond)
				}
			})
		}
		wg.Wait()
		reqs := requests()
		if n := len(reqs); n > 2+10 {
			t.Fatalf("%d requests for 10s of rechecks", n)
		}
		wantPaced(t, reqs)
		if st := c.Status(); st.RecheckRefreshes != uint64(len(reqs)-1) || st.NotModified != uint64(len(reqs)-2) {
			t.Fatalf("status: recheck refreshes %d, 304s %d, for %d requests", st.RecheckRefreshes, st.NotModified, len(reqs))
		}
		// A kid the fresh set lacks is unknown, as for KeyRead.
		_, err = c.KeyRecheck(context.Background(), next)
		wantUnknown(t, err, "recheck of a kid not in the set")
	})
}

// A failing provider: KeyRecheck is a *DeferredError, like an unknown kid.
func TestKeyRecheckWhileProviderFailsIsDeferred(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		a := kidOf(t, idp, "")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		setJWKS(t, idp, jwtgatetest.Behavior{Status: http.StatusServiceUnavailable})
		time.Sleep(DefaultUnknownKIDInterval)
		_, err := c.KeyRecheck(context.Background(), a)
		wantDeferred(t, err, probeSpacing, "recheck, provider failing")
		mustRead(t, c, a)
	})
}

func TestUnknownKIDWaitIsConfigurable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), UnknownKIDWait: 300 * time.Millisecond})
		synctest.Wait()
		time.Sleep(DefaultUnknownKIDInterval)
		setJWKS(t, idp, jwtgatetest.Behavior{Hang: true})
		start := time.Now()
		_, err := c.KeyRead(context.Background(), "new")
		wantDeferred(t, err, time.Second, "hanging provider")
		if waited := time.Since(start); waited != 300*time.Millisecond {
			t.Fatalf("waited %v, want 300ms", waited)
		}
		var de *DeferredError
		if !errors.As(err, &de) || de.Reason == "" || strings.Contains(err.Error(), "new") {
			t.Fatalf("error %q: want a *DeferredError with a reason, not naming the kid", err)
		}
		if st := c.Status(); st.DeferredKIDReads != 1 || st.UnknownKIDRefreshes != 1 {
			t.Fatalf("status: deferred %d, unknown-kid refreshes %d; want 1, 1", st.DeferredKIDReads, st.UnknownKIDRefreshes)
		}
	})
}

// A negative UnknownKIDInterval turns unknown-kid refetches off: a kid not
// in the set is unknown, however old the set.
func TestNegativeUnknownKIDIntervalNeverFetches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), UnknownKIDInterval: -1})
		synctest.Wait()
		time.Sleep(time.Minute)
		_, err := c.KeyRead(context.Background(), rotate(t, idp))
		wantUnknown(t, err, "new kid, refetches off")
		if n := fetches(idp); n != 1 {
			t.Fatalf("%d fetches, want 1", n)
		}
	})
}

func TestDeferredErrorWrapsAndRoundsItsHint(t *testing.T) {
	cause := errors.New("boom")
	err := error(&DeferredError{Reason: "r", Retry: retryHint(1500 * time.Millisecond), Err: cause})
	if !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, jwkset.ErrKeyNotFound) || !errors.Is(err, cause) {
		t.Fatalf("%v does not wrap ErrKeysUnavailable, ErrKeyNotFound and its cause", err)
	}
	if ra, _ := retryAfter(err); ra != 2*time.Second {
		t.Fatalf("hint %v, want 2s", ra)
	}
	for d, want := range map[time.Duration]time.Duration{
		-time.Second: time.Second, 0: time.Second, time.Millisecond: time.Second, time.Second: time.Second,
		time.Second + 1: 2 * time.Second, 10 * time.Second: 10 * time.Second,
	} {
		if got := retryHint(d); got != want {
			t.Fatalf("retryHint(%v) = %v, want %v", d, got, want)
		}
	}
}

// Goal: while the provider fails, the background retries and the probes
// of a flood of unknown kids together send at most one request a second:
// a retry falls due right after a probe only to wait a second after it.
func TestRetriesAndProbesTogetherStayAtOneASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp, requests := recordingIdP(t)
		setJWKS(t, idp, jwtgatetest.Behavior{CacheControl: "max-age=10"})
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(),
			MinRefreshInterval: time.Second, RefreshJitter: -1, RetryMin: 2 * time.Second, RetryMax: 4 * time.Second})
		synctest.Wait()
		setJWKS(t, idp, jwtgatetest.Behavior{Status: http.StatusInternalServerError})
		time.Sleep(8 * time.Second) // the scheduled refresh fails; retries follow
		start := time.Now()
		for time.Since(start) < time.Minute {
			_, err := c.KeyRead(context.Background(), fmt.Sprint("junk-", rand.Uint64()))
			if !errors.Is(err, ErrKeysUnavailable) {
				t.Fatalf("unknown kid, provider failing: %v", err)
			}
			time.Sleep(70 * time.Millisecond)
		}
		// (RetryMin 2s: a retry follows its own failure by at least
		// RetryMin/2 = 1s; that is RetryMin's business, not the flood's.)
		reqs := requests()
		if len(reqs) < 50 {
			t.Fatalf("%d requests in a minute: the flood did not probe", len(reqs))
		}
		wantPaced(t, reqs)
		if st := c.Status(); st.UnknownKIDRefreshes == 0 {
			t.Fatal("no probe ran")
		}
	})
}

// Close stops a recheck's refetch that its caller abandoned, and leaves no
// goroutine behind (synctest.Test fails otherwise; goleak checks the
// package).
func TestCloseStopsAnAbandonedRecheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		a := kidOf(t, idp, "")
		c, err := New(context.Background(), Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(DefaultUnknownKIDInterval)
		setJWKS(t, idp, jwtgatetest.Behavior{Hang: true})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err = c.KeyRecheck(ctx, a)
		wantDeferred(t, err, time.Second, "recheck, caller gone")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the caller's deadline", err)
		}
		start := time.Now()
		c.Close()
		if time.Since(start) != 0 {
			t.Fatal("Close waited for the abandoned fetch")
		}
		if _, err := c.KeyRecheck(context.Background(), a); !errors.Is(err, ErrClosed) {
			t.Fatalf("recheck after Close: %v", err)
		}
	})
}
