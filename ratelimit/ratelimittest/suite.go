package ratelimittest

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

	"github.com/jwtgate/jwtgate/ratelimit"
)

// Config is the limit the suite asks a store for, and the suite's clock.
type Config struct {
	// Rate is how many units a key earns per Period; always positive.
	Rate int
	// Period is the time over which Rate units are earned; always set
	// (the suite passes no zero values to default).
	Period time.Duration
	// Burst is the bucket size; always positive.
	Burst int
	// Now is the suite's clock. It stands still until the suite moves it.
	// A store that keeps time in process must read it
	// (ratelimit.LocalConfig.Now).
	Now func() time.Time
}

// Store is what a NewFunc returns: the limiter under test and, for one
// that does not keep time by Config.Now alone, how to move its time.
type Store struct {
	// Limiter is the limiter under test.
	Limiter ratelimit.Limiter
	// FastForward, when not nil, makes Limiter behave as if d more time
	// had passed; the suite calls it after each move of Config.Now, with
	// the same d (always positive). It must have taken effect when it
	// returns. nil means Config.Now is all the time the limiter has.
	FastForward func(d time.Duration)
}

// NewFunc returns a fresh, empty limiter for cfg. It fails t (t.Fatal)
// when it cannot, and registers any cleanup with t.Cleanup.
type NewFunc func(t testing.TB, cfg Config) Store

// Slack is how far the times a store with a FastForward hook reports
// (RetryAfter, ResetAfter) may be from the suite's: its own clock runs
// while the suite does. A store without the hook is held to a
// microsecond (float rounding).
const Slack = 10 * time.Second

// Check is one check of the suite.
type Check = contract.Check[NewFunc]

