package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/internaltoken"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// seenUpstream records every request that reaches it (headers and URL)
// and answers with handler, or 200 "ok".
type seenUpstream struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []*http.Request
	handler atomic.Pointer[http.Handler]
}

func startSeenUpstream(t *testing.T) *seenUpstream {
	t.Helper()
	u := &seenUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.got = append(u.got, r.Clone(context.Background()))
		u.mu.Unlock()
		if h := u.handler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *seenUpstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.got...)
}

func secretFile(t *testing.T, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// exchangeConfig is a gateway with one exchange route to up.
func exchangeConfig(t *testing.T, idp *jwtgatetest.Issuer, te *jwtgatetest.TokenEndpoint, up string) Config {
	return Config{
		Listen: "127.0.0.1:0", Issuer: idp.Issuer(), Audiences: []string{"api"},
		Routes: []Route{{Prefix: "/orders/", Upstream: up, UpstreamAuth: &UpstreamAuth{Exchange: &UpstreamExchange{
			TokenEndpoint: te.URL(), Audience: "orders", Scopes: []string{"orders:read"},
			ClientID: "gw", ClientSecretFile: secretFile(t, "s3cret"), Timeout: 200 * time.Millisecond,
		}}}},
	}
}

func TestExchangeTwoUsersReachUpstreamAsTwoPrincipals(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	te := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientSecret: "s3cret"})
	up := startSeenUpstream(t)
	g := startGateway(t, exchangeConfig(t, idp, te, up.srv.URL), nil)
	g.waitReady(t)
	alice := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	bob := idp.Mint(t, jwtgatetest.Claims{Subject: "bob", Audience: "api"})
	for _, tok := range []string{alice, bob, alice} {
		if resp, body := g.get(t, "/orders/1", tok); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
	var principals []string
	for _, r := range up.requests() {
		s, ok := te.SubjectOf(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if !ok {
			t.Fatalf("upstream Authorization %q is no exchanged token", r.Header.Get("Authorization"))
		}
		principals = append(principals, s)
	}
	if strings.Join(principals, ",") != "alice,bob,alice" {
		t.Fatalf("upstream principals %v", principals)
	}
	if st := te.Stats(); st.Issued != 2 {
		t.Fatalf("token endpoint issued %d tokens, want 2 (alice's second request used the cached one)", st.Issued)
	}
	if n := counter(t, g.Registry(), "jwtgate_gateway_token_exchanges_total", "route", "/orders/", "result", "ok"); n != 2 {
		t.Fatalf("token_exchanges_total{result=ok} %v, want 2", n)
	}
}

func TestExchangeCachedAndExpiresWithTheSubjectToken(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	clock := jwtgatetest.NewClock(time.Now())
	// The upstream's token lives an hour; the subject token two minutes.
	te := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientSecret: "s3cret",
		ExpiresIn: time.Hour, Now: clock.Now})
	up := startSeenUpstream(t)
	g := startGatewayOpts(t, exchangeConfig(t, idp, te, up.srv.URL), Options{Now: clock.Now})
	g.waitReady(t)
	exp := time.Now().Add(2 * time.Minute)
	tok := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api", ExpiresAt: exp})
	for range 3 {
		if resp, body := g.get(t, "/orders/1", tok); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
	if n := te.Stats().Requests; n != 1 {
		t.Fatalf("token endpoint called %d times, want 1 (the exchange reused)", n)
	}
	// The gateway's clock passes the subject token's exp (its Verifier,
	// on the real clock, still lets it in): the cached exchange is over,
	// and the token endpoint refuses the expired subject token.
	clock.Set(exp.Add(time.Second))
	if resp, _ := g.get(t, "/orders/1", tok); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("after the subject's exp: status %d, want 403", resp.StatusCode)
	}
	if n := te.Stats().Requests; n != 2 {
		t.Fatalf("token endpoint called %d times, want 2 (the entry ended with the subject token)", n)
	}
	if n := len(up.requests()); n != 3 {
		t.Fatalf("upstream saw %d requests, want 3", n)
	}
}

