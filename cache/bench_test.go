package cache

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
)

// benchCache returns a loaded cache of four keys and the kid of the third.
func benchCache(b *testing.B) (*Cache, string) {
	b.Helper()
	idp := memIdP(b, "EdDSA", "ES256", "ES384", "ES512")
	c := newTestCache(b, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), WaitForFirstLoad: true})
	return c, idp.KIDs()[2]
}

func BenchmarkKeyRead(b *testing.B) {
	c, kid := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.KeyRead(ctx, kid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyReadParallel(b *testing.B) {
	c, kid := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.KeyRead(ctx, kid); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMemoryStorageKeyRead is the baseline the middleware used before
// the cache: jwkset's mutex-guarded linear scan.
func BenchmarkMemoryStorageKeyRead(b *testing.B) {
	c, kid := benchCache(b)
	ctx := context.Background()
	all, _ := c.KeyReadAll(ctx)
	m := jwkset.NewMemoryStorage()
	m.KeyReplaceAll(ctx, all)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.KeyRead(ctx, kid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReady(b *testing.B) {
	c, _ := benchCache(b)
	b.ReportAllocs()
	for b.Loop() {
		if !c.Ready() {
			b.Fatal("not ready")
		}
	}
}

// freshBenchCache is benchCache with a set that stays authoritative for
// unknown kids through the benchmark.
func freshBenchCache(b *testing.B) *Cache {
	b.Helper()
	idp := memIdP(b, "EdDSA", "ES256", "ES384", "ES512")
	return newTestCache(b, Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), WaitForFirstLoad: true, UnknownKIDInterval: time.Hour})
}

// BenchmarkKeyReadUnknownKID is the cost of one junk kid sent again and
// again while the set is authoritative: no fetch, an immediate
// ErrKeyNotFound.
func BenchmarkKeyReadUnknownKID(b *testing.B) {
	c := freshBenchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.KeyRead(ctx, "no-such-kid"); err == nil {
				b.Fatal("found")
			}
		}
	})
}

// BenchmarkKeyReadUnknownKIDFlood is the cost of a flood of distinct kids
// while the set is authoritative: each is an immediate ErrKeyNotFound,
// without a fetch and without any memory of the kid.
func BenchmarkKeyReadUnknownKIDFlood(b *testing.B) {
	c := freshBenchCache(b)
	ctx := context.Background()
	kids := make([]string, 1<<16)
	for i := range kids {
		kids[i] = fmt.Sprintf("flood-%d", i)
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.KeyRead(ctx, kids[next.Add(1)%uint64(len(kids))]); err == nil {
				b.Fatal("found")
			}
		}
	})
}
