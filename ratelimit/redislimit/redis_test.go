package redislimit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/ratelimit/redislimit"
)

func newRedis(t testing.TB, cfg redislimit.Config) *redislimit.Limiter {
	t.Helper()
	r, err := redislimit.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// slow is a generous bound for "did not hang": far above the 50ms Timeout,
// far below anything a stalled Redis (5s socket time-outs) would take.
const slow = time.Second

// timedAllow is allow that also fails the test when the call took longer
// than slow.
func timedAllow(t testing.TB, l ratelimit.Limiter, key string, cost int) ratelimit.Decision {
	t.Helper()
	start := time.Now()
	d := allow(t, l, key, cost)
	if took := time.Since(start); took > slow {
		t.Fatalf("Allow(%q) took %v, want well under %v", key, took, slow)
	}
	return d
}

// lockedBuffer collects log output from concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// eventLog records observer events.
type eventLog struct {
	mu     sync.Mutex
	events []ratelimit.Event
}

func (e *eventLog) observe(ev ratelimit.Event) {
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
}

func (e *eventLog) last() ratelimit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.events) == 0 {
		return ratelimit.Event{}
	}
	return e.events[len(e.events)-1]
}

func TestRedisReplicasShareOneLimitExactly(t *testing.T) {
	srv := redistest.Start(t)
	// This test is about exactness, not deadlines: a generous Timeout keeps
	// a loaded machine's first dials from turning into FailOpen answers.
	cfg := redislimit.Config{Addr: srv.Addr, Rate: 1, Period: time.Hour, Burst: 10, Timeout: 5 * time.Second}
	// Two limiters with their own clients stand for two replicas.
	replicas := []*redislimit.Limiter{newRedis(t, cfg), newRedis(t, cfg)}

	for i := range 10 {
		d := timedAllow(t, replicas[i%2], "alice", 1)
		if !d.Allowed || d.Degraded || d.Limit != 10 || d.Remaining != 9-i {
			t.Fatalf("request %d on replica %d: %+v, want allowed with %d remaining", i+1, i%2, d, 9-i)
		}
	}
	for i := range 2 {
		d := timedAllow(t, replicas[i], "alice", 1)
		if d.Allowed || d.Remaining != 0 || d.CostExceedsLimit || d.Degraded {
			t.Fatalf("replica %d past the shared burst: %+v, want denied", i, d)
		}
		// One unit per hour: the next one is about an hour away, and the
		// bucket is full again after about ten.
		if d.RetryAfter <= 59*time.Minute || d.RetryAfter > time.Hour {
			t.Fatalf("replica %d: RetryAfter %v, want just under an hour", i, d.RetryAfter)
		}
		if d.ResetAfter <= 9*time.Hour+59*time.Minute || d.ResetAfter > 10*time.Hour {
			t.Fatalf("replica %d: ResetAfter %v, want just under ten hours", i, d.ResetAfter)
		}
	}

	// Concurrently, from both replicas at once: still exactly the burst.
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for _, r := range replicas {
		for range 4 {
			wg.Go(func() {
				for range 10 {
					d, err := r.Allow(context.Background(), "bob", 1)
					if err != nil || d.Degraded {
						t.Errorf("Allow: %+v, %v", d, err)
						return
					}
					if d.Allowed {
						allowed.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	if got := allowed.Load(); got != 10 {
		t.Fatalf("80 concurrent requests from two replicas: %d allowed, want exactly 10", got)
	}
}

func TestRedisKeysUnderPrefix(t *testing.T) {
	srv := redistest.Start(t)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = raw.Close() })
	ctx := context.Background()

	def := newRedis(t, redislimit.Config{Addr: srv.Addr, Rate: 1, Period: time.Hour, Burst: 1, Timeout: 5 * time.Second})
	ok := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = ok.Close() })
	free := newRedis(t, redislimit.Config{Client: ok, Prefix: "tier:free:", Rate: 1, Period: time.Hour, Burst: 1, Timeout: 5 * time.Second})

	if d := allow(t, def, "alice", 1); !d.Allowed || d.Degraded {
		t.Fatalf("default prefix: %+v", d)
	}
	// Same key, other prefix: a bucket of its own.
	if d := allow(t, free, "alice", 1); !d.Allowed || d.Degraded {
		t.Fatalf("other prefix: %+v", d)
	}
	for _, key := range []string{"rate:jwtgate:rl:alice", "rate:tier:free:alice"} {
		n, err := raw.Exists(ctx, key).Result()
		if err != nil || n != 1 {
			t.Fatalf("EXISTS %s = %d, %v; want 1", key, n, err)
		}
		// Keys expire once the bucket would be full again.
		ttl, err := raw.TTL(ctx, key).Result()
		if err != nil || ttl <= 0 || ttl > time.Hour {
			t.Fatalf("TTL %s = %v, %v; want at most an hour", key, ttl, err)
		}
	}
	// A long key is stored as its SHA-256 behind a zero byte.
	long := strings.Repeat("z", 4096)
	if d := allow(t, def, long, 1); !d.Allowed || d.Degraded {
		t.Fatalf("long key: %+v", d)
	}
	if d := allow(t, def, long, 1); d.Allowed {
		t.Fatalf("long key past its burst of 1: %+v", d)
	}
	sum := sha256.Sum256([]byte(long))
	if n, err := raw.Exists(ctx, "rate:jwtgate:rl:\x00"+string(sum[:])).Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS for the long key's digest = %d, %v; want 1", n, err)
	}
	if err := free.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ok.Ping(ctx).Err(); err != nil {
		t.Fatalf("Close closed a client it was given: %v", err)
	}
}

func TestConfig(t *testing.T) {
	noDeadlines := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = noDeadlines.Close() })
	for _, tc := range []struct {
		name  string
		cfg   redislimit.Config
		field string
	}{
		{"no address", redislimit.Config{Rate: 1}, "Addr"},
		{"no rate", redislimit.Config{Addr: "127.0.0.1:1"}, "Rate"},
		{"negative timeout", redislimit.Config{Addr: "127.0.0.1:1", Rate: 1, Timeout: -1}, "Timeout"},
		{"unknown policy", redislimit.Config{Addr: "127.0.0.1:1", Rate: 1, FailurePolicy: 9}, "FailurePolicy"},
		{"negative cooldown", redislimit.Config{Addr: "127.0.0.1:1", Rate: 1, BreakerCooldown: -1}, "BreakerCooldown"},
		{"negative max key bytes", redislimit.Config{Addr: "127.0.0.1:1", Rate: 1, MaxKeyBytes: -1}, "MaxKeyBytes"},
		{"negative replicas", redislimit.Config{Addr: "127.0.0.1:1", Rate: 1, FailurePolicy: ratelimit.FailLocal, Replicas: -1}, "Replicas"},
		{"replicas overflowing the period", redislimit.Config{Addr: "127.0.0.1:1", Rate: 1, Period: time.Hour, FailurePolicy: ratelimit.FailLocal, Replicas: 1 << 40}, "Replicas"},
		{"negative local keys", redislimit.Config{Addr: "127.0.0.1:1", Rate: 1, FailurePolicy: ratelimit.FailLocal, LocalMaxKeys: -1}, "LocalMaxKeys"},
		{"client ignoring deadlines", redislimit.Config{Client: noDeadlines, Rate: 1}, "Client"},
		{"nil client pointer", redislimit.Config{Client: (*redis.Client)(nil), Rate: 1}, "Client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := redislimit.New(tc.cfg)
			var ce *ratelimit.ConfigError
			if r != nil || !errors.Is(err, ratelimit.ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("New = %v, %v; want a ConfigError on %s", r, err, tc.field)
			}
		})
	}
}

