package middleware

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// bucketLimiter is a small real limiter over golang.org/x/time/rate, one
// bucket per key, on an injected clock, so the wiring is tested against
// real token-bucket arithmetic.
type bucketLimiter struct {
	mu      sync.Mutex
	r       rate.Limit
	burst   int
	now     func() time.Time
	buckets map[string]*rate.Limiter // guarded by mu
	calls   []string                 // keys seen, guarded by mu
}

func newBucketLimiter(perSec float64, burst int, now func() time.Time) *bucketLimiter {
	return &bucketLimiter{r: rate.Limit(perSec), burst: burst, now: now, buckets: map[string]*rate.Limiter{}}
}

func (l *bucketLimiter) Allow(_ context.Context, key string, cost int) (ratelimit.Decision, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, key+"/"+strconv.Itoa(cost))
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(l.r, l.burst)
		l.buckets[key] = b
	}
	now := l.now()
	res := b.ReserveN(now, cost)
	d := ratelimit.Decision{Limit: l.burst}
	if !res.OK() {
		return d, nil
	}
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		d.RetryAfter = delay
	} else {
		d.Allowed = true
	}
	tokens := b.TokensAt(now)
	d.Remaining = int(tokens)
	d.ResetAfter = time.Duration((float64(l.burst) - tokens) / float64(l.r) * float64(time.Second))
	return d, nil
}

func TestRateLimit(t *testing.T) {
	k := keys(t)
	clk := jwtgatetest.NewClock(testNow)
	lim := newBucketLimiter(1, 2, clk.Now) // 1/s, burst 2
	cfg := baseConfig(memKeys(t))
	cfg.RateLimit = RateLimit{Limiter: lim}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(okHandler)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims())
	other := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "sub", "user-2"))

	for i, wantRemaining := range []string{"1", "0"} {
		got := do(h, bearerReq(tok))
		if got.status != 200 {
			t.Fatalf("request %d: %d %s", i, got.status, got.body)
		}
		if got.header.Get("RateLimit-Limit") != "2" || got.header.Get("RateLimit-Remaining") != wantRemaining || got.header.Get("RateLimit-Reset") == "" {
			t.Errorf("request %d: allowed response headers %v", i, got.header)
		}
	}
	got := do(h, bearerReq(tok))
	if got.status != http.StatusTooManyRequests {
		t.Fatalf("third request: %d, want 429", got.status)
	}
	if got.header.Get("Retry-After") != "1" || got.header.Get("RateLimit-Limit") != "2" || got.header.Get("RateLimit-Remaining") != "0" || got.header.Get("RateLimit-Reset") != "2" {
		t.Errorf("429 headers: %v", got.header)
	}
	if got.body != bodyOf("rate_limited", "rate limit exceeded")+"\n" {
		t.Errorf("429 body %q", got.body)
	}
	// Another subject has its own bucket.
	if got := do(h, bearerReq(other)); got.status != 200 {
		t.Fatalf("other subject: %d", got.status)
	}
	// Time refills the bucket.
	clk.Advance(time.Second)
	if got := do(h, bearerReq(tok)); got.status != 200 {
		t.Fatalf("after refill: %d", got.status)
	}
	// The error carries the Decision.
	rec := do(h, bearerReq(tok))
	if rec.status != 429 {
		t.Fatalf("want 429, got %d", rec.status)
	}
	_, aerr := v.Authenticate(newRecorder(), bearerReq(tok))
	var e *Error
	if !errors.Is(aerr, ErrRateLimited) || !errors.As(aerr, &e) {
		t.Fatalf("Authenticate over the limit: %v", aerr)
	}
	if d, ok := e.Decision(); !ok || d.Allowed || d.RetryAfter <= 0 {
		t.Fatalf("Authenticate over the limit: %v (%+v)", aerr, e)
	}
}

