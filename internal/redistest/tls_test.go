package redistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/redistest"
)

// A TLS server answers a client that trusts the CA and shows a
// certificate, and refuses plain TCP.
func TestTLSServer(t *testing.T) {
	files := redistest.NewTLSFiles(t)
	srv := redistest.StartWith(t, redistest.Options{TLS: files})
	ctx := context.Background()
	c := redis.NewClient(srv.ClientOptions())
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	plain := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Fatal("plain TCP answered")
	}
}

// Sentinels over TLS with a password: the helper's failover client finds
// the master; a sentinel client without the password is refused.
func TestTLSSentinelWithPassword(t *testing.T) {
	files := redistest.NewTLSFiles(t)
	s := redistest.StartSentinelWith(t, 1, redistest.Options{TLS: files, SentinelPassword: "sentinel-pw"})
	ctx := context.Background()
	if err := s.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("through the sentinels: %v", err)
	}
	o := s.Sentinels[0].ClientOptions()
	o.Password = ""
	sc := redis.NewSentinelClient(o)
	defer sc.Close()
	if err := sc.GetMasterAddrByName(ctx, s.MasterName).Err(); !redis.IsAuthError(err) {
		t.Fatalf("no password: %v, want NOAUTH", err)
	}
}

func TestTLSCluster(t *testing.T) {
	c := redistest.StartClusterWith(t, redistest.Options{TLS: redistest.NewTLSFiles(t)})
	cl := c.Client(t)
	for _, k := range []string{"a", "b", "c", "d"} {
		if err := cl.Set(context.Background(), k, "v", 0).Err(); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
}