func TestRedisFailurePolicies(t *testing.T) {
	for _, policy := range []ratelimit.FailurePolicy{ratelimit.FailOpen, ratelimit.FailClosed, ratelimit.FailLocal} {
		t.Run(policy.String(), func(t *testing.T) {
			srv := redistest.Start(t)
			clk := jwtgatetest.NewClock(time.Time{})
			var logs lockedBuffer
			var events eventLog
			r := newRedis(t, redislimit.Config{
				Addr: srv.Addr, Rate: 1, Period: time.Hour, Burst: 3,
				// Short, but with room for a loaded CI machine while
				// Redis is up; the stalled-Redis test checks the default.
				Timeout:         250 * time.Millisecond,
				FailurePolicy:   policy,
				BreakerFailures: -1, // every call tries Redis
				Now:             clk.Now,
				Logger:          slog.New(slog.NewTextHandler(&logs, nil)),
				Observer:        events.observe,
			})

			if d := waitUntilRedisUsed(t, r, clk, "warm-up"); d.Degraded {
				t.Fatalf("Redis never answered: %+v", d)
			}
			if d := timedAllow(t, r, "k", 2); !d.Allowed || d.Degraded || d.Remaining != 1 {
				t.Fatalf("with Redis up: %+v", d)
			}

			logged := len(logs.String())
			srv.Stop()
			var got []ratelimit.Decision
			for i := range 4 {
				d := timedAllow(t, r, "k", 1)
				if !d.Degraded {
					t.Fatalf("call %d with Redis down: %+v, want Degraded", i+1, d)
				}
				ev := events.last()
				if ev.Outcome != ratelimit.OutcomeError || !errors.Is(ev.Err, ratelimit.ErrUnavailable) ||
					ev.Policy != policy || ev.RedisSkipped || ev.Decision != d || ev.Backend != "redis" {
					t.Fatalf("call %d: event %+v", i+1, ev)
				}
				got = append(got, d)
			}
			for i, d := range got {
				switch policy {
				case ratelimit.FailOpen:
					if !d.Allowed || d.Remaining != 2 || d.Limit != 3 {
						t.Fatalf("FailOpen call %d: %+v, want allowed as from a full bucket", i+1, d)
					}
				case ratelimit.FailClosed:
					if d.Allowed || d.RetryAfter != time.Second || d.Remaining != 0 {
						t.Fatalf("FailClosed call %d: %+v, want denied, retry after 1s", i+1, d)
					}
				case ratelimit.FailLocal:
					// The local bucket starts where Redis left k (one
					// unit of 3), not full.
					if d.Allowed != (i < 1) || (!d.Allowed && d.RetryAfter <= 59*time.Minute) {
						t.Fatalf("FailLocal call %d: %+v, want the one unit Redis had left, then denied", i+1, d)
					}
				}
			}
			if d := timedAllow(t, r, "k", 4); d.Allowed || !d.CostExceedsLimit || !d.Degraded {
				t.Fatalf("cost above the burst with Redis down: %+v, want denied whatever the policy", d)
			}
			st := r.Stats()
			if st.RedisErrors < 5 || st.PolicyDecisions < 5 || st.RedisErrors != st.PolicyDecisions || st.BreakerOpen {
				t.Fatalf("stats %+v, want 5 errors, 5 policy decisions, breaker never opened", st)
			}
			if n := strings.Count(logs.String()[logged:], "level=WARN"); n != 1 {
				t.Fatalf("outage logged %d times, want once:\n%s", n, logs.String())
			}

			// Redis comes back, empty, on the same port: limiting resumes
			// by itself.
			srv.Restart()
			resumed := waitUntilRedisUsed(t, r, clk, "probe")
			if resumed.Degraded {
				t.Fatalf("limiting did not resume: %+v", resumed)
			}
			for i := range 3 {
				if d := timedAllow(t, r, "k", 1); !d.Allowed || d.Degraded || d.Remaining != 2-i {
					t.Fatalf("after recovery, request %d: %+v", i+1, d)
				}
			}
			if d := timedAllow(t, r, "k", 1); d.Allowed || d.Degraded {
				t.Fatalf("after recovery, past the burst: %+v, want limited by Redis", d)
			}
			if !strings.Contains(logs.String()[logged:], "redis available again") {
				t.Fatalf("recovery not logged:\n%s", logs.String())
			}
		})
	}
}

