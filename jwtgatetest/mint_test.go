package jwtgatetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

var quiet = slog.New(slog.DiscardHandler)

func verifier(t *testing.T, idp *jwtgatetest.Issuer, cfg middleware.Config) *middleware.Verifier {
	t.Helper()
	if cfg.Keys == nil {
		cfg.Keys = idp.Keys(t)
	}
	if cfg.Issuers == nil {
		cfg.Issuers = []string{idp.Issuer()}
	}
	if cfg.Audiences == nil {
		cfg.Audiences = []string{jwtgatetest.DefaultAudience}
	}
	cfg.Logger = quiet
	v, err := middleware.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The snippet of the issue and the README, as written.
func TestSnippet(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256", "RS256"}})
	v, _ := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}})
	tok := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api", Scopes: []string{"read"}})
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || !slices.Equal(c.Scopes(), []string{"read"}) {
		t.Fatalf("claims = %q %q", c.Subject, c.Scopes())
	}
}

// Every algorithm's tokens verify with jwtgate and, so the kit is not
// merely consistent with itself, with golang-jwt.
func TestMintEveryAlgorithmVerifies(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{})
	if got := idp.Algorithms(); !slices.Equal(got, jwtgatetest.SupportedAlgorithms()) {
		t.Fatalf("default algorithms %v", got)
	}
	v := verifier(t, idp, middleware.Config{})
	for _, alg := range jwtgatetest.SupportedAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			tok := idp.MintWith(t, jwtgatetest.Claims{Subject: "bob", Scopes: []string{"a", "b"}}, jwtgatetest.MintOptions{Alg: alg})
			c, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("jwtgate: %v", err)
			}
			if c.Subject != "bob" || c.Issuer != idp.Issuer() || !slices.Equal(c.Audience, []string{"api"}) {
				t.Fatalf("jwtgate claims: %+v", c)
			}
			parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
				kid, _ := tk.Header["kid"].(string)
				return idp.PublicKey(kid)
			}, jwt.WithValidMethods([]string{alg}), jwt.WithIssuer(idp.Issuer()), jwt.WithAudience("api"),
				jwt.WithExpirationRequired(), jwt.WithIssuedAt())
			if err != nil {
				t.Fatalf("golang-jwt: %v", err)
			}
			if parsed.Header["typ"] != "JWT" || parsed.Header["alg"] != alg {
				t.Fatalf("header %v", parsed.Header)
			}
			mc := parsed.Claims.(jwt.MapClaims)
			if mc["scope"] != "a b" || mc["sub"] != "bob" || mc["jti"] == "" {
				t.Fatalf("claims %v", mc)
			}
		})
	}
}

func TestMintDefaultsAndClock(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{
		Algorithms: []string{"EdDSA"}, Now: func() time.Time { return at },
		Type: "at+jwt", Audience: "orders", TokenTTL: 5 * time.Minute,
	})
	m := idp.ClaimsMap(jwtgatetest.Claims{})
	if m["iss"] != idp.Issuer() || m["sub"] != jwtgatetest.DefaultSubject || m["aud"] != "orders" ||
		m["iat"] != at.Unix() || m["exp"] != at.Add(5*time.Minute).Unix() {
		t.Fatalf("defaults %v", m)
	}
	if _, ok := m["nbf"]; ok {
		t.Fatal("nbf set by default")
	}
	tok := idp.Mint(t, jwtgatetest.Claims{})
	// Valid at the issuer's clock, expired on the real one.
	v := verifier(t, idp, middleware.Config{Audiences: []string{"orders"}, Types: []string{"at+jwt"}, Now: func() time.Time { return at.Add(time.Minute) }})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	real := verifier(t, idp, middleware.Config{Audiences: []string{"orders"}})
	if _, err := real.Verify(context.Background(), tok); !errors.Is(err, middleware.ErrTokenNotYetValid) {
		t.Fatalf("on the real clock: %v, want not yet valid (iat in 2030)", err)
	}
}

func TestMintOverridesAnyClaimAndHeader(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	v := verifier(t, idp, middleware.Config{Audiences: []string{"b"}})
	tok := idp.MintWith(t, jwtgatetest.Claims{
		Audiences: []string{"a", "b"},
		Extra:     map[string]any{"exp": nil, "tenant": "t1"},
	}, jwtgatetest.MintOptions{Header: map[string]any{"typ": nil, "x-test": 1}})
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, middleware.ErrClaimsInvalid) {
		t.Fatalf("token without exp: %v, want ErrClaimsInvalid", err)
	}
	p, _, _ := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if _, ok := p.Header["typ"]; ok || p.Header["x-test"] != float64(1) {
		t.Fatalf("header %v", p.Header)
	}
	mc := p.Claims.(jwt.MapClaims)
	if _, ok := mc["exp"]; ok || mc["tenant"] != "t1" || fmt.Sprint(mc["aud"]) != "[a b]" {
		t.Fatalf("claims %v", mc)
	}

	// Invalid values go through as they are.
	tok = idp.Mint(t, jwtgatetest.Claims{Extra: map[string]any{"exp": "tomorrow"}})
	if _, err := v.Verify(context.Background(), tok); err == nil {
		t.Fatal("exp: \"tomorrow\" accepted")
	}
	if _, err := idp.Sign(jwtgatetest.Claims{Extra: map[string]any{"c": make(chan int)}}, jwtgatetest.MintOptions{}); err == nil {
		t.Fatal("unmarshalable claim: no error")
	}
	if _, err := idp.Sign(jwtgatetest.Claims{}, jwtgatetest.MintOptions{Alg: "RS256"}); err == nil || !strings.Contains(err.Error(), "RS256") {
		t.Fatalf("alg the issuer lacks: %v", err)
	}
	if _, err := idp.Sign(jwtgatetest.Claims{}, jwtgatetest.MintOptions{Key: "nope"}); err == nil {
		t.Fatal("unknown signing key: no error")
	}
	raw := idp.MintRaw(t, "ES256", []byte(`{"alg":"ES256","kid":"`+idp.KIDs()[0]+`"}`), []byte(`{"iss":"`+idp.Issuer()+`","aud":"b","exp":4102444800}`))
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("MintRaw token: %v", err)
	}
}

