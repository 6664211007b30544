package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

func BenchmarkGatewayRoute(b *testing.B) {
	p := startIDP(b, false)
	cfg, err := Config{
		Issuer: p.Issuer(), Audiences: []string{"api"}, Rate: 1e9, Burst: 1e9,
		Routes: []Route{{Prefix: "/api/", Upstream: "http://upstream.invalid", Scopes: []string{"read"},
			ClaimHeaders: map[string]string{"sub": "X-User"}, DropAuthorization: true}},
	}.Validate(nil)
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(context.Background(), cfg, Options{Logger: quiet, Transport: stubTransport{}})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
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
