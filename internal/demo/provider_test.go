package demo

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startProvider serves a provider on a real loopback listener whose URL is
// its issuer, the way the gateway's demo mode does.
func startProvider(t *testing.T, cfg ProviderConfig) (*Provider, *httptest.Server) {
	t.Helper()
	var p *Provider
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Handler().ServeHTTP(w, r)
	}))
	srv.Start()
	t.Cleanup(srv.Close)
	cfg.Issuer = srv.URL
	var err error
	p, err = NewProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, srv
}

func get(t *testing.T, url string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func kidsOf(t *testing.T, body []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
			KTY string `json:"kty"`
			ALG string `json:"alg"`
			USE string `json:"use"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("jwks: %v in %s", err, body)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.KTY != "EC" || k.ALG != "ES256" || k.USE != "sig" {
			t.Errorf("key %s: kty=%q alg=%q use=%q", k.KID, k.KTY, k.ALG, k.USE)
		}
		if k.D != "" {
			t.Errorf("key %s publishes its private part", k.KID)
		}
		kids = append(kids, k.KID)
	}
	return kids
}

func TestNewProviderRejectsBadConfig(t *testing.T) {
	for _, cfg := range []ProviderConfig{
		{},
		{Issuer: "not a url"},
		{Issuer: "ftp://example.com"},
		{Issuer: "http://127.0.0.1:1", RotateEvery: -time.Second},
	} {
		if _, err := NewProvider(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewProvider(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestDiscoveryPointsAtJWKS(t *testing.T) {
	p, srv := startProvider(t, ProviderConfig{})
	resp, body := get(t, srv.URL+DiscoveryPath, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != srv.URL || doc.JWKSURI != p.JWKSURL() || doc.JWKSURI != srv.URL+JWKSPath {
		t.Fatalf("discovery = %+v, issuer %s", doc, srv.URL)
	}
}

func TestJWKSCachingHeaders(t *testing.T) {
	_, srv := startProvider(t, ProviderConfig{MaxAge: 42 * time.Second})
	resp, body := get(t, srv.URL+JWKSPath, nil)
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=42" {
		t.Errorf("Cache-Control = %q", got)
	}
	if n := len(kidsOf(t, body)); n != 1 {
		t.Errorf("%d keys, want 1", n)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	resp, _ = get(t, srv.URL+JWKSPath, http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional request: status %d, want 304", resp.StatusCode)
	}
	resp, _ = get(t, srv.URL+JWKSPath, http.Header{"If-None-Match": {`"other"`}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("stale etag: status %d, want 200", resp.StatusCode)
	}
}

// verify checks tok against the JWK Set the provider serves right now.
func verify(t *testing.T, srvURL, tok string) (jwt.MapClaims, error) {
	t.Helper()
	_, body := get(t, srvURL+JWKSPath, nil)
	kf, err := keyfunc.NewJWKSetJSON(body)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(tok, claims, kf.Keyfunc, jwt.WithValidMethods([]string{"ES256"}))
	return claims, err
}

func TestMintedTokenVerifiesWithPublishedKeys(t *testing.T) {
	p, srv := startProvider(t, ProviderConfig{})
	tok, err := p.Mint(Token{Subject: "alice", Audience: []string{"api"}, Scope: "read write", Extra: map[string]any{"email": "a@example.com", "iss": "forged"}})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verify(t, srv.URL, tok)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if claims["iss"] != srv.URL || claims["sub"] != "alice" || claims["aud"] != "api" ||
		claims["scope"] != "read write" || claims["email"] != "a@example.com" {
		t.Fatalf("claims = %v", claims)
	}
	exp, _ := claims.GetExpirationTime()
	if d := time.Until(exp.Time); d < 29*time.Minute || d > 31*time.Minute {
		t.Errorf("exp in %v, want the 30m default", d)
	}
}

func TestMintExpired(t *testing.T) {
	p, srv := startProvider(t, ProviderConfig{})
	tok, err := p.Mint(Token{Subject: "bob", ExpiresAt: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(t, srv.URL, tok); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("verify = %v, want expired", err)
	}
}

func TestMintType(t *testing.T) {
	p, srv := startProvider(t, ProviderConfig{})
	for typ, want := range map[string]string{"": "JWT", "at+jwt": "at+jwt"} {
		tok, err := p.Mint(Token{Subject: "a", Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Header["typ"] != want {
			t.Errorf("Type %q: typ %v, want %q", typ, parsed.Header["typ"], want)
		}
		if _, err := verify(t, srv.URL, tok); err != nil {
			t.Errorf("Type %q: %v", typ, err)
		}
	}
}

func TestRotationKeepsOldKeyForGrace(t *testing.T) {
	clk := jwtgatetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p, srv := startProvider(t, ProviderConfig{RotateEvery: time.Minute, Grace: 90 * time.Second, Now: clk.Now})
	first, _ := p.ActiveKID()

	clk.Advance(59 * time.Second)
	if k, _ := p.ActiveKID(); k != first {
		t.Fatalf("rotated early: %s -> %s", first, k)
	}
	clk.Advance(time.Second)
	second, _ := p.ActiveKID()
	if second == first {
		t.Fatal("no rotation after RotateEvery")
	}
	_, body := get(t, srv.URL+JWKSPath, nil)
	kids := kidsOf(t, body)
	if len(kids) != 2 || kids[0] != second || kids[1] != first {
		t.Fatalf("after rotation kids = %v, want [%s %s]", kids, second, first)
	}

	clk.Advance(89 * time.Second) // second rotated out at +60s, first still in grace
	_, body = get(t, srv.URL+JWKSPath, nil)
	kids = kidsOf(t, body)
	if !strings.Contains(strings.Join(kids, ","), first) {
		t.Fatalf("first key dropped within grace: %v", kids)
	}
	clk.Advance(time.Second) // first's grace is over
	_, body = get(t, srv.URL+JWKSPath, nil)
	kids = kidsOf(t, body)
	if strings.Contains(strings.Join(kids, ","), first) {
		t.Fatalf("first key still published after grace: %v", kids)
	}
}

func TestRotateNow(t *testing.T) {
	p, srv := startProvider(t, ProviderConfig{})
	old, err := p.Mint(Token{Subject: "a"})
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := p.ActiveKID()
	if err := p.Rotate(); err != nil {
		t.Fatal(err)
	}
	k2, _ := p.ActiveKID()
	if k1 == k2 {
		t.Fatal("Rotate kept the kid")
	}
	fresh, _ := p.Mint(Token{Subject: "a"})
	for _, tok := range []string{old, fresh} {
		if _, err := verify(t, srv.URL, tok); err != nil {
			t.Errorf("verify after rotation: %v", err)
		}
	}
}

func TestTokenEndpoint(t *testing.T) {
	_, srv := startProvider(t, ProviderConfig{DefaultAudience: "demo", DefaultScope: "read"})
	resp, body := get(t, srv.URL+TokenPath+"?sub=carol", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	claims, err := verify(t, srv.URL, out.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if out.TokenType != "Bearer" || claims["sub"] != "carol" || claims["aud"] != "demo" || claims["scope"] != "read" {
		t.Fatalf("token %+v claims %v", out, claims)
	}
	resp, _ = get(t, srv.URL+TokenPath+"?sub="+strings.Repeat("x", maxParam+1), nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("oversized sub: status %d, want 400", resp.StatusCode)
	}
}

func TestStartLocal(t *testing.T) {
	l, err := StartLocal(ProviderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := l.Mint(Token{Subject: "z"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(t, l.Issuer(), tok); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(l.JWKSURL()); err == nil {
		t.Fatal("still serving after Close")
	}
}

// The demo's tokens carry exactly the claims it documents (the kit's own
// defaults, jti and its default subject and audience, stay out), and its
// discovery document names the token endpoint.
func TestMintClaimSetAndDiscoveryExtras(t *testing.T) {
	p, srv := startProvider(t, ProviderConfig{})
	tok, err := p.Mint(Token{Extra: map[string]any{"exp": 1, "scope": "forged"}})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verify(t, srv.URL, tok)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range claims {
		names = append(names, name)
	}
	slices.Sort(names)
	if got := strings.Join(names, ","); got != "exp,iat,iss,nbf,sub" || claims["sub"] != "" {
		t.Fatalf("claims %v", claims)
	}
	multi, err := p.Mint(Token{Subject: "a", Audience: []string{"x", "y"}, Extra: map[string]any{"jti": "j1"}})
	if err != nil {
		t.Fatal(err)
	}
	if claims, err = verify(t, srv.URL, multi); err != nil || claims["jti"] != "j1" || len(claims["aud"].([]any)) != 2 {
		t.Fatalf("claims %v, %v", claims, err)
	}
	resp, body := get(t, srv.URL+DiscoveryPath, nil)
	if !strings.Contains(string(body), `"token_endpoint":"`+srv.URL+TokenPath+`"`) || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("discovery %s, headers %v", body, resp.Header)
	}
}
