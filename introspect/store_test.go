package introspect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Done when: no raw token in a cache key. The key is the endpoint and the
// token's SHA-256, nothing else.
func TestCacheKeysAreHashes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"active":true,"sub":"x"}`))
	}))
	defer srv.Close()
	c, err := New(Config{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tokens := []string{"secret-token-one", "secret-token-two"}
	for _, tok := range tokens {
		if _, err := c.Introspect(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	keys := c.cache.keys()
	if len(keys) != len(tokens) {
		t.Fatalf("%d keys", len(keys))
	}
	for _, k := range keys {
		if ep := c.endpoint.Load(); k.endpoint != ep.id || k.endpoint == 0 {
			t.Errorf("key endpoint %d", k.endpoint)
		}
		for _, tok := range tokens {
			if bytes.Contains(k.sum[:], []byte(tok)) {
				t.Errorf("a cache key holds the token")
			}
		}
		if k.sum != sha256.Sum256([]byte(tokens[0])) && k.sum != sha256.Sum256([]byte(tokens[1])) {
			t.Errorf("key %x is not a token's SHA-256", k.sum)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	c := NewCache(32)
	now := time.Now().UnixNano()
	for i := range 10_000 {
		var k cacheKey
		k.sum = sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		c.put(cacheEntry{key: k, until: now + int64(time.Hour)})
	}
	if n := c.Len(); n > 32 {
		t.Errorf("%d entries in a cache of 32", n)
	}
}

func TestCacheEntryEnds(t *testing.T) {
	c := NewCache(10)
	k := cacheKey{endpoint: c.endpointID("e")}
	c.put(cacheEntry{key: k, until: 100})
	if _, ok := c.get(&k, 99); !ok {
		t.Error("fresh entry missed")
	}
	if _, ok := c.get(&k, 100); ok || c.Len() != 0 {
		t.Error("ended entry served or kept")
	}
}

// Two keys in one slot evict each other; neither ever answers for the
// other.
func TestCacheSlotCollisionNeverAnswersForAnother(t *testing.T) {
	c := NewCache(10)
	a := cacheKey{endpoint: c.endpointID("a")}
	b := a
	b.sum[31] = 1 // same slot and shard, another key
	if a.slot() != b.slot() {
		t.Fatal("not one slot")
	}
	c.put(cacheEntry{key: a, until: 100})
	if _, ok := c.get(&b, 1); ok {
		t.Error("b found a's entry")
	}
	other := a
	other.endpoint = c.endpointID("b")
	if _, ok := c.get(&other, 1); ok {
		t.Error("another endpoint found a's entry")
	}
	if c.endpointID("a") != a.endpoint {
		t.Error("endpoint numbered twice")
	}
}
