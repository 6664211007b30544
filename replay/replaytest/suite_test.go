package replaytest_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jwtgate/jwtgate/internal/tbrecord"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/replay"
	"github.com/jwtgate/jwtgate/replay/replaytest"
)

func newMemory(t testing.TB, now func() time.Time) *replay.Memory {
	t.Helper()
	m, err := replay.NewMemory(replay.MemoryConfig{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// memory is a correct store: replay.Memory on the suite's clock.
func memory(t testing.TB, cfg replaytest.Config) replaytest.Store {
	return replaytest.Store{Store: newMemory(t, cfg.Now)}
}

// wrap is a Store made of a function, for the broken stores.
type wrap func(ctx context.Context, key string, ttl time.Duration) (bool, error)

func (f wrap) Add(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return f(ctx, key, ttl)
}

// broken builds a store from a correct Memory and a change to its answers.
func broken(change func(m *replay.Memory) wrap) replaytest.NewFunc {
	return func(t testing.TB, cfg replaytest.Config) replaytest.Store {
		return replaytest.Store{Store: change(newMemory(t, cfg.Now))}
	}
}

// racy reads, then writes, under two separate locks: right one call at a
// time, several fresh answers when calls interleave.
type racy struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (r *racy) Add(_ context.Context, key string, _ time.Duration) (bool, error) {
	r.mu.Lock()
	seen := r.seen[key]
	r.mu.Unlock()
	if seen {
		return false, nil
	}
	// A slow store's round trip, in the fake time of the synctest bubble
	// TestSuiteCatchesBrokenStores runs it in: it passes only once every
	// caller is blocked, so every concurrent caller reads before any
	// records, every run.
	time.Sleep(time.Millisecond)
	r.mu.Lock()
	r.seen[key] = true
	r.mu.Unlock()
	return true, nil
}

// Each broken store must fail exactly the checks named, and correct stores
// none: the suite's checks can fail, and fail for the right reason.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	for _, tc := range []struct {
		name     string
		newStore replaytest.NewFunc
		mustFail []string
	}{
		{"replay.Memory", memory, nil},
		{
			// Memory on a clock of its own, moved only by the hook: the
			// path a Redis store takes, with Slack-wide expiry checks.
			"Memory moved by FastForward",
			func(t testing.TB, _ replaytest.Config) replaytest.Store {
				clk := jwtgatetest.NewClock(time.Time{})
				return replaytest.Store{Store: newMemory(t, clk.Now), FastForward: func(d time.Duration) { clk.Advance(d) }}
			},
			nil,
		},
		{
			"always fresh",
			broken(func(*replay.Memory) wrap {
				return func(context.Context, string, time.Duration) (bool, error) { return true, nil }
			}),
			[]string{"FreshOnceWithinTTL", "FreshAgainAfterTTL", "TTLPerKey", "KeysIndependent", "LongKeys", "ConcurrentOneFresh"},
		},
		{
			"never forgets (ttl ignored)",
			broken(func(m *replay.Memory) wrap {
				return func(ctx context.Context, key string, _ time.Duration) (bool, error) {
					return m.Add(ctx, key, 1000*time.Hour)
				}
			}),
			[]string{"FreshAgainAfterTTL", "TTLPerKey"},
		},
		{
			"forgets early (half the ttl)",
			broken(func(m *replay.Memory) wrap {
				return func(ctx context.Context, key string, ttl time.Duration) (bool, error) { return m.Add(ctx, key, ttl/2) }
			}),
			[]string{"FreshOnceWithinTTL", "FreshAgainAfterTTL"},
		},
		{
			"one record for every key",
			broken(func(m *replay.Memory) wrap {
				return func(ctx context.Context, _ string, ttl time.Duration) (bool, error) { return m.Add(ctx, "", ttl) }
			}),
			[]string{"TTLPerKey", "KeysIndependent", "LongKeys", "ConcurrentOneFresh", "ContextEnded"},
		},
		{
			"keys cut to 64 bytes",
			broken(func(m *replay.Memory) wrap {
				return func(ctx context.Context, key string, ttl time.Duration) (bool, error) {
					return m.Add(ctx, key[:min(len(key), 64)], ttl)
				}
			}),
			[]string{"LongKeys"},
		},
		{
			"fresh with an error on an ended context",
			broken(func(m *replay.Memory) wrap {
				return func(ctx context.Context, key string, ttl time.Duration) (bool, error) {
					fresh, err := m.Add(ctx, key, ttl)
					if err == nil {
						err = ctx.Err()
					}
					return fresh, err
				}
			}),
			[]string{"ContextEnded"},
		},
		{
			"check then record, not atomic",
			func(testing.TB, replaytest.Config) replaytest.Store {
				return replaytest.Store{Store: &racy{seen: map[string]bool{}}}
			},
			// It never forgets either.
			[]string{"FreshAgainAfterTTL", "TTLPerKey", "ConcurrentOneFresh"},
		},
	} {
		// In a bubble: the racy store's round trip passes in fake time.
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var failed []string
				for _, c := range replaytest.Checks() {
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

func TestRun(t *testing.T) { replaytest.Run(t, memory) }
