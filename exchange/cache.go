package exchange

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache holds exchanged tokens by cacheKey, least recently used
// first out. The zero value with max 0 holds nothing. Safe for concurrent
// use.
type tokenCache struct {
	max int

	mu      sync.Mutex // guards entries and lru
	entries map[subjectKey]*list.Element
	lru     list.List // of *cacheEntry, most recently used at the front
}

type cacheEntry struct {
	key   subjectKey
	token string
	until time.Time
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[subjectKey]*list.Element)}
}

// subjectKey is what an exchanged token is kept under: the subject
// token's SHA-256 (never the token itself: the cache is no second copy of
// the client's credential). The audience, resource and scopes are the
// Transport's own, fixed for its cache, so they need not be in the key,
// and a hit allocates nothing.
type subjectKey [sha256.Size]byte

func cacheKey(subject string) subjectKey { return sha256.Sum256([]byte(subject)) }

// get returns the token under key while now is before its end.
func (c *tokenCache) get(key subjectKey, now time.Time) (string, bool) {
	if c.max == 0 {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return "", false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.until) {
		c.lru.Remove(el)
		delete(c.entries, key)
		return "", false
	}
	c.lru.MoveToFront(el)
	return e.token, true
}

// put keeps token under key until until, evicting the least recently used
// entry when full.
func (c *tokenCache) put(key subjectKey, token string, until time.Time) {
	if c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*cacheEntry)
		e.token, e.until = token, until
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, token: token, until: until})
}

// len is the number of entries, expired ones included.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
