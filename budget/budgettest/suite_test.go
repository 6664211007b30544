package budgettest_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/budget/budgettest"
	"github.com/jwtgate/jwtgate/internal/tbrecord"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/ratelimit"
)

func newLocal(t testing.TB, cfg budgettest.Config, now func() time.Time) *budget.Local {
	t.Helper()
	b, err := budget.NewLocal(budget.LocalConfig{Limit: cfg.Limit, Window: cfg.Window, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// local is a correct budget: budget.Local on the suite's clock.
func local(t testing.TB, cfg budgettest.Config) budgettest.Store {
	return budgettest.Store{Budget: newLocal(t, cfg, cfg.Now)}
}

// wrap is a Budget made of two functions, for the broken budgets.
type wrap struct {
	check  func(ctx context.Context, key string) (ratelimit.Decision, error)
	charge func(ctx context.Context, key string, cost int64) (ratelimit.Decision, error)
}

func (w wrap) Check(ctx context.Context, key string) (ratelimit.Decision, error) {
	return w.check(ctx, key)
}

func (w wrap) Charge(ctx context.Context, key string, cost int64) (ratelimit.Decision, error) {
	return w.charge(ctx, key, cost)
}

// keyed is a broken budget: Local with keys changed on the way in.
func keyed(change func(string) string) budgettest.NewFunc {
	return func(t testing.TB, cfg budgettest.Config) budgettest.Store {
		l := newLocal(t, cfg, cfg.Now)
		return budgettest.Store{Budget: wrap{
			check: func(ctx context.Context, key string) (ratelimit.Decision, error) { return l.Check(ctx, change(key)) },
			charge: func(ctx context.Context, key string, c int64) (ratelimit.Decision, error) {
				return l.Charge(ctx, change(key), c)
			},
		}}
	}
}

// lostUpdates counts with a read and a write as two steps: right one call
// at a time, losing charges when calls interleave. Its round trip is a
// sleep in the synctest bubble TestSuiteCatchesBrokenStores runs it in: the
// bubble's clock moves only once every caller is blocked, so every
// concurrent Charge reads before any writes, and the first write makes the
// others' charges vanish, every run.
type lostUpdates struct {
	l  *budget.Local
	mu sync.Mutex // makes each write one step, as a SET is
}

func (b *lostUpdates) Check(ctx context.Context, key string) (ratelimit.Decision, error) {
	return b.l.Check(ctx, key)
}

func (b *lostUpdates) Charge(ctx context.Context, key string, cost int64) (ratelimit.Decision, error) {
	d, err := b.l.Check(ctx, key)
	if err != nil || cost <= 0 {
		return b.l.Charge(ctx, key, cost)
	}
	time.Sleep(time.Millisecond) // a slow backend's round trip, in fake time
	// Write what was read minus the cost: the charges made since the read
	// are overwritten.
	b.mu.Lock()
	defer b.mu.Unlock()
	now, _ := b.l.Check(ctx, key)
	spentMeanwhile := int64(d.Remaining - now.Remaining)
	return b.l.Charge(ctx, key, max(cost-spentMeanwhile, 0))
}

// Each broken budget must fail exactly the checks named, and correct
// budgets none: the suite's checks can fail, and fail for the right reason.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	for _, tc := range []struct {
		name     string
		newStore budgettest.NewFunc
		mustFail []string
	}{
		{"budget.Local", local, nil},
		{
			// Local on a clock of its own, moved only by the hook, with
			// Slack-wide time checks.
			"Local moved by FastForward",
			func(t testing.TB, cfg budgettest.Config) budgettest.Store {
				clk := jwtgatetest.NewClock(cfg.Now())
				return budgettest.Store{Budget: newLocal(t, cfg, clk.Now), FastForward: func(d time.Duration) { clk.Advance(d) }}
			},
			nil,
		},
		{
			"charges nothing",
			func(t testing.TB, cfg budgettest.Config) budgettest.Store {
				l := newLocal(t, cfg, cfg.Now)
				return budgettest.Store{Budget: wrap{check: l.Check, charge: func(ctx context.Context, key string, _ int64) (ratelimit.Decision, error) {
					return l.Charge(ctx, key, 0)
				}}}
			},
			[]string{"ChargeSpends", "AllowedWhileUnderLimit", "OverdrawnUntilWindowEnds", "Windows", "NegativeCost", "KeysIndependent", "LongKeys", "ConcurrentChargesAddUp", "ContextEnded"},
		},
		{
			"windows never end (a clock of its own that never moves)",
			func(t testing.TB, cfg budgettest.Config) budgettest.Store {
				frozen := cfg.Now()
				return budgettest.Store{Budget: newLocal(t, cfg, func() time.Time { return frozen })}
			},
			// ResetAfter is off as soon as the suite's clock moves.
			[]string{"ChargeSpends", "OverdrawnUntilWindowEnds", "Windows"},
		},
		{
			"never refuses",
			func(t testing.TB, cfg budgettest.Config) budgettest.Store {
				l := newLocal(t, cfg, cfg.Now)
				allow := func(d ratelimit.Decision, err error) (ratelimit.Decision, error) {
					d.Allowed, d.RetryAfter = true, 0
					return d, err
				}
				return budgettest.Store{Budget: wrap{
					check: func(ctx context.Context, key string) (ratelimit.Decision, error) { return allow(l.Check(ctx, key)) },
					charge: func(ctx context.Context, key string, c int64) (ratelimit.Decision, error) {
						return allow(l.Charge(ctx, key, c))
					},
				}}
			},
			// ContextEnded too: its Check errs on an ended context, with
			// Allowed set.
			[]string{"AllowedWhileUnderLimit", "OverdrawnUntilWindowEnds", "Windows", "KeysIndependent", "ContextEnded"},
		},
		{
			"one count for every key",
			keyed(func(string) string { return "" }),
			[]string{"KeysIndependent", "LongKeys"},
		},
		{
			"keys cut to 64 bytes",
			keyed(func(k string) string { return k[:min(len(k), 64)] }),
			[]string{"LongKeys"},
		},
		{
			"a negative cost is ignored, not an error",
			func(t testing.TB, cfg budgettest.Config) budgettest.Store {
				l := newLocal(t, cfg, cfg.Now)
				return budgettest.Store{Budget: wrap{check: l.Check, charge: func(ctx context.Context, key string, c int64) (ratelimit.Decision, error) {
					return l.Charge(ctx, key, max(c, 0))
				}}}
			},
			[]string{"NegativeCost"},
		},
		{
			"a charge on an ended context is dropped",
			func(t testing.TB, cfg budgettest.Config) budgettest.Store {
				l := newLocal(t, cfg, cfg.Now)
				return budgettest.Store{Budget: wrap{check: l.Check, charge: func(ctx context.Context, key string, c int64) (ratelimit.Decision, error) {
					if err := ctx.Err(); err != nil {
						return ratelimit.Decision{}, err
					}
					return l.Charge(ctx, key, c)
				}}}
			},
			[]string{"ContextEnded"},
		},
		{
			"read, then write, not atomic",
			func(t testing.TB, cfg budgettest.Config) budgettest.Store {
				return budgettest.Store{Budget: &lostUpdates{l: newLocal(t, cfg, cfg.Now)}}
			},
			[]string{"ConcurrentChargesAddUp"},
		},
	} {
		// In a bubble: the racy budget's round trip passes in fake time.
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var failed []string
				for _, c := range budgettest.Checks() {
					res := tbrecord.Run(t, func(tb testing.TB) { c.Run(tb, tc.newStore) })
					if res.Failed {
						failed = append(failed, c.Name)
					}
					if res.Failed != slices.Contains(tc.mustFail, c.Name) {
						t.Errorf("check %s: failed %v, want %v; it logged:\n%s", c.Name, res.Failed, !res.Failed, res.Log)
					}
				}
				t.Logf("failed checks: %v", failed)
			})
		})
	}
}

func TestRun(t *testing.T) { budgettest.Run(t, local) }
