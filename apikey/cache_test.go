package apikey_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/apikey"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// countingStore counts the look-ups that reach the Store (the Verifier's
// verified-token cache answers the rest).
type countingStore struct {
	*apikey.Store
	calls atomic.Int64
}

func (c *countingStore) LookupAPIKey(ctx context.Context, key string) (*middleware.APIKey, error) {
	c.calls.Add(1)
	return c.Store.LookupAPIKey(ctx, key)
}

// sendEvent is send, also returning the request's VerifyEvent.
func sendEvent(t *testing.T, s middleware.APIKeyStore, value string) func() (int, middleware.VerifyEvent) {
	t.Helper()
	var last middleware.VerifyEvent
	v := route(t, s, middleware.Route{}, func(c *middleware.Config) { c.OnVerify = func(e middleware.VerifyEvent) { last = e } })
	h := v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	return func() (int, middleware.VerifyEvent) {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		r.Header.Set("X-Api-Key", value)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, last
	}
}

// Done when: a key the Verifier has cached is refused at once, without a
// cache hit, after the file is rewritten without it and the Store reloads.
func TestCachedKeyRefusedAfterReload(t *testing.T) {
	gone, goneLine := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Subject: "gone"})
	_, keepLine := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Subject: "keep"})
	file := jwtgatetest.APIKeyFile(t, keepLine, goneLine)
	s := newStore(t, apikey.Config{File: file, ReloadInterval: time.Hour})
	if _, ok := s.APIKeyVersion(); !ok {
		t.Fatal("a Store without a Source says its answers may not be reused")
	}
	send := sendEvent(t, s, gone)
	for i := range 3 {
		if code, e := send(); code != 200 || e.CacheHit != (i > 0) {
			t.Fatalf("use %d: %d %+v", i, code, e)
		}
	}
	jwtgatetest.WriteAPIKeyFile(t, file, keepLine)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if code, e := send(); code != 401 || e.CacheHit {
		t.Errorf("revoked key after Reload: %d %+v", code, e)
	}
}

// A Store with a Source (Redis) has no signal that a key changed: the
// Verifier asks it every time.
func TestStoreWithSourceNotCached(t *testing.T) {
	key, rec, err := apikey.Mint("", apikey.Record{Subject: "remote"})
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{recs: map[[32]byte]*apikey.Record{apikey.Sum(key): &rec}}
	cs := &countingStore{Store: newStore(t, apikey.Config{Source: src})}
	send := sendEvent(t, cs, key)
	for range 3 {
		if code, e := send(); code != 200 || e.CacheHit {
			t.Fatalf("%d %+v", code, e)
		}
	}
	if n := cs.calls.Load(); n != 3 {
		t.Errorf("%d look-ups for three uses, want 3", n)
	}
	delete(src.recs, apikey.Sum(key)) // removed from Redis: refused at once
	if code, _ := send(); code != 401 {
		t.Errorf("removed key: %d", code)
	}
}
