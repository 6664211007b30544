package cache

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

type waiterKey struct{}

// The reads that wait for an unknown-kid refresh ride on its events (the
// first MaxEventWaiters of them), so a hook can tie the refresh to the
// requests it served; a background refresh carries none.
func TestRefreshEventsCarryTheirWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t)
		cfg := Config{URL: idp.JWKSURL(), HTTPClient: idp.Client()}
		refreshes := observeRefreshes(&cfg)
		var mu sync.Mutex
		var fetchEvs []FetchEvent
		cfg.Observer.OnFetch = func(e FetchEvent) {
			mu.Lock()
			fetchEvs = append(fetchEvs, e)
			mu.Unlock()
		}
		c := newTestCache(t, cfg)
		synctest.Wait()
		if ev := nextRefresh(t, refreshes); ev.Reason != ReasonStartup || ev.Waiters != nil {
			t.Fatalf("startup refresh: %s with %d waiters, want none", ev.Reason, len(ev.Waiters))
		}
		mu.Lock()
		if len(fetchEvs) != 1 || fetchEvs[0].Waiters != nil {
			t.Fatalf("startup fetches %+v, want one without waiters", fetchEvs)
		}
		fetchEvs = nil
		mu.Unlock()

		// The set stops being authoritative; the provider answers after a
		// while, so that every reader joins the one refresh.
		time.Sleep(2 * time.Second)
		kid := rotate(t, idp)
		setJWKS(t, idp, jwtgatetest.Behavior{Delay: 500 * time.Millisecond})
		idp.ResetStats()
		const readers = MaxEventWaiters + 4
		var wg sync.WaitGroup
		for i := range readers {
			wg.Go(func() {
				ctx := context.WithValue(context.Background(), waiterKey{}, fmt.Sprint("r", i))
				if _, err := c.KeyRead(ctx, kid); err != nil {
					t.Errorf("reader %d: %v", i, err)
				}
			})
			synctest.Wait() // every reader is parked in the refresh before the next comes
		}
		wg.Wait()
		if n := fetches(idp); n != 1 {
			t.Fatalf("%d JWK Set requests for %d readers, want 1", n, readers)
		}
		ev := nextRefresh(t, refreshes)
		if ev.Reason != ReasonUnknownKID || len(ev.Waiters) != MaxEventWaiters {
			t.Fatalf("refresh %s with %d waiters, want unknown_kid with %d", ev.Reason, len(ev.Waiters), MaxEventWaiters)
		}
		seen := map[any]bool{}
		for _, w := range ev.Waiters {
			seen[w.Value(waiterKey{})] = true
		}
		if len(seen) != MaxEventWaiters || seen[nil] {
			t.Fatalf("waiters %v, want %d distinct readers", seen, MaxEventWaiters)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(fetchEvs) != 1 || len(fetchEvs[0].Waiters) == 0 || fetchEvs[0].Waiters[0].Value(waiterKey{}) != "r0" {
			t.Fatalf("unknown-kid fetches %+v, want one with the first reader among its waiters", fetchEvs)
		}
	})
}
