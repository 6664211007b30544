package middleware

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// jwksServer serves a key set of the test's own through the kit's issuer,
// as a Body of its own: memKeys and the red-team sets hold keys the kit
// will not publish (no alg, enc use, key_ops, 1024-bit RSA, one kid for
// several keys). Tests whose keys the kit can make use jwtgatetest.Issuer
// directly.
type jwksServer struct {
	idp   *jwtgatetest.Issuer
	store jwkset.Storage // what is served

	mu   sync.Mutex // guards body and fail
	body []byte
	fail bool
}

func serveJWKS(t testing.TB, store jwkset.Storage) *jwksServer {
	t.Helper()
	s := &jwksServer{idp: jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}}), store: store}
	s.publish(t)
	return s
}

// publish serves the store's current public keys.
func (s *jwksServer) publish(t testing.TB) {
	t.Helper()
	b, err := s.store.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.setBody(t, b)
}

// setBody serves body as it is.
func (s *jwksServer) setBody(t testing.TB, body []byte) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
	s.applyLocked(t)
}

// setFail makes every fetch fail with 500 until setFail(false).
func (s *jwksServer) setFail(t testing.TB, fail bool) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
	s.applyLocked(t)
}

func (s *jwksServer) applyLocked(t testing.TB) {
	t.Helper()
	b := jwtgatetest.Behavior{Body: s.body, CacheControl: "max-age=300"}
	if s.fail {
		b.Status = http.StatusInternalServerError
	}
	if err := s.idp.SetJWKS(b); err != nil {
		t.Fatal(err)
	}
}

// hits counts the fetches of the key set.
func (s *jwksServer) hits() int { return s.idp.Stats().JWKS }

func (s *jwksServer) URL() string { return s.idp.JWKSURL() }

// kitConfig is baseConfig for tokens of idp.
func kitConfig(idp *jwtgatetest.Issuer, keys jwkset.Storage) Config {
	cfg := baseConfig(keys)
	cfg.Issuers = []string{idp.Issuer()}
	return cfg
}

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
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, Now: clock})
	if err := idp.SetJWKS(jwtgatetest.Behavior{CacheControl: "max-age=300"}); err != nil {
		t.Fatal(err)
	}
	old, _ := idp.KID("ES256")
	keysCache := newTestCache(t, idp.JWKSURL(), func(c *cache.Config) { c.UnknownKIDInterval = time.Nanosecond })
	v, err := New(kitConfig(idp, keysCache))
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(okHandler)
	oldTok := idp.Mint(t, jwtgatetest.Claims{})
	if got := do(h, bearerReq(oldTok)); got.status != 200 {
		t.Fatalf("old key before rotation: %d %s", got.status, got.body)
	}
	if got := do(h, bearerReq(oldTok)); got.status != 200 {
		t.Fatalf("old key, cached: %d", got.status)
	}
	fetches := idp.Stats().JWKS

	// Rotation: the provider publishes the new key next to the old one.
	if err := idp.Rotate(); err != nil {
		t.Fatal(err)
	}
	newTok := idp.Mint(t, jwtgatetest.Claims{})
	if kid, _ := idp.KID("ES256"); kid == old {
		t.Fatal("Rotate kept the kid")
	}
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
	if n := idp.Stats().JWKS - fetches; n != 1 {
		t.Fatalf("%d fetches for 16 concurrent requests with a new kid, want 1 (coalesced)", n)
	}
	if got := do(h, bearerReq(oldTok)); got.status != 200 {
		t.Fatalf("old key still published: %d", got.status)
	}

	// Withdrawal: the old key leaves the set. Any refresh picks that up
	// (here one triggered by a token with yet another kid).
	if err := idp.Remove(old); err != nil {
		t.Fatal(err)
	}
	gen := keysCache.Generation()
	probe := idp.MintWith(t, jwtgatetest.Claims{}, jwtgatetest.MintOptions{KID: "probe"})
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
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"RS256"}, Now: clock})
	if err := idp.SetJWKS(jwtgatetest.Behavior{Status: http.StatusInternalServerError}); err != nil {
		t.Fatal(err)
	}
	c := newTestCache(t, idp.JWKSURL(), func(c *cache.Config) {
		c.WaitForFirstLoad = false
		c.RetryMin, c.RetryMax = 10*time.Millisecond, 20*time.Millisecond
	})
	v, _ := New(kitConfig(idp, c))
	h := v.Handler(okHandler)
	tok := idp.Mint(t, jwtgatetest.Claims{})
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
	if err := idp.SetJWKS(jwtgatetest.Behavior{}); err != nil {
		t.Fatal(err)
	}
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
	a := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"RS256"}})
	b := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"EdDSA"}})
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := cache.NewMulti(wctx, []cache.Config{
		{Issuer: a.Issuer(), URL: a.JWKSURL(), WaitForFirstLoad: true, Logger: quietLogger()},
		{Issuer: b.Issuer(), URL: b.JWKSURL(), WaitForFirstLoad: true, Logger: quietLogger()},
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
	if got := do(h, bearerReq(a.Mint(t, jwtgatetest.Claims{}))); got.status != 200 {
		t.Fatalf("issuer a: %d %s", got.status, got.body)
	}
	if got := do(h, bearerReq(b.Mint(t, jwtgatetest.Claims{}))); got.status != 200 {
		t.Fatalf("issuer b: %d %s", got.status, got.body)
	}
	// a's kid presented as b: b's set has no such key.
	if got := do(h, bearerReq(a.Mint(t, jwtgatetest.Claims{Issuer: b.Issuer()}))); got.status != 401 {
		t.Fatalf("a's key under b's issuer: %d", got.status)
	}
	before := a.Stats().JWKS + b.Stats().JWKS
	got := do(h, bearerReq(a.MintWith(t, jwtgatetest.Claims{Issuer: "https://evil.test/"}, jwtgatetest.MintOptions{KID: "zzz"})))
	if got.status != 401 || got.www != wwwInvalid("issuer not accepted") {
		t.Fatalf("unconfigured issuer: %d %q", got.status, got.www)
	}
	if n := a.Stats().JWKS + b.Stats().JWKS - before; n != 0 {
		t.Fatalf("an unconfigured issuer caused %d fetches", n)
	}
}
