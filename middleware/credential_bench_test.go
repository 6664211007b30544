package middleware_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/cache"
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
// cache (the baseline), an opaque token from the same cache (the
// introspection Client's answer kept there, bound to the route's Client;
// before, every hit went to the Client's SHA-256-keyed cache), an API key
// from the same cache (bound to the route's store and its version; before,
// every request went to the store's SHA-256 and constant-time compare). Compare ns/op and allocs/op in the same run, or
// instructions with callgrind:
//
//	go test -c -o /tmp/mw.test ./middleware
//	GOGC=off GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind \
//	  --collect-atstart=no --toggle-collect='*serveCredential*' \
//	  /tmp/mw.test -test.run=^$ -test.bench='CredentialHit/api_key' -test.benchtime=5000x -test.cpu=1
//
// (totals ÷ 5001: the loop runs once more than asked.)
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
	// The JWT's keys as production has them: a cache.Cache (whose key
	// generation lets a hit skip re-checking the key).
	keySet, err := cache.New(context.Background(), cache.Config{Issuer: idp.Issuer(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { keySet.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := keySet.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	v, err := middleware.New(middleware.Config{Keys: keySet, Issuers: []string{idp.Issuer(), as.Issuer()},
		Audiences: []string{"api"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	rt := v.With(middleware.Route{Introspection: ic, APIKeys: keys, Scopes: []string{"read"},
		Credentials: []middleware.CredentialKind{middleware.CredentialJWT, middleware.CredentialAPIKey, middleware.CredentialIntrospection}})
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h := rt.Handler(next)
	// The same JWT on a route that takes JWTs only (no classification).
	jwtOnly := v.With(middleware.Route{Scopes: []string{"read"}}).Handler(next)
	jwt := idp.Mint(b, jwtgatetest.Claims{Audience: "api", Scopes: []string{"read"}})
	for _, c := range []struct {
		name, token string
		h           http.Handler
	}{
		{"jwt_cache_hit", jwt, h},
		{"jwt_cache_hit_jwt_only_route", jwt, jwtOnly},
		{"introspection_cache_hit", as.Issue(b, jwtgatetest.Claims{Scopes: []string{"read"}}), h},
		{"api_key", key, h},
	} {
		h := c.h
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
				serveCredential(h, w, req)
			}
		})
	}
}

// serveCredential is one request, in a function of its own so that
// callgrind can count exactly it (--toggle-collect='*serveCredential*').
//
//go:noinline
func serveCredential(h http.Handler, w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }
