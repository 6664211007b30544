package ratelimit_test

import (
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

// The bound Local's doc and the README state: about 100 bytes per held key
// beside the key's own bytes (a 48-byte entry and a map slot), and a key
// that is a substring of a larger string (a claim of a token's payload) is
// copied rather than keeping the whole payload alive.
func TestLocalBytesPerKey(t *testing.T) {
	const n = 100_000
	// 16-byte keys (a 16-byte size class): 48 + 16 + the map slot (~35).
	short := heapPerKey(t, n, func(i int) string { return "subject-" + strconv.FormatInt(int64(10_000_000+i), 10) })
	t.Logf("16-byte keys: %.0f bytes per held key", short)
	if short > 150 {
		t.Errorf("%.0f bytes per held 16-byte key, want at most 150", short)
	}
	// Each key is the sub of a 2 KiB payload that nothing else keeps.
	pinned := heapPerKey(t, n, func(i int) string {
		payload := `{"sub":"subject-` + strconv.FormatInt(int64(10_000_000+i), 10) + `","pad":"` + strings.Repeat("x", 2000) + `"}`
		return payload[8:24]
	})
	t.Logf("16-byte keys cut from 2 KiB payloads: %.0f bytes per held key", pinned)
	if pinned > 150 {
		t.Errorf("%.0f bytes per held key cut from a 2 KiB payload, want at most 150: the payload is kept", pinned)
	}
}
