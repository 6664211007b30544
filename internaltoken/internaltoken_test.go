package internaltoken_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internaltoken"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// published serves ring's JWK Set and discovery document as the gateway
// does; a service behind it verifies with a Verifier on a cache from it.
func published(t *testing.T, ring *internaltoken.KeyRing) (issuer string, v *middleware.Verifier) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.Handle(internaltoken.JWKSPath, ring.JWKSHandler())
	mux.Handle(internaltoken.DiscoveryPath, ring.DiscoveryHandler(srv.URL))
	c, err := cache.New(context.Background(), cache.Config{Issuer: srv.URL, WaitForFirstLoad: true,
		// A rotated key is looked for at once, not a second later.
		UnknownKIDInterval: time.Nanosecond,
		Logger:             slog.New(slog.DiscardHandler),
		HTTPClient:         &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	v, err = middleware.New(middleware.Config{Keys: c, Issuers: []string{srv.URL}, Audiences: []string{"orders"},
		Algorithms: []string{"ES256", "EdDSA"}})
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, v
}

// verified returns the claims a Verifier made of a token for sub.
func verified(t testing.TB, clock *jwtgatetest.Clock, extra map[string]any) *middleware.Claims {
	t.Helper()
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, Now: clock.Now})
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Extra: extra}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInternalTokenVerifiesAgainstPublishedKeysAndSurvivesRotation(t *testing.T) {
	dir := t.TempDir()
	first := writeKey(t, dir, "2026-01.pem", "ES256")
	clock := jwtgatetest.NewClock(time.Now().Truncate(time.Second))
	ring, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{Dir: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	issuer, down := published(t, ring)
	tr, err := internaltoken.New(internaltoken.Config{Keys: ring, Issuer: issuer, Audience: []string{"orders"},
		Claims: []string{"sub", "email", "roles"}, TTL: 5 * time.Minute, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	c := verified(t, clock, map[string]any{"email": "alice@example.com", "roles": []string{"a", "b"}, "secret": "x"})
	tok1, err := tr.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := down.Verify(context.Background(), tok1)
	if err != nil {
		t.Fatalf("the service behind the gateway refused the internal token: %v", err)
	}
	if got.Subject != "alice" || got.Issuer != issuer {
		t.Fatalf("sub %q iss %q", got.Subject, got.Issuer)
	}
	if e, _ := got.String("email"); e != "alice@example.com" {
		t.Fatalf("email %q not copied", e)
	}
	if r, _ := got.String("roles"); r != "a,b" {
		t.Fatalf("roles %q not copied", r)
	}
	if _, ok := got.String("secret"); ok {
		t.Fatal("a claim not configured was copied")
	}

	// Rotation: a newer key file (by name) signs from the next check on.
	writeKey(t, dir, "2026-02.pem", "EdDSA")
	clock.Advance(internaltoken.DefaultCheckInterval)
	tok2, err := tr.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	if kid(t, tok1) == kid(t, tok2) {
		t.Fatal("the new key does not sign")
	}
	for i, tok := range []string{tok2, tok1} {
		if _, err := down.Verify(context.Background(), tok); err != nil {
			t.Fatalf("token %d after rotation: %v", i+2, err)
		}
	}

	// The old file goes: its key stays published while tok1 is valid.
	if err := os.Remove(first); err != nil {
		t.Fatal(err)
	}
	clock.Advance(internaltoken.DefaultCheckInterval)
	if !strings.Contains(jwks(t, ring), kid(t, tok1)) {
		t.Fatal("the retired key left the JWK Set while a token it signed is valid")
	}
	clock.Advance(5 * time.Minute)
	if s := jwks(t, ring); strings.Contains(s, kid(t, tok1)) || !strings.Contains(s, kid(t, tok2)) {
		t.Fatalf("after its last token expired, JWK Set %s", s)
	}
}

func TestInternalTokenNeverOutlivesTheVerifiedToken(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "k.pem", "ES256")
	clock := jwtgatetest.NewClock(time.Now().Truncate(time.Second))
	ring, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{Dir: dir, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := internaltoken.New(internaltoken.Config{Keys: ring, Issuer: "https://gw.example", Audience: []string{"orders"}, TTL: time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	c := verified(t, clock, map[string]any{"exp": clock.Now().Add(2 * time.Minute).Unix()})
	tok, err := tr.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	payload(t, tok, &claims)
	if claims.Exp != c.ExpiresAt.Unix() {
		t.Fatalf("exp %d, want the verified token's %d", claims.Exp, c.ExpiresAt.Unix())
	}
	if _, err := tr.Sign(nil); !errors.Is(err, internaltoken.ErrNoClaims) || middleware.Status(err) != 401 {
		t.Fatalf("no claims: %v", err)
	}
}

func TestRoundTripSendsOnlyTheInternalToken(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "k.pem", "EdDSA")
	ring, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{Files: []string{dir + "/k.pem"}})
	if err != nil {
		t.Fatal(err)
	}
	var seen http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() }))
	defer up.Close()
	ut := &http.Transport{}
	defer ut.CloseIdleConnections()
	tr, err := internaltoken.New(internaltoken.Config{Keys: ring, Issuer: "https://gw.example", Audience: []string{"orders"}, Next: ut})
	if err != nil {
		t.Fatal(err)
	}
	c := verified(t, jwtgatetest.NewClock(time.Now()), nil)
	req := httptest.NewRequest(http.MethodGet, up.URL, nil)
	req.RequestURI = ""
	req.Header.Set("Authorization", "Bearer "+c.Token())
	req = req.WithContext(middleware.ContextWithClaims(req.Context(), c))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if a := seen.Get("Authorization"); !strings.HasPrefix(a, "Bearer ey") || strings.Contains(a, c.Token()) {
		t.Fatalf("upstream Authorization %q", a)
	}
	// Without verified claims nothing goes upstream.
	seen = nil
	req = httptest.NewRequest(http.MethodGet, up.URL, nil)
	req.RequestURI = ""
	if _, err := tr.RoundTrip(req); !errors.Is(err, internaltoken.ErrNoClaims) || seen != nil {
		t.Fatalf("err %v, upstream saw %v", err, seen)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{Dir: dir}); !errors.Is(err, internaltoken.ErrNoKey) {
		t.Fatalf("empty dir: %v", err)
	}
	bad := dir + "/bad.pem"
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{Files: []string{bad}}); !errors.Is(err, internaltoken.ErrInvalidConfig) {
		t.Fatalf("bad file: %v", err)
	}
	if _, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{}); !errors.Is(err, internaltoken.ErrInvalidConfig) {
		t.Fatalf("nothing: %v", err)
	}
	good := writeKey(t, t.TempDir(), "k.pem", "ES256")
	ring, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{Files: []string{good}})
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]internaltoken.Config{
		"no keys":        {Issuer: "https://gw", Audience: []string{"a"}},
		"no issuer":      {Keys: ring, Audience: []string{"a"}},
		"no audience":    {Keys: ring, Issuer: "https://gw"},
		"ttl too long":   {Keys: ring, Issuer: "https://gw", Audience: []string{"a"}, TTL: 2 * time.Hour},
		"reserved claim": {Keys: ring, Issuer: "https://gw", Audience: []string{"a"}, Claims: []string{"sub", "iss"}},
	} {
		if _, err := internaltoken.New(cfg); !errors.Is(err, internaltoken.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func kid(t *testing.T, tok string) string {
	t.Helper()
	var h struct {
		KID string `json:"kid"`
	}
	part(t, tok, 0, &h)
	return h.KID
}

func payload(t *testing.T, tok string, v any) { t.Helper(); part(t, tok, 1, v) }

func part(t *testing.T, tok string, i int, v any) {
	t.Helper()
	b, err := jwtgatetestDecode(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func jwks(t *testing.T, ring *internaltoken.KeyRing) string {
	t.Helper()
	rec := httptest.NewRecorder()
	ring.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, internaltoken.JWKSPath, nil))
	return rec.Body.String()
}
