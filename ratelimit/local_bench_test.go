package ratelimit_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/ratelimit"
)

// benchKeys returns n distinct keys, made before the timer starts.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "subject-" + strconv.Itoa(i)
	}
	return keys
}

// A rate high enough that every call is allowed: the hit path.
func benchLocal(b *testing.B, maxKeys int) *ratelimit.Local {
	l, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1 << 30, MaxKeys: maxKeys})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func BenchmarkLocalAllow(b *testing.B) {
	keys := benchKeys(1024)
	l := benchLocal(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.Allow(ctx, keys[i&1023], 1); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkLocalAllowParallel(b *testing.B) {
	keys := benchKeys(1024)
	l := benchLocal(b, 0)
	ctx := context.Background()
	var seq atomic.Uint32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1)) * 7919
		for pb.Next() {
			if _, err := l.Allow(ctx, keys[i&1023], 1); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// One million keys, all held: hits spread over a large working set (cache
// misses in the CPU, not in the limiter).
func BenchmarkLocalAllow1MKeys(b *testing.B) {
	keys := benchKeys(1 << 20)
	l := benchLocal(b, 1<<20)
	ctx := context.Background()
	for _, k := range keys {
		_, _ = l.Allow(ctx, k, 1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		_, _ = l.Allow(ctx, keys[(i*7919)&(1<<20-1)], 1)
		i++
	}
}

// One million keys through the default bound of 100,000: mostly misses,
// each evicting the least recently used key.
func BenchmarkLocalAllow1MKeysEvicting(b *testing.B) {
	keys := benchKeys(1 << 20)
	l := benchLocal(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		_, _ = l.Allow(ctx, keys[(i*7919)&(1<<20-1)], 1)
		i++
	}
}

// The hit path without the cost of reading the system clock (on some
// virtual machines time.Now alone costs ~100ns): the limiter's own work.
func BenchmarkLocalAllowFixedClock(b *testing.B) {
	keys := benchKeys(1024)
	t0 := time.Now()
	l, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1 << 30, Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.Allow(ctx, keys[i&1023], 1); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
