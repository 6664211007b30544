package ratelimit_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/ratelimit"
)

func newLocal(t testing.TB, cfg ratelimit.LocalConfig) *ratelimit.Local {
	t.Helper()
	l, err := ratelimit.NewLocal(cfg)
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	return l
}

func allow(t testing.TB, l ratelimit.Limiter, key string, cost int) ratelimit.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, cost)
	if err != nil {
		t.Fatalf("Allow(%q, %d): %v", key, cost, err)
	}
	return d
}

// A cost above the burst is refused without tracking the key: a flood of
// such requests cannot evict anyone. (The refusal itself is the contract
// suite's CostAboveBurst.)
func TestLocalCostAboveBurstTracksNoKey(t *testing.T) {
	l := newLocal(t, ratelimit.LocalConfig{Rate: 10, Burst: 5})
	if d := allow(t, l, "fresh", 6); d.Allowed || !d.CostExceedsLimit {
		t.Fatalf("cost 6 of 5: %+v", d)
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("a refused cost above the burst admitted the key: Len %d", n)
	}
}

func TestLocalConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   ratelimit.LocalConfig
		field string
	}{
		{"zero", ratelimit.LocalConfig{}, "Rate"},
		{"negative rate", ratelimit.LocalConfig{Rate: -1}, "Rate"},
		{"negative period", ratelimit.LocalConfig{Rate: 1, Period: -time.Second}, "Period"},
		{"negative burst", ratelimit.LocalConfig{Rate: 1, Burst: -1}, "Burst"},
		{"negative max keys", ratelimit.LocalConfig{Rate: 1, MaxKeys: -1}, "MaxKeys"},
		{"negative shards", ratelimit.LocalConfig{Rate: 1, Shards: -1}, "Shards"},
		{"negative max key bytes", ratelimit.LocalConfig{Rate: 1, MaxKeyBytes: -1}, "MaxKeyBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ratelimit.NewLocal(tc.cfg)
			var ce *ratelimit.ConfigError
			if l != nil || !errors.Is(err, ratelimit.ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("NewLocal(%+v) = %v, %v; want a ConfigError on %s", tc.cfg, l, err, tc.field)
			}
		})
	}

	// Defaults: per second, burst = rate.
	clk := jwtgatetest.NewClock(time.Time{})
	l := newLocal(t, ratelimit.LocalConfig{Rate: 4, Now: clk.Now})
	if d := allow(t, l, "k", 1); d.Limit != 4 || !near(d.ResetAfter, 250*time.Millisecond) {
		t.Fatalf("defaults: %+v, want burst 4 and 250ms per unit", d)
	}
	// Odd shard counts and tiny MaxKeys work and keep the bound.
	for _, c := range []ratelimit.LocalConfig{
		{Rate: 1, MaxKeys: 1},
		{Rate: 1, MaxKeys: 3, Shards: 5},
		{Rate: 1, MaxKeys: 100, Shards: 5000},
	} {
		l := newLocal(t, c)
		for i := range 1000 {
			allow(t, l, strconv.Itoa(i), 1)
		}
		if got := l.Len(); got != c.MaxKeys {
			t.Fatalf("%+v: Len %d after 1000 keys, want %d", c, got, c.MaxKeys)
		}
	}
}

func TestLocalEvictsLeastRecentlyUsedWithFullBucket(t *testing.T) {
	clk := jwtgatetest.NewClock(time.Time{})
	l := newLocal(t, ratelimit.LocalConfig{Rate: 1, Period: time.Hour, Burst: 2, MaxKeys: 3, Shards: 1, Now: clk.Now})
	for _, k := range []string{"a", "b", "c"} {
		allow(t, l, k, 2) // empty each bucket
	}
	allow(t, l, "a", 0) // a is now more recent than b
	allow(t, l, "d", 1) // evicts b, the least recently used
	if n := l.Len(); n != 3 {
		t.Fatalf("Len %d, want 3", n)
	}
	if d := allow(t, l, "a", 1); d.Allowed {
		t.Fatalf("a was evicted instead of b: %+v", d)
	}
	// b comes back as new: a full bucket (documented).
	if d := allow(t, l, "b", 1); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("evicted key b: %+v, want a full bucket", d)
	}
	// Admitting b evicted c (a and d were used since).
	if d := allow(t, l, "c", 2); !d.Allowed {
		t.Fatalf("c should have been evicted and come back full: %+v", d)
	}
}

