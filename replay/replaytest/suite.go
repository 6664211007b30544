package replaytest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/contract"

	"github.com/jwtgate/jwtgate/replay"
)

// Config is what the suite gives a store: its clock.
type Config struct {
	// Now is the suite's clock. It stands still until the suite moves it.
	// A store that keeps time in process must read it
	// (replay.MemoryConfig.Now).
	Now func() time.Time
}

// Store is what a NewFunc returns: the store under test and, for one that
// does not keep time by Config.Now alone, how to move its time.
type Store struct {
	// Store is the store under test.
	Store replay.Store
	// FastForward, when not nil, makes Store behave as if d more time had
	// passed; the suite calls it after each move of Config.Now, with the
	// same d (always positive). It must have taken effect when it
	// returns. nil means Config.Now is all the time the store has.
	FastForward func(d time.Duration)
}

// NewFunc returns a fresh, empty store for cfg. It fails t (t.Fatal) when
// it cannot, and registers any cleanup with t.Cleanup.
type NewFunc func(t testing.TB, cfg Config) Store

// Slack is how early or late a store with a FastForward hook may expire
// a key: its own clock runs while the suite does. A store without the hook
// may expire a key up to a millisecond early.
const Slack = 10 * time.Second

// Check is one check of the suite.
type Check = contract.Check[NewFunc]

// Checks returns the suite's checks, in the order Run runs them.
func Checks() []Check {
	return []Check{
		{Name: "FreshOnceWithinTTL", Run: checkFreshOnceWithinTTL},
		{Name: "FreshAgainAfterTTL", Run: checkFreshAgainAfterTTL},
		{Name: "TTLPerKey", Run: checkTTLPerKey},
		{Name: "KeysIndependent", Run: checkKeysIndependent},
		{Name: "LongKeys", Run: checkLongKeys},
		{Name: "ConcurrentOneFresh", Run: checkConcurrentOneFresh},
		{Name: "ContextEnded", Run: checkContextEnded},
	}
}

// Run runs every check against stores from newStore, each as a subtest.
func Run(t *testing.T, newStore NewFunc) {
	t.Helper()
	contract.Run(t, Checks(), newStore)
}

// start is the clock for every check: a fixed instant, so failures are
// reproducible.
var start = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// ttl is the suite's usual ttl: minutes, far longer than a check runs.
const ttl = 10 * time.Minute

type harness struct {
	t     testing.TB
	clk   *contract.Clock
	store Store
	tol   time.Duration
}

func newHarness(t testing.TB, newStore NewFunc) *harness {
	t.Helper()
	clk := contract.NewClock(start, nil)
	st := newStore(t, Config{Now: clk.Now})
	if st.Store == nil {
		t.Fatal("NewFunc returned no Store")
	}
	h := &harness{t: t, clk: clk, store: st, tol: time.Millisecond}
	clk.Follow(st.FastForward)
	if st.FastForward != nil {
		h.tol = Slack
	}
	return h
}

func (h *harness) advance(d time.Duration) { h.clk.Advance(d) }

// add calls Add with a live context and fails on an error.
func (h *harness) add(key string, ttl time.Duration) bool {
	h.t.Helper()
	fresh, err := h.store.Store.Add(context.Background(), key, ttl)
	if err != nil {
		h.t.Fatalf("Add(%s, %v): %v; want an answer (the suite needs a store that is up)", contract.Short(key), ttl, err)
	}
	return fresh
}

func checkFreshOnceWithinTTL(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore)
	if !h.add("jti-1", ttl) {
		t.Fatal("first Add of a key: not fresh")
	}
	for i := range 3 {
		if h.add("jti-1", ttl) {
			t.Fatalf("Add %d of the same key at once: fresh, want not fresh", i+2)
		}
	}
	h.advance(ttl / 2)
	if h.add("jti-1", ttl) {
		t.Fatalf("Add %v into its ttl of %v: fresh, want not fresh", ttl/2, ttl)
	}
}

