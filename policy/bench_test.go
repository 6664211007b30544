package policy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// A verified-token cache hit without a policy and with a three-clause one,
// in the same run: the policy's share is the difference (goal: ≤ 1 µs).
func BenchmarkHitPolicy(b *testing.B) {
	idp := jwtgatetest.NewIssuer(b, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(b), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}})
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(`claims.tenant == "acme" && "ops" in claims.groups && claims.sub.startsWith("user-")`, Options{})
	if err != nil {
		b.Fatal(err)
	}
	tok := idp.Mint(b, jwtgatetest.Claims{Subject: "user-1", Extra: map[string]any{"tenant": "acme", "groups": []string{"dev", "ops"}}})
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"none", v.Handler(next)},
		{"three-clauses", v.With(middleware.Route{Policy: p}).Handler(next)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			bc.h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}
