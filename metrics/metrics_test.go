package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// idp serves an identity provider with one key on loopback.
func idp(t *testing.T) *jwtgatetest.Issuer {
	t.Helper()
	return jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
}

func newMetrics(t *testing.T, now func() time.Time) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(Config{Registerer: reg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func TestNewRejectsBadBuckets(t *testing.T) {
	if _, err := New(Config{LatencyBuckets: []float64{1, 1}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Registerer: reg}); err == nil {
		t.Fatal("registering twice in one registry must fail")
	}
}

func do(t *testing.T, h http.Handler, token string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestVerifierAndLimiterMetrics(t *testing.T) {
	p := idp(t)
	m, reg := newMetrics(t, nil)
	keys, err := cache.New(context.Background(), cache.Config{URL: p.JWKSURL(), Logger: quiet, WaitForFirstLoad: true})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1, Period: time.Hour, Burst: 2, Observer: m.OnLimiterEvent})
	if err != nil {
		t.Fatal(err)
	}
	v, err := middleware.New(middleware.Config{
		Keys: keys, Issuers: []string{p.Issuer()}, Logger: quiet,
		// The one seam: no ErrorHandler, no wrapper around the handler.
		OnVerify:  m.OnVerify,
		RateLimit: middleware.RateLimit{Limiter: lim, OnDecision: m.OnRateLimit},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	good := p.Mint(t, jwtgatetest.Claims{Subject: "alice"})
	expired := p.Mint(t, jwtgatetest.Claims{Subject: "bob", ExpiresAt: time.Now().Add(-time.Hour)})

	for _, c := range []struct {
		token string
		want  int
	}{
		{good, 200}, {good, 200}, {good, 429}, // burst 2: the third is limited
		{expired, 401}, {"", 401},
	} {
		if got := do(t, h, c.token); got != c.want {
			t.Fatalf("status %d, want %d", got, c.want)
		}
	}

	checks := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"accepted", m.requests.WithLabelValues("accepted", "ok"), 2},
		{"rate limited", m.requests.WithLabelValues("rejected", "rate_limited"), 1},
		{"expired", m.requests.WithLabelValues("rejected", "expired"), 1},
		{"missing", m.requests.WithLabelValues("rejected", "missing"), 1},
		{"cache miss", m.tokenCache.WithLabelValues("miss"), 2}, // good once, expired once
		{"cache hit", m.tokenCache.WithLabelValues("hit"), 2},
		{"allowed", m.decisions.WithLabelValues("allowed"), 2},
		{"limited", m.decisions.WithLabelValues("limited"), 1},
		{"local allowed", m.limiter.WithLabelValues("local", "allowed"), 2},
		{"local limited", m.limiter.WithLabelValues("local", "limited"), 1},
	}
	for _, c := range checks {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	// Five verifications: four with a token plus the missing one.
	if n := testutil.CollectAndCount(m.latency); n != 2 {
		t.Errorf("latency series = %d, want ok and error", n)
	}
	if got := histCount(t, reg, "jwtgate_verification_duration_seconds"); got != 5 {
		t.Errorf("latency observations = %d, want 5", got)
	}
}

func histCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, mm := range mf.GetMetric() {
				n += mm.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

func TestCacheMetrics(t *testing.T) {
	p := idp(t)
	clk := jwtgatetest.NewClock(time.Now())
	m, reg := newMetrics(t, clk.Now)
	refreshed := make(chan struct{}, 1)
	keys, err := cache.New(context.Background(), cache.Config{
		Issuer: p.Issuer(), Name: "demo", Logger: quiet,
		// The hook runs after the metrics' own: once it fires, they are set.
		Observer: m.CacheObserver(cache.Observer{OnRefresh: func(cache.RefreshEvent) {
			select {
			case refreshed <- struct{}{}:
			default:
			}
		}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	<-refreshed

	if got := testutil.ToFloat64(m.fetches.WithLabelValues("demo", "discovery", "ok")); got != 1 {
		t.Errorf("discovery fetches = %v", got)
	}
	if got := testutil.ToFloat64(m.fetches.WithLabelValues("demo", "jwks", "ok")); got != 1 {
		t.Errorf("jwks fetches = %v", got)
	}
	if got := testutil.ToFloat64(m.refreshes.WithLabelValues("demo", "startup", "updated")); got != 1 {
		t.Errorf("startup refreshes = %v", got)
	}
	if got := testutil.ToFloat64(m.keys.WithLabelValues("demo")); got != 1 {
		t.Errorf("keys = %v", got)
	}
	if got := testutil.ToFloat64(m.breaker.WithLabelValues("demo")); got != 0 {
		t.Errorf("breaker = %v, want closed", got)
	}
	clk.Advance(7 * time.Second)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP jwtgate_jwks_last_success_age_seconds Seconds since the last successful key-set fetch (200 or 304).
# TYPE jwtgate_jwks_last_success_age_seconds gauge
jwtgate_jwks_last_success_age_seconds{provider="demo"} 7
`), "jwtgate_jwks_last_success_age_seconds"); err != nil {
		t.Error(err)
	}
}

func TestBreakerAndFailedFetches(t *testing.T) {
	down := idp(t)
	if err := down.SetJWKS(jwtgatetest.Behavior{Status: http.StatusInternalServerError}); err != nil {
		t.Fatal(err)
	}
	m, reg := newMetrics(t, nil)
	opened := make(chan struct{})
	var once sync.Once
	keys, err := cache.New(context.Background(), cache.Config{
		URL: down.JWKSURL(), Name: "down", Logger: quiet, BreakerFailures: 1, BreakerTimeout: time.Hour,
		Observer: m.CacheObserver(cache.Observer{OnBreakerStateChange: func(e cache.BreakerEvent) {
			if e.To == "open" {
				once.Do(func() { close(opened) })
			}
		}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("breaker never opened")
	}
	if got := testutil.ToFloat64(m.breaker.WithLabelValues("down")); got != 2 {
		t.Errorf("breaker = %v, want 2 (open)", got)
	}
	if got := testutil.ToFloat64(m.fetches.WithLabelValues("down", "jwks", "error")); got < 1 {
		t.Errorf("failed fetches = %v", got)
	}
	// No good fetch yet: the age series must not exist.
	if n, err := testutil.GatherAndCount(reg, "jwtgate_jwks_last_success_age_seconds"); err != nil || n != 0 {
		t.Errorf("age series = %d, %v; want none", n, err)
	}
}

// Wiring metrics as the README shows (ErrorHandler: m.ErrorHandler(nil))
// keeps the Verifier's Realm and RetryAfter: there is one error writer and
// it honours the Verifier's config wherever it is called from.
func TestErrorHandlerKeepsVerifierConfig(t *testing.T) {
	m, reg := newMetrics(t, nil)
	keys := jwkset.NewMemoryStorage()
	for _, next := range []func(http.ResponseWriter, *http.Request, error){nil, middleware.WriteError} {
		v, err := middleware.New(middleware.Config{
			Keys: keys, Issuers: []string{"https://idp.test/"}, Audiences: []string{"api"}, Logger: quiet,
			Realm: "shop", RetryAfter: 42 * time.Second,
			ErrorHandler: m.ErrorHandler(next),
		})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		v.Handler(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api", nil))
		if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer realm="shop"` {
			t.Errorf("401: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
		rec = httptest.NewRecorder()
		v.WriteError(rec, httptest.NewRequest(http.MethodGet, "/api", nil), middleware.ErrKeysUnavailable)
		if rec.Code != 503 || rec.Header().Get("Retry-After") != "42" {
			t.Errorf("503: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	_, _ = m, reg
}

// The rate limit's hooks count every reason and outcome in its own series,
// each appearing once it has happened (never before), and count without
// allocating once it exists.
func TestRateLimitHooksCountEachSeries(t *testing.T) {
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.decisions) + testutil.CollectAndCount(m.limiter); n != 0 {
		t.Fatalf("%d series before any call", n)
	}
	for _, r := range []string{"allowed", "limited", "limited", "error", "no_key", "no_key", "no_key", "other"} {
		m.OnRateLimit(middleware.RateLimitEvent{Reason: r})
	}
	for r, want := range map[string]float64{"allowed": 1, "limited": 2, "error": 1, "no_key": 3, "other": 1} {
		if got := testutil.ToFloat64(m.decisions.WithLabelValues(r)); got != want {
			t.Errorf("decision %s: %v, want %v", r, got, want)
		}
	}
	events := []ratelimit.Event{
		{Backend: "local", Outcome: ratelimit.OutcomeAllowed}, {Backend: "local", Outcome: ratelimit.OutcomeAllowed},
		{Backend: "local", Outcome: ratelimit.OutcomeLimited}, {Backend: "redis", Outcome: ratelimit.OutcomeError},
		{Backend: "redis", Outcome: ratelimit.OutcomeAllowed}, {Backend: "other", Outcome: ratelimit.OutcomeLimited},
		{Backend: "local", Outcome: ratelimit.Outcome(9)},
	}
	for _, e := range events {
		m.OnLimiterEvent(e)
	}
	for _, c := range []struct {
		backend, outcome string
		want             float64
	}{{"local", "allowed", 2}, {"local", "limited", 1}, {"redis", "error", 1}, {"redis", "allowed", 1}, {"other", "limited", 1}, {"local", "unknown", 1}} {
		if got := testutil.ToFloat64(m.limiter.WithLabelValues(c.backend, c.outcome)); got != c.want {
			t.Errorf("limiter %s/%s: %v, want %v", c.backend, c.outcome, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.limiter); n != 6 {
		t.Errorf("%d limiter series, want the 6 that happened", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		m.OnRateLimit(middleware.RateLimitEvent{Reason: "allowed"})
		m.OnLimiterEvent(events[0])
	}); n != 0 {
		t.Errorf("%v allocations per hook call", n)
	}
}

// OnLocalRateLimit counts what OnRateLimit and a Local's OnLimiterEvent
// count together: every decision, and a "local" limiter call for each
// allowed or limited one (a Local reports nothing else), without
// allocating.
func TestOnLocalRateLimitIsBothHooks(t *testing.T) {
	both, one := mustNew(t), mustNew(t)
	reasons := []string{"allowed", "limited", "allowed", "error", "no_key", "other"}
	hook := one.LocalRateLimitHook()
	for i, r := range reasons {
		e := middleware.RateLimitEvent{Reason: r}
		if i%2 == 0 {
			one.OnLocalRateLimit(e)
		} else {
			hook(e) // the same counts, from the hook with resolved series
		}
		both.OnRateLimit(e)
		switch r {
		case "allowed":
			both.OnLimiterEvent(ratelimit.Event{Backend: "local", Outcome: ratelimit.OutcomeAllowed})
		case "limited":
			both.OnLimiterEvent(ratelimit.Event{Backend: "local", Outcome: ratelimit.OutcomeLimited})
		}
	}
	for _, r := range reasons {
		if got, want := testutil.ToFloat64(one.decisions.WithLabelValues(r)), testutil.ToFloat64(both.decisions.WithLabelValues(r)); got != want {
			t.Errorf("decision %s: %v, want %v", r, got, want)
		}
	}
	for _, o := range []string{"allowed", "limited"} {
		if got, want := testutil.ToFloat64(one.limiter.WithLabelValues("local", o)), testutil.ToFloat64(both.limiter.WithLabelValues("local", o)); got != want || want == 0 {
			t.Errorf("limiter local/%s: %v, want %v", o, got, want)
		}
	}
	if n := testutil.CollectAndCount(one.limiter); n != 2 {
		t.Errorf("%d limiter series, want local/allowed and local/limited", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		one.OnLocalRateLimit(middleware.RateLimitEvent{Reason: "allowed"})
		hook(middleware.RateLimitEvent{Reason: "allowed"})
	}); n != 0 {
		t.Errorf("%v allocations per call", n)
	}
}

func mustNew(t *testing.T) *Metrics {
	t.Helper()
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
