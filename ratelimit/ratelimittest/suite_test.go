package ratelimittest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtgate/jwtgate/internal/tbrecord"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/ratelimit/ratelimittest"
)

func newLocal(t testing.TB, cfg ratelimittest.Config, now func() time.Time) *ratelimit.Local {
	t.Helper()
	l, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: cfg.Rate, Period: cfg.Period, Burst: cfg.Burst, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// local is a correct store: ratelimit.Local on the suite's clock.
func local(t testing.TB, cfg ratelimittest.Config) ratelimittest.Store {
	return ratelimittest.Store{Limiter: newLocal(t, cfg, cfg.Now)}
}

// wrap is a Limiter made of a function, for the broken stores.
type wrap func(ctx context.Context, key string, cost int) (ratelimit.Decision, error)

func (f wrap) Allow(ctx context.Context, key string, cost int) (ratelimit.Decision, error) {
	return f(ctx, key, cost)
}

// broken builds a store from a correct Local and a change to its answers.
func broken(change func(l *ratelimit.Local, cfg ratelimittest.Config) wrap) ratelimittest.NewFunc {
	return func(t testing.TB, cfg ratelimittest.Config) ratelimittest.Store {
		return ratelimittest.Store{Limiter: change(newLocal(t, cfg, cfg.Now), cfg)}
	}
}

// The suite is only worth running if its checks fail for the stores they
// exist to catch: each broken store below must fail exactly the checks
// named, and correct stores none.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	for _, tc := range []struct {
		name     string
		newStore ratelimittest.NewFunc
		mustFail []string
	}{
		{"ratelimit.Local", local, nil},
		{
			// Local on a clock of its own, moved only by the hook: the
			// path a Redis store takes, with Slack-wide time checks.
			"Local moved by FastForward",
			func(t testing.TB, cfg ratelimittest.Config) ratelimittest.Store {
				clk := jwtgatetest.NewClock(time.Time{})
				return ratelimittest.Store{Limiter: newLocal(t, cfg, clk.Now), FastForward: func(d time.Duration) { clk.Advance(d) }}
			},
			nil,
		},
		{
			"always allows",
			broken(func(_ *ratelimit.Local, cfg ratelimittest.Config) wrap {
				return func(context.Context, string, int) (ratelimit.Decision, error) {
					return ratelimit.Decision{Allowed: true, Limit: cfg.Burst, Remaining: cfg.Burst}, nil
				}
			}),
			[]string{"BurstThenRefused", "RetryAfterIsEnough", "RefillUpToBurst", "Cost", "CostAboveBurst", "NegativeCost", "KeysIndependent", "LongKeys", "ConcurrentExact"},
		},
		{
			"never refills (a clock of its own that never moves)",
			func(t testing.TB, cfg ratelimittest.Config) ratelimittest.Store {
				frozen := cfg.Now()
				return ratelimittest.Store{Limiter: newLocal(t, cfg, func() time.Time { return frozen })}
			},
			[]string{"RetryAfterIsEnough", "RefillUpToBurst"},
		},
		{
			"one bucket for every key",
			broken(func(l *ratelimit.Local, _ ratelimittest.Config) wrap {
				return func(ctx context.Context, _ string, cost int) (ratelimit.Decision, error) {
					return l.Allow(ctx, "", cost)
				}
			}),
			[]string{"CostAboveBurst", "KeysIndependent", "LongKeys", "ConcurrentExact"},
		},
		{
			"keys cut to 64 bytes",
			broken(func(l *ratelimit.Local, _ ratelimittest.Config) wrap {
				return func(ctx context.Context, key string, cost int) (ratelimit.Decision, error) {
					return l.Allow(ctx, key[:min(len(key), 64)], cost)
				}
			}),
			[]string{"LongKeys"},
		},
		{
			"a negative cost earns units",
			broken(func(l *ratelimit.Local, _ ratelimittest.Config) wrap {
				return func(ctx context.Context, key string, cost int) (ratelimit.Decision, error) {
					return l.Allow(ctx, key, max(cost, 0))
				}
			}),
			[]string{"NegativeCost"},
		},
		{
			"a cost above the burst is an error",
			broken(func(l *ratelimit.Local, cfg ratelimittest.Config) wrap {
				return func(ctx context.Context, key string, cost int) (ratelimit.Decision, error) {
					if cost > cfg.Burst {
						return ratelimit.Decision{}, errors.New("too costly")
					}
					return l.Allow(ctx, key, cost)
				}
			}),
			[]string{"CostAboveBurst"},
		},
		{
			"allows on an ended context, with its error",
			broken(func(l *ratelimit.Local, _ ratelimittest.Config) wrap {
				return func(ctx context.Context, key string, cost int) (ratelimit.Decision, error) {
					d, err := l.Allow(ctx, key, cost)
					if err == nil {
						err = ctx.Err()
					}
					return d, err
				}
			}),
			[]string{"ContextEnded"},
		},
		{
			// Reads the bucket, then spends, as two steps: right one at a
			// time, over-admitting when calls interleave.
			"check then spend, not atomic",
			broken(func(l *ratelimit.Local, _ ratelimittest.Config) wrap {
				return func(ctx context.Context, key string, cost int) (ratelimit.Decision, error) {
					peek, err := l.Allow(ctx, key, 0)
					if err != nil || cost <= 0 || cost > peek.Limit || peek.Remaining < cost {
						return l.Allow(ctx, key, cost)
					}
					// A slow store's round trip, in the bubble's fake time:
					// it passes only once every caller is blocked, so every
					// concurrent caller peeks before any spends, every run.
					time.Sleep(time.Millisecond)
					d, err := l.Allow(ctx, key, cost)
					d.Allowed, d.RetryAfter = true, 0 // what the peek said
					return d, err
				}
			}),
			[]string{"ConcurrentExact"},
		},
	} {
		// In a bubble: the racy store's round trip passes in fake time.
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var failed []string
				for _, c := range ratelimittest.Checks() {
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

func TestRun(t *testing.T) { ratelimittest.Run(t, local) }