// TestRedisFailLocalOutageOpensNoBurst is two replicas (two limiters, one
// redis-server) losing Redis: in the first second of the outage they
// together allow a key no more than the bound FailLocal documents, where
// fallback buckets that started full allowed 2 × (Burst + Rate) = 40.
func TestRedisFailLocalOutageOpensNoBurst(t *testing.T) {
	const rate = 10 // per second, and the burst
	for _, tc := range []struct {
		name     string
		replicas int
		spent    bool // the key used up its burst through Redis first
		bound    int
	}{
		// Burst + Rate·1s: what one shared bucket allows a full key.
		{"new key, Replicas 2", 2, false, rate + rate},
		// S + Rate·1s with S ≈ 0; the 1 is for what Redis's real clock
		// earned between the last decision and the outage.
		{"spent key, Replicas 2", 2, true, rate + 1},
		// Without Replicas each replica has the whole rate, but still
		// starts from what Redis said was left.
		{"spent key, Replicas unset", 0, true, 2 * (rate + 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			clk := jwtgatetest.NewClock(time.Time{})
			cfg := redislimit.Config{
				Addr: srv.Addr, Rate: rate, Burst: rate, Timeout: 5 * time.Second,
				FailurePolicy: ratelimit.FailLocal, Replicas: tc.replicas,
				Now: clk.Now, Logger: slog.New(slog.DiscardHandler),
			}
			replicas := []*redislimit.Limiter{newRedis(t, cfg), newRedis(t, cfg)}
			for _, r := range replicas {
				if d := allow(t, r, "warm-up", 1); d.Degraded {
					t.Fatalf("Redis never answered: %+v", d)
				}
			}
			if tc.spent {
				// Alternate, and end with a denial on each replica, so
				// each last saw the key empty.
				for i := range rate + 2 {
					if d := allow(t, replicas[i%2], "k", 1); d.Degraded || d.Allowed != (i < rate) {
						t.Fatalf("request %d with Redis up: %+v", i+1, d)
					}
				}
			}

			srv.Stop()
			allowed := 0
			for step := 0; step <= 100; step++ { // 0 to 1s in 10ms steps
				for _, r := range replicas {
					for range 3 {
						d := allow(t, r, "k", 1)
						if !d.Degraded {
							t.Fatalf("at %dms with Redis down: %+v, want Degraded", step*10, d)
						}
						if d.Allowed {
							allowed++
						}
					}
				}
				clk.Advance(10 * time.Millisecond)
			}
			t.Logf("first second of the outage: %d allowed across both replicas (bound %d)", allowed, tc.bound)
			if allowed > tc.bound {
				t.Fatalf("first second of the outage: %d allowed across both replicas, want at most %d", allowed, tc.bound)
			}
			// Not denied outright either: the replicas still share the rate.
			if allowed < rate-1 {
				t.Fatalf("first second of the outage: %d allowed, want about the rate (%d) at least", allowed, rate)
			}
		})
	}
}

