package replay_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/replay"
)

func TestMemoryBoundedNeverEvictsLiveEntries(t *testing.T) {
	clk := jwtgatetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m, err := replay.NewMemory(replay.MemoryConfig{MaxEntries: 16, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var full int
	for i := range 200 {
		if _, err := m.Add(ctx, strconv.Itoa(i), time.Minute); errors.Is(err, replay.ErrFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if full == 0 || m.Len() > 16 {
		t.Fatalf("full %d, len %d: not bounded", full, m.Len())
	}
	// Every accepted key is still refused: nothing live was evicted.
	for i := range 200 {
		fresh, err := m.Add(ctx, strconv.Itoa(i), time.Minute)
		if fresh && err == nil {
			// Only keys refused as full before may be fresh now — but the
			// store is still full, so none may.
			t.Fatalf("key %d accepted again while the store is full", i)
		}
	}
	clk.Advance(time.Minute)
	if fresh, err := m.Add(ctx, "new", time.Minute); !fresh || err != nil {
		t.Fatalf("after expiry: fresh %v err %v", fresh, err)
	}
}

func TestNewMemoryRejectsNegative(t *testing.T) {
	if _, err := replay.NewMemory(replay.MemoryConfig{MaxEntries: -1}); !errors.Is(err, replay.ErrInvalidConfig) {
		t.Fatal(err)
	}
}
