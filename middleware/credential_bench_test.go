package middleware_test

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/introspect"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

type benchWriter struct{ h http.Header }

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(int)             {}

// BenchmarkCredentialHit is one request through Handler on a route that
// takes all three kinds, decided by each: a JWT from the verified-token
// cache (the baseline), an opaque token from the introspection cache, an
// API key from the store. Compare ns/op and allocs/op in the same run.
func BenchmarkCredentialHit(b *testing.B) {
	idp := jwtgatetest.NewIssuer(b, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	as := jwtgatetest.NewIntrospectionServer(b, jwtgatetest.IntrospectionOptions{})
	ic, err := introspect.New(introspect.Config{Endpoint: as.URL(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ic.Close() })
	key, rec, err := apikey.Mint("jg_", apikey.Record{Subject: "svc", Scopes: []string{"read"}})
	if err != nil {
		b.Fatal(err)
	}
	keys, err := apikey.New(apikey.Config{Records: []apikey.Record{rec}, Prefix: "jg_"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { keys.Close() })
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(b), Issuers: []string{idp.Issuer(), as.Issuer()},
		Audiences: []string{"api"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	rt := v.With(middleware.Route{Introspection: ic, APIKeys: keys, Scopes: []string{"read"},
		Credentials: []middleware.CredentialKind{middleware.CredentialJWT, middleware.CredentialAPIKey, middleware.CredentialIntrospection}})
	h := rt.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, c := range []struct{ name, token string }{
		{"jwt_cache_hit", idp.Mint(b, jwtgatetest.Claims{Audience: "api", Scopes: []string{"read"}})},
		{"introspection_cache_hit", as.Issue(b, jwtgatetest.Claims{Scopes: []string{"read"}})},
		{"api_key", key},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		w := &benchWriter{h: http.Header{}}
		h.ServeHTTP(w, req) // warm every cache
		if _, err := rt.Verify(req.Context(), c.token); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
