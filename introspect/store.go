package introspect

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/jwtgate/jwtgate/middleware"
)

const storeShards = 16

// DefaultCacheSize is the Cache's bound when NewCache gets 0.
const DefaultCacheSize = 10_000

// Cache holds introspection answers, keyed by the endpoint and the SHA-256
// of the token (never the token itself): an answer one endpoint gave is
// never found by a client bound to another, even when clients share a
// Cache. It is bounded (a full shard drops an entry, roughly at random)
// and safe for concurrent use; its zero value is not usable: use NewCache.
// Several Clients may share one (Config.Cache).
type Cache struct {
	perShard int
	shards   [storeShards]storeShard

	mu  sync.Mutex
	ids map[string]uint64 // endpoint → its number in this cache; guarded by mu
}

type storeShard struct {
	mu sync.RWMutex
	// m is keyed by slot (a word of the key): the entry holds the whole
	// key, compared on every hit, so two keys in one slot only evict each
	// other and never answer for each other.
	m map[uint64]cacheEntry // guarded by mu
}

// cacheKey is what an entry is found by: never the token.
type cacheKey struct {
	endpoint uint64 // Cache.endpointID
	sum      [32]byte
}

// slot is the map key: the hash's first word, mixed with the endpoint so
// that one token asked at two endpoints takes two slots.
func (k *cacheKey) slot() uint64 {
	return binary.LittleEndian.Uint64(k.sum[:8]) ^ (k.endpoint * 0x9e3779b97f4a7c15)
}

// equal compares two keys a word at a time (the generic comparison of the
// 40-byte struct costs a call to memequal on every hit).
func (k *cacheKey) equal(o *cacheKey) bool {
	d := k.endpoint ^ o.endpoint
	for i := 0; i < 32; i += 8 {
		d |= binary.LittleEndian.Uint64(k.sum[i:]) ^ binary.LittleEndian.Uint64(o.sum[i:])
	}
	return d == 0
}

type cacheEntry struct {
	key   cacheKey
	res   *middleware.IntrospectionResult // nil: inactive (the negative cache)
	until int64                           // unix nanoseconds
}

// NewCache returns a Cache of at most size entries; 0 means
// DefaultCacheSize.
func NewCache(size int) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	c := &Cache{perShard: (size + storeShards - 1) / storeShards, ids: map[string]uint64{}}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]cacheEntry)
	}
	return c
}

// endpointID numbers endpoint in this cache (from 1), once.
func (c *Cache) endpointID(endpoint string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.ids[endpoint]
	if !ok {
		id = uint64(len(c.ids) + 1)
		c.ids[endpoint] = id
	}
	return id
}

func (c *Cache) shard(k *cacheKey) *storeShard { return &c.shards[k.sum[8]%storeShards] }

// get returns the entry for k if it is still fresh at now.
func (c *Cache) get(k *cacheKey, now int64) (cacheEntry, bool) {
	s, slot := c.shard(k), k.slot()
	s.mu.RLock()
	e, ok := s.m[slot]
	s.mu.RUnlock()
	if !ok || !e.key.equal(k) {
		return cacheEntry{}, false
	}
	if now < e.until {
		return e, true
	}
	s.mu.Lock()
	if cur, still := s.m[slot]; still && cur.key == *k && cur.until == e.until {
		delete(s.m, slot)
	}
	s.mu.Unlock()
	return cacheEntry{}, false
}

func (c *Cache) put(e cacheEntry) {
	s, slot := c.shard(&e.key), e.key.slot()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[slot]; !ok && len(s.m) >= c.perShard {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[slot] = e
}

// Len returns how many answers are cached, for a metrics gauge.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// keys returns the cache's keys, for the test that no token is one.
func (c *Cache) keys() []cacheKey {
	var out []cacheKey
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		for _, e := range s.m {
			out = append(out, e.key)
		}
		s.mu.RUnlock()
	}
	return out
}

// sum is the SHA-256 of s without copying it: Sum256 only reads its
// argument, and the copy []byte(s) would cost every look-up an allocation.
func sum(s string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}
