package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterTimeout bounds how long a new cluster may take to agree on its
// slots, and a sentinel to see its master and replica or finish a failover.
const clusterTimeout = 30 * time.Second

// Cluster is a Redis Cluster of three masters (no replicas) on loopback,
// each owning a third of the slots, built by the test itself (CLUSTER
// ADDSLOTSRANGE and CLUSTER MEET; redis-cli --cluster is not needed).
type Cluster struct {
	// Nodes are the masters, in slot order.
	Nodes []*Server
	// Addrs are the nodes' addresses: the seeds for a cluster client.
	Addrs []string

	tls *TLSFiles
}

// StartCluster starts three cluster-enabled redis-servers, gives each a
// third of the 16384 slots, introduces them to each other and waits until
// every node reports cluster_state:ok. The nodes stop at cleanup.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	return StartClusterWith(tb, Options{})
}

// StartClusterWith is StartCluster with o's settings (o.TLS: every node
// serves, and gossips, over TLS only).
func StartClusterWith(tb testing.TB, o Options) *Cluster {
	tb.Helper()
	c := &Cluster{tls: o.TLS}
	for range 3 {
		n := start(tb, srvOpts{tls: o.TLS}, nil, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
		})
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}
	ctx := context.Background()
	const slots = 16384
	for i, n := range c.Nodes {
		cl := redis.NewClient(n.ClientOptions())
		lo, hi := i*slots/3, (i+1)*slots/3-1
		err := cl.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err()
		if err == nil && i > 0 {
			err = cl.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(c.Nodes[0].Port)).Err()
		}
		_ = cl.Close()
		if err != nil {
			tb.Fatalf("redistest: cluster node %s: %v", n.Addr, err)
		}
	}
	// Polling external processes' convergence (gossip), bounded; not
	// waiting for behaviour under test.
	deadline := time.Now().Add(clusterTimeout)
	for _, n := range c.Nodes {
		cl := redis.NewClient(n.ClientOptions())
		for {
			info, err := cl.ClusterInfo(ctx).Result()
			nodes, nerr := cl.ClusterNodes(ctx).Result()
			if err == nil && nerr == nil && strings.Contains(info, "cluster_state:ok") && strings.Count(strings.TrimSpace(nodes), "\n") == 2 {
				break
			}
			if time.Now().After(deadline) {
				_ = cl.Close()
				tb.Fatalf("redistest: cluster node %s not ready within %v: %v %v\n%s", n.Addr, clusterTimeout, err, nerr, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = cl.Close()
	}
	return c
}

// Client returns a cluster client seeded with every node (context
// time-outs enabled, as the stores require), closed at cleanup.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	o := &redis.ClusterOptions{Addrs: c.Addrs, ContextTimeoutEnabled: true}
	if c.tls != nil {
		o.TLSConfig = c.tls.Client.Clone()
	}
	cl := redis.NewClusterClient(o)
	tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

// MasterFor reports which node owns key's slot.
func (c *Cluster) MasterFor(tb testing.TB, key string) *Server {
	tb.Helper()
	cl := redis.NewClient(c.Nodes[0].ClientOptions())
	defer cl.Close()
	slot, err := cl.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		tb.Fatalf("redistest: CLUSTER KEYSLOT: %v", err)
	}
	return c.Nodes[int(slot)*3/16384]
}

// String lists the nodes' addresses.
func (c *Cluster) String() string { return fmt.Sprint(c.Addrs) }
