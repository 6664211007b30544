package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// startOwnTransport serves cfg on loopback with the gateway's own
// upstream transport (Options.Transport nil), unlike startGateway.
func startOwnTransport(t *testing.T, cfg Config) *gw {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	g, err := New(context.Background(), cfg, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	clientTr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		g.Close()
		clientTr.CloseIdleConnections()
	})
	out := &gw{Gateway: g, url: "http://" + ln.Addr().String(), client: &http.Client{Transport: clientTr}}
	out.waitReady(t)
	return out
}

// counter reads a counter of reg whose labels include the given pairs.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
				}
				if !found {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// Under 32 concurrent clients, every upstream connection is opened once
// and then reused: the goal is fewer than 1 new connection per
// 1,000 requests (net/http's default transport keeps 2 idle per host and
// opened one for most requests).
func TestUpstreamConnectionsReusedUnderConcurrency(t *testing.T) {
	const clients, perClient = 32, 100
	p := gwtest.StartIDP(t, false)
	var (
		accepted atomic.Int64
		gate     sync.WaitGroup // the first round waits until all 32 are in flight
		inGate   atomic.Int64
	)
	gate.Add(clients)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Round") == "first" && inGate.Add(1) <= clients {
			gate.Done()
			gate.Wait()
		}
		io.WriteString(w, "ok")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	g := startOwnTransport(t, Config{Issuer: p.Issuer(), Routes: []Route{{Prefix: "/", Upstream: up.URL}}})
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice"})

	round := func(n int, hdr string) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for range clients {
			wg.Go(func() {
				for range n {
					req, _ := http.NewRequest(http.MethodGet, g.url+"/x", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("X-Round", hdr)
					resp, err := g.client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						errs <- errors.New(resp.Status)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	// The first round holds 32 requests in flight at once, so 32 upstream
	// connections exist before the measured round starts.
	round(1, "first")
	warm := accepted.Load()
	round(perClient, "measured")
	requests := int64(clients * perClient)
	fresh := accepted.Load() - warm
	t.Logf("upstream connections: %d for the first %d requests, %d new for the next %d", warm, clients, fresh, requests)
	if warm > 2*clients {
		t.Errorf("%d upstream connections for %d concurrent requests", warm, clients)
	}
	if fresh*1000 >= requests {
		t.Errorf("%d new upstream connections in %d requests: want fewer than 1 per 1,000", fresh, requests)
	}
	reg := g.Registry()
	newConns := counter(t, reg, "jwtgate_gateway_upstream_connections_total", "reused", "false")
	reused := counter(t, reg, "jwtgate_gateway_upstream_connections_total", "reused", "true")
	if int64(newConns+reused) != requests+clients || int64(newConns) > accepted.Load() {
		t.Errorf("metrics: %v new + %v reused, want %d requests in all and at most %d new", newConns, reused, requests+clients, accepted.Load())
	}
}

// hangingUpstream accepts connections, reads the request and never
// answers; gone is signalled once the gateway has closed its side.
func hangingUpstream(t *testing.T) (url string, gone <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, c) // until the gateway hangs up
				ch <- struct{}{}
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String(), ch
}

// An upstream that never answers gets the client a 504 in the
// middleware's JSON shape after the route's time-out, the upstream
// connection is closed and no goroutine stays behind.
func TestUpstreamResponseHeaderTimeout(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	// In a subtest, so that its cleanups (gateway, IdP, upstream) have run
	// before the leak check.
	t.Run("hang", func(t *testing.T) {
		p := gwtest.StartIDP(t, false)
		hang, gone := hangingUpstream(t)
		g := startOwnTransport(t, Config{Issuer: p.Issuer(), ResponseHeaderTimeout: time.Hour, Routes: []Route{
			{Prefix: "/hang", Upstream: hang, ResponseHeaderTimeout: 50 * time.Millisecond},
		}})
		tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice"})
		start := time.Now()
		resp, body := g.get(t, "/hang", tok)
		if resp.StatusCode != http.StatusGatewayTimeout || resp.Header.Get("Content-Type") != "application/json" ||
			body != `{"error":"gateway_timeout","error_description":"upstream timed out"}`+"\n" {
			t.Errorf("got %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("answered after %v, before the time-out", d)
		}
		<-gone // the gateway hung up on the upstream
		if n := counter(t, g.Registry(), "jwtgate_gateway_upstream_timeouts_total", "route", "/hang"); n != 1 {
			t.Errorf("timeouts metric = %v, want 1", n)
		}
	})
	goleak.VerifyNone(t, ignore)
}

// A stream whose headers arrive in time keeps flowing past the time-out.
func TestStreamOutlivesResponseHeaderTimeout(t *testing.T) {
	const timeout = 50 * time.Millisecond
	p := gwtest.StartIDP(t, false)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range 4 {
			if i > 0 {
				select {
				case <-time.After(timeout): // the stream lasts 3 time-outs
				case <-r.Context().Done():
					return
				}
			}
			io.WriteString(w, "data: event\n\n")
			rc.Flush()
		}
	}))
	t.Cleanup(up.Close)
	g := startOwnTransport(t, Config{Issuer: p.Issuer(), Routes: []Route{
		{Prefix: "/sse", Upstream: up.URL, ResponseHeaderTimeout: timeout},
	}})
	req, _ := http.NewRequest(http.MethodGet, g.url+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+p.Mint(t, jwtgatetest.Claims{Subject: "alice"}))
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			events++
		}
	}
	if err := sc.Err(); err != nil || events != 4 || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %d events, err %v", resp.StatusCode, events, err)
	}
	if d := time.Since(start); d < 3*timeout {
		t.Errorf("stream took %v, shorter than it should", d)
	}
}

