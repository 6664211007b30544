package redisapikey_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/apikey/redisapikey"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/middleware"
)

// nopWriter is a ResponseWriter that keeps nothing: the benchmark counts
// the Verifier's and the store's allocations, not a recorder's.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header         { return w.h }
func (w nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w nopWriter) WriteHeader(int)             {}

// A repeated Redis-backed key through the Handler: the store asks Redis on
// every request (a revoked key is refused at once), and what it decodes
// from the same stored bytes is reused.
func BenchmarkRedisKeyHit(b *testing.B) {
	srv := redistest.Start(b)
	src, err := redisapikey.New(redisapikey.Config{Addr: srv.Addr})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	keys, err := apikey.New(apikey.Config{Source: src, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer keys.Close()
	key, rec, err := apikey.Mint("jg_", apikey.Record{ID: "k1", Subject: "svc", Scopes: []string{"chat", "embed"}, Tier: "gold"})
	if err != nil {
		b.Fatal(err)
	}
	if err := src.Put(context.Background(), rec); err != nil {
		b.Fatal(err)
	}
	v, err := middleware.New(middleware.Config{Keys: jwkset.NewMemoryStorage(), Issuers: []string{"https://idp.test"},
		APIKeyHeader: "X-Api-Key", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ok := false
	h := v.With(middleware.Route{APIKeys: keys, Scopes: []string{"chat"}}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ok = true }))
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("X-Api-Key", key)
	w := nopWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	if !ok {
		b.Fatal("the key was refused")
	}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
