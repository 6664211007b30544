package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/introspect"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// ErrInvalidConfig is wrapped by the errors New returns for a bad Config.
var ErrInvalidConfig = errors.New("metrics: invalid config")

// ErrConfig is ErrInvalidConfig's former name: one name for the idea in
// every jwtgate package.
//
// Deprecated: use ErrInvalidConfig.
var ErrConfig = ErrInvalidConfig

// Config configures New. The zero value is usable.
type Config struct {
	// Namespace prefixes every metric name. "" means "jwtgate".
	Namespace string
	// Registerer, when set, gets the collector registered by New. nil
	// means New registers nothing: register the *Metrics yourself (it is a
	// prometheus.Collector).
	Registerer prometheus.Registerer
	// LatencyBuckets are the verification-latency histogram's buckets, in
	// seconds. nil means exponential from 50µs to ~100ms, which separates
	// cache hits (µs) from signature checks (tens of µs to ms) and key
	// look-ups that waited for a fetch.
	LatencyBuckets []float64
	// Now is the clock for "seconds since the last good fetch". nil means
	// time.Now.
	Now func() time.Time
}

// Metrics is a Prometheus collector fed by jwtgate's hooks: the cache's
// Observer, the Verifier's OnVerify, the rate limit's
// OnDecision and the limiters' Observer. Create it with New; the zero value
// is not usable. Safe for concurrent use: every hook may be called from any
// goroutine.
//
// Metric names (with the default namespace):
//
//	jwtgate_requests_total{outcome,reason}                 requests decided: outcome "accepted" or "rejected", reason as middleware.Reason
//	jwtgate_verification_duration_seconds{outcome}         extraction + verification time, outcome "ok" or "error"
//	jwtgate_token_cache_total{result}                      verified-token cache "hit" / "miss"
//	jwtgate_ratelimit_decisions_total{decision}            "allowed", "limited", "error", "no_key"
//	jwtgate_limiter_calls_total{backend,outcome}           limiter backend ("local", "redis") results
//	jwtgate_jwks_fetches_total{provider,kind,result}       HTTP fetches: kind "jwks"/"discovery", result "ok", "not_modified", "error"
//	jwtgate_jwks_refreshes_total{provider,reason,outcome}  refresh attempts, as cache.RefreshEvent
//	jwtgate_jwks_breaker_state{provider}                   0 closed, 1 half-open, 2 open
//	jwtgate_jwks_keys{provider}                            usable keys served
//	jwtgate_jwks_last_success_age_seconds{provider}        seconds since the last good fetch (absent before the first)
type Metrics struct {
	now func() time.Time

	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	tokenCache  *prometheus.CounterVec
	decisions   *prometheus.CounterVec
	limiter     *prometheus.CounterVec
	fetches     *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	breaker     *prometheus.GaugeVec
	keys        *prometheus.GaugeVec
	lastSuccess *prometheus.Desc
	credentials *prometheus.CounterVec // kind × outcome: which credential kind decided
	introspect  *prometheus.CounterVec // result

	acceptedOK            prometheus.Counter
	latencyOK, latencyErr prometheus.Observer
	cacheHit, cacheMiss   prometheus.Counter
	// The rate limit's series, each resolved on its first use (so that
	// /metrics shows only series that happened, as before): a label
	// look-up per limited request cost more than the rest of its hooks.
	decisionSeries [len(decisionReasons)]series
	// credentialSeries[kind][rejected]: the kinds are few and fixed.
	credentialSeries [middleware.CredentialAPIKey + 1][2]series
	limiterSeries    [len(limiterBackends)][ratelimit.OutcomeError + 1]series

	mu      sync.Mutex           // guards success
	success map[string]time.Time // provider → last good fetch
}

var _ prometheus.Collector = (*Metrics)(nil)

