package middleware

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/cache"
)

// jwksServer is a real HTTP JWK Set endpoint whose content the test can
// change, counting the fetches.
type jwksServer struct {
	srv   *httptest.Server
	body  atomic.Pointer[[]byte]
	fail  atomic.Bool
	hits  atomic.Int64
	store jwkset.Storage // what is served
}

func serveJWKS(t testing.TB, store jwkset.Storage) *jwksServer {
	t.Helper()
	s := &jwksServer{store: store}
	s.publish(t)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// publish serves the store's current public keys.
func (s *jwksServer) publish(t testing.TB) {
	t.Helper()
	b, err := s.store.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.body.Store((*[]byte)(&b))
}

func (s *jwksServer) URL() string { return s.srv.URL + "/jwks.json" }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestCache starts a real cache.Cache on url and waits for its first
// load (unless mutate turns that off); Close runs at cleanup.
func newTestCache(t testing.TB, url string, mutate func(*cache.Config)) *cache.Cache {
	t.Helper()
	cfg := cache.Config{URL: url, WaitForFirstLoad: true, Logger: quietLogger()}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cache.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestKeyRotationEndToEnd: a provider starts signing with a new kid; tokens
// with it are accepted after one coalesced refresh, however many arrive at
// once. Then the old key is withdrawn: its tokens, though in the
// verified-token cache, are rejected as soon as the cache has the new set.
func TestKeyRotationEndToEnd(t *testing.T) {
	k := keys(t)
	ctx := context.Background()
	idp := jwkset.NewMemoryStorage()
	_ = idp.KeyWrite(ctx, jwkOf(t, &k.rsa.PublicKey, "old", jwkset.AlgRS256, jwkset.UseSig))
	srv := serveJWKS(t, idp)
	keysCache := newTestCache(t, srv.URL(), func(c *cache.Config) { c.UnknownKIDInterval = time.Nanosecond })
	v, err := New(baseConfig(keysCache))
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(okHandler)
	oldTok := sign(t, jwt.SigningMethodRS256, k.rsa, "old", nil, goodClaims())
	if got := do(h, bearerReq(oldTok)); got.status != 200 {
		t.Fatalf("old key before rotation: %d %s", got.status, got.body)
	}
	if got := do(h, bearerReq(oldTok)); got.status != 200 {
		t.Fatalf("old key, cached: %d", got.status)
	}
	fetches := srv.hits.Load()

	// Rotation: the provider publishes the new key next to the old one.
	_ = idp.KeyWrite(ctx, jwkOf(t, &k.ec.PublicKey, "new", jwkset.AlgES256, jwkset.UseSig))
	srv.publish(t)
	newTok := sign(t, jwt.SigningMethodES256, k.ec, "new", nil, goodClaims())
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	start := make(chan struct{})
	for i := range statuses {
		wg.Go(func() {
			<-start
			statuses[i] = do(h, bearerReq(newTok)).status
		})
	}
	close(start)
	wg.Wait()
	for i, st := range statuses {
		if st != 200 {
			t.Fatalf("request %d with the new kid: %d", i, st)
		}
	}
	if n := srv.hits.Load() - fetches; n != 1 {
		t.Fatalf("%d fetches for 16 concurrent requests with a new kid, want 1 (coalesced)", n)
	}
	if got := do(h, bearerReq(oldTok)); got.status != 200 {
		t.Fatalf("old key still published: %d", got.status)
	}

	// Withdrawal: the old key leaves the set. Any refresh picks that up
	// (here one triggered by a token with yet another kid).
	if ok, _ := idp.KeyDelete(ctx, "old"); !ok {
		t.Fatal("delete")
	}
	srv.publish(t)
	gen := keysCache.Generation()
	probe := sign(t, jwt.SigningMethodES256, k.ec, "probe", nil, goodClaims())
	if got := do(h, bearerReq(probe)); got.status != 401 {
		t.Fatalf("unknown kid: %d", got.status)
	}
	if keysCache.Generation() == gen {
		t.Fatal("the refresh did not change the generation")
	}
	got := do(h, bearerReq(oldTok))
	if got.status != 401 || got.www != wwwInvalid("unknown key id") {
		t.Fatalf("cached token of a withdrawn key: %d %q, want 401 unknown key id", got.status, got.www)
	}
	if got := do(h, bearerReq(newTok)); got.status != 200 {
		t.Fatalf("new key after withdrawal of the old: %d", got.status)
	}
}

// TestKeysUnavailableThenReady: a provider down at start gives 503 with
// Retry-After (never 401); once it answers, the same token passes.
func TestKeysUnavailableThenReady(t *testing.T) {
	k := keys(t)
	srv := serveJWKS(t, memKeys(t))
	srv.fail.Store(true)
	c := newTestCache(t, srv.URL(), func(c *cache.Config) {
		c.WaitForFirstLoad = false
		c.RetryMin, c.RetryMax = 10*time.Millisecond, 20*time.Millisecond
	})
	v, _ := New(baseConfig(c))
	h := v.Handler(okHandler)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims())
	if v.Ready() {
		t.Fatal("Ready before the first load")
	}
	got := do(h, bearerReq(tok))
	if got.status != 503 || got.header.Get("Retry-After") != "5" || got.www != "" {
		t.Fatalf("keys never loaded: %d %v", got.status, got.header)
	}
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("Verify: %v", err)
	}
	srv.fail.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if !v.Ready() {
		t.Fatal("not Ready after the first load")
	}
	if got := do(h, bearerReq(tok)); got.status != 200 {
		t.Fatalf("after the provider came up: %d %s", got.status, got.body)
	}
}