func TestExchangeEndpointFailureIs503AndUpstreamSeesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    jwtgatetest.TokenBehavior
	}{
		{"5xx", jwtgatetest.TokenBehavior{Status: http.StatusInternalServerError}},
		{"time-out", jwtgatetest.TokenBehavior{Hang: true}},
		{"bad JSON", jwtgatetest.TokenBehavior{Body: []byte("{")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idp := gwtest.StartIDP(t, false)
			te := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientSecret: "s3cret"})
			if err := te.SetBehavior(tc.b); err != nil {
				t.Fatal(err)
			}
			up := startSeenUpstream(t)
			g := startGateway(t, exchangeConfig(t, idp, te, up.srv.URL), nil)
			g.waitReady(t)
			resp, body := g.get(t, "/orders/1", idp.Mint(t, jwtgatetest.Claims{Audience: "api"}))
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("status %d, Retry-After %q: %s; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			if n := len(up.requests()); n != 0 {
				t.Fatalf("upstream saw %d requests", n)
			}
			if te.Stats().Requests != 1 {
				t.Fatalf("token endpoint stats %+v", te.Stats())
			}
			if n := counter(t, g.Registry(), "jwtgate_gateway_token_exchanges_total", "route", "/orders/", "result", "unavailable"); n != 1 {
				t.Fatalf("token_exchanges_total{result=unavailable} %v, want 1", n)
			}
		})
	}
}

func TestSubjectTokenNeverUpstreamOrInLogs(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	te := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientSecret: "s3cret"})
	up := startSeenUpstream(t)
	cfg := exchangeConfig(t, idp, te, up.srv.URL)
	dir := t.TempDir()
	writeKeyFile(t, dir, "2026-01.pem", "ES256")
	cfg.InternalTokens = &InternalTokens{Issuer: "https://gateway.internal", KeyDir: dir}
	cfg.Routes = append(cfg.Routes, Route{Prefix: "/signed/", Upstream: up.srv.URL,
		UpstreamAuth: &UpstreamAuth{Header: "X-Internal-Token", Sign: &UpstreamSign{Audience: "svc"}}})
	logs := &lockedBuffer{}
	g := startGatewayOpts(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	g.waitReady(t)
	tok := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	for _, path := range []string{"/orders/1", "/signed/1"} {
		if resp, body := g.get(t, path+"?keep=1", tok, "X-Copy", tok, "Cookie", "session="+tok); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
		}
	}
	// And a failing exchange, whose error is logged.
	if err := te.SetBehavior(jwtgatetest.TokenBehavior{Status: http.StatusBadGateway}); err != nil {
		t.Fatal(err)
	}
	tok2 := idp.Mint(t, jwtgatetest.Claims{Subject: "bob", Audience: "api"})
	if resp, _ := g.get(t, "/orders/1", tok2); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("failing exchange: status %d", resp.StatusCode)
	}
	got := up.requests()
	if len(got) != 2 {
		t.Fatalf("upstream saw %d requests, want 2", len(got))
	}
	for _, r := range got {
		for name, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, tok) {
					t.Fatalf("%s: upstream header %s carries the client's token", r.URL.Path, name)
				}
			}
		}
		if strings.Contains(r.URL.String(), tok) {
			t.Fatalf("%s: upstream URL carries the client's token", r.URL.Path)
		}
	}
	if got[1].Header.Get("X-Internal-Token") == "" || got[1].Header.Get("Authorization") != "" {
		t.Fatalf("signed route: headers %v", got[1].Header)
	}
	if !strings.Contains(logs.String(), "token exchange failed") {
		t.Fatalf("the failed exchange was not logged: %s", logs.String())
	}
	for _, s := range []string{tok, tok2} {
		if strings.Contains(logs.String(), s) {
			t.Fatal("a client's token is in the logs")
		}
	}
}

