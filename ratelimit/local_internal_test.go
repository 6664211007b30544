package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

// The per-key entry stays one 48-byte size class: the memory bound stated
// in Local's doc and the README counts on it.
func TestLocalEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(entry{}); got != entryBytes {
		t.Fatalf("entry is %d bytes, want %d", got, entryBytes)
	}
}

// Two keys of one hash share the shard's slot as an eviction would: the
// newcomer takes the entry over with a full bucket, the other comes back
// with a full bucket too, neither ever spends the other's units, and the
// slot is freed when the entry is evicted.
func TestLocalHashCollision(t *testing.T) {
	l, err := NewLocal(LocalConfig{Rate: 1, Period: time.Hour, Burst: 2, MaxKeys: 2, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	// mallory is given alice's hash; the entry is alice's again when it
	// is evicted below (eviction finds an entry's slot by its key's hash).
	h := l.shards[0].hash("alice")
	at := func(key string) Decision { return l.allowHashed(key, h, 1, 0, true) }
	if d := at("alice"); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("alice first: %+v", d)
	}
	if d := at("mallory"); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("mallory, same hash: %+v (spent alice's bucket?)", d)
	}
	if d := at("mallory"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("mallory again: %+v", d)
	}
	if d := at("mallory"); d.Allowed {
		t.Fatalf("mallory over the burst: %+v", d)
	}
	if d := at("alice"); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("alice back (as if evicted): %+v", d)
	}
	if n := l.Len(); n != 1 {
		t.Fatalf("Len %d, want 1: one slot for the colliding keys", n)
	}
	// Fill the shard with keys of their own hashes, so the shared entry
	// is evicted: its slot must go with it.
	l.allowHashed("bob", l.shards[0].hash("bob"), 1, 0, true)
	l.allowHashed("carol", l.shards[0].hash("carol"), 1, 0, true)
	s := &l.shards[0]
	if _, ok := s.m[h]; ok || len(s.m) != 2 {
		t.Fatalf("after evicting the shared entry the map holds %d slots, %v at its hash", len(s.m), ok)
	}
}

// The same calls through a map keyed by hash answer as through one keyed
// by the string: many keys, few shards, repeated looks-ups and evictions.
func TestLocalHashedMapKeepsEveryKeyApart(t *testing.T) {
	l, err := NewLocal(LocalConfig{Rate: 1, Period: time.Hour, Burst: 3, MaxKeys: 64, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	spent := map[string]int{}
	for round := range 3 {
		for i := range 64 {
			key := "k" + strconv.Itoa(i)
			d, _ := l.Allow(context.Background(), key, 1)
			spent[key]++
			// A key the shard evicted comes back full; never fuller.
			if want := 3 - spent[key]; d.Remaining > 2 || (d.Remaining != want && d.Remaining != 2) {
				t.Fatalf("round %d key %s: remaining %d, spent %d", round, key, d.Remaining, spent[key])
			}
			if d.Remaining == 2 {
				spent[key] = 1
			}
		}
	}
	for i := range l.shards {
		s := &l.shards[i]
		for h, e := range s.m {
			if s.hash(e.key) != h {
				t.Fatalf("entry %q under hash %x, its own is %x", e.key, h, s.hash(e.key))
			}
		}
	}
}
