package middleware

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const cacheShards = 16

// tokenCache remembers verified tokens so that a repeated token costs a hash
// and a map look-up instead of a signature check. It is bounded (entries are
// evicted, roughly at random, when a shard is full) and keyed by a seeded
// hash of the token, with the full token kept in the entry and compared, so
// a hash collision can never hand one token's claims to another.
type tokenCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
	// door (nil: admit every token) remembers recent first sightings,
	// one hash per slot: lock-free and of fixed size, so a flood of
	// never-repeated tokens costs 8 bytes a slot and no allocation. A
	// slot overwritten before its token returns only delays admission.
	door     []atomic.Uint64
	doorMask uint64
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]*cacheEntry // guarded by mu; entries are immutable except gen
}

type cacheEntry struct {
	token  string
	claims *Claims
	until  int64 // unix nanoseconds: min(exp, verified + max age)
	// notBefore (unix nanoseconds; 0: none) is max(nbf, iat) - leeway: a
	// clock stepping back must not make a hit accept what a cold check
	// refuses. notYet is the error to refuse it with.
	notBefore int64
	notYet    *Error
	// Key provenance, to re-check after the key set changes. src is nil for
	// HS* tokens (the secret cannot change under a running Verifier).
	src *keySource
	key any
	j   jwsKeyRef
	gen atomic.Uint64 // the provider generation this entry was last checked under
	// intro, when not nil, made this an opaque token's entry: the
	// Introspector whose answer it holds. Only a route bound to that very
	// Introspector takes it (never the JWT check, nor another endpoint's
	// route). A pointer, so comparing it cannot panic (Verifier.introCache).
	intro Introspector
	// keys, when not nil, made this an API key's entry: the store that
	// answered for the key, under its version keyVer
	// (APIKeyVersioner). Only a route bound to that very store takes it,
	// and only while the store's version is unchanged.
	keys   APIKeyStore
	keyVer uint64
}

// jwsKeyRef is what a re-check needs from the original token's header.
type jwsKeyRef struct {
	spec   *algSpec
	kid    string
	hasKID bool
}

func newTokenCache(size int, doorkeeper bool) *tokenCache {
	per := (size + cacheShards - 1) / cacheShards
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: per}
	if doorkeeper {
		// Twice the cache's size, a power of two: a token returning
		// within about `size` other first sightings is still remembered.
		n := uint64(1024)
		for n < 2*uint64(size) && n < 1<<24 {
			n <<= 1
		}
		c.door, c.doorMask = make([]atomic.Uint64, n), n-1
	}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

// hashedTail is how much of a token's end the cache hashes.
const hashedTail = 64

// hashed returns the part of token the cache hashes: its last 64 bytes,
// all signature for any real token. A signature is as good as random, so
// the tail spreads tokens as well as the whole would, at a fraction of the
// cost of hashing a kilobyte; the entry keeps the whole token and a hit
// compares it, so tokens sharing a tail (a forgery reusing a signature)
// only share a slot, never claims.
func hashed(token string) string {
	if len(token) > hashedTail {
		return token[len(token)-hashedTail:]
	}
	return token
}

func (c *tokenCache) get(token string, nowNano int64) (*cacheEntry, uint64) {
	h := maphash.String(c.seed, hashed(token))
	s := &c.shards[h%cacheShards]
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil || e.token != token {
		return nil, h
	}
	if nowNano >= e.until {
		c.remove(h, e)
		return nil, h
	}
	return e, h
}

// admit reports whether the token of hash h is to be cached now: always
// without a doorkeeper; with one, on its second sighting.
func (c *tokenCache) admit(h uint64) bool {
	if c.door == nil {
		return true
	}
	// The high bits pick the slot: the low ones already picked the shard.
	slot := &c.door[(h>>32)&c.doorMask]
	if slot.Load() == h {
		return true
	}
	slot.Store(h)
	return false
}

func (c *tokenCache) put(h uint64, e *cacheEntry) {
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	if _, ok := s.m[h]; !ok && len(s.m) >= c.perShard {
		// Map iteration starts at a random place: this evicts a random entry.
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[h] = e
	s.mu.Unlock()
}

func (c *tokenCache) remove(h uint64, e *cacheEntry) {
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	if s.m[h] == e {
		delete(s.m, h)
	}
	s.mu.Unlock()
}

func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// stillValid reports whether e's key is still what the provider serves.
// Under an unchanged generation that is known without any look-up; after a
// change (rotation, removal) the key is looked up again, once per entry and
// generation, and an entry whose key is gone or different stops counting.
func (v *Verifier) stillValid(ctx context.Context, e *cacheEntry) bool {
	if e.src == nil {
		return true
	}
	// Before the generation: a set stale beyond MaxStale (or a closed
	// cache) keeps its generation, and must not keep vouching for tokens.
	if e.src.ready != nil && !e.src.ready.Ready() {
		return false
	}
	g, ok := e.src.generation()
	if ok && g == e.gen.Load() {
		return true
	}
	j := jws{spec: e.j.spec, kid: e.j.kid, hasKID: e.j.hasKID}
	var (
		key any
		err *Error
	)
	if ok && j.hasKID {
		// A refreshing provider: look in the served set only. KeyRead would
		// treat a withdrawn kid as unknown and wait for a refresh; here a
		// missing kid simply means the entry no longer counts.
		key, err = v.findServed(ctx, e.src, &j)
	} else {
		key, err = v.lookup(ctx, e.src, &j)
	}
	if err != nil || !sameKey(key, e.key) {
		return false
	}
	if ok {
		e.gen.Store(g)
	}
	return true
}