func TestLocalMillionKeysStayBounded(t *testing.T) {
	const keys = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	l := newLocal(t, ratelimit.LocalConfig{Rate: 10}) // MaxKeys: default 100,000
	ctx := context.Background()
	buf := make([]byte, 0, 32)
	for i := range keys {
		buf = strconv.AppendInt(append(buf[:0], "subject-"...), int64(i), 10)
		if _, err := l.Allow(ctx, string(buf), 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.Len(); n != ratelimit.DefaultMaxKeys {
		t.Fatalf("held keys after %d distinct keys: %d, want exactly %d", keys, n, ratelimit.DefaultMaxKeys)
	}

	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// ~90 bytes a held key (entry, key, map slot) fits 100,000 keys in
	// ~9 MB; 1,000,000 held keys would take ten times that.
	const bound = 40 << 20
	t.Logf("heap grew %.1f MiB for %d held keys (%d bytes/key)", float64(grown)/(1<<20), l.Len(), grown/int64(l.Len()))
	if grown > bound {
		t.Fatalf("heap grew %d bytes, more than %d for %d held keys", grown, bound, l.Len())
	}
	runtime.KeepAlive(l)
}

func TestLocalConcurrentUseIsExact(t *testing.T) {
	clk := jwtgatetest.NewClock(time.Time{}) // frozen: no refill, so exactly Burst per key pass
	var observed atomic.Int64
	l := newLocal(t, ratelimit.LocalConfig{
		Rate: 1, Period: time.Hour, Burst: 50, MaxKeys: 10_000, Shards: 16, Now: clk.Now,
		Observer: func(e ratelimit.Event) {
			if e.Backend != "local" || (e.Outcome == ratelimit.OutcomeAllowed) != e.Decision.Allowed {
				t.Errorf("inconsistent event %+v", e)
			}
			observed.Add(1)
		},
	})
	const workers, perWorker, hot = 8, 2000, 4
	var allowed [hot]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				k := i % hot
				d, err := l.Allow(context.Background(), "hot-"+strconv.Itoa(k), 1)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed[k].Add(1)
				}
				// Cold keys churn the LRU lists at the same time.
				_, _ = l.Allow(context.Background(), "cold-"+strconv.Itoa(w)+"-"+strconv.Itoa(i), 1)
			}
		})
	}
	wg.Wait()
	for k := range hot {
		if got := allowed[k].Load(); got != 50 {
			t.Errorf("hot key %d: %d allowed, want exactly the burst, 50", k, got)
		}
	}
	if got, want := observed.Load(), int64(2*workers*perWorker); got != want {
		t.Errorf("observer saw %d events, want %d", got, want)
	}
	if n := l.Len(); n > 10_000 {
		t.Errorf("Len %d above MaxKeys", n)
	}
}

// near reports whether got is want give or take a microsecond (float
// rounding in the bucket arithmetic).
func near(got, want time.Duration) bool {
	d := got - want
	return d > -time.Microsecond && d < time.Microsecond
}

// Long keys are stored as digests, so their memory is bounded. (That
// distinct long keys keep buckets of their own is the contract suite's
// LongKeys.)
func TestLocalLongKeysAreBounded(t *testing.T) {
	clk := jwtgatetest.NewClock(time.Time{})
	l := newLocal(t, ratelimit.LocalConfig{Rate: 1, Period: time.Hour, Burst: 2, MaxKeys: 1000, MaxKeyBytes: 64, Now: clk.Now})

	long := strings.Repeat("x", 8<<10)
	// 1,000 keys of 8 KiB would hold 8 MiB if kept whole.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 1000 {
		allow(t, l, strconv.Itoa(i)+long, 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 1<<20 {
		t.Fatalf("1,000 long keys grew the heap by %d bytes, want under 1 MiB", grown)
	}
	// Each shard holds its share of MaxKeys, so a few shards may have
	// evicted while others still have room.
	if n := l.Len(); n > 1000 || n < 500 {
		t.Fatalf("Len %d, want close to and at most 1000", n)
	}
	runtime.KeepAlive(l)
}
