package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/forwarded"
	"github.com/jwtgate/jwtgate/internal/headername"
	"github.com/jwtgate/jwtgate/internal/serve"
	"github.com/jwtgate/jwtgate/internaltoken"
	"github.com/jwtgate/jwtgate/metrics"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/policy"
	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/ratelimit/redislimit"
	"github.com/jwtgate/jwtgate/tracing"
)

// Options are the gateway's replaceable parts and hooks, beside Config
// (which is what a config file can say). The zero value is usable.
type Options struct {
	// HTTPClient fetches the discovery document and the JWK Set. nil means
	// the cache's default client.
	HTTPClient *http.Client
	// Transport carries proxied requests to the upstreams. nil means one
	// sized by Config.UpstreamTransport (the routes' response-header
	// time-outs apply to either).
	Transport http.RoundTripper
	// Logger receives the gateway's log lines. nil means slog.Default().
	Logger *slog.Logger
	// Registry is where the metrics go; /metrics serves it. nil means a
	// new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// LookupEnv reads the environment variables that upstream_auth names.
	// nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Cache adjusts each provider's key-cache config before the cache
	// starts (shorter retry intervals, an extra Observer hook). nil leaves
	// the gateway's settings as they are.
	Cache func(*cache.Config)
	// Now is the clock of the TLS listener's file checks (at most one a
	// second; see TLSConfig), of exchanged tokens' expiry and of internal
	// tokens (their iat and exp, their key files' checks). Token
	// verification keeps its own clock. nil means time.Now.
	Now func() time.Time
	// OnShutdown is called (in a goroutine of its own) once Serve's
	// graceful shutdown has begun and the listener is closed. nil means
	// nothing is called.
	OnShutdown func(ShutdownEvent)
	// Tracing, when not nil, records OpenTelemetry spans: a server span
	// per request (not /healthz, /readyz, /metrics), verification, rate
	// limit, budget, key-cache fetches and refreshes, and the upstream
	// call with traceparent (see package tracing and TracingFromEnv). nil
	// means no tracing.
	Tracing *tracing.Tracer
}

// ShutdownEvent is what Options.OnShutdown receives.
type ShutdownEvent struct {
	// Timeout is how long in-flight requests may still take
	// (Config.ShutdownTimeout) before their connections are cut.
	Timeout time.Duration
}

// Gateway is the reverse proxy: its Handler serves /healthz, /readyz,
// /metrics and the configured routes. Create it with New (the zero value is
// not usable) and release it with Close. Safe for concurrent use.
type Gateway struct {
	cfg       Config
	log       *slog.Logger
	keys      keySource
	providers []*provider           // in configuration order
	storage   middleware.Config     // Keys or KeysByIssuer, and Issuers
	closers   []io.Closer           // Redis stores
	redis     redis.UniversalClient // shared by the Redis stores; nil without Redis
	verifier  *middleware.Verifier  // the one every route derives from: one token cache, one signature check per token
	routes    []*route              // longest prefix first
	metadata  []metadataRoute       // protected-resource metadata documents of Resource routes
	fw        *forwarded.Resolver   // which forwarded headers a decision route reads
	registry  *prometheus.Registry
	metrics   *metrics.Metrics
	handler   http.Handler

	onShutdown func(ShutdownEvent)
	closeOnce  sync.Once // Close may be called twice, or concurrently
	closeErr   error     // what the first Close returned
	buffers    *bufferPool

	budgetMetrics *budgetMetrics // nil until a route has a budget
	upstream      *upstreamMetrics
	ownTransport  *http.Transport // nil with Options.Transport
	tls           *tlsFiles       // nil without Config.TLS
	tracer        *tracing.Tracer // Options.Tracing; nil: no spans

	httpClient *http.Client           // Options.HTTPClient: also the token endpoints'
	now        func() time.Time       // Options.Now, or time.Now
	ring       *internaltoken.KeyRing // internal_tokens' keys; nil without
	exchanges  *prometheus.CounterVec // token_exchanges_total; nil until a route exchanges
}

