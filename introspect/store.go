package introspect

import (
	"sync"

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
}

type storeShard struct {
	mu sync.RWMutex
	m  map[cacheKey]cacheEntry // guarded by mu
}

// cacheKey is what an entry is found by: never the token.
type cacheKey struct {
	endpoint string
	sum      [32]byte
}

type cacheEntry struct {
	res   *middleware.IntrospectionResult // nil: inactive (the negative cache)
	until int64                           // unix nanoseconds
}

// NewCache returns a Cache of at most size entries; 0 means
// DefaultCacheSize.
func NewCache(size int) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	c := &Cache{perShard: (size + storeShards - 1) / storeShards}
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]cacheEntry)
	}
	return c
}

func (c *Cache) shard(k *cacheKey) *storeShard { return &c.shards[k.sum[0]%storeShards] }

// get returns the entry for k if it is still fresh at now.
func (c *Cache) get(k *cacheKey, now int64) (cacheEntry, bool) {
	s := c.shard(k)
	s.mu.RLock()
	e, ok := s.m[*k]
	s.mu.RUnlock()
	if ok && now < e.until {
		return e, true
	}
	if ok {
		s.mu.Lock()
		if cur, still := s.m[*k]; still && cur.until == e.until {
			delete(s.m, *k)
		}
		s.mu.Unlock()
	}
	return cacheEntry{}, false
}

func (c *Cache) put(k cacheKey, e cacheEntry) {
	s := c.shard(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; !ok && len(s.m) >= c.perShard {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = e
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
		for k := range s.m {
			out = append(out, k)
		}
		s.mu.RUnlock()
	}
	return out
}
