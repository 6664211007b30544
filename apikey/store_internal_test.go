package apikey

import (
	"bytes"
	"testing"
)

// Done when: a key is never a cache key. The store's map is keyed by the
// key's SHA-256, and nothing it holds is the key.
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
	for sum, e := range s.snap.Load().m {
		if sum != Sum(key) || e.sum != sum {
			t.Errorf("map key %x is not the key's SHA-256", sum)
		}
		if bytes.Contains(sum[:], []byte(key[3:])) || e.key.ID == key || e.key.Subject == key {
			t.Error("the store holds the key")
		}
	}
}