// bufferPool recycles the proxies' copy buffers (32 KiB each), which
// would otherwise be allocated per request. It pools the arrays
// themselves: Put turns the slice back into its array's pointer, where
// pooling a new *[]byte per Put cost every proxied request an allocation.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10

type copyBuffer = [copyBufferSize]byte

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new(copyBuffer) }}}
}

func (bp *bufferPool) Get() []byte { return bp.p.Get().(*copyBuffer)[:] }
func (bp *bufferPool) Put(b []byte) {
	if cap(b) == copyBufferSize {
		bp.p.Put((*copyBuffer)(b[:cap(b)]))
	}
}

// keySource is what the gateway needs of a *cache.Cache or *cache.Multi.
type keySource interface {
	Ready() bool
	WaitReady(ctx context.Context) error
	Close() error
}

type route struct {
	Route
	handler http.Handler         // the proxy, behind the Verifier; nil on a decision route
	v       *middleware.Verifier // the route's requirements, for decisions about it
	claims  []string             // ClaimHeaders' header names, canonical and sorted: every decision's answer has each
}

// New validates cfg (see Config.Validate) and builds a gateway from it: it
// starts the key cache, which loads in the background — a provider that is
// down at start is not an error, Ready is false and /readyz says 503 until
// it is up. ctx bounds nothing beyond New itself; Close stops what New
// started. A bad config is an error wrapping ErrInvalidConfig, never a panic.
func New(ctx context.Context, cfg Config, opts Options) (_ *Gateway, err error) {
	cfg, err = cfg.Validate(opts.LookupEnv)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m, err := metrics.New(metrics.Config{Registerer: reg})
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log, registry: reg, metrics: m, onShutdown: opts.OnShutdown, buffers: newBufferPool(), tracer: opts.Tracing,
		httpClient: opts.HTTPClient, now: opts.Now}
	if g.now == nil {
		g.now = time.Now
	}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()

	if err = g.newTLS(opts.Now); err != nil {
		return nil, err
	}
	if err = g.newKeys(ctx, opts); err != nil {
		return nil, err
	}
	if err = g.newInternalTokens(opts.Now); err != nil {
		return nil, err
	}
	if g.fw, err = g.newForwarded(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if g.verifier, err = g.newVerifier(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	transport, err := g.upstreamTransport(reg, opts.Transport)
	if err != nil {
		return nil, err
	}
	transport = g.traceTransport(transport)
	for i, rc := range cfg.Routes {
		rt, err := g.buildRoute(i, rc, transport)
		if err != nil {
			return nil, fmt.Errorf("%w: route %q: %w", ErrInvalidConfig, rc.Prefix, err)
		}
		g.routes = append(g.routes, rt)
	}

	g.handler = g.traceHandler(g.newHandler(reg))
	return g, nil
}

// newHandler is the gateway's own endpoints and its routes.
func (g *Gateway) newHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", g.serveReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	for _, m := range g.metadata {
		// Exact paths, ahead of every prefix route: Validate has made
		// them unique.
		mux.Handle(m.path, m.handler)
	}
	own := []string{"/healthz", "/readyz", "/metrics"}
	if g.ring != nil {
		// The gateway's own keys, for the services behind it.
		paths := g.cfg.InternalTokens.paths()
		mux.Handle("GET "+paths[0], g.ring.JWKSHandler())
		mux.Handle("GET "+paths[1], g.ring.DiscoveryHandler(g.cfg.InternalTokens.Issuer))
		own = append(own, paths...)
	}
	mux.HandleFunc("/", g.proxy)
	for _, m := range g.metadata {
		own = append(own, m.path)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux would redirect an unclean path to its clean form: the
		// routes' one path rule answers it instead (proxy decides a
		// sub-request under a decision route, refuses the rest with 400).
		// To a proxy sending a sub-request (Envoy's HTTP ext_authz appends
		// the original path as the client sent it) a redirect is no answer.
		p := r.URL.Path
		if p != "" && p != cleanPath(p) {
			g.proxy(w, r)
			return
		}
		// A path no pattern but "/" can match goes straight to proxy, as
		// the mux would send it: matching it against the mux's tree cost
		// every proxied request five allocations.
		if strings.HasPrefix(p, "/") && r.Method != http.MethodConnect && !ownsPath(own, p) {
			g.proxy(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// newKeys starts the key cache: one per provider, a Multi picking by the
// token's iss when there are several.
func (g *Gateway) newKeys(ctx context.Context, opts Options) error {
	cfg, log, m := g.cfg, g.log, g.metrics
	ccs := make([]cache.Config, len(cfg.Providers))
	for i, p := range cfg.Providers {
		pv := newProvider(p)
		g.providers = append(g.providers, pv)
		ccs[i] = cache.Config{
			URL:        p.JWKSURL,
			File:       p.JWKSFile,
			Issuer:     p.Issuer,
			HTTPClient: opts.HTTPClient,
			Logger:     log,
			Observer:   g.traceCache(m.CacheObserver(cache.Observer{OnRefresh: pv.onRefresh})),
		}
		if opts.Cache != nil {
			opts.Cache(&ccs[i])
		}
	}
	switch len(ccs) {
	case 0:
		return fmt.Errorf("%w: no identity provider", ErrInvalidConfig)
	case 1:
		c, err := cache.New(ctx, ccs[0])
		if err != nil {
			return fmt.Errorf("%w: key cache: %w", ErrInvalidConfig, err)
		}
		g.keys, g.storage.Keys = c, c
		g.providers[0].c = c
		if iss := cfg.Providers[0].Issuer; iss != "" {
			g.storage.Issuers = []string{iss}
		}
	default:
		mc, err := cache.NewMulti(ctx, ccs)
		if err != nil {
			return fmt.Errorf("%w: key cache: %w", ErrInvalidConfig, err)
		}
		// The token's iss picks the key set; any other iss is refused.
		g.keys, g.storage.KeysByIssuer = mc, mc.Storages()
		for _, p := range g.providers {
			p.c, _ = mc.Cache(p.issuer) // NewMulti made one per issuer
		}
	}

	return nil
}

// ownsPath reports whether a pattern of the gateway's own paths (an exact
// path, or a subtree for one ending in "/", which the mux also redirects
// to from the path without its slash) could match the clean path p.
func ownsPath(own []string, p string) bool {
	for _, o := range own {
		if p == o || strings.HasSuffix(o, "/") && (strings.HasPrefix(p, o) || p == o[:len(o)-1]) {
			return true
		}
	}
	return false
}

// newVerifier builds the Verifier that every route derives from with
// With, so that a token verified on one route is a cache hit on every other.
// Its audiences are the union of the routes' own (each route narrows them
// again after the cache): iss and aud stay checked before any route's
// narrowing, unless some route accepts any audience, where the base cannot
// check aud at all and middleware.New says so in its Warn line.
func (g *Gateway) newVerifier() (*middleware.Verifier, error) {
	var audiences []string
	for _, rc := range g.cfg.Routes {
		if len(rc.Audiences) == 0 {
			audiences = nil
			break
		}
		audiences = append(audiences, rc.Audiences...)
	}
	slices.Sort(audiences)
	mc := middleware.Config{
		Keys:           g.storage.Keys,
		KeysByIssuer:   g.storage.KeysByIssuer,
		Issuers:        g.storage.Issuers,
		Audiences:      slices.Compact(audiences),
		Algorithms:     g.cfg.Algorithms,
		Types:          g.cfg.Types,
		RequiredClaims: g.cfg.RequiredClaims,
		Leeway:         middlewareLeeway(g.cfg.Leeway),
		Logger:         g.log,
		OnVerify:       g.traceVerify(g.metrics.OnVerify),
		// A gateway in front of many users sees tokens that never come
		// back: cache a token on its second sighting only.
		TokenCacheDoorkeeper: true,
	}
	if err := g.senderConstraints(&mc); err != nil {
		return nil, err
	}
	return middleware.New(mc)
}

func (g *Gateway) buildRoute(i int, rc Route, transport http.RoundTripper) (*route, error) {
	mr, bh, err := g.routeRequirements(i, rc)
	if err != nil {
		return nil, err
	}
	// A per-user credential replaces the client's token: never both.
	dropAuthorization := rc.DropAuthorization || rc.Resource != nil && !rc.ForwardToken || rc.UpstreamAuth.perUser()
	// Validate has checked the claim headers with rules stricter than
	// With's, so no route is ever one that With refuses with 500.
	v := g.verifier.With(mr)
	if path, ok := v.MetadataPath(); ok {
		g.metadata = append(g.metadata, metadataRoute{path: path, handler: v.MetadataHandler()})
	}
	rt := &route{Route: rc, v: v}
	for _, h := range rc.ClaimHeaders {
		rt.claims = append(rt.claims, http.CanonicalHeaderKey(h))
	}
	slices.Sort(rt.claims)
	if rc.Mode == ModeDecision {
		return rt, nil
	}
	target, err := url.Parse(rc.Upstream)
	if err != nil {
		return nil, err
	}

	rtr, err := g.credentialTransport(rc, g.routeTransport(transport, rc))
	if err != nil {
		return nil, err
	}
	credential := staticCredential(rc.UpstreamAuth)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if rc.StripPrefix {
				stripPrefix(pr.Out.URL, rc.Prefix)
			}
			pr.SetURL(target)
			pr.SetXForwarded()
			// Whatever reached here under the reserved prefix came from the
			// Verifier (the client's were stripped before it ran); clear
			// Out anyway, so that only the configured claim headers, copied
			// from In below, can carry the prefix upstream.
			stripReserved(pr.Out.Header)
			// ReverseProxy has already removed every header the client's
			// Connection header named, the claim headers the Verifier set
			// included: put the verified ones back.
			for _, h := range rc.ClaimHeaders {
				if vs := pr.In.Header.Values(h); len(vs) > 0 {
					pr.Out.Header[http.CanonicalHeaderKey(h)] = slices.Clone(vs)
				}
			}
			if dropAuthorization {
				// The proof goes with the token: neither is the upstream's.
				// Under the names as http.Header keys them: Del("DPoP")
				// made the canonical "Dpop" anew, an allocation per request.
				delete(pr.Out.Header, "Authorization")
				delete(pr.Out.Header, "Dpop")
			}
			if credential != "" {
				pr.Out.Header.Set(rc.UpstreamAuth.Header, credential)
			}
		},
		Transport: rtr,
		// FlushInterval 0: ReverseProxy itself flushes every write at once
		// for a text/event-stream answer and for one of unknown length
		// (chunked, or read to EOF), so server-sent events and other
		// streams from an LLM API reach the client as the upstream sends
		// them; an answer of known length is written as net/http buffers
		// it, with no flush of its own (-1 here cost every answer a
		// time.AfterFunc and an extra write). TestStreamsArriveAtOnce and
		// TestKnownLengthAnswerIsNotFlushed hold both halves.
		FlushInterval: 0,
		BufferPool:    g.buffers,
		ErrorLog:      slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if g.credentialError(w, r, rc.Prefix, err) {
				return
			}
			g.upstreamError(w, rc.Prefix, err)
		},
	}
	var next http.Handler = g.fullDuplex(rp)
	if bh != nil {
		next = bh.Meter(next)
	}
	rt.handler = stripReservedHandler(v.Handler(next))
	return rt, nil
}

