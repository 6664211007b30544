package apikey

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/jwtgate/jwtgate/middleware"
)

// Done when: a key is never a cache key. The store's map is indexed by
// the key's SHA-256, and nothing it holds is the key.
func TestStoreKeysAreHashes(t *testing.T) {
	key, rec, err := Mint("jg_", Record{ID: "k1", Subject: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Records: []Record{rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum := Sum(key)
	for i, e := range s.snap.Load().m {
		if i != index(&sum) || e.sum != sum || e.next != nil {
			t.Errorf("map index %x is not the key's SHA-256's", i)
		}
		if bytes.Contains(e.sum[:], []byte(key[3:])) || e.key.ID == key || e.key.Subject == key {
			t.Error("the store holds the key")
		}
	}
}

// withHash is rec stored under sum.
func withHash(rec Record, sum [32]byte) Record {
	rec.Hash = hashPrefix + hex.EncodeToString(sum[:])
	return rec
}

// The map only indexes; the constant-time comparison of the whole hash
// decides. A record whose hash starts as the key's and differs later
// grants nothing, and does not hide the key's own record beside it.
func TestHashesSharingTheIndexAreComparedWhole(t *testing.T) {
	key, rec, err := Mint("jg_", Record{Subject: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	near := Sum(key)
	near[31] ^= 1
	alike := withHash(Record{Subject: "other"}, near)
	ctx := t.Context()

	only, err := New(Config{Records: []Record{alike}})
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	if k, err := only.LookupAPIKey(ctx, key); !errors.Is(err, middleware.ErrTokenInactive) {
		t.Fatalf("a record whose hash differs in its last byte answered: %+v %v", k, err)
	}

	both, err := New(Config{Records: []Record{alike, rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer both.Close()
	if k, err := both.LookupAPIKey(ctx, key); err != nil || k.Subject != "svc" {
		t.Fatalf("the key's own record beside one sharing its index: %+v %v", k, err)
	}
	if both.Len() != 2 || len(both.snap.Load().m) != 1 {
		t.Fatalf("Len %d, %d indexes: want 2 records chained under 1", both.Len(), len(both.snap.Load().m))
	}
	if _, err := New(Config{Records: []Record{rec, alike, rec}}); !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("a key listed twice: %v", err)
	}
}