func TestUpstreamTransportConfig(t *testing.T) {
	cfg, err := ParseYAML([]byte(`
issuer: https://idp.example.com
response_header_timeout: 2m
upstream_transport:
  max_idle_conns_per_host: 64
  idle_conn_timeout: 30s
routes:
  - prefix: /a
    upstream: http://a.internal
    response_header_timeout: 5s
  - prefix: /b
    upstream: http://b.internal
  - prefix: /d
    mode: decision
`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := UpstreamTransport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
		DialTimeout: DefaultDialTimeout, TLSHandshakeTimeout: DefaultTLSHandshakeTimeout}
	if v.UpstreamTransport != want || v.ResponseHeaderTimeout != 2*time.Minute {
		t.Errorf("got %+v, %v", v.UpstreamTransport, v.ResponseHeaderTimeout)
	}
	got := map[string]time.Duration{}
	for _, r := range v.Routes {
		got[r.Prefix] = r.ResponseHeaderTimeout
	}
	if got["/a"] != 5*time.Second || got["/b"] != 2*time.Minute || got["/d"] != 0 {
		t.Errorf("route time-outs %v", got)
	}
	again, err := v.Validate(nil)
	if err != nil || again.UpstreamTransport != v.UpstreamTransport || again.Routes[0].ResponseHeaderTimeout != v.Routes[0].ResponseHeaderTimeout {
		t.Errorf("validating again changed it: %+v, %v", again.UpstreamTransport, err)
	}

	d, err := Config{Issuer: "https://idp.example.com", Routes: []Route{{Prefix: "/", Upstream: "http://u"}}}.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.UpstreamTransport.MaxIdleConnsPerHost != DefaultMaxIdleConnsPerHost || d.Routes[0].ResponseHeaderTimeout != DefaultResponseHeaderTimeout ||
		d.UpstreamTransport.IdleConnTimeout != DefaultIdleConnTimeout {
		t.Errorf("defaults: %+v, %v", d.UpstreamTransport, d.Routes[0].ResponseHeaderTimeout)
	}
}

func TestUpstreamTransportConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"upstream_transport: {max_idle_conns_per_host: -1}", "max_idle_conns_per_host -1"},
		{"upstream_transport: {max_idle_conns_per_host: 1000000}", "max_idle_conns_per_host 1000000"},
		{"upstream_transport: {idle_conn_timeout: -1s}", "idle_conn_timeout -1s"},
		{"upstream_transport: {dial_timeout: 48h}", "dial_timeout 48h0m0s"},
		{"upstream_transport: {tls_handshake_timeout: -5s}", "tls_handshake_timeout -5s"},
		{"response_header_timeout: -1s", "response_header_timeout -1s"},
		{"upstream_transport: {max_idle: 3}", "max_idle"},
		{"upstream_transport: {dial_timeout: soon}", "soon"},
	} {
		cfg, err := ParseYAML([]byte("issuer: https://idp.example.com\nroutes: [{prefix: /, upstream: http://u}]\n" + tc.yaml))
		if err == nil {
			_, err = cfg.Validate(nil)
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an ErrInvalidConfig naming %q", tc.yaml, err, tc.want)
		}
	}
	_, err := Config{Issuer: "https://idp.example.com", Routes: []Route{
		{Prefix: "/p", Upstream: "http://u", ResponseHeaderTimeout: -time.Second},
		{Prefix: "/d", Mode: ModeDecision, ResponseHeaderTimeout: time.Second},
	}}.Validate(nil)
	if err == nil || !strings.Contains(err.Error(), `route 1 ("/p"): response_header_timeout -1s`) ||
		!strings.Contains(err.Error(), `route 2 ("/d"): mode decision proxies nowhere: response_header_timeout`) {
		t.Errorf("route errors: %v", err)
	}
}

