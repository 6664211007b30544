package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of UpstreamTransport and of the response-header time-out.
const (
	// DefaultMaxIdleConnsPerHost keeps enough idle connections per
	// upstream for a few hundred concurrent clients: net/http's default
	// of 2 made a gateway under 32 clients open a new upstream connection
	// for most requests (and pile up TIME_WAIT sockets).
	DefaultMaxIdleConnsPerHost = 256
	// DefaultIdleConnTimeout is net/http's own: below the usual upstream
	// keep-alive time-outs of servers behind it is not needed, since the
	// transport retries a request that found its idle connection closed.
	DefaultIdleConnTimeout = 90 * time.Second
	// DefaultDialTimeout bounds connecting to an upstream.
	DefaultDialTimeout = 10 * time.Second
	// DefaultTLSHandshakeTimeout bounds an https upstream's handshake.
	DefaultTLSHandshakeTimeout = 10 * time.Second
	// DefaultResponseHeaderTimeout bounds the wait for an upstream's
	// response headers. Generous: a non-streamed LLM completion may think
	// for tens of seconds before its first byte. Once the headers have
	// arrived the body may take as long as it takes (streams).
	DefaultResponseHeaderTimeout = 60 * time.Second
)

// maxUpstreamTimeout bounds every upstream time-out: a day is already
// "never" for a request, and more is a typo (units).
const maxUpstreamTimeout = 24 * time.Hour

// maxIdleConnsPerHost bounds MaxIdleConnsPerHost: each idle connection
// is a socket and two goroutines.
const maxIdleConnsPerHost = 100_000

// UpstreamTransport sizes the gateway's connections to its upstreams
// (YAML upstream_transport). Every zero field means its default. It
// applies when Options.Transport is nil. HTTP/2 is used with https
// upstreams that offer it (ALPN); plain http upstreams get HTTP/1.1.
type UpstreamTransport struct {
	// MaxIdleConnsPerHost is how many idle keep-alive connections are
	// kept per upstream host. 0 means DefaultMaxIdleConnsPerHost (256).
	MaxIdleConnsPerHost int `yaml:"max_idle_conns_per_host"`
	// IdleConnTimeout closes a connection idle this long. 0 means
	// DefaultIdleConnTimeout (90s).
	IdleConnTimeout time.Duration `yaml:"idle_conn_timeout"`
	// DialTimeout bounds opening a TCP connection. 0 means
	// DefaultDialTimeout (10s).
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// TLSHandshakeTimeout bounds the TLS handshake with an https
	// upstream. 0 means DefaultTLSHandshakeTimeout (10s).
	TLSHandshakeTimeout time.Duration `yaml:"tls_handshake_timeout"`
}

// checkUpstream fills and checks upstream_transport and the top-level
// response_header_timeout.
func (cfg *Config) checkUpstream(p *problems) {
	ut := &cfg.UpstreamTransport
	if ut.MaxIdleConnsPerHost < 0 || ut.MaxIdleConnsPerHost > maxIdleConnsPerHost {
		p.add("upstream_transport: max_idle_conns_per_host %d: want 0 (default %d) to %d", ut.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost, maxIdleConnsPerHost)
	}
	if ut.MaxIdleConnsPerHost == 0 {
		ut.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	fillTimeout(p, "upstream_transport: idle_conn_timeout", &ut.IdleConnTimeout, DefaultIdleConnTimeout)
	fillTimeout(p, "upstream_transport: dial_timeout", &ut.DialTimeout, DefaultDialTimeout)
	fillTimeout(p, "upstream_transport: tls_handshake_timeout", &ut.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	fillTimeout(p, "response_header_timeout", &cfg.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
}

// fillRouteTimeout gives a proxy route the top-level response-header
// time-out where it has none; a decision route proxies nowhere, so one
// there would silently mean nothing.
func (cfg *Config) fillRouteTimeout(p *problems, where string, r *Route) {
	if r.Mode == ModeDecision {
		if r.ResponseHeaderTimeout != 0 {
			p.add("%s: mode decision proxies nowhere: response_header_timeout does not apply", where)
		}
		return
	}
	fillTimeout(p, where+": response_header_timeout", &r.ResponseHeaderTimeout, cfg.ResponseHeaderTimeout)
}

func fillTimeout(p *problems, what string, d *time.Duration, def time.Duration) {
	if *d < 0 || *d > maxUpstreamTimeout {
		p.add("%s %v: want 0 (default %v) to %v", what, *d, def, maxUpstreamTimeout)
	}
	if *d == 0 {
		*d = def
	}
}

// newUpstreamTransport is the transport for Options.Transport == nil. Its
// dials are counted in m: each is a new upstream connection.
func newUpstreamTransport(c UpstreamTransport, m *upstreamMetrics) *http.Transport {
	d := &net.Dialer{Timeout: c.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		// As http.DefaultTransport did before: an operator's HTTPS_PROXY
		// keeps applying to upstreams.
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				m.dials.Add(1)
			}
			return conn, err
		},
		// A custom DialContext would otherwise turn HTTP/2 off.
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: c.MaxIdleConnsPerHost,
		// No total bound: the per-host one bounds each upstream, and a
		// total smaller than their sum would evict one upstream's
		// connections for another's.
		MaxIdleConns:          0,
		IdleConnTimeout:       c.IdleConnTimeout,
		TLSHandshakeTimeout:   c.TLSHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// upstreamMetrics counts upstream connections (new or reused) and
// response-header time-outs. New connections are the transport's dials and
// reused ones the rest of the requests that got a connection, both plain
// atomics: a per-request httptrace (composed with ReverseProxy's own by
// reflection) cost more than the rest of the wrapper together. Only a
// caller's Options.Transport, whose dials the gateway cannot see, is
// traced (trace).
type upstreamMetrics struct {
	dials, sent atomic.Int64 // new connections; requests that got a connection
	trace       bool
	timeouts    *prometheus.CounterVec
	gotConn     func(httptrace.GotConnInfo)
}

func newUpstreamMetrics(reg prometheus.Registerer) (*upstreamMetrics, error) {
	m := &upstreamMetrics{}
	conns := func(reused string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "jwtgate", Subsystem: "gateway", Name: "upstream_connections_total",
			Help:        "Upstream connections proxied requests were sent on, by whether the connection was reused (true) or new (false).",
			ConstLabels: prometheus.Labels{"reused": reused},
		}, f)
	}
	newConns := conns("false", func() float64 { return float64(m.dials.Load()) })
	reusedConns := conns("true", func() float64 { return float64(max(m.sent.Load()-m.dials.Load(), 0)) })
	timeouts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "jwtgate", Subsystem: "gateway", Name: "upstream_timeouts_total",
		Help: "Proxied requests answered 504 because the upstream sent no response headers within the route's response_header_timeout (or the dial or TLS handshake timed out), by route prefix.",
	}, []string{"route"})
	for _, c := range []prometheus.Collector{newConns, reusedConns, timeouts} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.timeouts = timeouts
	m.gotConn = func(ci httptrace.GotConnInfo) {
		if !ci.Reused {
			m.dials.Add(1)
		}
	}
	return m, nil
}

