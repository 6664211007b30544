package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/growstack"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// stubTransport answers every proxied request at once, so the benchmark
// measures the gateway (routing, verification, claim headers, limiter,
// ReverseProxy) and not a network.
type stubTransport struct{}

func (stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"ok":true}`)), ContentLength: 11, Request: r,
	}, nil
}

// benchRoutes is the route the gateway benchmarks measure: scopes, a claim
// header, the client's token dropped, and an unreachable upstream that
// stubTransport answers in its place.
func benchRoutes() []Route {
	return []Route{{Prefix: "/api/", Upstream: "http://upstream.invalid", Scopes: []string{"read"},
		ClaimHeaders: map[string]string{"sub": "X-User"}, DropAuthorization: true}}
}

// benchGateway validates cfg and starts a gateway on stubTransport, ready
// (its keys loaded) and closed when the benchmark ends.
func benchGateway(b *testing.B, cfg Config) *Gateway {
	b.Helper()
	cfg, err := cfg.Validate(nil)
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(context.Background(), cfg, Options{Logger: quiet, Transport: stubTransport{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	waitReady(b, g)
	return g
}

func BenchmarkGatewayRoute(b *testing.B) {
	p := gwtest.StartIDP(b, false)
	g := benchGateway(b, Config{
		Issuer: p.Issuer(), Audiences: []string{"api"}, Rate: 1e9, Burst: 1e9,
		Routes: benchRoutes(),
	})
	req := httptest.NewRequest(http.MethodGet, "/api/items", nil)
	req.Header.Set("Authorization", "Bearer "+p.Mint(b, jwtgatetest.Claims{Subject: "bench", Scopes: []string{"read"}}))
	h := g.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkDecisionVsProxy times one decision (a forward-auth sub-request
// about /api/items, as nginx sends it) beside one proxied request to the
// same route, alternating in the same loop so both see the same machine
// state; it reports each one's ns and decision/proxy.
func BenchmarkDecisionVsProxy(b *testing.B) {
	p := gwtest.StartIDP(b, false)
	g := benchGateway(b, Config{
		Issuer: p.Issuer(), Audiences: []string{"api"}, Rate: 1e9, Burst: 1e9,
		Routes: append(benchRoutes(), Route{Prefix: "/_jwtgate", Mode: ModeDecision, StripPrefix: true}),
	})
	auth := "Bearer " + p.Mint(b, jwtgatetest.Claims{Subject: "bench", Scopes: []string{"read"}})
	proxyReq := httptest.NewRequest(http.MethodGet, "/api/items", nil)
	proxyReq.Header.Set("Authorization", auth)
	decideReq := httptest.NewRequest(http.MethodGet, "/_jwtgate", nil)
	decideReq.RemoteAddr = "127.0.0.1:40000"
	decideReq.Header.Set("Authorization", auth)
	decideReq.Header.Set("X-Original-URI", "/api/items")
	decideReq.Header.Set("X-Original-Method", "GET")
	h := g.Handler()
	var proxyNs, decideNs time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, proxyReq)
		t1 := time.Now()
		drec := httptest.NewRecorder()
		h.ServeHTTP(drec, decideReq)
		t2 := time.Now()
		proxyNs += t1.Sub(t0)
		decideNs += t2.Sub(t1)
		if rec.Code != http.StatusOK || drec.Code != http.StatusOK || drec.Header().Get("X-User") != "bench" {
			b.Fatalf("proxy %d, decision %d %v", rec.Code, drec.Code, drec.Header())
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(proxyNs)/n, "ns/proxy")
	b.ReportMetric(float64(decideNs)/n, "ns/decision")
	b.ReportMetric(float64(decideNs)/float64(proxyNs), "decision/proxy")
}

// BenchmarkGatewayLimit is the repeated-token request of
// BenchmarkGatewayRoute without a rate limit and with one high enough never
// to limit (ratelimit.Local, the gateway's metrics hooks), in one run so
// the two compare. Under callgrind, count each request (gatewayServe):
//
//	go test -c -o /tmp/gw.test ./gateway
//	GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off GOGC=off valgrind --tool=callgrind \
//	  --collect-atstart=no '--toggle-collect=*gatewayServe*' /tmp/gw.test \
//	  -test.run '^$' -test.bench 'GatewayLimit/^limited$' -test.benchtime=2000x -test.cpu=1
//
// and divide the total by 2001 (b.N summed over the runs: 1 + 2000).
// Anchor the name: 'limited$' alone also runs "unlimited". Runs of one
// build spread by about ±1 % (where the allocator finds memory that needs
// clearing): take the least of a few.
func BenchmarkGatewayLimit(b *testing.B) {
	parent := b
	p := gwtest.StartIDP(b, false)
	auth := "Bearer " + p.Mint(b, jwtgatetest.Claims{Subject: "bench", Scopes: []string{"read"}})
	for _, c := range []struct {
		name string
		rate float64
	}{{"unlimited", 0}, {"limited", 1e9}} {
		var (
			g   *Gateway
			h   http.Handler
			req *http.Request
			w   *flushRecorder
		)
		b.Run(c.name, func(b *testing.B) {
			if h == nil {
				// Built when the sub-benchmark runs and closed once it has
				// (not by its own Cleanup, which runs after each round), so
				// that only its own gateway is on the heap the garbage
				// collector walks.
				g = benchGateway(parent, Config{
					Issuer: p.Issuer(), Audiences: []string{"api"}, Rate: c.rate, Burst: 1e9,
					Routes: benchRoutes(),
				})
				req = httptest.NewRequest(http.MethodGet, "/api/items", nil)
				req.Header.Set("Authorization", auth)
				h, w = g.Handler(), &flushRecorder{h: http.Header{}}
				for range 2 { // the token's second sighting caches it
					h.ServeHTTP(httptest.NewRecorder(), req)
				}
			}
			b.ReportAllocs()
			if !gatewayLoop(b.N, h, w, req) {
				b.Fatalf("status %d", w.code)
			}
			b.ReportMetric(float64(w.flushes)/float64(b.N), "flushes/op")
		})
		if g != nil {
			g.Close()
		}
	}
}

// gatewayLoop serves req n times.
//
//go:noinline
func gatewayLoop(n int, h http.Handler, w *flushRecorder, req *http.Request) bool {
	growstack.Grow() // see package growstack
	ok := true
	w.flushes = 0
	for range n {
		clear(w.h)
		w.code = 0
		gatewayServe(h, w, req)
		ok = ok && w.code == http.StatusOK
	}
	return ok
}

// gatewayServe is one request, for callgrind to count
// (--toggle-collect='*gatewayServe*').
//
//go:noinline
func gatewayServe(h http.Handler, w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }

// The proxies' copy buffers go round without allocating: a buffer put
// back is the one got next, whole, and a buffer of another size is not
// kept.
func TestBufferPoolAllocatesNothing(t *testing.T) {
	bp := newBufferPool()
	b := bp.Get()
	if len(b) != copyBufferSize {
		t.Fatalf("len %d", len(b))
	}
	b[0] = 1
	bp.Put(b[:10]) // ReverseProxy hands back what it got; a shorter slice still is the whole buffer
	if n := testing.AllocsPerRun(100, func() { bp.Put(bp.Get()) }); n != 0 {
		t.Errorf("%v allocations per Get and Put, want 0", n)
	}
	small := make([]byte, 10, 100)
	bp.Put(small) // not 32 KiB: dropped
	for range 3 {
		if got := bp.Get(); len(got) != copyBufferSize {
			t.Fatalf("len %d after a small Put", len(got))
		}
	}
}
