package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internal/headername"
	"github.com/jwtgate/jwtgate/internal/serve"
	"github.com/jwtgate/jwtgate/metrics"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/replay"
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
	// second; see TLSConfig). nil means time.Now.
	Now func() time.Time
	// OnShutdown is called (in a goroutine of its own) once Serve's
	// graceful shutdown has begun and the listener is closed. nil means
	// nothing is called.
	OnShutdown func(ShutdownEvent)
	// ReloadWindow bounds how long Reload waits for the keys of a
	// provider the new config adds or changes before it refuses the
	// reload (ErrKeysNotLoaded; the running config stays). 0 means
	// DefaultStartupWindow, the program's window at start.
	ReloadWindow time.Duration
	// OnReload is called after every Reload, in Reload's goroutine, once
	// the new config serves or the reload was refused. nil means nothing
	// is called (the gateway logs and counts reloads either way).
	OnReload func(ReloadEvent)
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
// not usable) and release it with Close. Safe for concurrent use, Reload
// included.
//
// What a config file says lives in a generation (routes, providers,
// verifier, stores); Reload builds the next one and swaps it in whole.
// What outlives configs (logger, registry and metrics, TLS listener
// files, the DPoP replay memory) is here.
type Gateway struct {
	log      *slog.Logger
	registry *prometheus.Registry
	metrics  *metrics.Metrics
	handler  http.Handler
	opts     Options // as New got them: each generation builds with them

	metricsHandler http.Handler
	replays        *replay.Memory // the in-process DPoP replay store: one for every generation, so a reload forgets no proof

	cur      atomic.Pointer[generation] // what new requests are served by
	nextID   uint64                     // the last generation's id; guarded by reloadMu
	reloadMu sync.Mutex                 // serializes Reload, and Close after a Reload
	pending  atomic.Pointer[pendingReload]
	reloads  *prometheus.CounterVec // jwtgate_config_reloads_total{result}

	resMu sync.Mutex // guards res
	res   resources

	life context.Context // ends with Close: a reload waiting for keys gives up
	stop context.CancelFunc

	onShutdown      func(ShutdownEvent)
	shutdownTimeout time.Duration // Config.ShutdownTimeout: a restart changes it, never a reload
	closeOnce       sync.Once     // Close may be called twice, or concurrently
	closeErr        error         // what the first Close returned
	buffers         *bufferPool

	budgetMetrics *budgetMetrics // nil until a route has a budget
	upstream      *upstreamMetrics
	tls           *tlsFiles       // nil without Config.TLS
	tracer        *tracing.Tracer // Options.Tracing; nil: no spans

	now       func() time.Time       // Options.Now, or time.Now
	exchanges *prometheus.CounterVec // token_exchanges_total; nil until a route exchanges
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
// Reload replaces the config later, without a restart.
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
	replays, err := replay.NewMemory(replay.MemoryConfig{})
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		log: log, registry: reg, metrics: m, onShutdown: opts.OnShutdown, buffers: newBufferPool(), tracer: opts.Tracing,
		opts: opts, replays: replays, res: resources{m: map[string]*sharedRes{}},
		shutdownTimeout: cfg.ShutdownTimeout,
	}
	g.life, g.stop = context.WithCancel(context.Background())
	if g.now = opts.Now; g.now == nil {
		g.now = time.Now
	}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()

	if err = g.newTLS(cfg, opts.Now); err != nil {
		return nil, err
	}
	if g.upstream, err = newUpstreamMetrics(reg); err != nil {
		return nil, err
	}
	g.upstream.trace = opts.Transport != nil
	if g.reloads, err = newReloadMetrics(reg); err != nil {
		return nil, err
	}
	g.metricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	gen, err := g.build(ctx, cfg, 1)
	if err != nil {
		return nil, err
	}
	g.nextID = 1
	g.cur.Store(gen)
	g.handler = g.traceHandler(http.HandlerFunc(g.serveHTTP))
	return g, nil
}

// serveHTTP serves r on the generation current when it arrives, to its
// end: a reload meanwhile changes what the next request sees, never this
// one (a stream runs on the routes it started on).
func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	gen := g.acquire()
	defer gen.done()
	gen.handler.ServeHTTP(w, r)
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

// setXForwarded is ProxyRequest.SetXForwarded with the names written as
// http.Header keys them: Set canonicalizes each name anew on every request
// (three calls, about a tenth of what the gateway adds to a proxied
// request's instructions). TestSetXForwardedIsTheStdlibs holds the two to
// the same headers.
func setXForwarded(pr *httputil.ProxyRequest) {
	h := pr.Out.Header
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	} else {
		delete(h, "X-Forwarded-For")
	}
	h["X-Forwarded-Host"] = []string{pr.In.Host}
	proto := "http"
	if pr.In.TLS != nil {
		proto = "https"
	}
	h["X-Forwarded-Proto"] = []string{proto}
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
// (what /readyz answers 200 for), for the config serving new requests.
func (g *Gateway) Ready() bool { return g.cur.Load().ready() }

// WaitReady waits until the key sets of the config serving new requests
// are loaded or ctx ends.
func (g *Gateway) WaitReady(ctx context.Context) error { return g.cur.Load().waitReady(ctx) }

// Registry returns the gateway's registry (what /metrics serves).
func (g *Gateway) Registry() *prometheus.Registry { return g.registry }

// Close stops the key caches' goroutines and closes the Redis clients and
// stores of every config generation, waiting for them; a Reload under way
// gives up first. Idempotent; call it once Serve has returned.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		if g.stop != nil {
			g.stop()
		}
		g.reloadMu.Lock()
		defer g.reloadMu.Unlock()
		g.closeErr = g.closeAll()
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
		ev := ShutdownEvent{Timeout: g.shutdownTimeout}
		srv.RegisterOnShutdown(func() { g.onShutdown(ev) })
	}
	return serve.Until(ctx, srv, ln, g.shutdownTimeout, func() {
		g.log.Warn("gateway: shutdown timeout; closing remaining connections", "timeout", g.shutdownTimeout)
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
