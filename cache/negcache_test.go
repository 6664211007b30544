package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// The negative entries are bounded: an attacker sending ever new kids
// cannot grow memory; the oldest entries go first, and an entry costs the
// same whatever the kid's length (only a hash is kept).
func TestNegativeEntriesAreBoundedOldestEvicted(t *testing.T) {
	n := newNegCache()
	const extra = 1000
	for i := range maxNegativeKIDs + extra {
		n.ask(fmt.Sprint("kid-", i), uint64(i))
	}
	n.ask(strings.Repeat("x", 1<<20), 1)
	if got := n.len(); got != maxNegativeKIDs {
		t.Fatalf("%d entries, want %d", got, maxNegativeKIDs)
	}
	if e := n.ask(fmt.Sprint("kid-", extra+1), 0); e.askedSeq != extra+1 {
		t.Fatalf("a recent entry was evicted: %+v", e)
	}
	if e := n.ask("kid-0", 99_999); e.askedSeq != 99_999 {
		t.Fatalf("the oldest entry survived: %+v", e)
	}
	n.markRemoved([]string{"gone"})
	if e := n.ask("gone", 5); !e.removed || n.len() != maxNegativeKIDs {
		t.Fatalf("removed kid %+v, %d entries", e, n.len())
	}
}

func TestStatusCountsNegativeEntriesAndDeferredReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), UnknownKIDBurst: 1})
		synctest.Wait()
		_, err := c.KeyRead(context.Background(), "x")
		wantUnknown(t, err, "x")
		_, err = c.KeyRead(context.Background(), "y")
		wantDeferred(t, err, DefaultUnknownKIDInterval, "y with a burst of 1")
		if st := c.Status(); st.NegativeKIDs != 2 || st.DeferredKIDReads != 1 || st.UnknownKIDRefreshes != 1 {
			t.Fatalf("status negative %d deferred %d refreshes %d, want 2 1 1", st.NegativeKIDs, st.DeferredKIDReads, st.UnknownKIDRefreshes)
		}
	})
}

func TestUnknownKIDWaitIsConfigurable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idp := memIdP(t, "EdDSA")
		c := newTestCache(t, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), UnknownKIDWait: 300 * time.Millisecond})
		synctest.Wait()
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

func TestKIDBudgetBurstThenOnePerPeriod(t *testing.T) {
	b := kidBudget{period: 10 * time.Second, burst: 3}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := b.take(t0); !ok {
			t.Fatalf("take %d within the burst refused", i)
		}
	}
	if ok, wait := b.take(t0.Add(time.Second)); ok || wait != 9*time.Second {
		t.Fatalf("after the burst: ok %v wait %v, want refused for 9s", ok, wait)
	}
	b.refund()
	if ok, _ := b.take(t0.Add(time.Second)); !ok {
		t.Fatal("a refunded token is not available")
	}
	if ok, _ := b.take(t0.Add(10 * time.Second)); !ok {
		t.Fatal("the refill after one period is not available")
	}
	if ok, _ := b.take(t0.Add(10 * time.Second)); ok {
		t.Fatal("two tokens after one period")
	}
	if ok, _ := b.take(t0.Add(time.Hour)); !ok {
		t.Fatal("after a long idle time the bucket is not full")
	}
}