// fullDuplex lets the proxy read the request body after it has started
// the response, which it does whenever an upstream answers before the
// transport has finished with the body: a streaming upstream that answers
// first and reads on, and, at one moment, every upstream, since Go's
// transport reads the body once more after its Content-Length to check
// that nothing follows. By default Go's HTTP/1 server drains and closes
// the body as the response starts, that last read then fails, the
// transport drops the upstream connection, and a stream (an MCP answer
// over server-sent events) is lost after its headers (golang/go#40747).
// HTTP/2 is always full duplex, a request without a body has nothing to
// race, and a writer that cannot do it (http.ErrNotSupported) is served as
// before.
//
// The server then no longer drains the body before the response, so the
// handler closes it (which drains what is left, up to 256 KiB) once the
// proxy is done: ReverseProxy never closes it, and a body left unread
// (the upstream down, or answering without reading it) would otherwise be
// drained in the server's end of the request, too late, and the next
// request on the connection panics (golang/go#68560). A transport still
// writing the body to an upstream whose answer is already complete then
// stops with that upstream connection.
func (g *Gateway) fullDuplex(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r) // no body to read: nothing to race
			return
		}
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			g.log.Warn("gateway: full duplex", "err", err)
		}
		defer r.Body.Close()
		next.ServeHTTP(w, r)
	})
}

