package budgettest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/contract"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// Config is the budget the suite asks a store for, and the suite's clock.
type Config struct {
	// Limit is how much a key may spend per Window; always positive.
	Limit int64
	// Window is the period Limit is spent over.
	Window budget.Window
	// Now is the suite's clock. It stands still until the suite moves it.
	// The store must compute its windows from it
	// (budget.LocalConfig.Now, redisbudget.Config.Now).
	Now func() time.Time
}

// Store is what a NewFunc returns: the budget under test and, for one
// that does not keep time by Config.Now alone, how to move its time.
type Store struct {
	// Budget is the budget under test.
	Budget budget.Budget
	// FastForward, when not nil, makes Budget behave as if d more time
	// had passed; the suite calls it after each move of Config.Now, with
	// the same d (always positive). It must have taken effect when it
	// returns. nil means Config.Now is all the time the budget has.
	FastForward func(d time.Duration)
}

// NewFunc returns a fresh, empty budget for cfg. It fails t (t.Fatal) when
// it cannot, and registers any cleanup with t.Cleanup.
type NewFunc func(t testing.TB, cfg Config) Store

// Slack is how far the times a store with a FastForward hook reports may
// be from the suite's. A store without the hook is held to a microsecond.
const Slack = 10 * time.Second

// Check is one check of the suite.
type Check = contract.Check[NewFunc]

// Checks returns the suite's checks, in the order Run runs them.
func Checks() []Check {
	return []Check{
		{Name: "FreshKey", Run: checkFreshKey},
		{Name: "ChargeSpends", Run: checkChargeSpends},
		{Name: "AllowedWhileUnderLimit", Run: checkAllowedWhileUnderLimit},
		{Name: "OverdrawnUntilWindowEnds", Run: checkOverdrawnUntilWindowEnds},
		{Name: "Windows", Run: checkWindows},
		{Name: "NegativeCost", Run: checkNegativeCost},
		{Name: "KeysIndependent", Run: checkKeysIndependent},
		{Name: "LongKeys", Run: checkLongKeys},
		{Name: "ConcurrentChargesAddUp", Run: checkConcurrentChargesAddUp},
		{Name: "ContextEnded", Run: checkContextEnded},
	}
}

// Run runs every check against budgets from newStore, each as a subtest.
func Run(t *testing.T, newStore NewFunc) {
	t.Helper()
	for _, c := range Checks() {
		t.Run(c.Name, func(t *testing.T) { c.Run(t, newStore) })
	}
}

// start is the clock for most checks: an hour before a day's end (UTC),
// so failures are reproducible.
var start = time.Date(2026, 3, 10, 23, 0, 0, 0, time.UTC)

const limit = 1000

type harness struct {
	t     testing.TB
	clk   *contract.Clock
	store Store
	cfg   Config
	tol   time.Duration
}

func newHarness(t testing.TB, newStore NewFunc, limit int64, w budget.Window, at time.Time) *harness {
	t.Helper()
	clk := contract.NewClock(at, nil)
	cfg := Config{Limit: limit, Window: w, Now: clk.Now}
	st := newStore(t, cfg)
	if st.Budget == nil {
		t.Fatalf("NewFunc(%+v) returned no Budget", cfg)
	}
	h := &harness{t: t, clk: clk, store: st, cfg: cfg, tol: time.Microsecond}
	clk.Follow(st.FastForward)
	if st.FastForward != nil {
		h.tol = Slack
	}
	return h
}

func (h *harness) advance(d time.Duration) { h.clk.Advance(d) }

// left is the time to the end of the window holding the suite's now.
func (h *harness) left() time.Duration {
	now := h.clk.Now()
	_, end := h.cfg.Window.Bounds(now)
	return end.Sub(now)
}

func (h *harness) near(got, want time.Duration) bool { return contract.Near(got, want, h.tol) }

func (h *harness) check(key string) ratelimit.Decision {
	h.t.Helper()
	d, err := h.store.Budget.Check(context.Background(), key)
	if err != nil {
		h.t.Fatalf("Check(%s): %v; want a decision", contract.Short(key), err)
	}
	h.consistent("Check("+contract.Short(key)+")", d)
	return d
}

func (h *harness) charge(key string, cost int64) ratelimit.Decision {
	h.t.Helper()
	d, err := h.store.Budget.Charge(context.Background(), key, cost)
	if err != nil {
		h.t.Fatalf("Charge(%s, %d): %v; want a decision", contract.Short(key), cost, err)
	}
	h.consistent("Charge("+contract.Short(key)+", "+strconv.FormatInt(cost, 10)+")", d)
	return d
}