// TestSeveralIssuersWithMulti: cache.Multi's storages, one per issuer; the
// token's iss picks the set, and an unconfigured iss costs no fetch.
func TestSeveralIssuersWithMulti(t *testing.T) {
	k := keys(t)
	ctx := context.Background()
	a, b := jwkset.NewMemoryStorage(), jwkset.NewMemoryStorage()
	_ = a.KeyWrite(ctx, jwkOf(t, &k.rsa.PublicKey, "a1", jwkset.AlgRS256, jwkset.UseSig))
	_ = b.KeyWrite(ctx, jwkOf(t, k.ed.Public(), "b1", jwkset.AlgEdDSA, jwkset.UseSig))
	sa, sb := serveJWKS(t, a), serveJWKS(t, b)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := cache.NewMulti(wctx, []cache.Config{
		{Issuer: "https://a.test/", URL: sa.URL(), WaitForFirstLoad: true, Logger: quietLogger()},
		{Issuer: "https://b.test/", URL: sb.URL(), WaitForFirstLoad: true, Logger: quietLogger()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	v, err := New(Config{KeysByIssuer: m.Storages(), Audiences: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(okHandler)
	now := time.Now()
	claims := func(iss string) map[string]any {
		return with(goodClaims(), "iss", iss, "exp", now.Add(time.Hour).Unix(), "iat", now.Unix())
	}
	if got := do(h, bearerReq(sign(t, jwt.SigningMethodRS256, k.rsa, "a1", nil, claims("https://a.test/")))); got.status != 200 {
		t.Fatalf("issuer a: %d %s", got.status, got.body)
	}
	if got := do(h, bearerReq(sign(t, jwt.SigningMethodEdDSA, k.ed, "b1", nil, claims("https://b.test/")))); got.status != 200 {
		t.Fatalf("issuer b: %d %s", got.status, got.body)
	}
	// a's kid presented as b: b's set has no such key.
	if got := do(h, bearerReq(sign(t, jwt.SigningMethodRS256, k.rsa, "a1", nil, claims("https://b.test/")))); got.status != 401 {
		t.Fatalf("a's key under b's issuer: %d", got.status)
	}
	before := sa.hits.Load() + sb.hits.Load()
	got := do(h, bearerReq(sign(t, jwt.SigningMethodRS256, k.rsa, "zzz", nil, claims("https://evil.test/"))))
	if got.status != 401 || got.www != wwwInvalid("issuer not accepted") {
		t.Fatalf("unconfigured issuer: %d %q", got.status, got.www)
	}
	if n := sa.hits.Load() + sb.hits.Load() - before; n != 0 {
		t.Fatalf("an unconfigured issuer caused %d fetches", n)
	}
}