// TestRedisFailLocalShareRefusesCostAboveIt: a cost above a replica's share
// but within the shared burst is refused while Redis is down, as a wait,
// not as a cost that can never be allowed.
func TestRedisFailLocalShareRefusesCostAboveIt(t *testing.T) {
	clk := jwtgatetest.NewClock(time.Time{})
	r := newRedis(t, redislimit.Config{
		Addr: closedAddr(t), Rate: 10, FailurePolicy: ratelimit.FailLocal, Replicas: 4,
		Now: clk.Now, Logger: slog.New(slog.DiscardHandler),
	})
	if d := allow(t, r, "k", 3); d.Allowed || d.CostExceedsLimit || !d.Degraded || d.RetryAfter != time.Second || d.Limit != 2 {
		t.Fatalf("cost 3, share 10/4 = 2: %+v, want denied for now (retry after 1s), Limit the share", d)
	}
	if d := allow(t, r, "k", 11); d.Allowed || !d.CostExceedsLimit {
		t.Fatalf("cost 11 of 10: %+v, want CostExceedsLimit", d)
	}
	for i := range 3 {
		if d := allow(t, r, "k", 1); d.Allowed != (i < 2) {
			t.Fatalf("request %d: %+v, want the share of 2, then denied", i+1, d)
		}
	}
}

