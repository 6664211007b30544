// Package redisconn opens the go-redis client of every jwtgate store kept in
// Redis (the rate limiter, the DPoP replay store, token budgets) the same
// way: one made for an address with time-outs that suit a store asked on
// the request path, or the caller's own checked for what those stores need.
package redisconn

import (
	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/goredislog"
)

// Problem says what is wrong with the inputs of Open; each store turns it
// into its own configuration error.
type Problem int

const (
	// OK: a client is returned.
	OK Problem = iota
	// NoAddr: neither a client nor an address.
	NoAddr
	// NilClient: a typed nil client.
	NilClient
	// NoContextTimeout: a client without ContextTimeoutEnabled, with which
	// a store's per-call time-out would not hold.
	NoContextTimeout
)

// Open returns c when it is usable, or a new client for addr when c is nil
// (owned reports that: the store closes it). It also routes go-redis's own
// log through slog, once per process (internal/goredislog).
func Open(addr string, c redis.UniversalClient) (client redis.UniversalClient, owned bool, p Problem) {
	goredislog.Install()
	enabled := true // ContextTimeoutEnabled, for the client kinds that have it
	switch c := c.(type) {
	case nil:
		if addr == "" {
			return nil, false, NoAddr
		}
		o := &redis.UniversalOptions{Addrs: []string{addr}}
		Tune(o)
		return redis.NewClient(o.Simple()), true, OK
	case *redis.Client:
		if c == nil {
			return nil, false, NilClient
		}
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		if c == nil {
			return nil, false, NilClient
		}
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		if c == nil {
			return nil, false, NilClient
		}
		enabled = c.Options().ContextTimeoutEnabled
	}
	if !enabled {
		return nil, false, NoContextTimeout
	}
	return c, false, OK
}