func checkFreshAgainAfterTTL(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore)
	if !h.add("jti-1", ttl) {
		t.Fatal("first Add: not fresh")
	}
	h.advance(ttl - h.tol)
	if h.add("jti-1", ttl) {
		t.Fatalf("Add %v before the ttl ends: fresh, want not fresh", h.tol)
	}
	h.advance(h.tol)
	if !h.add("jti-1", ttl) {
		t.Fatalf("Add once the ttl of %v has passed: not fresh, want fresh", ttl)
	}
	// Fresh again means recorded again.
	if h.add("jti-1", ttl) {
		t.Fatal("Add right after the key came back: fresh, want not fresh")
	}
}

func checkTTLPerKey(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore)
	if !h.add("short", time.Minute) || !h.add("long", ttl) {
		t.Fatal("first Adds: not fresh")
	}
	h.advance(time.Minute + h.tol)
	if !h.add("short", time.Minute) {
		t.Fatal("key added for a minute, a minute later: not fresh, want fresh")
	}
	if h.add("long", ttl) {
		t.Fatalf("key added for %v, a minute later: fresh, want not fresh", ttl)
	}
}

func checkKeysIndependent(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore)
	keys := []string{"jti", "JTI", "jti ", "jt", "jti\x00", "j|ti", "jt|i", "other"}
	for _, k := range keys {
		if !h.add(k, ttl) {
			t.Fatalf("key %s, added once after other keys: not fresh, want fresh (keys are independent)", contract.Short(k))
		}
	}
	for _, k := range keys {
		if h.add(k, ttl) {
			t.Fatalf("key %s, added again: fresh, want not fresh", contract.Short(k))
		}
	}
}

func checkLongKeys(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore)
	long := strings.Repeat("x", 8<<10)
	keys := []string{long + "a", long + "b", "a" + long, "b" + long, long, long[:4<<10],
		// Short keys, even those starting with a byte a digest might.
		"\x00" + strings.Repeat("y", 32), "#" + strings.Repeat("y", 43), "x"}
	for _, k := range keys {
		if !h.add(k, ttl) {
			t.Fatalf("key %s, added once: not fresh, want fresh (distinct keys never share a record)", contract.Short(k))
		}
	}
	for _, k := range keys {
		if h.add(k, ttl) {
			t.Fatalf("key %s, added again: fresh, want not fresh", contract.Short(k))
		}
	}
}

func checkConcurrentOneFresh(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore)
	const callers = 32
	var fresh atomic.Int32
	var wg sync.WaitGroup
	begin := make(chan struct{}) // all at once, not as they are started
	for i := range callers {
		wg.Go(func() {
			<-begin
			ok, err := h.store.Store.Add(context.Background(), "same", ttl)
			if err != nil {
				t.Errorf("concurrent Add: %v", err)
			}
			if ok {
				fresh.Add(1)
			}
			// Distinct keys at the same time: every one fresh.
			if ok, err := h.store.Store.Add(context.Background(), "own-"+strconv.Itoa(i), ttl); !ok || err != nil {
				t.Errorf("concurrent Add of a key of its own: fresh %v, %v; want fresh", ok, err)
			}
		})
	}
	close(begin)
	wg.Wait()
	if n := fresh.Load(); n != 1 {
		t.Fatalf("%d concurrent Adds of one key: %d fresh, want exactly 1", callers, n)
	}
}

func checkContextEnded(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), start.Add(-time.Hour))
	defer cancel2()
	for i, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"cancelled", cancelled, context.Canceled}, {"past its deadline", expired, context.DeadlineExceeded}} {
		fresh, err := h.store.Store.Add(c.ctx, "ended-"+strconv.Itoa(i), ttl)
		if err != nil && (fresh || !errors.Is(err, c.want)) {
			t.Fatalf("Add with a context %s: fresh %v, %v; want an answer, or fresh false with an error wrapping %v",
				c.name, fresh, err, c.want)
		}
	}
	if !h.add("live", ttl) {
		t.Fatal("with a live context after ended ones: not fresh")
	}
}
