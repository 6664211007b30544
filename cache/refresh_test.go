package cache

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// These tests run in a synctest bubble: time is virtual and advances only
// when every goroutine in the bubble is blocked, so refresh-ahead, back-off,
// time-outs and the breaker's open period are exact and instant. The
// provider is reached through an in-memory RoundTripper.

func TestRefreshAheadHappensBeforeExpiryAndNoReadWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		a := kidOf(t, idp, "")
		setJWKS(t, idp, jwtgatetest.Behavior{CacheControl: "max-age=100"})
		cfg := Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), MinRefreshInterval: time.Second}
		evs := observeRefreshes(&cfg)
		c := newTestCache(t, cfg)
		start := time.Now()
		synctest.Wait()
		if ev := <-evs; ev.Outcome != OutcomeUpdated || ev.Reason != ReasonStartup {
			t.Fatalf("first refresh %+v", ev)
		}
		expires := c.Status().ExpiresAt
		if want := start.Add(100 * time.Second); !expires.Equal(want) {
			t.Fatalf("expires %v, want %v", expires, want)
		}

		// RefreshAhead 0.8 with jitter 0.1: the refresh starts in [70s, 80s].
		time.Sleep(70*time.Second - time.Nanosecond)
		synctest.Wait()
		if n := fetches(idp); n != 1 {
			t.Fatalf("%d fetches before 70s, want 1", n)
		}
		// The refresh hangs: reads must keep being served from memory.
		setJWKS(t, idp, jwtgatetest.Behavior{Hang: true})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := fetches(idp); n != 2 {
			t.Fatalf("%d fetches by 80s, want 2 (refresh ahead)", n)
		}
		if !time.Now().Before(expires) {
			t.Fatal("the refresh did not start before expiry")
		}
		before := time.Now()
		mustRead(t, c, a)
		if !time.Now().Equal(before) {
			t.Fatal("a read waited while a refresh was in flight")
		}
		// The hanging refresh times out and the set stays.
		time.Sleep(DefaultFetchTimeout)
		synctest.Wait()
		ev := <-evs
		if ev.Outcome != OutcomeFailed || ev.Reason != ReasonScheduled || !errors.Is(ev.Err, context.DeadlineExceeded) {
			t.Fatalf("hung refresh: %+v", ev)
		}
		mustRead(t, c, a)
	})
}

func TestScheduledRefreshRenewsAndPicksUpRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		a := kidOf(t, idp, "")
		setJWKS(t, idp, jwtgatetest.Behavior{CacheControl: "max-age=600"})
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), RefreshJitter: -1})
		synctest.Wait()
		mustRead(t, c, a)
		b := rotate(t, idp)
		remove(t, idp, a)
		time.Sleep(480 * time.Second) // exactly 0.8 × 600s, no jitter
		synctest.Wait()
		mustRead(t, c, b)
		if _, err := c.KeyRead(context.Background(), a); !errors.Is(err, jwkset.ErrKeyNotFound) {
			t.Fatalf("removed kid a: %v", err)
		}
		if st := c.Status(); st.Generation != 2 || !st.NextRefresh.Equal(time.Now().Add(480*time.Second)) {
			t.Fatalf("generation %d next refresh %v", st.Generation, st.NextRefresh)
		}
	})
}

func TestStartupWhileProviderDownThenUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		a := kidOf(t, idp, "")
		setJWKS(t, idp, jwtgatetest.Behavior{Status: http.StatusServiceUnavailable})
		c, err := New(t.Context(), Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), Logger: discard()})
		if err != nil {
			t.Fatalf("a provider down at start must not fail New: %v", err)
		}
		defer c.Close()
		synctest.Wait()
		if c.Ready() {
			t.Fatal("ready while the provider is down")
		}
		if _, err := c.KeyRead(context.Background(), a); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("err = %v, want ErrKeysUnavailable", err)
		}
		var wg sync.WaitGroup
		var waitErr error
		wg.Go(func() { waitErr = c.WaitReady(context.Background()) })

		setJWKS(t, idp, jwtgatetest.Behavior{})
		time.Sleep(DefaultRetryMin) // the first retry comes within RetryMin
		synctest.Wait()
		if !c.Ready() {
			t.Fatalf("not ready after the provider came up: %+v", c.Status())
		}
		mustRead(t, c, a)
		wg.Wait()
		if waitErr != nil {
			t.Fatal(waitErr)
		}
		st := c.Status()
		var fe *FetchError
		if !errors.As(st.LastError, &fe) || fe.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("last error %v, want the 503", st.LastError)
		}
		if got := st.LastError.Error(); got != "cache: fetch https://idp.test/.well-known/jwks.json: status 503: unexpected status" {
			t.Fatalf("error text %q", got)
		}
		if !st.LastSuccess.After(st.LastErrorAt) || st.LastSuccess.After(time.Now()) || !st.LastAttempt.Equal(st.LastSuccess) ||
			st.ConsecutiveFailures != 0 || st.Fetches != 2 || st.FetchErrors != 1 || st.Generation != 1 ||
			!st.LoadedAt.Equal(st.LastSuccess) || !st.ExpiresAt.Equal(st.LastSuccess.Add(DefaultTTL)) {
			t.Fatalf("status after recovery %+v", st)
		}
	})
}

func TestWaitForFirstLoadIsBoundedByCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		setJWKS(t, idp, jwtgatetest.Behavior{Status: 500})
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		c, err := New(ctx, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), Logger: discard(), WaitForFirstLoad: true})
		if c != nil || !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("New = %v, %v; want nil and ErrKeysUnavailable+DeadlineExceeded", c, err)
		}
	})
}

func TestBreakerOpensStopsTrafficThenHalfOpensAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		setJWKS(t, idp, jwtgatetest.Behavior{Status: 500})
		var mu sync.Mutex
		var changes []BreakerEvent
		cfg := Config{
			URL: idp.JWKSURL(), HTTPClient: idp.Client(),
			RetryMin: time.Second, RetryMax: 2 * time.Second,
			BreakerFailures: 5, BreakerTimeout: 30 * time.Second,
			Observer: Observer{OnBreakerStateChange: func(ev BreakerEvent) {
				mu.Lock()
				changes = append(changes, ev)
				mu.Unlock()
			}},
		}
		c := newTestCache(t, cfg)
		// Retries come at most 2s apart: 5 failures take under 10s.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := fetches(idp); n != 5 {
			t.Fatalf("%d requests, want 5 before the breaker opens", n)
		}
		mu.Lock()
		if len(changes) != 1 || changes[0].From != "closed" || changes[0].To != "open" {
			t.Fatalf("breaker events %+v, want closed→open", changes)
		}
		openedAt := changes[0].At
		mu.Unlock()
		if st := c.Status(); st.Breaker != "open" {
			t.Fatalf("breaker %q, want open", st.Breaker)
		}

		// While open, retries are refused without reaching the provider.
		time.Sleep(openedAt.Add(30 * time.Second).Sub(time.Now()))
		synctest.Wait()
		if n := fetches(idp); n != 5 {
			t.Fatalf("%d requests while open, want still 5", n)
		}
		st := c.Status()
		if st.BreakerRejections == 0 || st.Fetches != 5 {
			t.Fatalf("rejections %d fetches %d", st.BreakerRejections, st.Fetches)
		}

		// The provider recovers; after the timeout one probe goes through and closes the breaker.
		setJWKS(t, idp, jwtgatetest.Behavior{})
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := fetches(idp); n != 6 {
			t.Fatalf("%d requests after the open period, want 6 (one probe)", n)
		}
		if !c.Ready() {
			t.Fatal("not ready after recovery")
		}
		if st := c.Status(); st.Breaker != "closed" || st.ConsecutiveFailures != 0 {
			t.Fatalf("breaker %q failures %d after recovery", st.Breaker, st.ConsecutiveFailures)
		}
		mu.Lock()
		defer mu.Unlock()
		var got []string
		for _, ev := range changes {
			got = append(got, ev.From+"→"+ev.To)
		}
		want := []string{"closed→open", "open→half-open", "half-open→closed"}
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("breaker events %v, want %v", got, want)
		}
	})
}

func TestHalfOpenProbeFailureReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		setJWKS(t, idp, jwtgatetest.Behavior{Status: 500})
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(),
			RetryMin: time.Second, RetryMax: time.Second, BreakerFailures: 2, BreakerTimeout: 10 * time.Second})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if c.Status().Breaker != "open" || fetches(idp) != 2 {
			t.Fatalf("breaker %q after %d failures", c.Status().Breaker, fetches(idp))
		}
		time.Sleep(11 * time.Second)
		synctest.Wait()
		if n := fetches(idp); n != 3 {
			t.Fatalf("%d requests, want 3 (one failed probe)", n)
		}
		if st := c.Status().Breaker; st != "open" {
			t.Fatalf("breaker %q after a failed probe, want open", st)
		}
	})
}