// routeRequirements is the route's config as the library's one
// requirements value (middleware.Route), with the budget handler that
// meters the route's answers (nil: no budget).
func (g *Gateway) routeRequirements(i int, rc Route) (middleware.Route, *budget.Handler, error) {
	mr := middleware.Route{Scopes: rc.Scopes, Audiences: rc.Audiences, ClaimHeaders: rc.ClaimHeaders, Types: rc.Types, DPoP: routeDPoP(rc.DPoP),
		RequireACR: rc.ACRValues, MaxAuthAge: rc.MaxAuthAge}
	if rc.Resource != nil {
		res, err := rc.Resource.middleware() // Validate has compiled its policies once
		if err != nil {
			return mr, nil, err
		}
		mr.Resource = &res
		// The resource checks its URI as the token's audience (Validate
		// has made it the route's only one).
		mr.Audiences = nil
	}
	if *rc.Rate > 0 {
		lim, err := g.limiter(i, rc)
		if err != nil {
			return mr, nil, err
		}
		weight := rc.Weight
		mr.RateLimit = &middleware.RateLimit{
			Limiter:    lim,
			Cost:       func(*middleware.Claims, *http.Request) int { return weight },
			OnDecision: g.traceRateLimit(g.metrics.OnRateLimit),
		}
	}
	if rc.Policy != "" {
		pol, err := policy.Compile(rc.Policy, policy.Options{}) // Validate has compiled it once
		if err != nil {
			return mr, nil, err
		}
		mr.Policy = pol
	}
	bh, err := g.newBudget(rc)
	if err != nil {
		return mr, nil, err
	}
	if bh != nil {
		mr.Budget = bh
	}
	return mr, bh, nil
}

