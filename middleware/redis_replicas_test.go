package middleware_test

// Two Verifiers stand for two replicas of a service, each with its own
// Redis client, sharing one rate limit through a real redis-server.

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/ratelimit/redislimit"
)

const replicaAudience = "api"

// replicaKeys is the identity provider whose tokens both replicas verify.
type replicaKeys struct{ idp *jwtgatetest.Issuer }

func newReplicaKeys(t *testing.T) replicaKeys {
	t.Helper()
	return replicaKeys{jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"EdDSA"}, Audience: replicaAudience})}
}

func (k replicaKeys) token(t *testing.T, sub string, extra map[string]any) string {
	t.Helper()
	return k.idp.Mint(t, jwtgatetest.Claims{Subject: sub, Extra: extra})
}

// replica is one Verifier in front of a handler that answers 200.
func replica(t *testing.T, keys replicaKeys, rl middleware.RateLimit) http.Handler {
	t.Helper()
	v, err := middleware.New(middleware.Config{
		Keys:      keys.idp.Keys(t),
		Issuers:   []string{keys.idp.Issuer()},
		Audiences: []string{replicaAudience},
		RateLimit: rl,
	})
	if err != nil {
		t.Fatalf("middleware.New: %v", err)
	}
	return v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
}

func redisLimiter(t *testing.T, cfg redislimit.Config) *redislimit.Limiter {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l, err := redislimit.New(cfg)
	if err != nil {
		t.Fatalf("redislimit.New: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

type answer struct {
	status int
	header http.Header
	body   string
}

func get(h http.Handler, token string) answer {
	req := httptest.NewRequest(http.MethodGet, "http://api.test/v1/things", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

func headerInt(t *testing.T, a answer, name string) int {
	t.Helper()
	v := a.header.Get(name)
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s = %q, want a number (status %d, headers %v)", name, v, a.status, a.header)
	}
	return n
}

func TestReplicasShareOneRedisLimitExactly(t *testing.T) {
	srv := redistest.Start(t)
	keys := newReplicaKeys(t)
	// One unit an hour, bursts of 5: nothing refills during the test. A
	// generous Timeout: this test is about exactness, not deadlines.
	cfg := redislimit.Config{Addr: srv.Addr, Rate: 1, Period: time.Hour, Burst: 5, Timeout: 5 * time.Second}
	replicas := []http.Handler{
		replica(t, keys, middleware.RateLimit{Limiter: redisLimiter(t, cfg)}),
		replica(t, keys, middleware.RateLimit{Limiter: redisLimiter(t, cfg)}),
	}
	alice := keys.token(t, "alice", nil)

	for i := range 5 {
		a := get(replicas[i%2], alice)
		if a.status != http.StatusOK {
			t.Fatalf("request %d on replica %d: %d %s, want 200", i+1, i%2, a.status, a.body)
		}
		if got := headerInt(t, a, "RateLimit-Limit"); got != 5 {
			t.Fatalf("request %d: RateLimit-Limit %d, want 5", i+1, got)
		}
		if got := headerInt(t, a, "RateLimit-Remaining"); got != 4-i {
			t.Fatalf("request %d on replica %d: RateLimit-Remaining %d, want %d (one limit for both replicas)", i+1, i%2, got, 4-i)
		}
		// Reset: seconds until the bucket is full again, i+1 hours away.
		if got, want := headerInt(t, a, "RateLimit-Reset"), (i+1)*3600; got > want || got < want-60 {
			t.Fatalf("request %d: RateLimit-Reset %d, want about %d", i+1, got, want)
		}
		if a.header.Get("Retry-After") != "" {
			t.Fatalf("request %d: Retry-After on an allowed request", i+1)
		}
	}
	for i := range 2 {
		a := get(replicas[i], alice)
		if a.status != http.StatusTooManyRequests || !strings.Contains(a.body, `"rate_limited"`) {
			t.Fatalf("replica %d past the shared burst: %d %s, want 429 rate_limited", i, a.status, a.body)
		}
		if got := headerInt(t, a, "Retry-After"); got > 3600 || got < 3540 {
			t.Fatalf("replica %d: Retry-After %d, want about an hour (one unit an hour)", i, got)
		}
		if headerInt(t, a, "RateLimit-Remaining") != 0 || headerInt(t, a, "RateLimit-Limit") != 5 {
			t.Fatalf("replica %d: RateLimit headers %v", i, a.header)
		}
	}
	// Another subject has a bucket of its own.
	if a := get(replicas[1], keys.token(t, "bob", nil)); a.status != http.StatusOK || headerInt(t, a, "RateLimit-Remaining") != 4 {
		t.Fatalf("bob: %d %v", a.status, a.header)
	}

	// Both replicas at once, from several goroutines: still exactly 5.
	carol := keys.token(t, "carol", nil)
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for _, h := range replicas {
		for range 4 {
			wg.Go(func() {
				for range 5 {
					switch a := get(h, carol); a.status {
					case http.StatusOK:
						ok.Add(1)
					case http.StatusTooManyRequests:
						limited.Add(1)
					default:
						t.Errorf("unexpected %d %s", a.status, a.body)
					}
				}
			})
		}
	}
	wg.Wait()
	if ok.Load() != 5 || limited.Load() != 35 {
		t.Fatalf("40 concurrent requests over two replicas: %d allowed, %d limited; want exactly 5 and 35", ok.Load(), limited.Load())
	}
}

func TestReplicasRedisCostAndTiers(t *testing.T) {
	srv := redistest.Start(t)
	keys := newReplicaKeys(t)
	newTiers := func() middleware.RateLimit {
		base := redislimit.Config{Addr: srv.Addr, Rate: 1, Period: time.Hour, Timeout: 5 * time.Second}
		free, pro := base, base
		free.Prefix, free.Burst = "test:free:", 4
		pro.Prefix, pro.Burst = "test:pro:", 20
		return middleware.RateLimit{
			Limiter:   redisLimiter(t, free),
			TierClaim: "plan",
			Tiers:     map[string]ratelimit.Limiter{"pro": redisLimiter(t, pro)},
			// An LLM-style route: a request weighs what its "units" claim
			// says (a request header in real life).
			Cost: func(c *middleware.Claims, r *http.Request) int {
				if n, err := strconv.Atoi(r.Header.Get("X-Units")); err == nil {
					return n
				}
				return 1
			},
		}
	}
	a, b := replica(t, keys, newTiers()), replica(t, keys, newTiers())

	heavy := func(h http.Handler, token string, units int) answer {
		req := httptest.NewRequest(http.MethodPost, "http://api.test/v1/chat", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Units", strconv.Itoa(units))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	}

	free := keys.token(t, "dave", map[string]any{"plan": "free"})
	if r := heavy(a, free, 3); r.status != http.StatusOK || headerInt(t, r, "RateLimit-Remaining") != 1 {
		t.Fatalf("free, cost 3 of 4 on replica a: %d %v", r.status, r.header)
	}
	if r := heavy(b, free, 2); r.status != http.StatusTooManyRequests || headerInt(t, r, "RateLimit-Remaining") != 1 {
		t.Fatalf("free, cost 2 with 1 left on replica b: %d %v, want 429", r.status, r.header)
	}
	if r := heavy(b, free, 1); r.status != http.StatusOK || headerInt(t, r, "RateLimit-Remaining") != 0 {
		t.Fatalf("free, cost 1 with 1 left on replica b: %d %v", r.status, r.header)
	}
	// A cost above the burst is refused, whatever the wait.
	if r := heavy(a, keys.token(t, "erin", map[string]any{"plan": "free"}), 5); r.status != http.StatusTooManyRequests {
		t.Fatalf("cost 5 above the free burst of 4: %d, want 429", r.status)
	}

	// The same subject on the pro tier: its own, larger bucket.
	pro := keys.token(t, "dave", map[string]any{"plan": "pro"})
	if r := heavy(b, pro, 15); r.status != http.StatusOK || headerInt(t, r, "RateLimit-Limit") != 20 || headerInt(t, r, "RateLimit-Remaining") != 5 {
		t.Fatalf("pro, cost 15 of 20: %d %v", r.status, r.header)
	}
	if r := heavy(a, pro, 6); r.status != http.StatusTooManyRequests {
		t.Fatalf("pro, cost 6 with 5 left on the other replica: %d, want 429", r.status)
	}
}

func TestReplicasWhenRedisFails(t *testing.T) {
	srv := redistest.Start(t)
	keys := newReplicaKeys(t)
	base := redislimit.Config{Addr: srv.Addr, Rate: 1, Period: time.Hour, Burst: 2, Timeout: 250 * time.Millisecond, BreakerFailures: -1}
	open, closed := base, base
	open.FailurePolicy, closed.FailurePolicy = ratelimit.FailOpen, ratelimit.FailClosed
	closed.Prefix = "test:closed:"
	replicaOpen := replica(t, keys, middleware.RateLimit{Limiter: redisLimiter(t, open)})
	replicaClosed := replica(t, keys, middleware.RateLimit{Limiter: redisLimiter(t, closed)})
	frank := keys.token(t, "frank", nil)

	// Warm up both (first connections), then use up frank's burst.
	waitFor := func(h http.Handler, status int) answer {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			a := get(h, frank)
			if a.status == status || time.Now().After(deadline) {
				return a
			}
			time.Sleep(10 * time.Millisecond) // polling an external process
		}
	}
	for _, h := range []http.Handler{replicaOpen, replicaClosed} {
		if a := waitFor(h, http.StatusTooManyRequests); a.status != http.StatusTooManyRequests {
			t.Fatalf("never limited with Redis up: %d %s", a.status, a.body)
		}
	}

	srv.Stop()
	for i := range 3 {
		start := time.Now()
		a := get(replicaOpen, frank)
		if a.status != http.StatusOK {
			t.Fatalf("FailOpen, Redis down, request %d: %d %s, want 200", i+1, a.status, a.body)
		}
		b := get(replicaClosed, frank)
		if b.status != http.StatusTooManyRequests || b.header.Get("Retry-After") != "1" {
			t.Fatalf("FailClosed, Redis down, request %d: %d %v, want 429 with Retry-After 1", i+1, b.status, b.header)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("two requests with Redis down took %v", took)
		}
	}

	// Redis back, empty: limiting resumes on its own, by Redis.
	srv.Restart()
	if a := waitFor(replicaClosed, http.StatusOK); a.status != http.StatusOK || a.header.Get("RateLimit-Remaining") != "1" {
		t.Fatalf("FailClosed after Redis came back: %d %v, want 200 with 1 remaining", a.status, a.header)
	}
	if a := get(replicaOpen, frank); a.status != http.StatusOK {
		t.Fatalf("FailOpen after Redis came back: %d", a.status)
	}
	if a := get(replicaOpen, frank); a.status != http.StatusOK || a.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("FailOpen after Redis came back, 2nd: %d %v", a.status, a.header)
	}
	if a := get(replicaOpen, frank); a.status != http.StatusTooManyRequests {
		t.Fatalf("FailOpen after Redis came back, past the burst: %d, want 429 from Redis", a.status)
	}
}