// Checks returns the suite's checks, in the order Run runs them.
func Checks() []Check {
	return []Check{
		{Name: "BurstThenRefused", Run: checkBurstThenRefused},
		{Name: "RetryAfterIsEnough", Run: checkRetryAfterIsEnough},
		{Name: "RefillUpToBurst", Run: checkRefillUpToBurst},
		{Name: "Cost", Run: checkCost},
		{Name: "CostAboveBurst", Run: checkCostAboveBurst},
		{Name: "NegativeCost", Run: checkNegativeCost},
		{Name: "KeysIndependent", Run: checkKeysIndependent},
		{Name: "LongKeys", Run: checkLongKeys},
		{Name: "ConcurrentExact", Run: checkConcurrentExact},
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

// harness is one store under test, with the suite's clock.
type harness struct {
	t     testing.TB
	clk   *contract.Clock
	store Store
	cfg   Config
	tol   time.Duration
}

func newHarness(t testing.TB, newStore NewFunc, rate int, period time.Duration, burst int) *harness {
	t.Helper()
	clk := contract.NewClock(start, nil)
	cfg := Config{Rate: rate, Period: period, Burst: burst, Now: clk.Now}
	st := newStore(t, cfg)
	if st.Limiter == nil {
		t.Fatalf("NewFunc(%+v) returned no Limiter", cfg)
	}
	h := &harness{t: t, clk: clk, store: st, cfg: cfg, tol: time.Microsecond}
	clk.Follow(st.FastForward)
	if st.FastForward != nil {
		h.tol = Slack
	}
	return h
}

// interval is the time one unit takes to earn.
func (h *harness) interval() time.Duration { return h.cfg.Period / time.Duration(h.cfg.Rate) }

// fill is the time an empty bucket takes to fill.
func (h *harness) fill() time.Duration {
	return time.Duration(float64(h.cfg.Period) * float64(h.cfg.Burst) / float64(h.cfg.Rate))
}

func (h *harness) advance(d time.Duration) { h.clk.Advance(d) }

func (h *harness) near(got, want time.Duration) bool { return contract.Near(got, want, h.tol) }

// allow calls Allow with a live context, fails on an error, and checks
// the fields every decision must satisfy.
func (h *harness) allow(key string, cost int) ratelimit.Decision {
	h.t.Helper()
	d, err := h.store.Limiter.Allow(context.Background(), key, cost)
	if err != nil {
		h.t.Fatalf("Allow(%s, %d): %v; want a decision (errors are for negative costs and ended contexts)", contract.Short(key), cost, err)
	}
	h.consistent(d, cost)
	return d
}

func (h *harness) consistent(d ratelimit.Decision, cost int) {
	h.t.Helper()
	b := h.cfg.Burst
	switch {
	case d.Degraded:
		h.t.Fatalf("cost %d: %+v is Degraded: the store could not decide (the suite needs a backend that is up, with a generous timeout)", cost, d)
	case d.Limit != b:
		h.t.Errorf("cost %d: Limit %d, want the burst %d (%+v)", cost, d.Limit, b, d)
	case d.Remaining < 0 || d.Remaining > b:
		h.t.Errorf("cost %d: Remaining %d outside [0, %d] (%+v)", cost, d.Remaining, b, d)
	case d.ResetAfter < 0 || d.ResetAfter > h.fill()+h.tol:
		h.t.Errorf("cost %d: ResetAfter %v outside [0, %v] (%+v)", cost, d.ResetAfter, h.fill(), d)
	case d.Allowed && (d.RetryAfter != 0 || d.CostExceedsLimit):
		h.t.Errorf("cost %d: allowed with RetryAfter %v, CostExceedsLimit %v; want 0, false (%+v)", cost, d.RetryAfter, d.CostExceedsLimit, d)
	case !d.Allowed && d.RetryAfter <= 0:
		h.t.Errorf("cost %d: refused with RetryAfter %v, want positive (%+v)", cost, d.RetryAfter, d)
	case d.CostExceedsLimit != (cost > b):
		h.t.Errorf("cost %d of burst %d: CostExceedsLimit %v (%+v)", cost, b, d.CostExceedsLimit, d)
	}
}

// The suite's limits refill one unit every ten minutes (6 an hour), so a
// store on its own clock moves by far less than a unit while a check runs.
const (
	rate   = 6
	period = time.Hour
	burst  = 5
)

func checkBurstThenRefused(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, rate, period, burst)
	for i := range burst {
		d := h.allow("alice", 1)
		if !d.Allowed || d.Remaining != burst-1-i {
			t.Fatalf("request %d of a burst of %d: %+v, want allowed with %d remaining", i+1, burst, d, burst-1-i)
		}
		if want := time.Duration(i+1) * h.interval(); !h.near(d.ResetAfter, want) {
			t.Fatalf("request %d: ResetAfter %v, want %v (one refill interval per unit spent)", i+1, d.ResetAfter, want)
		}
	}
	d := h.allow("alice", 1)
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("past the burst: %+v, want refused with 0 remaining", d)
	}
	if !h.near(d.RetryAfter, h.interval()) || !h.near(d.ResetAfter, h.fill()) {
		t.Fatalf("past the burst: RetryAfter %v, ResetAfter %v; want %v (one unit) and %v (a full bucket)",
			d.RetryAfter, d.ResetAfter, h.interval(), h.fill())
	}
	// Refusals spend nothing and keep being refusals while time stands
	// still.
	if d := h.allow("alice", 1); d.Allowed || !h.near(d.RetryAfter, h.interval()) {
		t.Fatalf("refused again: %+v, want the same refusal", d)
	}
}

func checkRetryAfterIsEnough(t testing.TB, newStore NewFunc) {
	for _, tc := range []struct {
		rate   int
		period time.Duration
		burst  int
		cost   int
	}{
		{3, time.Hour, 3, 1},
		{7, time.Hour, 10, 4},
		{1, time.Minute, 2, 2},
		{60, time.Hour, 50, 17},
	} {
		h := newHarness(t, newStore, tc.rate, tc.period, tc.burst)
		var denied ratelimit.Decision
		for range tc.burst + 1 {
			if denied = h.allow("k", tc.cost); !denied.Allowed {
				break
			}
			h.advance(time.Millisecond / 3) // odd instants: rounding
		}
		if denied.Allowed {
			t.Fatalf("%+v: %d requests of cost %d never refused: %+v", tc, tc.burst+1, tc.cost, denied)
		}
		// Just before RetryAfter (by a microsecond, or Slack for a store
		// on its own clock) it is still too early; at RetryAfter it is not.
		if early := denied.RetryAfter - h.tol; early > 0 {
			h.advance(early)
			if d := h.allow("k", tc.cost); d.Allowed {
				t.Fatalf("%+v: allowed %v before RetryAfter %v", tc, h.tol, denied.RetryAfter)
			}
			h.advance(h.tol)
		} else {
			h.advance(denied.RetryAfter)
		}
		if d := h.allow("k", tc.cost); !d.Allowed {
			t.Fatalf("%+v: refused after waiting RetryAfter %v: %+v", tc, denied.RetryAfter, d)
		}
	}
}

