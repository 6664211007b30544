package budget_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

var ctx = context.Background()

func TestWindowBounds(t *testing.T) {
	at := time.Date(2026, 2, 14, 13, 45, 30, 0, time.FixedZone("CET", 3600))
	for _, c := range []struct {
		w          budget.Window
		start, end string
	}{
		{budget.PerMinute, "2026-02-14T12:45:00Z", "2026-02-14T12:46:00Z"},
		{budget.PerHour, "2026-02-14T12:00:00Z", "2026-02-14T13:00:00Z"},
		{budget.PerDay, "2026-02-14T00:00:00Z", "2026-02-15T00:00:00Z"},
		// A calendar month in UTC: February 2026 has 28 days.
		{budget.PerMonth, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"},
	} {
		s, e := c.w.Bounds(at)
		if s.Format(time.RFC3339) != c.start || e.Format(time.RFC3339) != c.end {
			t.Errorf("%v: [%v, %v), want [%s, %s)", c.w, s, e, c.start, c.end)
		}
		if w, ok := budget.ParseWindow(c.w.String()); !ok || w != c.w {
			t.Errorf("ParseWindow(%q) = %v, %v", c.w, w, ok)
		}
	}
	// Month ends at the calendar month, in UTC, whatever the local zone.
	s, e := budget.PerMonth.Bounds(time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC))
	if s.Month() != time.January || e.Month() != time.February || e.Day() != 1 {
		t.Errorf("January: [%v, %v)", s, e)
	}
}

// The request that crosses the line completes and is charged (the budget
// goes below zero); the next Check refuses, with RetryAfter at the
// window's end; the next window starts afresh.
func TestLocalCrossingTheLine(t *testing.T) {
	clock := jwtgatetest.NewClock(time.Date(2026, 3, 10, 23, 0, 0, 0, time.UTC))
	b, err := budget.NewLocal(budget.LocalConfig{Limit: 1000, Window: budget.PerDay, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := b.Check(ctx, "alice")
	if !d.Allowed || d.Remaining != 1000 || d.Limit != 1000 || d.ResetAfter != time.Hour {
		t.Fatalf("fresh key: %+v", d)
	}
	b.Charge(ctx, "alice", 900)
	if d, _ = b.Check(ctx, "alice"); !d.Allowed || d.Remaining != 100 {
		t.Fatalf("after 900: %+v", d)
	}
	// This request costs 500 with 100 left: it was let through, so it is
	// charged in full.
	d, _ = b.Charge(ctx, "alice", 500)
	if d.Allowed || d.Remaining != 0 || d.RetryAfter != time.Hour {
		t.Fatalf("overdrawn: %+v", d)
	}
	clock.Advance(30 * time.Minute)
	if d, _ = b.Check(ctx, "alice"); d.Allowed || d.RetryAfter != 30*time.Minute {
		t.Fatalf("next request: %+v", d)
	}
	if d, _ = b.Check(ctx, "bob"); !d.Allowed {
		t.Fatalf("another key: %+v", d)
	}
	clock.Advance(30 * time.Minute) // midnight UTC
	if d, _ = b.Check(ctx, "alice"); !d.Allowed || d.Remaining != 1000 {
		t.Fatalf("next day: %+v", d)
	}
	if _, err := b.Charge(ctx, "alice", -1); !errors.Is(err, budget.ErrInvalidCost) {
		t.Fatalf("negative cost: %v", err)
	}
	// A charge is made even after the request's context ended: the
	// client hanging up must not make the request free.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if d, err := b.Charge(cctx, "alice", 10); err != nil || d.Remaining != 990 {
		t.Fatalf("charge after cancel: %+v, %v", d, err)
	}
	if _, err := b.Check(cctx, "alice"); err == nil {
		t.Fatal("Check with an ended context did not fail")
	}
}

func TestLocalBoundedKeys(t *testing.T) {
	clock := jwtgatetest.NewClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	b, _ := budget.NewLocal(budget.LocalConfig{Limit: 10, Window: budget.PerHour, MaxKeys: 2, Now: clock.Now})
	b.Charge(ctx, "a", 10)
	b.Charge(ctx, "b", 10)
	b.Charge(ctx, "c", 10) // evicts a, the least recently used
	if d, _ := b.Check(ctx, "a"); !d.Allowed {
		t.Fatalf("evicted key kept: %+v", d)
	}
	if d, _ := b.Check(ctx, "c"); d.Allowed {
		t.Fatalf("recent key forgotten: %+v", d)
	}
	long := strings.Repeat("k", 1000)
	b.Charge(ctx, long, 10)
	if d, _ := b.Check(ctx, long); d.Allowed {
		t.Fatal("a long key (stored hashed) lost its use")
	}
}

func TestLocalConfigErrors(t *testing.T) {
	for _, cfg := range []budget.LocalConfig{
		{Window: budget.PerDay},
		{Limit: -1, Window: budget.PerDay},
		{Limit: 2e15, Window: budget.PerDay},
		{Limit: 1},
		{Limit: 1, Window: 9},
		{Limit: 1, Window: budget.PerDay, MaxKeys: -1},
		{Limit: 1, Window: budget.PerDay, MaxKeyBytes: -1},
	} {
		if _, err := budget.NewLocal(cfg); !errors.Is(err, budget.ErrInvalidConfig) {
			t.Errorf("NewLocal(%+v) = %v", cfg, err)
		}
	}
}
