package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/MicahParks/jwkset"
	"github.com/redis/go-redis/v9"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/forwarded"
	"github.com/jwtgate/jwtgate/internal/redisconn"
	"github.com/jwtgate/jwtgate/internaltoken"
	"github.com/jwtgate/jwtgate/introspect"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/policy"
	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/ratelimit/redislimit"
)

// generation is everything one config builds: its providers' key caches,
// the Verifier, the routes and their stores, and the mux that serves them.
// It is immutable once built. A request holds the generation it started
// on until it ends (acquire, done); Reload makes another one current, and
// the old one lets go of its resources once its last request has ended:
// what the new one also holds (an unchanged provider's cache, an
// unchanged route's limiter) lives on, the rest is closed.
type generation struct {
	g         *Gateway
	id        uint64
	cfg       Config
	providers []*provider       // in configuration order
	storage   middleware.Config // Keys or KeysByIssuer, and Issuers
	verifier  *middleware.Verifier
	routes    []*route        // longest prefix first
	metadata  []metadataRoute // protected-resource metadata documents of Resource routes
	fw        *forwarded.Resolver
	transport http.RoundTripper      // what every route's proxy builds on
	redis     redis.UniversalClient  // shared by the Redis stores; nil without Redis
	redisNew  bool                   // redis was made for this generation, not kept from the last
	redisName string                 // redisKey's memo
	ring      *internaltoken.KeyRing // internal_tokens' keys; nil without

	introspectors map[*Introspection]*introspect.Client // one per configured endpoint
	apiKeys       *apikey.Store                         // nil without Config.APIKeys
	handler       http.Handler

	// refs is 1 for being current plus 1 per request on it; at 0 the
	// generation is retired and acquire passes it by.
	refs atomic.Int64

	// Filled while building, read by Reload only:
	held  []*sharedRes // what releaseAll lets go of
	fresh []*provider  // providers made for this generation, not kept from the last
	made  []string     // resource names made new
	kept  []string     // resource names kept from an earlier generation
}

// acquire returns the current generation with a request's hold on it.
func (g *Gateway) acquire() *generation {
	for {
		gen := g.cur.Load()
		for n := gen.refs.Load(); n > 0; n = gen.refs.Load() {
			if gen.refs.CompareAndSwap(n, n+1) {
				return gen
			}
		}
		// Retired between the load and the hold: a newer one is current
		// already (Reload stores it before it lets go of the old).
	}
}

// done drops one hold; the last lets go of the generation's resources.
func (gen *generation) done() {
	if gen.refs.Add(-1) == 0 {
		if err := gen.releaseAll(); err != nil {
			gen.g.log.Warn("gateway: closing a replaced config's resources", "generation", gen.id, "err", err)
		}
	}
}