// consistent checks the fields every decision must satisfy.
func (h *harness) consistent(call string, d ratelimit.Decision) {
	h.t.Helper()
	l := h.cfg.Limit
	switch {
	case d.Degraded:
		h.t.Fatalf("%s: %+v is Degraded: the store could not decide (the suite needs a backend that is up, with a generous timeout)", call, d)
	case int64(d.Limit) != l:
		h.t.Errorf("%s: Limit %d, want the budget's %d (%+v)", call, d.Limit, l, d)
	case d.Remaining < 0 || int64(d.Remaining) > l:
		h.t.Errorf("%s: Remaining %d outside [0, %d] (%+v)", call, d.Remaining, l, d)
	case !h.near(d.ResetAfter, h.left()):
		h.t.Errorf("%s: ResetAfter %v, want %v (the time to the %v window's end) (%+v)", call, d.ResetAfter, h.left(), h.cfg.Window, d)
	case d.Allowed && d.RetryAfter != 0:
		h.t.Errorf("%s: allowed with RetryAfter %v, want 0 (%+v)", call, d.RetryAfter, d)
	case !d.Allowed && !h.near(d.RetryAfter, h.left()):
		h.t.Errorf("%s: refused with RetryAfter %v, want %v (the window's end) (%+v)", call, d.RetryAfter, h.left(), d)
	case d.CostExceedsLimit:
		h.t.Errorf("%s: CostExceedsLimit set; a budget never sets it (%+v)", call, d)
	}
}

func checkFreshKey(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, limit, budget.PerDay, start)
	for i := range 3 {
		if d := h.check("alice"); !d.Allowed || d.Remaining != limit {
			t.Fatalf("Check %d of a fresh key: %+v, want allowed with the whole %d remaining (Check spends nothing)", i+1, d, limit)
		}
	}
	if d := h.charge("alice", 0); !d.Allowed || d.Remaining != limit {
		t.Fatalf("Charge 0 of a fresh key: %+v, want allowed with %d remaining", d, limit)
	}
}

func checkChargeSpends(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, limit, budget.PerDay, start)
	if d := h.charge("alice", 300); !d.Allowed || d.Remaining != limit-300 {
		t.Fatalf("Charge 300 of %d: %+v, want allowed with %d remaining", limit, d, limit-300)
	}
	if d := h.check("alice"); !d.Allowed || d.Remaining != limit-300 {
		t.Fatalf("Check after Charge 300: %+v, want %d remaining", d, limit-300)
	}
	if d := h.charge("alice", 0); d.Remaining != limit-300 {
		t.Fatalf("Charge 0: %+v, want nothing spent", d)
	}
	h.advance(10 * time.Minute)
	if d := h.charge("alice", 200); !d.Allowed || d.Remaining != limit-500 {
		t.Fatalf("Charge 200 later in the window: %+v, want %d remaining", d, limit-500)
	}
}

func checkAllowedWhileUnderLimit(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, limit, budget.PerDay, start)
	if d := h.charge("k", limit-1); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("Charge %d of %d: %+v, want allowed with 1 remaining", limit-1, limit, d)
	}
	if d := h.check("k"); !d.Allowed {
		t.Fatalf("Check with 1 left: %+v, want allowed (a request may start on the last unit)", d)
	}
	if d := h.charge("k", 1); d.Allowed || d.Remaining != 0 {
		t.Fatalf("Charge of the last unit: %+v, want refused (nothing left for the next request)", d)
	}
	if d := h.check("k"); d.Allowed || d.Remaining != 0 {
		t.Fatalf("Check with the whole limit used: %+v, want refused with 0 remaining", d)
	}
}

func checkOverdrawnUntilWindowEnds(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, limit, budget.PerDay, start)
	h.charge("alice", 900)
	// This request costs 500 with 100 left: it was let through, so it is
	// charged in full.
	if d := h.charge("alice", 500); d.Allowed || d.Remaining != 0 {
		t.Fatalf("Charge 500 with 100 left: %+v, want refused (overdrawn) with 0 remaining", d)
	}
	h.advance(30 * time.Minute)
	if d := h.check("alice"); d.Allowed {
		t.Fatalf("Check, overdrawn, half an hour later: %+v, want refused until the window ends", d)
	}
	// Charges still count while overdrawn; a new window forgives them all.
	if d := h.charge("alice", 10); d.Allowed {
		t.Fatalf("Charge while overdrawn: %+v, want refused", d)
	}
	h.advance(h.left() - time.Minute)
	if d := h.check("alice"); d.Allowed {
		t.Fatalf("Check a minute before the window ends: %+v, want refused", d)
	}
	h.advance(time.Minute)
	if d := h.check("alice"); !d.Allowed || d.Remaining != limit {
		t.Fatalf("Check in the next window: %+v, want the whole %d", d, limit)
	}
}

