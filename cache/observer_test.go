package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// TestObserverSeesEveryEventAndMayCallBack checks the hooks' contract: every
// fetch, refresh and breaker change is reported, in order, and a hook may
// call back into the cache (no lock of the cache is held while it runs).
func TestObserverSeesEveryEventAndMayCallBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		a := kidOf(t, idp, "")
		setJWKS(t, idp, jwtgatetest.Behavior{CacheControl: "max-age=600"})
		var (
			mu       sync.Mutex
			fetches  []FetchEvent
			refresh  []RefreshEvent
			breakers []string
			cp       atomic.Pointer[Cache] // hooks may run before New returns
		)
		callBack := func() {
			if c := cp.Load(); c != nil {
				_ = c.Status() // calling back must not deadlock
				c.KeyRead(context.Background(), a)
			}
		}
		cfg := Config{
			URL: idp.JWKSURL(), HTTPClient: idp.Client(), Name: "idp",
			RefreshJitter: -1, BreakerFailures: 1, BreakerTimeout: time.Minute, RetryMin: time.Second, RetryMax: time.Second,
			Observer: Observer{
				OnFetch: func(ev FetchEvent) {
					mu.Lock()
					fetches = append(fetches, ev)
					mu.Unlock()
				},
				OnRefresh: func(ev RefreshEvent) {
					callBack()
					mu.Lock()
					refresh = append(refresh, ev)
					mu.Unlock()
				},
				OnBreakerStateChange: func(ev BreakerEvent) {
					callBack()
					mu.Lock()
					breakers = append(breakers, ev.From+"→"+ev.To)
					mu.Unlock()
				},
			},
		}
		c := newTestCache(t, cfg)
		cp.Store(c)
		synctest.Wait()
		time.Sleep(480 * time.Second) // scheduled refresh: 304
		synctest.Wait()
		setJWKS(t, idp, jwtgatetest.Behavior{Status: 500, CacheControl: "max-age=600"})
		time.Sleep(480 * time.Second) // scheduled refresh: fails, opens the breaker
		synctest.Wait()
		time.Sleep(30 * time.Second) // retries while open are rejected
		synctest.Wait()
		setJWKS(t, idp, jwtgatetest.Behavior{CacheControl: "max-age=600"})
		time.Sleep(31 * time.Second) // the probe closes the breaker
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		if len(fetches) != 4 {
			t.Fatalf("%d fetch events, want 4: %+v", len(fetches), fetches)
		}
		wantStatus := []int{200, 304, 500, 304}
		for i, ev := range fetches {
			if ev.Provider != "idp" || ev.Kind != FetchJWKS || ev.Status != wantStatus[i] || (ev.Status == 500) != (ev.Err != nil) {
				t.Fatalf("fetch %d: %+v, want status %d", i, ev, wantStatus[i])
			}
		}
		var outcomes []string
		for _, ev := range refresh {
			outcomes = append(outcomes, string(ev.Reason)+":"+string(ev.Outcome))
			if ev.Provider != "idp" || ev.Keys != 1 || ev.Generation != 1 {
				t.Fatalf("refresh event %+v", ev)
			}
		}
		if len(outcomes) < 5 || outcomes[0] != "startup:updated" || outcomes[1] != "scheduled:not_modified" ||
			outcomes[2] != "scheduled:failed" || outcomes[3] != "retry:rejected" ||
			outcomes[len(outcomes)-1] != "retry:not_modified" {
			t.Fatalf("refresh outcomes %v", outcomes)
		}
		for _, o := range outcomes[3 : len(outcomes)-1] {
			if o != "retry:rejected" {
				t.Fatalf("refresh outcomes %v: only rejections while open", outcomes)
			}
		}
		want := []string{"closed→open", "open→half-open", "half-open→closed"}
		if len(breakers) != 3 || breakers[0] != want[0] || breakers[1] != want[1] || breakers[2] != want[2] {
			t.Fatalf("breaker events %v, want %v", breakers, want)
		}
		if st := c.Status(); st.Fetches != 4 || st.FetchErrors != 1 || st.NotModified != 2 || st.BreakerRejections == 0 {
			t.Fatalf("counters %+v", st)
		}
		if ev := refresh[2]; ev.Err == nil {
			t.Fatal("a failed refresh carries its error")
		}
	})
}