// ReservedHeaderPrefix is the gateway's header namespace: upstreams may
// take every header under it as set by the gateway, because it removes
// each one the client sent before verifying (see stripReserved).
const ReservedHeaderPrefix = "X-Jwtgate-"

// stripReservedHandler removes the client's reserved headers before next
// (the Verifier) runs, on every route whether or not it forwards claims:
// an upstream taught by the demo that X-Jwtgate-Subject is verified must
// not get a forged one from a route that sets none.
func stripReservedHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stripReserved(r.Header)
		next.ServeHTTP(w, r)
	})
}

// stripReserved deletes every header whose name is under
// ReservedHeaderPrefix in any letter case and with '_' for '-': CGI, WSGI,
// Rack and PHP upstreams read X_Jwtgate_Subject as HTTP_X_JWTGATE_SUBJECT,
// the same variable as X-Jwtgate-Subject.
func stripReserved(h http.Header) {
	for name := range h {
		if isReserved(name) {
			delete(h, name)
		}
	}
}

// isReserved reports whether name is under ReservedHeaderPrefix as an
// upstream reads names (any case, '_' for '-'; see internal/headername).
func isReserved(name string) bool { return headername.HasPrefix(name, ReservedHeaderPrefix) }

// middlewareLeeway maps the config's leeway (nil: default, 0: none) to
// middleware.Config.Leeway (0: default, negative: none).
func middlewareLeeway(l *time.Duration) time.Duration {
	switch {
	case l == nil:
		return 0
	case *l == 0:
		return -1
	}
	return *l
}