// An https upstream that offers HTTP/2 gets it: a custom DialContext
// alone would have turned it off.
func TestUpstreamTransportHTTP2(t *testing.T) {
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	up.EnableHTTP2 = true
	up.StartTLS()
	t.Cleanup(up.Close)
	cfg, err := Config{Issuer: "https://idp.example.com", Routes: []Route{{Prefix: "/", Upstream: up.URL}}}.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := newUpstreamTransport(cfg.UpstreamTransport, &upstreamMetrics{})
	defer tr.CloseIdleConnections()
	tr.TLSClientConfig = up.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	resp, err := (&http.Client{Transport: tr}).Get(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "HTTP/2.0" {
		t.Errorf("upstream saw %q, want HTTP/2.0", b)
	}
}

// traceOnly is a caller's transport: the gateway cannot see its dials, so
// it learns new connections from the request's httptrace. The first
// request gets a new connection, the others a reused one.
type traceOnly struct{ n int }

func (t *traceOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if tr := httptrace.ContextClientTrace(r.Context()); tr != nil && tr.GotConn != nil {
		tr.GotConn(httptrace.GotConnInfo{Reused: t.n > 0})
	}
	t.n++
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Header: http.Header{}, Request: r}, nil
}

// Connections are counted for the gateway's own transport (its dials) and
// for a caller's (through a trace), new + reused adding up to requests.
func TestUpstreamConnectionsCountedForACallersTransport(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newUpstreamMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.trace = true // a caller's transport
	g := &Gateway{upstream: m}
	rt := &routeTransport{next: &traceOnly{}, timeout: time.Minute, m: g.upstream}
	for range 5 {
		resp, err := rt.RoundTrip(httptest.NewRequest(http.MethodGet, "http://up/", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n, r := counter(t, reg, "jwtgate_gateway_upstream_connections_total", "reused", "false"),
		counter(t, reg, "jwtgate_gateway_upstream_connections_total", "reused", "true"); n != 1 || r != 4 {
		t.Fatalf("new %v reused %v, want 1 and 4", n, r)
	}
}

// lateUpstream answers at once, except a request whose path is /late: that
// one it holds until the request's context ends (the gateway gave up).
type lateUpstream struct{}

func (lateUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/late" {
		<-r.Context().Done()
		return nil, context.Cause(r.Context())
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Header: http.Header{}, Request: r}, nil
}

// Header timers are reused after prompt answers, never after one fired:
// prompt, late, prompt, late answers each get their own verdict, and a
// reused timer still times out its own call (and only its own).
func TestResponseHeaderTimersReusedSafely(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := newUpstreamMetrics(prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		m.trace = true // a caller's transport
		g := &Gateway{upstream: m}
		rt := &routeTransport{next: lateUpstream{}, timeout: time.Second, m: g.upstream}
		for i, path := range []string{"/", "/", "/late", "/", "/late", "/late", "/"} {
			start := time.Now()
			resp, err := rt.RoundTrip(httptest.NewRequest(http.MethodGet, "http://up"+path, nil))
			switch {
			case path == "/late" && !errors.Is(err, errUpstreamTimeout):
				t.Fatalf("call %d (%s): %v, want the time-out", i, path, err)
			case path == "/late" && time.Since(start) != time.Second:
				t.Fatalf("call %d (%s) timed out after %v, want 1s", i, path, time.Since(start))
			case path == "/" && err != nil:
				t.Fatalf("call %d (%s): %v", i, path, err)
			case path == "/":
				// Well past the time-out: a reused timer must not fire on
				// a call that has its headers.
				time.Sleep(2 * time.Second)
				if _, err := io.ReadAll(resp.Body); err != nil {
					t.Fatalf("call %d: body cut: %v", i, err)
				}
				resp.Body.Close()
			}
		}
	})
}