// errUpstreamTimeout is what a route's transport returns when the
// upstream's response headers did not arrive in time.
var errUpstreamTimeout = errors.New("gateway: upstream sent no response headers in time")

// routeTransport bounds the wait for response headers and counts the
// connection each request went out on. The time-out lives here rather
// than in http.Transport.ResponseHeaderTimeout so that routes with
// different time-outs share one connection pool, and so that it also
// holds for an Options.Transport.
type routeTransport struct {
	next    http.RoundTripper
	timeout time.Duration
	m       *upstreamMetrics
	timers  sync.Pool // of *headerTimer, idle
}

// headerTimer cancels one upstream call whose response headers are late.
// Idle ones are reused: a new timer and its func per request cost two
// allocations.
type headerTimer struct {
	t      *time.Timer // runs fire
	mu     sync.Mutex  // guards cancel
	cancel context.CancelCauseFunc
}

func (h *headerTimer) fire() {
	h.mu.Lock()
	cancel := h.cancel
	h.mu.Unlock()
	if cancel != nil {
		cancel(errUpstreamTimeout)
	}
}

// start arms a timer (an idle one, or a new one) to cancel the call
// after t.timeout.
func (t *routeTransport) start(cancel context.CancelCauseFunc) *headerTimer {
	h, _ := t.timers.Get().(*headerTimer)
	if h == nil {
		h = &headerTimer{cancel: cancel}
		h.t = time.AfterFunc(t.timeout, h.fire)
		return h
	}
	h.mu.Lock()
	h.cancel = cancel
	h.mu.Unlock()
	h.t.Reset(t.timeout)
	return h
}

// stop disarms h and reports whether it had not fired. Only then is h
// idle again: one that fired (or is firing) is never reused.
func (t *routeTransport) stop(h *headerTimer) bool {
	if !h.t.Stop() {
		return false
	}
	h.mu.Lock()
	h.cancel = nil
	h.mu.Unlock()
	t.timers.Put(h)
	return true
}

func (t *routeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := t.start(cancel)
	if t.m.trace {
		// A caller's transport: only a trace tells a new connection.
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: t.m.gotConn})
	}
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err == nil {
		t.m.sent.Add(1)
	}
	if !t.stop(timer) {
		// The headers came too late, or not at all: the context is
		// cancelled, so a body could not be read anyway.
		if err == nil {
			resp.Body.Close()
		}
		return nil, errUpstreamTimeout
	}
	if err != nil {
		cancel(nil)
		return nil, err
	}
	// The body keeps the context: a stream flows for as long as it lasts,
	// and closing the body (ReverseProxy always does) releases it.
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		// ReverseProxy needs the upgraded connection writable.
		resp.Body = &cancelRWC{ReadWriteCloser: rwc, cancel: cancel}
	} else {
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

type cancelRWC struct {
	io.ReadWriteCloser
	cancel context.CancelCauseFunc
}

func (b *cancelRWC) Close() error {
	err := b.ReadWriteCloser.Close()
	b.cancel(nil)
	return err
}

// upstreamError answers a request whose upstream failed: 504 when it
// timed out, 502 otherwise, nothing when the client has left.
func (g *Gateway) upstreamError(w http.ResponseWriter, prefix string, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errUpstreamTimeout) || errors.As(err, &ne) && ne.Timeout():
		g.upstream.timeouts.WithLabelValues(prefix).Inc()
		g.log.Warn("gateway: upstream timed out", "route", prefix, "err", err)
		writeJSONError(w, http.StatusGatewayTimeout, "gateway_timeout", "upstream timed out")
	case errors.Is(err, context.Canceled):
		// The client left.
	default:
		g.log.Warn("gateway: upstream error", "route", prefix, "err", err)
		writeJSONError(w, http.StatusBadGateway, "bad_gateway", "upstream unavailable")
	}
}

// routeTransport wraps the shared transport with rc's time-out.
func (g *Gateway) routeTransport(base http.RoundTripper, rc Route) http.RoundTripper {
	return &routeTransport{next: base, timeout: rc.ResponseHeaderTimeout, m: g.upstream}
}