func TestRateLimitKeyCostTiersAndRoutes(t *testing.T) {
	k := keys(t)
	clk := jwtgatetest.NewClock(testNow)
	free := newBucketLimiter(1, 1, clk.Now)
	pro := newBucketLimiter(1, 100, clk.Now)
	def := newBucketLimiter(1, 5, clk.Now)
	cfg := baseConfig(memKeys(t))
	var events []RateLimitEvent
	cfg.RateLimit = RateLimit{
		Limiter:    def,
		TierClaim:  "plan",
		Tiers:      map[string]ratelimit.Limiter{"free": free, "pro": pro},
		Cost:       func(c *Claims, r *http.Request) int { n, _ := strconv.Atoi(r.Header.Get("X-Cost")); return n },
		OnDecision: func(e RateLimitEvent) { events = append(events, e) },
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(okHandler)
	req := func(claims map[string]any, cost string) *http.Request {
		r := bearerReq(sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, claims))
		r.Header.Set("X-Cost", cost)
		return r
	}
	if got := do(h, req(with(goodClaims(), "plan", "free"), "1")); got.status != 200 || got.header.Get("RateLimit-Limit") != "1" {
		t.Fatalf("free tier first: %d %v", got.status, got.header)
	}
	if got := do(h, req(with(goodClaims(), "plan", "free"), "1")); got.status != 429 {
		t.Fatalf("free tier second: %d", got.status)
	}
	if got := do(h, req(with(goodClaims(), "plan", "pro"), "60")); got.status != 200 || got.header.Get("RateLimit-Remaining") != "40" {
		t.Fatalf("pro tier cost 60: %d %v", got.status, got.header)
	}
	if got := do(h, req(with(goodClaims(), "plan", "gold"), "0")); got.status != 200 || got.header.Get("RateLimit-Limit") != "5" {
		t.Fatalf("unknown tier uses default: %d %v", got.status, got.header)
	}
	if def.calls[0] != "user-1/1" {
		t.Errorf("default limiter calls %v: cost 0 must count as 1", def.calls)
	}
	// Key falls back to azp, then client_id, each under its own prefix.
	do(h, req(with(goodClaims(), "sub", nil, "azp", "app-7"), "1"))
	do(h, req(with(goodClaims(), "sub", nil, "client_id", "cli-9"), "1"))
	if got := def.calls[1:]; len(got) != 2 || got[0] != "azp:app-7/1" || got[1] != "client_id:cli-9/1" {
		t.Errorf("fallback keys %v", got)
	}
	if len(events) != 6 || events[1].Reason != "limited" || events[0].Tier != "free" {
		t.Errorf("events %+v", events)
	}

	// A route with its own policy; a zero RateLimit turns limiting off.
	strict := newBucketLimiter(1, 1, clk.Now)
	rh := v.With(Route{RateLimit: &RateLimit{Limiter: strict}}).Handler(okHandler)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "sub", "route-user"))
	if got := do(rh, bearerReq(tok)); got.status != 200 {
		t.Fatal(got.status)
	}
	if got := do(rh, bearerReq(tok)); got.status != 429 {
		t.Fatalf("route limit: %d", got.status)
	}
	off := v.With(Route{RateLimit: &RateLimit{}}).Handler(okHandler)
	for range 3 {
		if got := do(off, bearerReq(tok)); got.status != 200 || got.header.Get("RateLimit-Limit") != "" {
			t.Fatalf("route without limit: %d %v", got.status, got.header)
		}
	}
}

type erroringLimiter struct{}

func (erroringLimiter) Allow(context.Context, string, int) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, errors.New("redis: connection refused")
}

func TestRateLimiterErrorPolicy(t *testing.T) {
	k := keys(t)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims())
	cfg := baseConfig(memKeys(t))
	cfg.RateLimit = RateLimit{Limiter: erroringLimiter{}}
	v, _ := New(cfg)
	got := do(v.Handler(okHandler), bearerReq(tok))
	if got.status != 503 || got.header.Get("Retry-After") == "" || got.body != bodyOf("temporarily_unavailable", "rate limiter unavailable")+"\n" {
		t.Fatalf("default policy: %d %q %v", got.status, got.body, got.header)
	}
	cfg.RateLimit.OnError = func(*http.Request, error) error { return nil }
	v, _ = New(cfg)
	if got := do(v.Handler(okHandler), bearerReq(tok)); got.status != 200 {
		t.Fatalf("fail-open policy: %d", got.status)
	}
}

