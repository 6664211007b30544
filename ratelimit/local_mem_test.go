package ratelimit_test

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// Local keeps its buckets in 16 bytes each with x/time/rate's arithmetic:
// on random costs and random steps of a clock that also goes backwards, it
// answers exactly as a rate.Limiter per key does.
func TestLocalDecidesAsXTimeRate(t *testing.T) {
	for _, c := range []struct{ rate, burst int }{{10, 5}, {3, 1}, {1000, 1000}, {7, 20}} {
		t.Run(strconv.Itoa(c.rate)+"/"+strconv.Itoa(c.burst), func(t *testing.T) {
			clk := jwtgatetest.NewClock(time.Time{})
			l := newLocal(t, ratelimit.LocalConfig{Rate: c.rate, Burst: c.burst, Now: clk.Now})
			ref := map[string]*rate.Limiter{}
			rnd := rand.New(rand.NewPCG(1, uint64(c.rate)))
			for i := range 20_000 {
				step := time.Duration(rnd.Int64N(int64(3*time.Second/time.Duration(c.rate)))) - time.Second/time.Duration(10*c.rate)
				now := clk.Advance(step)
				key := strconv.Itoa(rnd.IntN(4))
				r := ref[key]
				if r == nil {
					r = rate.NewLimiter(rate.Limit(c.rate), c.burst)
					r.AllowN(now, 0) // starts full, at now
					ref[key] = r
				}
				cost := rnd.IntN(c.burst + 1)
				ok := r.AllowN(now, cost)
				left := r.TokensAt(now)
				d := allow(t, l, key, cost)
				if d.Allowed != ok || d.Remaining != int(math.Max(math.Floor(left), 0)) {
					t.Fatalf("call %d (key %s, cost %d, step %v): %+v, x/time/rate: allowed %v, %.3f left", i, key, cost, step, d, ok, left)
				}
			}
		})
	}
}

// heapPerKey fills a fresh Local with n distinct keys made by key(i) and
// returns the heap it holds per key once garbage is collected.
func heapPerKey(t *testing.T, n int, key func(i int) string) float64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := newLocal(t, ratelimit.LocalConfig{Rate: 10, MaxKeys: n})
	for i := range n {
		allow(t, l, key(i), 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Shards evict on their own: a few keys short of MaxKeys.
	held := l.Len()
	if held < n*9/10 {
		t.Fatalf("holds %d keys of %d", held, n)
	}
	runtime.KeepAlive(l)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(held)
}

// The bound Local's doc and the README state: about 70 bytes per held key
// beside the key's own bytes (a 48-byte entry and a 16-byte map slot), and a key
// that is a substring of a larger string (a claim of a token's payload) is
// copied rather than keeping the whole payload alive.
func TestLocalBytesPerKey(t *testing.T) {
	const n = 100_000
	// 16-byte keys (a 16-byte size class): 48 + 16 + the map slot (16 in
	// a table 1/2 to 7/8 full: ~23); 99 when the map was keyed by string.
	short := heapPerKey(t, n, func(i int) string { return "subject-" + strconv.FormatInt(int64(10_000_000+i), 10) })
	t.Logf("16-byte keys: %.0f bytes per held key", short)
	if short > 110 {
		t.Errorf("%.0f bytes per held 16-byte key, want at most 110", short)
	}
	// Each key is the sub of a 2 KiB payload that nothing else keeps.
	pinned := heapPerKey(t, n, func(i int) string {
		payload := `{"sub":"subject-` + strconv.FormatInt(int64(10_000_000+i), 10) + `","pad":"` + strings.Repeat("x", 2000) + `"}`
		return payload[8:24]
	})
	t.Logf("16-byte keys cut from 2 KiB payloads: %.0f bytes per held key", pinned)
	if pinned > 110 {
		t.Errorf("%.0f bytes per held key cut from a 2 KiB payload, want at most 110: the payload is kept", pinned)
	}
}

// AllowAt at the caller's readings answers as x/time/rate's AllowN at the
// same instants (the readings here are made up, a time.Now moved on by
// random steps, which Local measures from its own start as it would real
// ones).
func TestLocalAllowAtDecidesAsXTimeRate(t *testing.T) {
	start := time.Now()
	l := newLocal(t, ratelimit.LocalConfig{Rate: 10, Burst: 5})
	ref := rate.NewLimiter(10, 5)
	ref.AllowN(start, 0)
	rnd := rand.New(rand.NewPCG(2, 3))
	now := start
	for i := range 20_000 {
		now = now.Add(time.Duration(rnd.Int64N(int64(300 * time.Millisecond))))
		cost := rnd.IntN(6)
		ok := ref.AllowN(now, cost)
		left := ref.TokensAt(now)
		d, err := l.AllowAt(context.Background(), "k", cost, now)
		if err != nil || d.Allowed != ok || d.Remaining != int(math.Max(math.Floor(left), 0)) {
			t.Fatalf("call %d (cost %d): %+v %v, x/time/rate: allowed %v, %.3f left", i, cost, d, err, ok, left)
		}
	}
}

// A reading older than the bucket's last (a caller that read the clock
// before another, which reached the bucket first) earns nothing, and the
// time between the two is not earned twice afterwards.
func TestLocalAllowAtStaleReading(t *testing.T) {
	t0 := time.Now()
	l := newLocal(t, ratelimit.LocalConfig{Rate: 1, Burst: 3})
	at := func(now time.Time) ratelimit.Decision {
		d, err := l.AllowAt(context.Background(), "k", 1, now)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	at(t0.Add(10 * time.Second)) // 3 → 2
	// Stale: spends as of 10 s, earning nothing.
	if d := at(t0.Add(9 * time.Second)); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("stale reading: %+v, want allowed with 1 left", d)
	}
	// One second after the newest reading earns one unit, not two.
	if d := at(t0.Add(11 * time.Second)); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("one second later: %+v, want allowed with 1 left", d)
	}
}

// A Local with its own clock never mixes in the caller's readings.
func TestLocalAllowAtKeepsItsOwnClock(t *testing.T) {
	clk := jwtgatetest.NewClock(time.Time{})
	l := newLocal(t, ratelimit.LocalConfig{Rate: 1, Burst: 1, Now: clk.Now})
	allow(t, l, "k", 1)
	// An hour later by the caller's reading, not by the limiter's clock.
	d, err := l.AllowAt(context.Background(), "k", 1, time.Now().Add(time.Hour))
	if err != nil || d.Allowed {
		t.Fatalf("AllowAt used the caller's reading over the limiter's clock: %+v %v", d, err)
	}
	clk.Advance(time.Second)
	if d, _ := l.AllowAt(context.Background(), "k", 1, time.Time{}); !d.Allowed {
		t.Fatalf("a second later on the limiter's clock: %+v", d)
	}
}
