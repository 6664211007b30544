package redistest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLifecycle(t *testing.T) {
	srv := redistest.Start(t)
	if err := srv.Ping(time.Second); err != nil {
		t.Fatalf("fresh server: %v", err)
	}

	srv.Pause()
	if err := srv.Ping(100 * time.Millisecond); err == nil {
		t.Fatal("paused server answered PING")
	}
	srv.Resume()
	if err := srv.Ping(time.Second); err != nil {
		t.Fatalf("resumed server: %v", err)
	}

	addr := srv.Addr
	srv.Stop()
	if err := srv.Ping(100 * time.Millisecond); err == nil {
		t.Fatal("stopped server answered PING")
	}
	srv.Stop() // idempotent

	srv.Restart()
	if srv.Addr != addr {
		t.Fatalf("restart moved from %s to %s", addr, srv.Addr)
	}
	if err := srv.Ping(time.Second); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
}

func TestTwoServersGetDistinctPorts(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Port == b.Port {
		t.Fatalf("both servers on port %d", a.Port)
	}
}

func TestClusterSpreadsKeysOverThreeMasters(t *testing.T) {
	c := redistest.StartCluster(t)
	if len(c.Nodes) != 3 {
		t.Fatalf("%d nodes", len(c.Nodes))
	}
	cl := c.Client(t)
	ctx := context.Background()
	owners := map[string]bool{}
	for i := range 30 {
		key := fmt.Sprintf("k%d", i)
		if err := cl.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		owner := c.MasterFor(t, key)
		owners[owner.Addr] = true
		// The key is on the node that owns its slot, and only there.
		direct := redis.NewClient(&redis.Options{Addr: owner.Addr})
		if v, err := direct.Get(ctx, key).Int(); err != nil || v != i {
			t.Fatalf("GET %s on %s: %v %v", key, owner.Addr, v, err)
		}
		_ = direct.Close()
	}
	if len(owners) != 3 {
		t.Fatalf("30 keys landed on %d masters", len(owners))
	}
}

func TestSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t, 1)
	ctx := context.Background()
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Addrs})
	defer c.Close()
	if err := c.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Replication is asynchronous: a failover loses what the replica has
	// not received yet. Wait for it, as a client that cares would.
	if n, err := c.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT: %d replicas %v", n, err)
	}
	first := s.Master(t)
	if first != s.Data[0] {
		t.Fatalf("master at start %s, want %s", first.Addr, s.Data[0].Addr)
	}
	second := s.Failover(t)
	if second == first || s.Master(t) != second {
		t.Fatalf("after failover the master is %s", s.Master(t).Addr)
	}
	// The data was replicated; the client follows the new master.
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "before" {
		t.Fatalf("GET after failover: %q %v", v, err)
	}
	if err := c.Set(ctx, "k", "after", 0).Err(); err != nil {
		t.Fatalf("SET after failover: %v", err)
	}
}

func TestSentinelPromotesReplicaWhenMasterDies(t *testing.T) {
	s := redistest.StartSentinel(t, 3)
	first := s.Master(t)
	second := s.KillMaster(t)
	if second == first || s.Master(t) != second {
		t.Fatalf("after the master died the master is %s", s.Master(t).Addr)
	}
	if err := first.Ping(100 * time.Millisecond); err == nil {
		t.Fatal("the killed master answers")
	}
}