// TestRedisOutageLogging: during an outage go-redis's own dial errors reach
// slog (slog.Default, at Debug) instead of stderr, and the limiter's
// configured Logger gets one Warn for the whole outage, not one per
// request. go-redis has one process-wide logger, so once its lines arrive
// through slog none go to stderr. Not parallel: it swaps slog.Default.
func TestRedisOutageLogging(t *testing.T) {
	var defaultLog lockedBuffer
	captureDefaultSlog(t, &defaultLog)

	clk := jwtgatetest.NewClock(time.Time{})
	var own lockedBuffer
	r := newRedis(t, redislimit.Config{
		Addr: closedAddr(t), Rate: 10, FailurePolicy: ratelimit.FailLocal,
		Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&own, nil)),
	})
	for range 30 {
		if d := timedAllow(t, r, "k", 1); !d.Degraded {
			t.Fatalf("Redis down: %+v, want Degraded", d)
		}
		clk.Advance(200 * time.Millisecond) // past the 1s cooldown every 5 calls: probes, so dials
	}
	if st := r.Stats(); st.RedisErrors < 5 {
		t.Fatalf("stats %+v: want several failed tries of Redis (dials)", st)
	}

	dials := 0
	for line := range strings.Lines(defaultLog.String()) {
		if !strings.Contains(line, "logger=go-redis") {
			continue
		}
		if !strings.Contains(line, "level=DEBUG") || !strings.Contains(line, "failed to dial") {
			t.Fatalf("go-redis line not a Debug dial failure: %s", line)
		}
		dials++
	}
	if dials == 0 {
		t.Fatalf("no go-redis dial errors reached slog.Default (still printed to stderr?):\n%s", defaultLog.String())
	}
	logged := own.String()
	if n := strings.Count(logged, "level=WARN"); n != 1 || !strings.Contains(logged, "redis unavailable") {
		t.Fatalf("the limiter's Logger got %d Warn lines for 30 requests in one outage, want 1:\n%s", n, logged)
	}
	if strings.Contains(logged, "go-redis") {
		t.Fatalf("go-redis lines in the limiter's Logger:\n%s", logged)
	}
	t.Logf("%d go-redis dial errors went to slog.Default at Debug; the limiter logged:\n%s", dials, logged)
}

// captureDefaultSlog points slog.Default at w, at Debug, for the rest of
// the test. slog.SetDefault also redirects the log package's output, and
// putting the old default back does not undo that, so both are restored.
func captureDefaultSlog(t *testing.T, w io.Writer) {
	t.Helper()
	prev, prevOut, prevFlags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		slog.SetDefault(prev)
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
	})
}

// closedAddr is a loopback address nothing listens on: Redis down from the
// start.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// waitUntilRedisUsed calls Allow until a decision comes from Redis again,
// moving the limiter's clock past any breaker cooldown between tries. The
// real-time bound covers go-redis's own reconnect back-off (it re-dials at
// most once a second after repeated dial errors).
func waitUntilRedisUsed(t *testing.T, r *redislimit.Limiter, clk *jwtgatetest.Clock, key string) ratelimit.Decision {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := timedAllow(t, r, key, 1)
		if !d.Degraded || time.Now().After(deadline) {
			return d
		}
		clk.Advance(time.Second)
		time.Sleep(10 * time.Millisecond) // polling an external process, not behaviour under test
	}
}

func TestRedisSlowRedisNeverStallsRequests(t *testing.T) {
	srv := redistest.Start(t)
	clk := jwtgatetest.NewClock(time.Time{})
	var events eventLog
	r := newRedis(t, redislimit.Config{
		Addr: srv.Addr, Rate: 10, Burst: 10,
		FailurePolicy:   ratelimit.FailClosed,
		BreakerFailures: -1,
		Now:             clk.Now,
		Logger:          slog.New(slog.NewTextHandler(&lockedBuffer{}, nil)),
		Observer:        events.observe,
	})
	if d := waitUntilRedisUsed(t, r, clk, "k"); !d.Allowed || d.Degraded {
		t.Fatalf("before the stall: %+v", d)
	}

	srv.Pause() // connections hang: only the 50ms Timeout ends a call
	var longest time.Duration
	for i := range 5 {
		start := time.Now()
		d := timedAllow(t, r, "k", 1)
		longest = max(longest, time.Since(start))
		if d.Allowed || !d.Degraded {
			t.Fatalf("call %d against a stalled Redis with FailClosed: %+v", i+1, d)
		}
		if ev := events.last(); !errors.Is(ev.Err, ratelimit.ErrUnavailable) || ev.Latency < 40*time.Millisecond {
			t.Fatalf("call %d: event %+v, want a timeout after ~50ms", i+1, ev)
		}
	}
	t.Logf("longest call against a stalled Redis: %v (Timeout 50ms)", longest)

	srv.Resume()
	if d := waitUntilRedisUsed(t, r, clk, "k"); d.Degraded || !d.Allowed {
		t.Fatalf("after the stall: %+v, want Redis deciding again", d)
	}
}