func TestInternalTokenVerifiesWithPublishedKeysAndSurvivesRotation(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	up := startSeenUpstream(t)
	dir := t.TempDir()
	writeKeyFile(t, dir, "2026-01.pem", "ES256")
	clock := jwtgatetest.NewClock(time.Now())
	const issuer = "https://gateway.internal"
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: idp.Issuer(), Audiences: []string{"api"},
		InternalTokens: &InternalTokens{Issuer: issuer, KeyDir: dir},
		Routes: []Route{{Prefix: "/svc/", Upstream: up.srv.URL,
			UpstreamAuth: &UpstreamAuth{Sign: &UpstreamSign{Audience: "svc", Claims: []string{"sub", "email"}, TTL: 2 * time.Minute}}}},
	}
	g := startGatewayOpts(t, cfg, Options{Now: clock.Now})
	g.waitReady(t)

	// The discovery document names the gateway's issuer and key set.
	resp, body := g.get(t, "/.well-known/openid-configuration", "")
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || resp.StatusCode != 200 || doc.Issuer != issuer || doc.JWKSURI != issuer+"/.well-known/jwks.json" {
		t.Fatalf("discovery %d %s", resp.StatusCode, body)
	}
	// The service behind the gateway: jwtgate's middleware on a cache of
	// the gateway's published keys (reached here at the listener's real
	// address).
	keys, err := cache.New(context.Background(), cache.Config{URL: g.url + internaltoken.JWKSPath, WaitForFirstLoad: true,
		UnknownKIDInterval: time.Nanosecond, Logger: quiet, HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	svc, err := middleware.New(middleware.Config{Keys: keys, Issuers: []string{issuer}, Audiences: []string{"svc"}})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = svc.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFromContext(r.Context())
		email, _ := c.String("email")
		io.WriteString(w, c.Subject+" "+email)
	}))
	up.handler.Store(&h)

	tok := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api", Extra: map[string]any{"email": "alice@example.com"}})
	if resp, body := g.get(t, "/svc/a", tok); resp.StatusCode != 200 || body != "alice alice@example.com" {
		t.Fatalf("before rotation: %d %q", resp.StatusCode, body)
	}
	first := up.requests()[0].Header.Get("Authorization")

	writeKeyFile(t, dir, "2026-02.pem", "EdDSA")
	clock.Advance(internaltoken.DefaultCheckInterval)
	if resp, body := g.get(t, "/svc/b", tok); resp.StatusCode != 200 || body != "alice alice@example.com" {
		t.Fatalf("after rotation: %d %q", resp.StatusCode, body)
	}
	second := up.requests()[1].Header.Get("Authorization")
	if jwsKID(t, first) == jwsKID(t, second) {
		t.Fatal("the new key does not sign after the rotation")
	}
	// Another user through the same route is another principal.
	bob := idp.Mint(t, jwtgatetest.Claims{Subject: "bob", Audience: "api", Extra: map[string]any{"email": "bob@example.com"}})
	if resp, body := g.get(t, "/svc/c", bob); resp.StatusCode != 200 || body != "bob bob@example.com" {
		t.Fatalf("bob: %d %q", resp.StatusCode, body)
	}
	// A token of the old key, still in flight, still verifies.
	if _, err := svc.Verify(context.Background(), strings.TrimPrefix(first, "Bearer ")); err != nil {
		t.Fatalf("the old key's token after rotation: %v", err)
	}
}

func TestUpstreamAuthConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeKeyFile(t, dir, "k.pem", "ES256")
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"env and exchange", `upstream_auth: {env: UP_KEY, exchange: {token_endpoint: 'https://as/t', audience: a}}`, "set one of env, exchange and sign"},
		{"nothing", `upstream_auth: {header: X-Key}`, "needs env"},
		{"http token endpoint", `upstream_auth: {exchange: {token_endpoint: 'http://as.example/t', audience: a}}`, "loopback"},
		{"no audience", `upstream_auth: {exchange: {token_endpoint: 'https://as/t'}}`, "Audience"},
		{"bad grant", `upstream_auth: {exchange: {token_endpoint: 'https://as/t', audience: a, grant: password}}`, "grant \"password\""},
		{"bad binding", `upstream_auth: {exchange: {token_endpoint: 'https://as/t', audience: a, binding: maybe}}`, "binding \"maybe\""},
		{"secret env unset", `upstream_auth: {exchange: {token_endpoint: 'https://as/t', audience: a, client_id: gw, client_secret_env: NOPE_UNSET}}`, "NOPE_UNSET is not set"},
		{"secret twice", `upstream_auth: {exchange: {token_endpoint: 'https://as/t', audience: a, client_id: gw, client_secret_env: UP_KEY, client_secret_file: /x}}`, "not both"},
		{"no client id", `upstream_auth: {exchange: {token_endpoint: 'https://as/t', audience: a, client_secret_env: UP_KEY}}`, "client ID"},
		{"missing key file", `upstream_auth: {exchange: {token_endpoint: 'https://as/t', audience: a, client_id: gw, private_key_file: /nonexistent.pem}}`, "private_key_file"},
		{"bad assertion audience", `upstream_auth: {exchange: {token_endpoint: 'https://as/t', audience: a, assertion_audience: token_endpoint}}`, "assertion_audience \"token_endpoint\""},
		{"issuer with a query", `upstream_auth: {exchange: {issuer: 'https://as?x=1', audience: a}}`, "query"},
		{"sign without internal_tokens", `upstream_auth: {sign: {audience: svc}}`, "needs internal_tokens"},
		{"sign reserved claim", `upstream_auth: {sign: {audience: svc, claims: [sub, exp]}}`, "exp is the gateway's own"},
		{"sign long ttl", `upstream_auth: {sign: {audience: svc, ttl: 2h}}`, "ttl 2h0m0s"},
		{"sign no audience", `upstream_auth: {sign: {claims: [sub]}}`, "audience is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u', " + tc.yaml + "}]\n"
			_, err := loadYAML([]byte(y), gwtest.Env(map[string]string{"UP_KEY": "x"}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"no keys", "internal_tokens: {issuer: 'https://gw'}", "set key files or a key directory"},
		{"bad issuer", "internal_tokens: {issuer: 'gw', key_dir: " + dir + "}", "issuer \"gw\""},
		{"empty dir", "internal_tokens: {issuer: 'https://gw', key_dir: " + t.TempDir() + "}", "no usable signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := "issuer: https://idp\n" + tc.yaml + "\nroutes: [{prefix: /, upstream: 'http://u'}]\n"
			_, err := loadYAML([]byte(y), gwtest.Env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	y := "issuer: https://idp\ninternal_tokens: {issuer: 'https://gw', key_dir: " + dir + "}\nroutes: [{prefix: /.well-known/, upstream: 'http://u'}]\n"
	if _, err := loadYAML([]byte(y), gwtest.Env(nil)); err == nil || !strings.Contains(err.Error(), "overlaps the gateway's own /.well-known/jwks.json") {
		t.Fatalf("overlap: %v", err)
	}
}

// writeKeyFile writes a new PKCS #8 signing key.
func writeKeyFile(t *testing.T, dir, name, alg string) string {
	t.Helper()
	var k any
	var err error
	if alg == "EdDSA" {
		_, k, err = ed25519.GenerateKey(rand.Reader)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func jwsKID(t *testing.T, authorization string) string {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(authorization, "Bearer "), ".")
	var h struct {
		KID string `json:"kid"`
	}
	b, err := jwtgatetestB64(parts[0])
	if err != nil || json.Unmarshal(b, &h) != nil {
		t.Fatalf("header of %q", authorization)
	}
	return h.KID
}

func jwtgatetestB64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// loadYAML parses and validates a config as the gateway's loader does.
func loadYAML(b []byte, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg, err := ParseYAML(b)
	if err != nil {
		return Config{}, err
	}
	return cfg.Validate(lookupEnv)
}

// makeDocumentedKeyFiles writes the key and secret files the documented
// configs name (relative paths, in the test's working directory):
// internal_tokens' key_dir and key_files, an exchange's private_key_file
// and client_secret_file.
func makeDocumentedKeyFiles(t *testing.T, docs []byte) {
	t.Helper()
	local := func(s string) string {
		name := filepath.FromSlash(s)
		if filepath.IsAbs(name) || !filepath.IsLocal(name) {
			t.Fatalf("a documented config names the file %q: want a relative path (the test writes it)", s)
		}
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			t.Fatal(err)
		}
		return name
	}
	for _, m := range regexp.MustCompile(`(?m)\b(key_dir|private_key_file|client_secret_file):\s*(\S+)`).FindAllSubmatch(docs, -1) {
		name := local(string(m[2]))
		switch string(m[1]) {
		case "key_dir":
			if err := os.MkdirAll(name, 0o700); err != nil {
				t.Fatal(err)
			}
			writeKeyFile(t, name, "2026-01.pem", "ES256")
		case "private_key_file":
			writeKeyFile(t, filepath.Dir(name), filepath.Base(name), "ES256")
		default:
			if err := os.WriteFile(name, []byte("documented-secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range regexp.MustCompile(`(?m)\bkey_files:\s*\[([^\]]*)\]`).FindAllSubmatch(docs, -1) {
		for _, f := range strings.Split(string(m[1]), ",") {
			name := local(strings.TrimSpace(f))
			writeKeyFile(t, filepath.Dir(name), filepath.Base(name), "ES256")
		}
	}
}

// Where the upstream credential goes and with what scheme is one rule for
// a static key, an exchanged token and a signed one (upstreamcred.Defaults):
// the same header and scheme settings put each in the same place.
func TestUpstreamCredentialHeaderRuleIsOneForEveryKind(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	te := jwtgatetest.NewTokenEndpoint(t, jwtgatetest.TokenEndpointOptions{ClientID: "gw", ClientSecret: "s3cret"})
	up := startSeenUpstream(t)
	cfg := exchangeConfig(t, idp, te, up.srv.URL)
	exch := cfg.Routes[0].UpstreamAuth.Exchange
	dir := t.TempDir()
	writeKeyFile(t, dir, "2026-01.pem", "ES256")
	cfg.InternalTokens = &InternalTokens{Issuer: "https://gateway.internal", KeyDir: dir}
	cfg.Routes = nil
	cases := []struct {
		header, scheme string
		wantHeader     string
		wantScheme     string // "" means the value alone
	}{
		{"", "", "Authorization", "Bearer"},
		{"authorization", "", "Authorization", "Bearer"},
		{"AUTHORIZATION", "Token", "Authorization", "Token"},
		{"X-Api-Key", "", "X-Api-Key", ""},
		{"x-upstream-token", "Bearer", "X-Upstream-Token", "Bearer"},
	}
	kinds := []string{"static", "exchange", "sign"}
	for i, c := range cases {
		for _, kind := range kinds {
			ua := &UpstreamAuth{Header: c.header, Scheme: c.scheme}
			switch kind {
			case "static":
				ua.Env = "UP_KEY"
			case "exchange":
				x := *exch
				ua.Exchange = &x
			case "sign":
				ua.Sign = &UpstreamSign{Audience: "svc"}
			}
			// A static key leaves the client's token unless told: drop it
			// here, as exchange and sign always do.
			cfg.Routes = append(cfg.Routes, Route{Prefix: fmt.Sprintf("/%s%d/", kind, i), Upstream: up.srv.URL, UpstreamAuth: ua, DropAuthorization: true})
		}
	}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	tok := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	for i, c := range cases {
		for _, kind := range kinds {
			path := fmt.Sprintf("/%s%d/x", kind, i)
			if resp, body := g.get(t, path, tok); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
			reqs := up.requests()
			h := reqs[len(reqs)-1].Header
			v := h.Get(c.wantHeader)
			if c.wantHeader != "Authorization" && h.Get("Authorization") != "" {
				t.Errorf("%s (header %q scheme %q): Authorization %q besides %s", path, c.header, c.scheme, h.Get("Authorization"), c.wantHeader)
			}
			scheme, cred, spaced := strings.Cut(v, " ")
			switch {
			case v == "":
				t.Errorf("%s (header %q scheme %q): nothing in %s: %v", path, c.header, c.scheme, c.wantHeader, h)
			case c.wantScheme == "" && spaced:
				t.Errorf("%s (header %q scheme %q): %s %q has a scheme, want the value alone", path, c.header, c.scheme, c.wantHeader, v)
			case c.wantScheme != "" && (scheme != c.wantScheme || cred == ""):
				t.Errorf("%s (header %q scheme %q): %s %q, want scheme %q", path, c.header, c.scheme, c.wantHeader, v, c.wantScheme)
			}
		}
	}
}