// New builds the collectors and, when cfg.Registerer is set, registers them.
func New(cfg Config) (*Metrics, error) {
	ns := cfg.Namespace
	if ns == "" {
		ns = "jwtgate"
	}
	buckets := cfg.LatencyBuckets
	if buckets == nil {
		buckets = prometheus.ExponentialBuckets(50e-6, 2, 12) // 50µs … ~102ms
	}
	for i := 1; i < len(buckets); i++ {
		if !(buckets[i] > buckets[i-1]) {
			return nil, fmt.Errorf("%w: LatencyBuckets must increase", ErrInvalidConfig)
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		now:     now,
		success: map[string]time.Time{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "requests_total",
			Help: "Requests the verifier decided on, by outcome (accepted, rejected) and reason.",
		}, []string{"outcome", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "verification_duration_seconds",
			Help:    "Time spent extracting and verifying a token.",
			Buckets: buckets,
		}, []string{"outcome"}),
		tokenCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "token_cache_total",
			Help: "Verified-token cache look-ups, by result (hit, miss).",
		}, []string{"result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "ratelimit_decisions_total",
			Help: "Rate-limit decisions for verified requests (allowed, limited, error, no_key).",
		}, []string{"decision"}),
		limiter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "limiter_calls_total",
			Help: "Limiter calls by backend (local, redis) and outcome (allowed, limited, error).",
		}, []string{"backend", "outcome"}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "jwks_fetches_total",
			Help: "HTTP requests to identity providers, by kind (jwks, discovery) and result (ok, not_modified, error).",
		}, []string{"provider", "kind", "result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "jwks_refreshes_total",
			Help: "Key-set refresh attempts, by reason and outcome.",
		}, []string{"provider", "reason", "outcome"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "jwks_breaker_state",
			Help: "Circuit breaker state of the key fetches: 0 closed, 1 half-open, 2 open.",
		}, []string{"provider"}),
		keys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "jwks_keys",
			Help: "Usable keys in the served key set.",
		}, []string{"provider"}),
		credentials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "credentials_total",
			Help: "Requests decided by a credential, by kind (jwt, introspection, api_key) and outcome (accepted, rejected).",
		}, []string{"kind", "outcome"}),
		introspect: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "introspection_total",
			Help: "Token introspection look-ups (RFC 7662), by result (hit, negative_hit, active, inactive, error).",
		}, []string{"result"}),
		lastSuccess: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "jwks_last_success_age_seconds"),
			"Seconds since the last successful key-set fetch (200 or 304).", []string{"provider"}, nil),
	}
	// The series every accepted request touches, resolved once: a label
	// look-up per request costs more than the rest of the hook.
	m.acceptedOK = m.requests.WithLabelValues("accepted", "ok")
	m.latencyOK, m.latencyErr = m.latency.WithLabelValues("ok"), m.latency.WithLabelValues("error")
	m.cacheHit, m.cacheMiss = m.tokenCache.WithLabelValues("hit"), m.tokenCache.WithLabelValues("miss")
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(m); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) vecs() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.latency, m.tokenCache, m.decisions, m.limiter,
		m.fetches, m.refreshes, m.breaker, m.keys, m.credentials, m.introspect}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.vecs() {
		c.Describe(ch)
	}
	ch <- m.lastSuccess
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.vecs() {
		c.Collect(ch)
	}
	now := m.now()
	m.mu.Lock()
	ages := make(map[string]float64, len(m.success))
	for p, t := range m.success {
		ages[p] = now.Sub(t).Seconds()
	}
	m.mu.Unlock()
	for p, age := range ages {
		ch <- prometheus.MustNewConstMetric(m.lastSuccess, prometheus.GaugeValue, age, p)
	}
}

// ObserveRequest counts one decided request: err nil is "accepted",
// anything else "rejected" with middleware.Reason(err) as the reason.
func (m *Metrics) ObserveRequest(err error) {
	if err == nil {
		m.acceptedOK.Inc()
		return
	}
	m.requests.WithLabelValues("rejected", middleware.Reason(err)).Inc()
}

// ErrorHandler returns next (nil: middleware.WriteError) unchanged.
//
// Deprecated: OnVerify counts every decided request, rejections included;
// an ErrorHandler is only for a different response body.
func (m *Metrics) ErrorHandler(next func(http.ResponseWriter, *http.Request, error)) func(http.ResponseWriter, *http.Request, error) {
	if next == nil {
		next = middleware.WriteError
	}
	return next
}

// Accepted returns next unchanged.
//
// Deprecated: OnVerify counts accepted requests.
func (m *Metrics) Accepted(next http.Handler) http.Handler { return next }

// OnVerify is the middleware.Config.OnVerify hook, the one seam metrics
// need: every decided request by outcome and reason, verification latency,
// and verified-token cache hits and misses.
func (m *Metrics) OnVerify(e middleware.VerifyEvent) {
	m.ObserveRequest(e.Err)
	if e.Recheck {
		// RequireScopes' second look: no verification took place.
		return
	}
	latency := m.latencyOK
	if e.Err != nil {
		latency = m.latencyErr
	}
	latency.Observe(e.Duration.Seconds())
	if e.Kind > 0 && e.Kind <= middleware.CredentialAPIKey {
		outcome, i := "accepted", 0
		if e.Err != nil {
			outcome, i = "rejected", 1
		}
		m.credentialSeries[e.Kind][i].counter(m.credentials, e.Kind.String(), outcome).Inc()
	}
	switch {
	case e.Kind > middleware.CredentialJWT:
		// Not a JWT: the verified-token cache was not asked.
	case e.CacheHit:
		m.cacheHit.Inc()
	case e.Anonymous || e.Reason == "missing" || e.Reason == "invalid_request":
		// No token was looked up.
	default:
		m.cacheMiss.Inc()
	}
}

// OnIntrospect is an introspect.Config.OnIntrospect hook: look-ups by
// result (never the token, never the endpoint).
func (m *Metrics) OnIntrospect(e introspect.Event) {
	m.introspect.WithLabelValues(e.Result).Inc()
}

// OnRateLimit is a middleware.RateLimit.OnDecision hook.
func (m *Metrics) OnRateLimit(e middleware.RateLimitEvent) {
	for i, r := range decisionReasons {
		if e.Reason == r {
			m.decisionSeries[i].counter(m.decisions, r).Inc()
			return
		}
	}
	m.decisions.WithLabelValues(e.Reason).Inc()
}