func TestRedisBreakerSkipsRedisThenProbes(t *testing.T) {
	srv := redistest.Start(t)
	clk := jwtgatetest.NewClock(time.Time{})
	var events eventLog
	r := newRedis(t, redislimit.Config{
		Addr: srv.Addr, Rate: 10,
		Timeout:         250 * time.Millisecond,
		BreakerFailures: 2,
		BreakerCooldown: 5 * time.Second,
		Now:             clk.Now,
		Logger:          slog.New(slog.NewTextHandler(&lockedBuffer{}, nil)),
		Observer:        events.observe,
	})
	if d := waitUntilRedisUsed(t, r, clk, "k"); d.Degraded {
		t.Fatalf("Redis never answered: %+v", d)
	}
	srv.Stop()

	for i := range 2 {
		if d := timedAllow(t, r, "k", 1); !d.Allowed || !d.Degraded || events.last().RedisSkipped {
			t.Fatalf("failure %d: %+v, %+v; want FailOpen after trying Redis", i+1, d, events.last())
		}
	}
	if !r.Stats().BreakerOpen {
		t.Fatal("breaker not open after 2 failures")
	}
	for i := range 3 {
		d := timedAllow(t, r, "k", 1)
		ev := events.last()
		if !d.Allowed || !d.Degraded || !ev.RedisSkipped || ev.Latency != 0 || !errors.Is(ev.Err, ratelimit.ErrUnavailable) {
			t.Fatalf("call %d while open: %+v, %+v; want FailOpen without trying Redis", i+1, d, ev)
		}
	}
	before := r.Stats()
	if d := timedAllow(t, r, "k", 1); !d.Degraded || !events.last().RedisSkipped {
		t.Fatalf("still open: %+v", d)
	}
	if st := r.Stats(); st.RedisErrors != before.RedisErrors || st.PolicyDecisions != before.PolicyDecisions+1 {
		t.Fatalf("stats %+v after %+v: a skipped call must count as a policy decision, not a Redis error", st, before)
	}

	clk.Advance(5 * time.Second)
	timedAllow(t, r, "k", 1) // the probe: tries Redis, fails, reopens
	if ev := events.last(); ev.RedisSkipped {
		t.Fatalf("after the cooldown: %+v, want a probe of Redis", ev)
	}
	timedAllow(t, r, "k", 1)
	if ev := events.last(); !ev.RedisSkipped {
		t.Fatalf("right after a failed probe: %+v, want Redis skipped", ev)
	}

	srv.Restart()
	if d := waitUntilRedisUsed(t, r, clk, "k"); d.Degraded {
		t.Fatalf("Redis back: %+v, want it used again", d)
	}
	if r.Stats().BreakerOpen {
		t.Fatal("breaker still open after a successful probe")
	}
}

func TestRedisCallerContextEnded(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, redislimit.Config{Addr: srv.Addr, Rate: 10})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := r.Allow(ctx, "k", 1)
	if !errors.Is(err, context.Canceled) || d.Allowed {
		t.Fatalf("Allow with a cancelled context: %+v, %v", d, err)
	}
	if st := r.Stats(); st.RedisErrors != 0 || st.PolicyDecisions != 0 {
		t.Fatalf("the caller's cancellation counted as a Redis failure: %+v", st)
	}
}

