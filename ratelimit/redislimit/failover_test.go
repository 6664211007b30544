package redislimit_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/redisconn"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/ratelimit/redislimit"
)

// A Sentinel failover while requests run, asked for (SENTINEL FAILOVER)
// or after the master died: during it a key is allowed at most twice its
// burst (the promoted replica may not have the last writes, and an old
// master still up takes writes until it is told to follow; while no
// master answers, FailLocal decides from where Redis last said the key
// was), and after it the limit is exact again, through the same client.
func TestRedisSentinelFailoverWhileRequestsRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failover func(*redistest.Sentinel, testing.TB) *redistest.Server
	}{
		{"sentinel failover", (*redistest.Sentinel).Failover},
		{"master killed", (*redistest.Sentinel).KillMaster},
	} {
		t.Run(tc.name, func(t *testing.T) { failoverWhileRequestsRun(t, tc.failover) })
	}
}

func failoverWhileRequestsRun(t *testing.T, failover func(*redistest.Sentinel, testing.TB) *redistest.Server) {
	s := redistest.StartSentinel(t, 1)
	client, err := redisconn.New(redisconn.Settings{SentinelMaster: s.MasterName, SentinelAddrs: s.Addrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	const burst = 20
	l := newRedis(t, redislimit.Config{
		Client: client, Prefix: "failover:",
		// No refill within the test: every allowed request spends the
		// burst.
		Rate: burst, Period: time.Hour, Burst: burst,
		FailurePolicy: ratelimit.FailLocal,
		Timeout:       time.Second, // a loaded machine; the failover itself is what fails calls
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx := context.Background()

	var allowed, calls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			// Paced load (a call per millisecond per goroutine), so that
			// the failure policy's fast answers while Redis is down do not
			// spin the machine.
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if d, _ := l.Allow(ctx, "during", 1); d.Allowed {
					allowed.Add(1)
				}
				calls.Add(1)
			}
		})
	}
	failover(s, t)
	before := calls.Load()
	// Requests go on after the failover is complete, then stop.
	for calls.Load() < before+8 {
		if d, _ := l.Allow(ctx, "during", 1); d.Allowed {
			allowed.Add(1)
		}
		calls.Add(1)
	}
	close(stop)
	wg.Wait()
	if got := allowed.Load(); got < burst || got > 2*burst {
		t.Fatalf("during the failover %d of %d requests allowed, want %d to %d", got, calls.Load(), burst, 2*burst)
	}
	t.Logf("during the failover: %d of %d requests allowed (burst %d); %+v", allowed.Load(), calls.Load(), burst, l.Stats())

	// Polling, bounded, for the client to reach the new master and the
	// breaker to let calls through: an external change converging, not
	// behaviour under test. A probe that writes (cost 1: a cost of 0 only
	// reads, which a replica answers too), answered by Redis and not by
	// the failure policy, ends it.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		st := l.Stats()
		probe := "probe" + strconv.Itoa(i/burst) // never limited
		if _, err := l.Allow(ctx, probe, 1); err == nil && l.Stats().PolicyDecisions == st.PolicyDecisions {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis not answering 10s after the failover: %+v", l.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := l.Stats()
	got := 0
	for range 2 * burst {
		if d, err := l.Allow(ctx, "after", 1); err != nil {
			t.Fatalf("after the failover: %v", err)
		} else if d.Allowed {
			got++
		}
	}
	if now := l.Stats(); now.RedisErrors != st.RedisErrors || now.PolicyDecisions != st.PolicyDecisions {
		t.Fatalf("after the failover Redis failed: %+v, then %+v", st, now)
	}
	if got != burst {
		t.Fatalf("after the failover %d of %d allowed, want exactly %d", got, 2*burst, burst)
	}
	// And on the new master, where the key lives.
	if n, err := client.Exists(ctx, "rate:failover:after").Result(); err != nil || n != 1 {
		t.Fatalf("key on the new master: %d %v", n, err)
	}
}
