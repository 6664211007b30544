package cache

import "errors"

// ErrKeysUnavailable means the cache has no key set it may serve: none was
// ever loaded, or the last good one is stale beyond MaxStale. It is an
// infrastructure condition (HTTP 503), never the client's fault, and is
// distinct from jwkset.ErrKeyNotFound (an unknown kid, HTTP 401).
var ErrKeysUnavailable = errors.New("cache: keys unavailable")