// OnLocalRateLimit is OnRateLimit for a rate limit whose limiter is a
// ratelimit.Local made without an Observer and used by this rate limit
// alone: it also counts the limiter's call as OnLimiterEvent would
// (backend "local"). A Local calls its Observer exactly when it answers
// allowed or limited, so one hook does the work of two (a limited request
// is that call cheaper).
func (m *Metrics) OnLocalRateLimit(e middleware.RateLimitEvent) {
	var o ratelimit.Outcome
	switch e.Reason {
	case "allowed":
		m.decisionSeries[0].counter(m.decisions, "allowed").Inc()
		o = ratelimit.OutcomeAllowed
	case "limited":
		m.decisionSeries[1].counter(m.decisions, "limited").Inc()
		o = ratelimit.OutcomeLimited
	default:
		m.OnRateLimit(e)
		return
	}
	m.limiterSeries[0][o].counter(m.limiter, "local", o.String()).Inc()
}

// LocalRateLimitHook returns OnLocalRateLimit for one route's rate limit,
// with the two series an allowed request counts resolved now (both start
// at zero), so that the common answer costs two counter increments and no
// look-up. Every other answer goes to OnLocalRateLimit.
func (m *Metrics) LocalRateLimitHook() func(middleware.RateLimitEvent) {
	allowed := m.decisionSeries[0].counter(m.decisions, "allowed")
	local := m.limiterSeries[0][ratelimit.OutcomeAllowed].counter(m.limiter, "local", ratelimit.OutcomeAllowed.String())
	return func(e middleware.RateLimitEvent) {
		if e.Reason == "allowed" {
			allowed.Inc()
			local.Inc()
			return
		}
		m.OnLocalRateLimit(e)
	}
}

// OnLimiterEvent is a ratelimit.LocalConfig / RedisConfig Observer.
func (m *Metrics) OnLimiterEvent(e ratelimit.Event) {
	if e.Outcome <= ratelimit.OutcomeError {
		for i, b := range limiterBackends {
			if e.Backend == b {
				m.limiterSeries[i][e.Outcome].counter(m.limiter, b, e.Outcome.String()).Inc()
				return
			}
		}
	}
	m.limiter.WithLabelValues(e.Backend, e.Outcome.String()).Inc()
}

// The label values the rate limit's hooks resolve once (others, which
// middleware and ratelimit do not send today, are looked up per call).
var (
	decisionReasons = [...]string{"allowed", "limited", "error", "no_key"}
	limiterBackends = [...]string{"local", "redis"}
)

// series is one label set of a counter vector, resolved on its first use
// and kept. The zero value is ready; safe for concurrent use.
type series struct {
	c atomic.Pointer[prometheus.Counter]
}

// counter returns the series' counter, resolving it in vec with the two
// label values (the second only when vec has two labels) the first time.
func (s *series) counter(vec *prometheus.CounterVec, first string, second ...string) prometheus.Counter {
	if c := s.c.Load(); c != nil {
		return *c
	}
	c := vec.WithLabelValues(append([]string{first}, second...)...)
	s.c.Store(&c) // two racing first calls store the same series
	return c
}

// CacheObserver returns a cache.Observer feeding the key-set metrics. Hooks
// already set in next are called after the metrics are updated.
func (m *Metrics) CacheObserver(next cache.Observer) cache.Observer {
	return cache.Observer{
		OnFetch: func(e cache.FetchEvent) {
			m.onFetch(e)
			if next.OnFetch != nil {
				next.OnFetch(e)
			}
		},
		OnRefresh: func(e cache.RefreshEvent) {
			m.onRefresh(e)
			if next.OnRefresh != nil {
				next.OnRefresh(e)
			}
		},
		OnBreakerStateChange: func(e cache.BreakerEvent) {
			m.onBreaker(e)
			if next.OnBreakerStateChange != nil {
				next.OnBreakerStateChange(e)
			}
		},
	}
}

func (m *Metrics) onFetch(e cache.FetchEvent) {
	result := "ok"
	switch {
	case e.Err != nil:
		result = "error"
	case e.Status == http.StatusNotModified:
		result = "not_modified"
	}
	m.fetches.WithLabelValues(e.Provider, string(e.Kind), result).Inc()
}

func (m *Metrics) onRefresh(e cache.RefreshEvent) {
	m.refreshes.WithLabelValues(e.Provider, string(e.Reason), string(e.Outcome)).Inc()
	switch e.Outcome {
	case cache.OutcomeUpdated, cache.OutcomeUnchanged, cache.OutcomeNotModified:
		m.mu.Lock()
		m.success[e.Provider] = m.now()
		m.mu.Unlock()
		m.breaker.WithLabelValues(e.Provider) // make the series exist (closed) before any change
	}
	m.keys.WithLabelValues(e.Provider).Set(float64(e.Keys))
}

func (m *Metrics) onBreaker(e cache.BreakerEvent) {
	v := 0.0
	switch e.To {
	case "half-open":
		v = 1
	case "open":
		v = 2
	}
	m.breaker.WithLabelValues(e.Provider).Set(v)
}
