package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// BenchmarkGatewayNeverRepeated is BenchmarkGatewayRoute with a new token
// on every request (many users, short-lived tokens), cycling through more
// tokens than the verified-token cache holds; repeated is the same loop on
// one token, for the hit path beside it.
func BenchmarkGatewayNeverRepeated(b *testing.B) {
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
	const n = 12_000 // > the cache's 10,000
	toks := make([]string, n)
	for i := range toks {
		toks[i] = "Bearer " + p.Mint(b, jwtgatetest.Claims{Subject: "user-" + strconv.Itoa(i), Scopes: []string{"read"}})
	}
	h := g.Handler()
	for _, mode := range []string{"never-repeated", "repeated"} {
		b.Run(mode, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/api/items", nil)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if mode == "never-repeated" {
					i++
				}
				req.Header.Set("Authorization", toks[i%n])
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
