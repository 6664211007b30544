package redisbudget_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/budget/redisbudget"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/ratelimit"
)

var ctx = context.Background()

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newBudget(t *testing.T, addr string, clock *jwtgatetest.Clock, policy ratelimit.FailurePolicy) *redisbudget.Budget {
	t.Helper()
	b, err := redisbudget.New(redisbudget.Config{Addr: addr, Limit: 10_000, Window: budget.PerDay,
		Now: clock.Now, FailurePolicy: policy, Replicas: 2, Timeout: time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Two budgets on one Redis (two gateway replicas) share one budget
// exactly: concurrent charges from both add up to the last count.
func TestTwoBudgetsShareOneRedisExactly(t *testing.T) {
	srv := redistest.Start(t)
	clock := jwtgatetest.NewClock(time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC))
	a, b := newBudget(t, srv.Addr, clock, ratelimit.FailOpen), newBudget(t, srv.Addr, clock, ratelimit.FailOpen)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			bud := a
			if i%2 == 1 {
				bud = b
			}
			if _, err := bud.Charge(ctx, "iss#alice", 150); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, bud := range []*redisbudget.Budget{a, b} {
		d, err := bud.Check(ctx, "iss#alice")
		if err != nil || d.Degraded || d.Remaining != 10_000-50*150 || !d.Allowed {
			t.Fatalf("Check = %+v, %v", d, err)
		}
	}
	// The request that crosses the line is charged in full, on either
	// replica; the next Check refuses on both, until midnight UTC.
	if d, _ := a.Charge(ctx, "iss#alice", 5000); d.Allowed || d.Remaining != 0 {
		t.Fatalf("crossing charge: %+v", d)
	}
	d, _ := b.Check(ctx, "iss#alice")
	if d.Allowed || d.RetryAfter != 2*time.Hour || d.Limit != 10_000 {
		t.Fatalf("after crossing: %+v", d)
	}
	if d, _ := b.Check(ctx, "iss#bob"); !d.Allowed {
		t.Fatalf("another key: %+v", d)
	}
	clock.Advance(2 * time.Hour)
	if d, _ := a.Check(ctx, "iss#alice"); !d.Allowed || d.Remaining != 10_000 {
		t.Fatalf("next window: %+v", d)
	}
	// Keys expire after their window (plus a minute's slack).
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	keys, _ := rc.Keys(ctx, "jwtgate:budget:*").Result()
	for _, k := range keys {
		if ttl, _ := rc.PTTL(ctx, k).Result(); ttl <= 0 {
			t.Errorf("%s has no expiry", k)
		}
	}
}

func TestFailurePolicies(t *testing.T) {
	srv := redistest.Start(t)
	clock := jwtgatetest.NewClock(time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC))
	open := newBudget(t, srv.Addr, clock, ratelimit.FailOpen)
	closed := newBudget(t, srv.Addr, clock, ratelimit.FailClosed)
	local := newBudget(t, srv.Addr, clock, ratelimit.FailLocal)
	// The local fallback starts from this replica's share of what Redis
	// reported: 9000 of 10,000 used is 4500 of a 5000 share.
	if _, err := local.Charge(ctx, "k", 9000); err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	d, err := open.Check(ctx, "k")
	if err != nil || !d.Allowed || !d.Degraded {
		t.Fatalf("FailOpen: %+v, %v", d, err)
	}
	d, _ = closed.Check(ctx, "k")
	if d.Allowed || !d.Degraded || d.RetryAfter != time.Second {
		t.Fatalf("FailClosed: %+v", d)
	}
	d, _ = local.Check(ctx, "k")
	if !d.Allowed || !d.Degraded || d.Remaining != 500 || d.Limit != 5000 {
		t.Fatalf("FailLocal: %+v", d)
	}
	if d, _ = local.Charge(ctx, "k", 600); d.Allowed || !d.Degraded {
		t.Fatalf("FailLocal charge: %+v", d)
	}
	srv.Restart()
	if d, err := open.Check(ctx, "k"); err != nil || d.Degraded {
		t.Fatalf("after restart: %+v, %v", d, err)
	}
}

func TestConfigErrors(t *testing.T) {
	noTimeout := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer noTimeout.Close()
	for _, cfg := range []redisbudget.Config{
		{Limit: 1, Window: budget.PerDay},
		{Addr: "x", Window: budget.PerDay},
		{Addr: "x", Limit: 1},
		{Addr: "x", Limit: 1, Window: budget.PerDay, Timeout: -1},
		{Addr: "x", Limit: 1, Window: budget.PerDay, FailurePolicy: 9},
		{Addr: "x", Limit: 1, Window: budget.PerDay, FailurePolicy: ratelimit.FailLocal, Replicas: -1},
		{Client: noTimeout, Limit: 1, Window: budget.PerDay},
	} {
		if b, err := redisbudget.New(cfg); !errors.Is(err, budget.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v", cfg, err)
			if b != nil {
				b.Close()
			}
		}
	}
}