func checkWindows(t testing.TB, newStore NewFunc) {
	// An instant inside every window, far from any boundary, in a month
	// of 28 days.
	at := time.Date(2026, 2, 14, 13, 45, 30, 0, time.UTC)
	for _, w := range []budget.Window{budget.PerMinute, budget.PerHour, budget.PerDay, budget.PerMonth} {
		h := newHarness(t, newStore, limit, w, at)
		_, end := w.Bounds(at)
		if d := h.charge("k", limit); d.Allowed || !h.near(d.RetryAfter, end.Sub(at)) {
			t.Fatalf("%v: overdrawn at %v: %+v, want refused until %v", w, at, d, end)
		}
		h.advance(end.Sub(at) - time.Second)
		if d := h.check("k"); d.Allowed {
			t.Fatalf("%v: a second before %v: %+v, want still refused", w, end, d)
		}
		h.advance(time.Second)
		if d := h.check("k"); !d.Allowed || d.Remaining != limit {
			t.Fatalf("%v: at %v, the next window: %+v, want the whole %d", w, end, d, limit)
		}
		if d := h.charge("k", 1); d.Remaining != limit-1 {
			t.Fatalf("%v: first charge of the next window: %+v, want %d remaining", w, d, limit-1)
		}
	}
}

func checkNegativeCost(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, limit, budget.PerDay, start)
	h.charge("k", 100)
	if _, err := h.store.Budget.Charge(context.Background(), "k", -50); !errors.Is(err, budget.ErrInvalidCost) {
		t.Fatalf("Charge -50: %v, want budget.ErrInvalidCost", err)
	}
	if d := h.check("k"); d.Remaining != limit-100 {
		t.Fatalf("after Charge -50: %+v, want %d remaining (a negative cost refunds nothing)", d, limit-100)
	}
}

func checkKeysIndependent(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, limit, budget.PerDay, start)
	h.charge("alice", limit)
	for _, k := range []string{"bob", "Alice", "alice ", "alic", "alice\x00", "alice:1773100800", "iss#alice"} {
		if d := h.check(k); !d.Allowed || d.Remaining != limit {
			t.Fatalf("key %s after alice spent her budget: %+v, want the whole %d of its own", contract.Short(k), d, limit)
		}
	}
	if d := h.check("alice"); d.Allowed {
		t.Fatalf("alice after the other keys: %+v, want still refused", d)
	}
}

func checkLongKeys(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, limit, budget.PerDay, start)
	long := strings.Repeat("x", 8<<10)
	keys := []string{long + "a", long + "b", "a" + long, "b" + long, long, long[:4<<10],
		// Short keys, even those starting with a byte a digest might.
		"\x00" + strings.Repeat("y", 32), "x"}
	for i, k := range keys {
		cost := int64(i + 1)
		if d := h.charge(k, cost); d.Remaining != limit-int(cost) {
			t.Fatalf("key %d (%s), first charge of %d: %+v, want %d remaining (a count of its own)", i, contract.Short(k), cost, d, limit-int(cost))
		}
	}
	for i, k := range keys {
		if d := h.check(k); d.Remaining != limit-i-1 {
			t.Fatalf("key %d (%s), after the other keys: %+v, want %d remaining", i, contract.Short(k), d, limit-i-1)
		}
	}
}

func checkConcurrentChargesAddUp(t testing.TB, newStore NewFunc) {
	const limit = 10_000
	h := newHarness(t, newStore, limit, budget.PerDay, start)
	const workers, perWorker, cost = 8, 10, 7
	var wg sync.WaitGroup
	begin := make(chan struct{}) // all at once, not as they are started
	for range workers {
		wg.Go(func() {
			<-begin
			for range perWorker {
				d, err := h.store.Budget.Charge(context.Background(), "k", cost)
				if err != nil || d.Degraded {
					t.Errorf("concurrent Charge: %+v, %v", d, err)
					return
				}
				if _, err := h.store.Budget.Check(context.Background(), "k"); err != nil {
					t.Errorf("concurrent Check: %v", err)
					return
				}
			}
		})
	}
	close(begin)
	wg.Wait()
	if d, want := h.check("k"), limit-workers*perWorker*cost; d.Remaining != want {
		t.Fatalf("%d concurrent charges of %d: %+v, want exactly %d remaining", workers*perWorker, cost, d, want)
	}
}

func checkContextEnded(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, limit, budget.PerDay, start)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), start.Add(-time.Hour))
	defer cancel2()
	spent := 0
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"cancelled", cancelled, context.Canceled}, {"past its deadline", expired, context.DeadlineExceeded}} {
		d, err := h.store.Budget.Check(c.ctx, "k")
		if err != nil {
			if !errors.Is(err, c.want) || d.Allowed {
				t.Fatalf("Check with a context %s: %+v, %v; want a decision, or Allowed false with an error wrapping %v",
					c.name, d, err, c.want)
			}
		} else {
			h.consistent("Check with a context "+c.name, d)
		}
		// The request the charge pays for has happened: a client that
		// hung up still pays.
		d, err = h.store.Budget.Charge(c.ctx, "k", 100)
		spent += 100
		if err != nil {
			t.Fatalf("Charge with a context %s: %v; want the charge made", c.name, err)
		}
		h.consistent("Charge with a context "+c.name, d)
		if d.Remaining != limit-spent {
			t.Fatalf("Charge 100 with a context %s: %+v, want %d remaining", c.name, d, limit-spent)
		}
	}
	if d := h.check("k"); d.Remaining != limit-spent {
		t.Fatalf("after charges with ended contexts: %+v, want %d remaining", d, limit-spent)
	}
}