// limiter builds the route's limiter: in-process, or in Redis (shared by
// replicas) under a prefix of its own.
func (g *Gateway) limiter(i int, rc Route) (ratelimit.Limiter, error) {
	n, period := ratePeriod(*rc.Rate)
	client, err := g.redisClient()
	if err != nil {
		return nil, err
	}
	if client == nil {
		return ratelimit.NewLocal(ratelimit.LocalConfig{
			Rate: n, Period: period, Burst: *rc.Burst, Observer: g.metrics.OnLimiterEvent,
		})
	}
	r, err := redislimit.New(redislimit.Config{
		Client: client,
		Prefix: fmt.Sprintf("jwtgate:rl:route%d:", i),
		Rate:   n, Period: period, Burst: *rc.Burst,
		// Each replica keeps limiting on its own while Redis is down,
		// rather than letting everything through or nothing.
		FailurePolicy: ratelimit.FailLocal,
		Replicas:      g.cfg.Replicas,
		Logger:        g.log,
		Observer:      g.metrics.OnLimiterEvent,
	})
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, r)
	return r, nil
}

// ratePeriod expresses a per-second rate as whole units per period: 5 →
// (5, 1s); 0.5 → (1, 2s).
func ratePeriod(perSecond float64) (int, time.Duration) {
	if perSecond >= 1 && perSecond == math.Trunc(perSecond) && perSecond < math.MaxInt32 {
		return int(perSecond), time.Second
	}
	return 1, time.Duration(float64(time.Second) / perSecond)
}

func stripPrefix(u *url.URL, prefix string) {
	trim := func(p string) string {
		p = strings.TrimPrefix(p, strings.TrimSuffix(prefix, "/"))
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		return p
	}
	u.Path = trim(u.Path)
	if u.RawPath != "" {
		u.RawPath = trim(u.RawPath)
	}
}

// Handler returns the gateway's handler: the routes, /healthz, /readyz and
// /metrics. Mount it at "/" of a mux of one's own to add routes beside it;
// it routes on the request's path as it arrives, so a mux that strips a
// prefix first changes which route matches.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Scheme is what the gateway's URLs start with when Serve serves it:
// "https" with Config.TLS, else "http".
func (g *Gateway) Scheme() string {
	if g.tls != nil {
		return "https"
	}
	return "http"
}

// Ready reports whether every provider's key set is loaded and not stale
// (what /readyz answers 200 for).
func (g *Gateway) Ready() bool { return g.keys != nil && g.keys.Ready() }

// WaitReady waits until the key set is loaded or ctx ends.
func (g *Gateway) WaitReady(ctx context.Context) error { return g.keys.WaitReady(ctx) }

// Registry returns the gateway's registry (what /metrics serves).
func (g *Gateway) Registry() *prometheus.Registry { return g.registry }

// Close stops the key cache's goroutines and closes the Redis limiters,
// waiting for them. Idempotent; call it once Serve has returned.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		var errs []error
		if g.keys != nil {
			errs = append(errs, g.keys.Close())
		}
		for _, c := range g.closers {
			errs = append(errs, c.Close())
		}
		if g.redis != nil {
			// After the stores that use it.
			errs = append(errs, g.redis.Close())
		}
		g.closeTransport()
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish for at most ShutdownTimeout,
// then cuts the remaining connections (long streams). It does not Close
// the gateway. With Config.TLS, ln is a plain TCP listener and Serve
// speaks TLS on it (see TLSConfig), HTTP/2 to clients that offer it.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	if g.tls != nil {
		// The server's TLSConfig stays nil: Serve then sets up HTTP/2
		// for the connections whose ALPN chose h2.
		ln = tls.NewListener(ln, g.tls.config())
	}
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		// No WriteTimeout: streamed responses may legitimately run long.
	}
	if g.onShutdown != nil {
		ev := ShutdownEvent{Timeout: g.cfg.ShutdownTimeout}
		srv.RegisterOnShutdown(func() { g.onShutdown(ev) })
	}
	return serve.Until(ctx, srv, ln, g.cfg.ShutdownTimeout, func() {
		g.log.Warn("gateway: shutdown timeout; closing remaining connections", "timeout", g.cfg.ShutdownTimeout)
	})
}

func writeStatus(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"status\":%q}\n", msg)
}

func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%q,\"error_description\":%q}\n", code, desc)
}

// metadataRoute is a Resource route's metadata document (RFC 9728), served
// at its own well-known path.
type metadataRoute struct {
	path    string
	handler http.Handler
}