func checkRefillUpToBurst(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, rate, period, burst)
	for range burst {
		h.allow("k", 1)
	}
	if d := h.allow("k", 1); d.Allowed {
		t.Fatalf("past the burst: %+v", d)
	}
	// One interval earns one unit: one request, then refused again.
	h.advance(h.interval())
	if d := h.allow("k", 1); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("one interval after emptying: %+v, want one unit, allowed with 0 remaining", d)
	}
	if d := h.allow("k", 1); d.Allowed {
		t.Fatalf("one interval after emptying, second request: %+v, want refused", d)
	}
	// A long idle time refills to the burst, never beyond.
	h.advance(100 * period)
	for i := range burst {
		if d := h.allow("k", 1); !d.Allowed || d.Remaining != burst-1-i {
			t.Fatalf("after a long idle time, request %d: %+v, want allowed with %d remaining", i+1, d, burst-1-i)
		}
	}
	if d := h.allow("k", 1); d.Allowed {
		t.Fatalf("after a long idle time, request %d: %+v, want refused (the bucket holds the burst, no more)", burst+1, d)
	}
}

func checkCost(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, rate, period, burst)
	if d := h.allow("k", 3); !d.Allowed || d.Remaining != 2 || !h.near(d.ResetAfter, 3*h.interval()) {
		t.Fatalf("cost 3 of %d: %+v, want allowed with 2 remaining, ResetAfter %v", burst, d, 3*h.interval())
	}
	if d := h.allow("k", 0); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("cost 0 with 2 left: %+v, want allowed, nothing spent, 2 remaining", d)
	}
	d := h.allow("k", 3)
	if d.Allowed || d.Remaining != 2 || !h.near(d.RetryAfter, h.interval()) {
		t.Fatalf("cost 3 with 2 left: %+v, want refused with 2 remaining, retry after %v (the one unit missing)", d, h.interval())
	}
	// Neither the cost 0 nor the refused request spent anything.
	if d := h.allow("k", 2); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("cost 2 with 2 left: %+v, want allowed with 0 remaining", d)
	}
	if d := h.allow("k", 0); d.Remaining != 0 {
		t.Fatalf("cost 0 of an empty bucket: %+v, want 0 remaining", d)
	}
}

func checkCostAboveBurst(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, rate, period, burst)
	d := h.allow("fresh", burst+1)
	if d.Allowed || !d.CostExceedsLimit || d.Remaining != burst || !h.near(d.RetryAfter, h.fill()) {
		t.Fatalf("cost %d of %d on a fresh key: %+v, want refused with CostExceedsLimit, %d remaining, RetryAfter %v (a full refill)",
			burst+1, burst, d, burst, h.fill())
	}
	if d := h.allow("fresh", burst); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("cost %d after the refused cost %d: %+v, want allowed (nothing was spent)", burst, burst+1, d)
	}
	h.allow("used", 2)
	d = h.allow("used", 1000)
	if d.Allowed || !d.CostExceedsLimit || d.Remaining != burst-2 {
		t.Fatalf("cost 1000 with %d left: %+v, want refused with CostExceedsLimit and %d remaining", burst-2, d, burst-2)
	}
	if d := h.allow("used", burst-2); !d.Allowed {
		t.Fatalf("the refused cost 1000 spent units: %+v", d)
	}
}