func TestRotateAndRemove(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256", "EdDSA"}})
	v := verifier(t, idp, middleware.Config{TokenCacheSize: -1})
	old := idp.Mint(t, jwtgatetest.Claims{})
	oldKID, _ := idp.KID("ES256")
	if err := idp.Rotate("ES256"); err != nil {
		t.Fatal(err)
	}
	newKID, _ := idp.KID("")
	kids := idp.KIDs()
	if newKID == oldKID || kids[0] != newKID || !slices.Contains(kids, oldKID) || len(kids) != 3 {
		t.Fatalf("after Rotate: kids %v, new %s, old %s", kids, newKID, oldKID)
	}
	for _, tok := range []string{old, idp.Mint(t, jwtgatetest.Claims{})} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("after Rotate: %v", err)
		}
	}
	if err := idp.Remove(oldKID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), old); !errors.Is(err, middleware.ErrUnknownKID) {
		t.Fatalf("token of a removed key: %v, want ErrUnknownKID (Keys follows Remove)", err)
	}
	if err := idp.Remove(oldKID); err == nil {
		t.Fatal("Remove twice: no error")
	}
	if err := idp.Rotate("RS256"); err == nil {
		t.Fatal("Rotate of an algorithm the issuer lacks: no error")
	}
	eddsa, _ := idp.KID("EdDSA")
	if err := idp.Remove(eddsa); err != nil {
		t.Fatal(err)
	}
	if _, err := idp.Sign(jwtgatetest.Claims{}, jwtgatetest.MintOptions{Alg: "EdDSA"}); err == nil {
		t.Fatal("mint with every EdDSA key removed: no error")
	}
	if err := idp.Rotate(); err != nil { // every algorithm gets a key again
		t.Fatal(err)
	}
	if _, err := idp.KID("EdDSA"); err != nil {
		t.Fatal(err)
	}
}

func TestSharedAndFreshRSAKeys(t *testing.T) {
	a := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"RS256", "PS256"}})
	b := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"RS256"}})
	c := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"RS256"}, FreshKeys: true})
	pub := func(i *jwtgatetest.Issuer, alg string) string {
		kid, _ := i.KID(alg)
		k, err := i.PublicKey(kid)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(k)
	}
	if pub(a, "RS256") == pub(a, "PS256") {
		t.Fatal("one issuer's RSA keys are the same key")
	}
	if pub(a, "RS256") != pub(b, "RS256") {
		t.Fatal("RSA keys not shared across issuers")
	}
	if pub(a, "RS256") == pub(c, "RS256") {
		t.Fatal("FreshKeys issuer got a pooled key")
	}
	if ka, _ := a.KID("RS256"); slices.Contains(b.KIDs(), ka) {
		t.Fatal("issuers sharing RSA material share a kid")
	}
}

type fakeTB struct {
	failed   string
	cleanups []func()
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Cleanup(fn func())              { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

func TestBadOptionsAreErrors(t *testing.T) {
	for name, o := range map[string]jwtgatetest.IssuerOptions{
		"unknown alg":   {Algorithms: []string{"HS256"}},
		"none":          {Algorithms: []string{"none"}},
		"duplicate alg": {Algorithms: []string{"ES256", "ES256"}},
		"negative ttl":  {TokenTTL: -time.Second},
		"all ifaces":    {Addr: ":0"},
		"0.0.0.0":       {Addr: "0.0.0.0:0"},
		"[::]":          {Addr: "[::]:0"},
		"public ip":     {Addr: "192.0.2.1:0"},
		"host name":     {Addr: "example.com:0"},
		"no port":       {Addr: "127.0.0.1"},
		"url and addr":  {URL: "https://idp.example", Addr: "127.0.0.1:0"},
		"url and tls":   {URL: "https://idp.example", TLS: true},
		"relative url":  {URL: "/idp"},
		"ftp url":       {URL: "ftp://idp.example"},
		"url query":     {URL: "https://idp.example/?x=1"},
		"disc issuer":   {Discovery: map[string]any{"issuer": "https://other.example"}},
		"disc jwks_uri": {Discovery: map[string]any{"jwks_uri": "https://other.example/jwks"}},
	} {
		t.Run(name, func(t *testing.T) {
			i, err := jwtgatetest.Start(o)
			if !errors.Is(err, jwtgatetest.ErrOptions) || i != nil {
				t.Fatalf("Start: %v, %v; want ErrOptions", i, err)
			}
			var f fakeTB
			if jwtgatetest.NewIssuer(&f, o) != nil || !strings.Contains(f.failed, "invalid issuer options") {
				t.Fatalf("NewIssuer: failed %q", f.failed)
			}
		})
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "127.0.0.2:0"} {
		i, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, Addr: addr})
		if err != nil {
			t.Errorf("%s: %v", addr, err)
			continue
		}
		i.Close()
		i.Close() // idempotent
	}
}

func TestStartCloseAndProgramUse(t *testing.T) {
	i, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := i.Client().Get(i.DiscoveryURL())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	i.Close()
	if _, err := i.Client().Get(i.JWKSURL()); err == nil {
		t.Fatal("server answers after Close")
	}
	if _, err := i.Sign(jwtgatetest.Claims{}, jwtgatetest.MintOptions{}); err != nil {
		t.Fatalf("Sign after Close: %v", err)
	}
}