func TestRedisAllowAfterCloseUsesPolicy(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, redislimit.Config{
		Addr: srv.Addr, Rate: 10, FailurePolicy: ratelimit.FailClosed,
		Logger: slog.New(slog.NewTextHandler(&lockedBuffer{}, nil)),
	})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if d := timedAllow(t, r, "k", 1); d.Allowed || !d.Degraded {
		t.Fatalf("Allow after Close: %+v, want the FailClosed decision", d)
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	srv := redistest.Start(b)
	r := newRedis(b, redislimit.Config{
		Addr: srv.Addr, Rate: 1 << 30, Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "subject-" + strconv.Itoa(i)
	}
	ctx := context.Background()
	// A degraded answer (Redis too slow on a loaded machine) is counted
	// and reported, not fatal: the number is then worth less, and says so.
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		var degraded int
		i := 0
		for b.Loop() {
			d, err := r.Allow(ctx, keys[i&1023], 1)
			if err != nil {
				b.Fatal(err)
			}
			if d.Degraded {
				degraded++
			}
			i++
		}
		b.ReportMetric(float64(degraded), "degraded")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(4) // several calls in flight per core: Redis round trips overlap
		var seq atomic.Uint32
		var degraded atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 7919
			for pb.Next() {
				d, err := r.Allow(ctx, keys[i&1023], 1)
				if err != nil {
					b.Error(err)
					return
				}
				if d.Degraded {
					degraded.Add(1)
				}
				i++
			}
		})
		b.ReportMetric(float64(degraded.Load()), "degraded")
	})
}

// Local and Redis give the same answers for the same sequence (no refill
// to speak of: one unit an hour), so the headers do not depend on which
// limiter a service runs.
func TestLocalAndRedisAgree(t *testing.T) {
	srv := redistest.Start(t)
	clk := jwtgatetest.NewClock(time.Time{})
	local, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1, Period: time.Hour, Burst: 5, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	shared := newRedis(t, redislimit.Config{Addr: srv.Addr, Rate: 1, Period: time.Hour, Burst: 5, Timeout: 5 * time.Second})
	for i, cost := range []int{1, 2, 0, 3, 1, 6, 1, 1, 0, 2} {
		l, r := allow(t, local, "k", cost), allow(t, shared, "k", cost)
		if l.Allowed != r.Allowed || l.Remaining != r.Remaining || l.Limit != r.Limit || l.CostExceedsLimit != r.CostExceedsLimit {
			t.Fatalf("step %d, cost %d: local %+v, redis %+v", i+1, cost, l, r)
		}
		// Times differ by the milliseconds the test takes.
		for _, p := range [][2]time.Duration{{l.RetryAfter, r.RetryAfter}, {l.ResetAfter, r.ResetAfter}} {
			if d := p[0] - p[1]; d > time.Second || d < -time.Second {
				t.Fatalf("step %d, cost %d: local %+v, redis %+v", i+1, cost, l, r)
			}
		}
	}
}

func TestRedisObserverSeesEveryDecision(t *testing.T) {
	srv := redistest.Start(t)
	var events eventLog
	r := newRedis(t, redislimit.Config{
		Addr: srv.Addr, Rate: 1, Period: time.Hour, Burst: 1, Timeout: 5 * time.Second,
		Observer: events.observe,
	})
	first := allow(t, r, "obs", 1)
	second := allow(t, r, "obs", 1)
	events.mu.Lock()
	got := append([]ratelimit.Event(nil), events.events...)
	events.mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d events for 2 calls", len(got))
	}
	for i, want := range []struct {
		outcome ratelimit.Outcome
		d       ratelimit.Decision
	}{{ratelimit.OutcomeAllowed, first}, {ratelimit.OutcomeLimited, second}} {
		e := got[i]
		if e.Backend != "redis" || e.Outcome != want.outcome || e.Decision != want.d || e.Key != "obs" ||
			e.Cost != 1 || e.Err != nil || e.RedisSkipped || e.Latency <= 0 {
			t.Fatalf("event %d: %+v, want %v with the returned decision and a latency", i+1, e, want.outcome)
		}
	}
	if s := got[1].Outcome.String(); s != "limited" {
		t.Fatalf("Outcome.String() = %q", s)
	}
	for p, s := range map[ratelimit.FailurePolicy]string{ratelimit.FailOpen: "open", ratelimit.FailClosed: "closed", ratelimit.FailLocal: "local"} {
		if p.String() != s {
			t.Fatalf("%d.String() = %q, want %q", p, p.String(), s)
		}
	}
}
