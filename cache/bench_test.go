package cache

import (
	"context"
	"testing"

	"github.com/MicahParks/jwkset"
)

func benchCache(b *testing.B) *Cache {
	b.Helper()
	var keys [][]byte
	for _, kid := range []string{"a", "b", "c", "d"} {
		keys = append(keys, jwkJSON(b, edKey(b), kid, jwkset.AlgEdDSA))
	}
	body := jwks(toRaw(keys)...)
	c := newTestCache(b, Config{URL: "https://idp.test/jwks", HTTPClient: memClient(newProvider(body)), WaitForFirstLoad: true})
	return c
}

func BenchmarkKeyRead(b *testing.B) {
	c := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.KeyRead(ctx, "c"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyReadParallel(b *testing.B) {
	c := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.KeyRead(ctx, "c"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMemoryStorageKeyRead is the baseline the middleware used before
// the cache: jwkset's mutex-guarded linear scan.
func BenchmarkMemoryStorageKeyRead(b *testing.B) {
	c := benchCache(b)
	ctx := context.Background()
	all, _ := c.KeyReadAll(ctx)
	m := jwkset.NewMemoryStorage()
	m.KeyReplaceAll(ctx, all)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.KeyRead(ctx, "c"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReady(b *testing.B) {
	c := benchCache(b)
	b.ReportAllocs()
	for b.Loop() {
		if !c.Ready() {
			b.Fatal("not ready")
		}
	}
}

// BenchmarkKeyReadUnknownKID is the cost of a flood of random kids once the
// unknown-kid refresh has run: no fetch, an immediate ErrKeyNotFound.
func BenchmarkKeyReadUnknownKID(b *testing.B) {
	c := benchCache(b)
	ctx := context.Background()
	c.KeyRead(ctx, "prime-the-interval")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.KeyRead(ctx, "no-such-kid"); err == nil {
				b.Fatal("found")
			}
		}
	})
}