func checkNegativeCost(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, rate, period, burst)
	d, err := h.store.Limiter.Allow(context.Background(), "k", -1)
	if !errors.Is(err, ratelimit.ErrInvalidCost) || d.Allowed {
		t.Fatalf("cost -1: %+v, %v; want refused with ratelimit.ErrInvalidCost", d, err)
	}
	if d := h.allow("k", 1); !d.Allowed || d.Remaining != burst-1 {
		t.Fatalf("after cost -1: %+v, want a full bucket (the negative cost earned nothing)", d)
	}
}

func checkKeysIndependent(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, rate, period, burst)
	h.allow("alice", burst)
	if d := h.allow("alice", 1); d.Allowed {
		t.Fatalf("alice past her burst: %+v", d)
	}
	for _, k := range []string{"bob", "Alice", "alice ", "alic", "alice\x00", "ali\nce"} {
		if d := h.allow(k, 1); !d.Allowed || d.Remaining != burst-1 {
			t.Fatalf("key %q after alice spent her burst: %+v, want a full bucket of its own", k, d)
		}
	}
	if d := h.allow("alice", 1); d.Allowed {
		t.Fatalf("alice after the other keys: %+v, want still refused", d)
	}
}

func checkLongKeys(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, rate, period, burst)
	long := strings.Repeat("x", 8<<10)
	keys := []string{long + "a", long + "b", "a" + long, "b" + long, long, long[:4<<10]}
	for i, k := range keys {
		if d := h.allow(k, burst); !d.Allowed {
			t.Fatalf("long key %d (%s): %+v, want a full bucket of its own", i, contract.Short(k), d)
		}
		// The same long key is the same bucket, every time.
		if d := h.allow(k, 1); d.Allowed {
			t.Fatalf("long key %d (%s), past its burst: %+v, want refused", i, contract.Short(k), d)
		}
	}
	// Short keys are untouched by whatever the store does to long ones,
	// even those starting with a zero byte (which a digest might).
	for _, k := range []string{"\x00" + strings.Repeat("y", 32), "\x00", "x"} {
		if d := h.allow(k, 1); !d.Allowed || d.Remaining != burst-1 {
			t.Fatalf("short key %s after the long keys: %+v, want a full bucket of its own", contract.Short(k), d)
		}
	}
}

func checkConcurrentExact(t testing.TB, newStore NewFunc) {
	const b = 20
	h := newHarness(t, newStore, rate, period, b) // time stands still: no refill
	const workers, perWorker, hot = 8, 10, 2
	var allowed [hot]atomic.Int64
	var wg sync.WaitGroup
	begin := make(chan struct{}) // all at once, not as they are started
	for range workers {
		wg.Go(func() {
			<-begin
			for i := range perWorker {
				k := i % hot
				d, err := h.store.Limiter.Allow(context.Background(), "hot-"+strconv.Itoa(k), 1)
				if err != nil || d.Degraded {
					t.Errorf("concurrent Allow: %+v, %v", d, err)
					return
				}
				if d.Allowed {
					allowed[k].Add(1)
				}
			}
		})
	}
	close(begin)
	wg.Wait()
	for k := range hot {
		if got := allowed[k].Load(); got != b {
			t.Errorf("key hot-%d: %d of %d concurrent requests allowed, want exactly the burst, %d",
				k, got, workers*perWorker/hot, b)
		}
	}
}

func checkContextEnded(t testing.TB, newStore NewFunc) {
	h := newHarness(t, newStore, rate, period, burst)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), start.Add(-time.Hour))
	defer cancel2()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"cancelled", cancelled, context.Canceled}, {"past its deadline", expired, context.DeadlineExceeded}} {
		d, err := h.store.Limiter.Allow(c.ctx, "k", 1)
		if err != nil {
			if !errors.Is(err, c.want) || d.Allowed {
				t.Fatalf("Allow with a context %s: %+v, %v; want a decision, or Allowed false with an error wrapping %v",
					c.name, d, err, c.want)
			}
			continue
		}
		h.consistent(d, 1)
	}
	// A live context after ended ones: the store still decides.
	if d := h.allow("k", 1); !d.Allowed {
		t.Fatalf("with a live context after ended ones: %+v", d)
	}
}
