package gateway

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// BenchmarkGatewayNeverRepeated is BenchmarkGatewayRoute with a new token
// on every request (many users, short-lived tokens), cycling through more
// tokens than the verified-token cache holds; repeated is the same loop on
// one token, for the hit path beside it.
func BenchmarkGatewayNeverRepeated(b *testing.B) {
	p := gwtest.StartIDP(b, false)
	g := benchGateway(b, Config{
		Issuer: p.Issuer(), Audiences: []string{"api"}, Rate: 1e9, Burst: 1e9,
		Routes: benchRoutes(),
	})
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