func TestUnknownKIDWaiterLeavesOnItsOwnContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()})
		synctest.Wait()
		time.Sleep(DefaultUnknownKIDInterval) // the set is no longer authoritative
		setJWKS(t, idp, jwtgatetest.Behavior{Hang: true})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.KeyRead(ctx, "new")
		if !errors.Is(err, jwkset.ErrKeyNotFound) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("waited %v, want 1s", waited)
		}
		// The shared fetch is still running, under the cache's own context.
		if st := c.Status(); st.FetchErrors != 0 {
			t.Fatalf("the fetch ended with the waiter: %+v", st)
		}
	})
}

func TestCloseStopsAHangingFetchAndTheLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		setJWKS(t, idp, jwtgatetest.Behavior{Hang: true})
		cfg := Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), Logger: discard()}
		evs := observeRefreshes(&cfg)
		c, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		start := time.Now()
		c.Close()
		if time.Since(start) != 0 {
			t.Fatal("Close waited for the fetch time-out")
		}
		c.Close() // idempotent
		ev := <-evs
		if ev.Outcome != OutcomeFailed || !errors.Is(ev.Err, context.Canceled) {
			t.Fatalf("cancelled refresh: %+v", ev)
		}
		if st := c.Status(); st.Breaker != "closed" {
			t.Fatalf("a cancellation by Close tripped the breaker accounting: %q", st.Breaker)
		}
		// Reads after Close do not start fetches.
		if _, err := c.KeyRead(context.Background(), "x"); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("err = %v", err)
		}
		// synctest.Test fails if any goroutine of the bubble is left behind.
	})
}

func TestLastGoodSetServedUntilMaxStaleThenUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		a := kidOf(t, idp, "")
		setJWKS(t, idp, jwtgatetest.Behavior{CacheControl: "max-age=600"})
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), MaxStale: time.Hour})
		synctest.Wait()
		setJWKS(t, idp, jwtgatetest.Behavior{Status: 500, CacheControl: "max-age=600"})

		time.Sleep(600*time.Second + time.Hour - time.Nanosecond) // expired, within MaxStale
		synctest.Wait()
		mustRead(t, c, a)
		if !c.Ready() {
			t.Fatal("not ready within MaxStale")
		}
		if st := c.Status(); st.ConsecutiveFailures == 0 || st.LastError == nil {
			t.Fatalf("refreshes kept failing, status says %+v", st)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if _, err := c.KeyRead(context.Background(), a); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("beyond MaxStale: err = %v, want ErrKeysUnavailable", err)
		}
		if _, err := c.KeyReadAll(context.Background()); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("KeyReadAll beyond MaxStale: err = %v", err)
		}
		if c.Ready() {
			t.Fatal("ready beyond MaxStale")
		}
		// The provider comes back: the cache recovers on its next retry.
		setJWKS(t, idp, jwtgatetest.Behavior{CacheControl: "max-age=600"})
		time.Sleep(DefaultRetryMax)
		synctest.Wait()
		mustRead(t, c, a)
		if !c.Ready() {
			t.Fatal("not ready after the provider came back")
		}
	})
}

func TestStalenessIsExactEvenWhileARefreshHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		a := kidOf(t, idp, "")
		setJWKS(t, idp, jwtgatetest.Behavior{CacheControl: "max-age=600"})
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(),
			MaxStale: time.Hour, FetchTimeout: 3 * time.Hour, RefreshJitter: -1})
		synctest.Wait()
		setJWKS(t, idp, jwtgatetest.Behavior{Hang: true}) // the refresh at 480s hangs past staleAt
		time.Sleep(600*time.Second + time.Hour - time.Nanosecond)
		synctest.Wait()
		if fetches(idp) != 2 || !c.Ready() {
			t.Fatalf("fetches %d ready %v just before staleAt", fetches(idp), c.Ready())
		}
		mustRead(t, c, a)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if c.Ready() {
			t.Fatal("ready at staleAt")
		}
		if _, err := c.KeyRead(context.Background(), a); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("KeyRead at staleAt: %v", err)
		}
	})
}