// TestRateLimitWithRatelimitLocal runs the wiring against the project's
// ratelimit.Local, on an injected clock.
func TestRateLimitWithRatelimitLocal(t *testing.T) {
	k := keys(t)
	clk := jwtgatetest.NewClock(testNow)
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 2, Burst: 3, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(memKeys(t))
	cfg.RateLimit = RateLimit{Limiter: lim}
	v, _ := New(cfg)
	h := v.Handler(okHandler)
	tok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	for i := range 3 {
		got := do(h, bearerReq(tok))
		if got.status != 200 || got.header.Get("RateLimit-Limit") != "3" || got.header.Get("RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Fatalf("request %d: %d %v", i, got.status, got.header)
		}
	}
	got := do(h, bearerReq(tok))
	if got.status != 429 || got.header.Get("Retry-After") != "1" || got.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("over the limit: %d %v", got.status, got.header)
	}
	clk.Advance(500 * time.Millisecond) // one unit back at 2/s
	if got := do(h, bearerReq(tok)); got.status != 200 {
		t.Fatalf("after refill: %d", got.status)
	}
	if got := do(h, bearerReq(tok)); got.status != 429 {
		t.Fatalf("refill gave more than one unit: %d", got.status)
	}
}

// atLimiter records whether the Verifier handed it its clock reading
// (AllowAt) or left it to read its own (Allow).
type atLimiter struct {
	mu     sync.Mutex
	allows int
	ats    []time.Time
}

func (l *atLimiter) Allow(context.Context, string, int) (ratelimit.Decision, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.allows++
	return ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 4}, nil
}

func (l *atLimiter) AllowAt(_ context.Context, _ string, _ int, now time.Time) (ratelimit.Decision, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ats = append(l.ats, now)
	return ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 4}, nil
}

// The rate limit is given the request's own reading of the clock (the one
// the token's exp was checked against) when that clock is time.Now, and
// never a reading of an injected clock, which a LimiterAt must not mix
// with its own; a tier's limiter is asked as it always was.
func TestRateLimitGetsTheRequestsClockReading(t *testing.T) {
	k := keys(t)
	now := time.Now()
	claims := goodClaims()
	claims["exp"], claims["iat"] = now.Add(time.Hour).Unix(), now.Add(-time.Minute).Unix()
	claims["tier"] = "gold"
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, claims)

	for _, c := range []struct {
		name           string
		clock          func() time.Time
		tiered, wantAt bool
	}{
		{"time.Now", nil, false, true},
		{"injected clock", func() time.Time { return now }, false, false},
		{"tier's limiter", nil, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			lim := &atLimiter{}
			cfg := baseConfig(memKeys(t))
			cfg.Now = c.clock
			cfg.RateLimit = RateLimit{Limiter: lim}
			if c.tiered {
				cfg.RateLimit = RateLimit{Limiter: &atLimiter{}, TierClaim: "tier", Tiers: map[string]ratelimit.Limiter{"gold": lim}}
			}
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			if got := do(v.Handler(okHandler), bearerReq(tok)); got.status != 200 {
				t.Fatalf("%d %s", got.status, got.body)
			}
			after := time.Now()
			switch {
			case c.wantAt && (len(lim.ats) != 1 || lim.allows != 0):
				t.Fatalf("AllowAt %d times, Allow %d times; want AllowAt once", len(lim.ats), lim.allows)
			case c.wantAt && (lim.ats[0].Before(before) || lim.ats[0].After(after)):
				t.Fatalf("AllowAt at %v, not a reading made during the request (%v – %v)", lim.ats[0], before, after)
			case !c.wantAt && (len(lim.ats) != 0 || lim.allows != 1):
				t.Fatalf("AllowAt %d times, Allow %d times; want Allow once", len(lim.ats), lim.allows)
			}
		})
	}
}
