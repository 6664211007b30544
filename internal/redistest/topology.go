package redistest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Topology is one shape of Redis that a store's tests run against: one
// server, a three-master Cluster, or a master and replica behind Sentinel.
type Topology struct {
	// Name is "single", "cluster" or "sentinel": a subtest name.
	Name string
	// Client starts the servers and returns a client for them, with
	// context time-outs enabled (as the stores require), closed at
	// cleanup.
	Client func(tb testing.TB) redis.UniversalClient
}

// Topologies returns every shape, for a store's contract suite:
//
//	for _, top := range redistest.Topologies() {
//		t.Run(top.Name, func(t *testing.T) { client := top.Client(t); … })
//	}
func Topologies() []Topology {
	return []Topology{
		{Name: "single", Client: func(tb testing.TB) redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: Start(tb).Addr, ContextTimeoutEnabled: true})
			tb.Cleanup(func() { _ = c.Close() })
			return c
		}},
		{Name: "cluster", Client: func(tb testing.TB) redis.UniversalClient {
			return StartCluster(tb).Client(tb)
		}},
		{Name: "sentinel", Client: func(tb testing.TB) redis.UniversalClient {
			return StartSentinel(tb, 1).Client(tb)
		}},
	}
}

// Client returns a Sentinel-backed client of the master (context
// time-outs enabled), closed at cleanup.
func (s *Sentinel) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	o := &redis.FailoverOptions{
		MasterName: s.MasterName, SentinelAddrs: s.Addrs, ContextTimeoutEnabled: true,
		SentinelPassword: s.password,
	}
	if s.tls != nil {
		o.TLSConfig = s.tls.Client.Clone()
	}
	c := redis.NewFailoverClient(o)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Scan calls fn with every key matching match: on every master of a
// cluster client (a SCAN reaches one node only), on the one server
// otherwise. A failure fails the test.
func Scan(tb testing.TB, c redis.UniversalClient, match string, fn func(key string)) {
	tb.Helper()
	ctx := context.Background()
	scan := func(c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, match, 100).Iterator()
		for iter.Next(ctx) {
			fn(iter.Val())
		}
		return iter.Err()
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return scan(m) })
	} else {
		err = scan(c)
	}
	if err != nil {
		tb.Fatalf("redistest: scan %s: %v", match, err)
	}
}