// build makes a generation of cfg (validated). On error, whatever it made
// is closed again and what it kept is let go of.
func (g *Gateway) build(ctx context.Context, cfg Config, id uint64) (_ *generation, err error) {
	gen := &generation{g: g, id: id, cfg: cfg}
	defer func() {
		if err != nil {
			gen.releaseAll()
		}
	}()
	if err = gen.newKeys(ctx); err != nil {
		return nil, err
	}
	if err = gen.newInternalTokens(); err != nil {
		return nil, err
	}
	if gen.fw, err = gen.newForwarded(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if gen.verifier, err = gen.newVerifier(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if gen.transport, err = gen.upstreamTransport(); err != nil {
		return nil, err
	}
	gen.transport = g.traceTransport(gen.transport)
	for _, rc := range cfg.Routes {
		rt, err := gen.buildRoute(rc)
		if err != nil {
			return nil, fmt.Errorf("%w: route %q: %w", ErrInvalidConfig, rc.Prefix, err)
		}
		gen.routes = append(gen.routes, rt)
	}
	if err = gen.checkRedis(ctx); err != nil {
		return nil, err
	}
	gen.handler = gen.newMux()
	gen.refs.Store(1)
	return gen, nil
}

// newMux is the generation's handler: the gateway's own paths, the
// metadata documents of its Resource routes and its routes.
func (gen *generation) newMux() http.Handler {
	g := gen.g
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", gen.serveReadyz)
	mux.Handle("GET /metrics", g.metricsHandler)
	for _, m := range gen.metadata {
		// Exact paths, ahead of every prefix route: Validate has made
		// them unique.
		mux.Handle(m.path, m.handler)
	}
	own := []string{"/healthz", "/readyz", "/metrics"}
	if gen.ring != nil {
		// The gateway's own keys, for the services behind it.
		paths := gen.cfg.InternalTokens.paths()
		mux.Handle("GET "+paths[0], gen.ring.JWKSHandler())
		mux.Handle("GET "+paths[1], gen.ring.DiscoveryHandler(gen.cfg.InternalTokens.Issuer))
		own = append(own, paths...)
	}
	mux.HandleFunc("/", gen.proxy)
	for _, m := range gen.metadata {
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
			gen.proxy(w, r)
			return
		}
		// A path no pattern but "/" can match goes straight to proxy, as
		// the mux would send it: matching it against the mux's tree cost
		// every proxied request five allocations.
		if strings.HasPrefix(p, "/") && r.Method != http.MethodConnect && !ownsPath(own, p) {
			gen.proxy(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// newKeys holds a key cache per provider: the one an earlier generation
// has for the same provider, or a new one, which loads in the background.
// The token's iss picks the key set when there are several.
func (gen *generation) newKeys(ctx context.Context) error {
	g := gen.g
	if len(gen.cfg.Providers) == 0 {
		return fmt.Errorf("%w: no identity provider", ErrInvalidConfig)
	}
	for _, p := range gen.cfg.Providers {
		v, err := gen.hold(fmt.Sprintf("provider %q %q %q", p.Issuer, p.JWKSURL, p.JWKSFile), "provider "+providerName(p), func() (any, func() error, bool, error) {
			pv := newProvider(p)
			cc := cache.Config{
				URL:        p.JWKSURL,
				File:       p.JWKSFile,
				Issuer:     p.Issuer,
				HTTPClient: g.opts.HTTPClient,
				Logger:     g.log,
				Observer:   g.traceCache(g.metrics.CacheObserver(cache.Observer{OnRefresh: pv.onRefresh})),
			}
			if g.opts.Cache != nil {
				g.opts.Cache(&cc)
			}
			c, err := cache.New(ctx, cc)
			if err != nil {
				return nil, nil, false, fmt.Errorf("%w: key cache: %w", ErrInvalidConfig, err)
			}
			pv.c = c
			gen.fresh = append(gen.fresh, pv)
			return pv, c.Close, false, nil
		})
		if err != nil {
			return err
		}
		gen.providers = append(gen.providers, v.(*provider))
	}
	if len(gen.providers) == 1 {
		gen.storage.Keys = gen.providers[0].c
		if iss := gen.providers[0].issuer; iss != "" {
			gen.storage.Issuers = []string{iss}
		}
		return nil
	}
	// The token's iss picks the key set; any other iss is refused.
	gen.storage.KeysByIssuer = make(map[string]jwkset.Storage, len(gen.providers))
	for _, p := range gen.providers {
		gen.storage.KeysByIssuer[p.issuer] = p.c
	}
	return nil
}

// ready reports whether every provider's key set is loaded and not stale.
func (gen *generation) ready() bool {
	for _, p := range gen.providers {
		if !p.c.Ready() {
			return false
		}
	}
	return len(gen.providers) > 0
}

// waitReady waits until every provider's key set is loaded or ctx ends.
func (gen *generation) waitReady(ctx context.Context) error {
	for _, p := range gen.providers {
		if err := p.c.WaitReady(ctx); err != nil {
			if len(gen.providers) > 1 {
				return fmt.Errorf("cache: issuer %q: %w", p.issuer, err)
			}
			return err
		}
	}
	return nil
}

// upstreamTransport is the transport every route builds on: the caller's
// (Options.Transport), or one sized by the config's upstream_transport,
// kept while that stays the same (its idle connections closed once no
// generation uses it).
func (gen *generation) upstreamTransport() (http.RoundTripper, error) {
	g := gen.g
	if g.opts.Transport != nil {
		return g.opts.Transport, nil
	}
	c := gen.cfg.UpstreamTransport
	v, err := gen.hold(fmt.Sprintf("upstream transport %+v", c), "upstream transport", func() (any, func() error, bool, error) {
		t := newUpstreamTransport(c, g.upstream)
		return t, func() error { t.CloseIdleConnections(); return nil }, false, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(http.RoundTripper), nil
}

// redisClient returns the client every Redis store of the generation
// shares, held on the first call (building is sequential); nil without
// Redis. An earlier generation's client is kept while the settings (the
// password included) stay the same.
func (gen *generation) redisClient() (redis.UniversalClient, error) {
	if gen.redis != nil || gen.cfg.Redis.IsZero() {
		return gen.redis, nil
	}
	s := gen.cfg.Redis.settings()
	v, err := gen.hold(gen.redisKey(), "redis client", func() (any, func() error, bool, error) {
		c, err := redisconn.New(s)
		if err != nil {
			return nil, nil, false, fmt.Errorf("redis: %w", err)
		}
		gen.redisNew = true
		return c, c.Close, true, nil
	})
	if err != nil {
		return nil, err
	}
	gen.redis = v.(redis.UniversalClient)
	return gen.redis, nil
}

// redisKey names the generation's Redis client in resource keys: the
// client's, and those of the stores on it, which must follow it to a new
// one. Made once per generation: it reads the TLS files.
func (gen *generation) redisKey() string {
	if gen.redisName == "" {
		gen.redisName = redisSettingsKey(gen.cfg.Redis.settings())
	}
	return gen.redisName
}

// redisSettingsKey names a Redis client's settings (and holds the password: keys
// are never logged, only their kinds) and, with TLS, the contents of its
// files: a certificate, key or CA rotated in place under the same path is
// a new client at the next reload, whose connections show and trust the
// new ones. The files are read again when the client is made; a rotation
// between the two reads only makes the next reload build a client anew.
func redisSettingsKey(s redisconn.Settings) string {
	// By value: JSON follows the TLS pointer, which %v would print as an
	// address, so that the same settings are the same client.
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Sprintf("redis %p", &s) // never equal: a new client
	}
	key := "redis " + string(b)
	if s.TLS != nil {
		key += fmt.Sprintf(" tls files %x", s.TLS.Digest())
	}
	return key
}

// newVerifier builds the Verifier that every route derives from with
// With, so that a token verified on one route is a cache hit on every other.
// Its audiences are the union of the routes' own (each route narrows them
// again after the cache): iss and aud stay checked before any route's
// narrowing, unless some route accepts any audience, where the base cannot
// check aud at all and middleware.New says so in its Warn line.
func (gen *generation) newVerifier() (*middleware.Verifier, error) {
	// The introspection clients and the key store the routes will name.
	if err := gen.newCredentials(); err != nil {
		return nil, err
	}
	var audiences []string
	for _, rc := range gen.cfg.Routes {
		if len(rc.Audiences) == 0 {
			audiences = nil
			break
		}
		audiences = append(audiences, rc.Audiences...)
	}
	slices.Sort(audiences)
	mc := middleware.Config{
		Keys:           gen.storage.Keys,
		KeysByIssuer:   gen.storage.KeysByIssuer,
		Issuers:        gen.storage.Issuers,
		Audiences:      slices.Compact(audiences),
		Algorithms:     gen.cfg.Algorithms,
		Types:          gen.cfg.Types,
		RequiredClaims: gen.cfg.RequiredClaims,
		Leeway:         middlewareLeeway(gen.cfg.Leeway),
		Logger:         gen.g.log,
		OnVerify:       gen.g.traceVerify(gen.g.metrics.OnVerify),
		// A gateway in front of many users sees tokens that never come
		// back: cache a token on its second sighting only.
		TokenCacheDoorkeeper: true,
	}
	if gen.cfg.APIKeys != nil {
		mc.APIKeyHeader = gen.cfg.APIKeys.Header
	}
	if err := gen.senderConstraints(&mc); err != nil {
		return nil, err
	}
	return middleware.New(mc)
}

func (gen *generation) buildRoute(rc Route) (*route, error) {
	mr, bh, err := gen.routeRequirements(rc)
	if err != nil {
		return nil, err
	}
	// A per-user credential replaces the client's token: never both.
	dropAuthorization := rc.DropAuthorization || rc.Resource != nil && !rc.ForwardToken || rc.UpstreamAuth.perUser()
	// Validate has checked the claim headers with rules stricter than
	// With's, so no route is ever one that With refuses with 500.
	v := gen.verifier.With(mr)
	if path, ok := v.MetadataPath(); ok {
		gen.metadata = append(gen.metadata, metadataRoute{path: path, handler: v.MetadataHandler()})
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

	rtr, err := gen.credentialTransport(rc, gen.g.routeTransport(gen.transport, rc))
	if err != nil {
		return nil, err
	}
	credential, credentialHeader, keyHeader := gen.upstreamHeaders(rc)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if rc.StripPrefix {
				stripPrefix(pr.Out.URL, rc.Prefix)
			}
			pr.SetURL(target)
			setXForwarded(pr)
			// Whatever reached here under the reserved prefix came from the
			// Verifier (the client's were stripped before it ran); clear
			// Out anyway, so that only the configured claim headers, copied
			// from In below, can carry the prefix upstream.
			stripReserved(pr.Out.Header)
			// ReverseProxy has already removed every header the client's
			// Connection header named, the claim headers the Verifier set
			// included: put the verified ones back.
			for _, h := range rt.claims { // canonical already: no lookup canonicalizes again
				if vs := pr.In.Header[h]; len(vs) > 0 {
					pr.Out.Header[h] = slices.Clone(vs)
				}
			}
			if dropAuthorization {
				// The proof goes with the token: neither is the upstream's.
				// Under the names as http.Header keys them: Del("DPoP")
				// made the canonical "Dpop" anew, an allocation per request.
				delete(pr.Out.Header, "Authorization")
				delete(pr.Out.Header, "Dpop")
			}
			if keyHeader != "" || rc.Credentials != nil {
				dropAPIKey(pr, keyHeader)
			}
			if credential != "" {
				pr.Out.Header[credentialHeader] = []string{credential}
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
		BufferPool:    gen.g.buffers,
		ErrorLog:      slog.NewLogLogger(gen.g.log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if gen.g.credentialError(w, r, rc.Prefix, err) {
				return
			}
			gen.g.upstreamError(w, rc.Prefix, err)
		},
	}
	var next http.Handler = gen.g.fullDuplex(rp)
	if bh != nil {
		next = bh.Meter(next)
	}
	rt.handler = stripReservedHandler(v.Handler(next))
	return rt, nil
}

// upstreamHeaders are what the route's proxy sets and deletes toward the
// upstream: its static credential ("" for none) and the header for it, and
// the API-key header ("" for none); names canonical, so the proxy does not
// canonicalize them on every request.
func (gen *generation) upstreamHeaders(rc Route) (credential, credentialHeader, keyHeader string) {
	if credential = staticCredential(rc.UpstreamAuth); credential != "" {
		credentialHeader = http.CanonicalHeaderKey(rc.UpstreamAuth.Header)
	}
	if ak := gen.cfg.APIKeys; ak != nil && ak.Header != "" {
		keyHeader = http.CanonicalHeaderKey(ak.Header)
	}
	return credential, credentialHeader, keyHeader
}

// routeRequirements is the route's config as the library's one
// requirements value (middleware.Route), with the budget handler that
// meters the route's answers (nil: no budget).
func (gen *generation) routeRequirements(rc Route) (middleware.Route, *budget.Handler, error) {
	mr := middleware.Route{Scopes: rc.Scopes, Audiences: rc.Audiences, ClaimHeaders: rc.ClaimHeaders, Types: rc.Types, DPoP: routeDPoP(rc.DPoP),
		RequireACR: rc.ACRValues, MaxAuthAge: rc.MaxAuthAge}
	gen.routeCredentials(&mr, rc)
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
		lim, err := gen.limiter(rc)
		if err != nil {
			return mr, nil, err
		}
		weight := rc.Weight
		onDecision := gen.g.metrics.OnRateLimit
		if _, ok := lim.(*ratelimit.Local); ok {
			// Made without an Observer: this hook counts its calls too.
			onDecision = gen.g.metrics.LocalRateLimitHook()
		}
		mr.RateLimit = &middleware.RateLimit{
			Limiter:    lim,
			Cost:       func(*middleware.Claims, *http.Request) int { return weight },
			OnDecision: gen.g.traceRateLimit(onDecision),
		}
	}
	if rc.Policy != "" {
		pol, err := policy.Compile(rc.Policy, policy.Options{}) // Validate has compiled it once
		if err != nil {
			return mr, nil, err
		}
		mr.Policy = pol
	}
	bh, err := gen.newBudget(rc)
	if err != nil {
		return mr, nil, err
	}
	if bh != nil {
		mr.Budget = bh
	}
	return mr, bh, nil
}

// limiter builds the route's limiter: in-process, or in Redis (shared by
// replicas) under a prefix of its own, named by the route's prefix so that
// replicas whose configs list routes in other orders (and a reload that
// adds a route) still share. A route whose prefix and limit stay the same
// keeps its limiter across reloads, and with it what each subject has
// spent.
func (gen *generation) limiter(rc Route) (ratelimit.Limiter, error) {
	g := gen.g
	n, period := ratePeriod(*rc.Rate)
	client, err := gen.redisClient()
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("rate limit %q %d/%v burst %d", rc.Prefix, n, period, *rc.Burst)
	name := fmt.Sprintf("rate limit %q", rc.Prefix)
	if client == nil {
		v, err := gen.hold(key, name, func() (any, func() error, bool, error) {
			l, err := ratelimit.NewLocal(ratelimit.LocalConfig{
				// No Observer: the route's OnDecision counts its calls
				// (Metrics.LocalRateLimitHook), one hook instead of two.
				Rate: n, Period: period, Burst: *rc.Burst,
			})
			return l, nil, false, err
		})
		if err != nil {
			return nil, err
		}
		return v.(ratelimit.Limiter), nil
	}
	key += fmt.Sprintf(" replicas %d %s", gen.cfg.Replicas, gen.redisKey())
	v, err := gen.hold(key, name, func() (any, func() error, bool, error) {
		r, err := redislimit.New(redislimit.Config{
			Client: client,
			Prefix: "jwtgate:rl:" + rc.Prefix + "|",
			Rate:   n, Period: period, Burst: *rc.Burst,
			// Each replica keeps limiting on its own while Redis is down,
			// rather than letting everything through or nothing.
			FailurePolicy: ratelimit.FailLocal,
			Replicas:      gen.cfg.Replicas,
			Logger:        g.log,
			Observer:      g.metrics.OnLimiterEvent,
		})
		if err != nil {
			return nil, nil, false, err
		}
		return r, r.Close, false, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(ratelimit.Limiter), nil
}
