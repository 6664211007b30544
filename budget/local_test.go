package budget_test

import (
	"context"
	"errors"
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

// MaxKeys bounds the keys: the least recently used is forgotten. (Long
// keys keeping counts of their own is the contract suite's LongKeys.)
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
