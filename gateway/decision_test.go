package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// decisionYAML is the README's decision-service config, as the tests run it.
func decisionYAML(t testing.TB) Config {
	t.Helper()
	b, err := os.ReadFile("testdata/behind-proxy/jwtgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newDecisionGateway builds the README's decision service for issuer p,
// ready, served through its Handler (no listener).
func newDecisionGateway(t testing.TB, issuer string, tune func(*Config)) *Gateway {
	t.Helper()
	cfg := decisionYAML(t)
	cfg.Issuer, cfg.Listen = issuer, "127.0.0.1:0"
	if tune != nil {
		tune(&cfg)
	}
	cfg, err := cfg.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(context.Background(), cfg, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func waitReady(t testing.TB, g *Gateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// subRequest sends a sub-request to the handler from remote, with the
// token and headers (name, value pairs).
func subRequest(h http.Handler, remote, method, target, token string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

const (
	fromProxy    = "127.0.0.1:40000" // loopback: trusted by default
	fromOutsider = "192.0.2.7:40000"
)

func TestDecisionRouteIsChosenByTheCleanOriginalPath(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	g := newDecisionGateway(t, p.Issuer(), nil)
	waitReady(t, g)
	user := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	h := g.Handler()
	for _, c := range []struct {
		original string
		status   int
	}{
		{"/public", 200},
		{"/public?x=1", 200},
		{"/administrator", 200}, // not under /admin
		{"/admin", 403},
		{"/admin/users?page=2", 403},
		{"/public/../admin", 403},
		{"/public/%2e%2e/admin", 403},
		{"/public/%2E%2E/admin/x", 403},
		{"//admin", 403},
		{"/./admin/", 403},
		{"/x%2F..%2Fadmin", 400},  // /admin decoded, /public-ish literally: ambiguous
		{`/public\..\admin`, 400}, // likewise with backslashes
		{"/a%zz", 400},
		{"/a%00b", 400},
	} {
		for _, hdrs := range [][]string{
			{"X-Original-URI", c.original, "X-Original-Method", "GET"},                                 // nginx
			{"X-Forwarded-Uri", c.original, "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https"}, // Caddy, Traefik
		} {
			rec := subRequest(h, fromProxy, http.MethodGet, "/_jwtgate", user, hdrs...)
			if rec.Code != c.status {
				t.Errorf("%s %q: %d, want %d: %s", hdrs[0], c.original, rec.Code, c.status, rec.Body)
			}
			if c.status == 403 && !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="insufficient_scope"`) {
				t.Errorf("%q: WWW-Authenticate = %q", c.original, rec.Header().Get("WWW-Authenticate"))
			}
			if c.status == 400 && !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_request"`) {
				t.Errorf("%q: WWW-Authenticate = %q", c.original, rec.Header().Get("WWW-Authenticate"))
			}
		}
	}
}

func TestDecisionIgnoresForwardedHeadersFromUntrustedAddresses(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	user := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	admin := p.Mint(t, jwtgatetest.Claims{Subject: "root", Audience: "api", Scopes: []string{"admin"}})

	g := newDecisionGateway(t, p.Issuer(), nil)
	waitReady(t, g)
	h := g.Handler()
	// An outsider asking about /admin from its own path "/" is decided on "/".
	for _, name := range []string{"X-Original-URI", "X-Forwarded-Uri"} {
		if rec := subRequest(h, fromOutsider, http.MethodGet, "/", user, name, "/admin"); rec.Code != 200 {
			t.Errorf("%s from an outsider changed the route: %d", name, rec.Code)
		}
		// … and cannot move a request on /admin to a laxer route either.
		if rec := subRequest(h, fromOutsider, http.MethodGet, "/admin", user, name, "/public"); rec.Code != 403 {
			t.Errorf("%s from an outsider moved /admin: %d", name, rec.Code)
		}
		if rec := subRequest(h, fromOutsider, http.MethodGet, "/admin", admin, name, "/public"); rec.Code != 200 {
			t.Errorf("admin on /admin: %d", rec.Code)
		}
	}
	// From the same proxy the header counts.
	if rec := subRequest(h, fromProxy, http.MethodGet, "/", user, "X-Original-URI", "/admin"); rec.Code != 403 {
		t.Errorf("X-Original-URI from loopback ignored: %d", rec.Code)
	}

	// trusted_proxies replaces loopback: now only 192.0.2.0/24 counts.
	g2 := newDecisionGateway(t, p.Issuer(), func(c *Config) { c.TrustedProxies = []string{"192.0.2.0/24"} })
	waitReady(t, g2)
	if rec := subRequest(g2.Handler(), fromOutsider, http.MethodGet, "/", user, "X-Original-URI", "/admin"); rec.Code != 403 {
		t.Errorf("trusted 192.0.2.7: X-Original-URI ignored: %d", rec.Code)
	}
	if rec := subRequest(g2.Handler(), fromProxy, http.MethodGet, "/", user, "X-Original-URI", "/admin"); rec.Code != 200 {
		t.Errorf("loopback no longer trusted, yet its X-Original-URI counted: %d", rec.Code)
	}
	// An empty list trusts nobody.
	g3 := newDecisionGateway(t, p.Issuer(), func(c *Config) { c.TrustedProxies = []string{} })
	waitReady(t, g3)
	if rec := subRequest(g3.Handler(), fromProxy, http.MethodGet, "/", user, "X-Original-URI", "/admin"); rec.Code != 200 {
		t.Errorf("trusted_proxies: [] still trusts loopback: %d", rec.Code)
	}
}

func TestDecisionAnswerHasEveryClaimHeader(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	g := newDecisionGateway(t, p.Issuer(), nil)
	waitReady(t, g)
	noEmail := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	rec := subRequest(g.Handler(), fromProxy, http.MethodGet, "/_jwtgate", noEmail,
		"X-Original-URI", "/app", "X-Jwtgate-Subject", "mallory", "X-Jwtgate-Email", "forged@evil", "x_jwtgate_email", "forged@evil")
	if rec.Code != 200 {
		t.Fatalf("%d: %s", rec.Code, rec.Body)
	}
	got := rec.Header()
	if vs := got.Values("X-Jwtgate-Subject"); len(vs) != 1 || vs[0] != "alice" {
		t.Errorf("X-Jwtgate-Subject = %q, want the verified alice", vs)
	}
	if vs, ok := got["X-Jwtgate-Email"]; !ok || len(vs) != 1 || vs[0] != "" {
		t.Errorf("X-Jwtgate-Email = %q (present %v), want present and empty", vs, ok)
	}
	for name, vs := range got {
		if strings.Contains(strings.Join(vs, ","), "evil") || strings.Contains(strings.Join(vs, ","), "mallory") {
			t.Errorf("answer echoes a forged header: %s: %q", name, vs)
		}
	}
	if rec.Body.Len() != 0 || got.Get("Cache-Control") != "no-store" {
		t.Errorf("body %q, Cache-Control %q", rec.Body, got.Get("Cache-Control"))
	}
}

func TestDecisionRejections(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	g := newDecisionGateway(t, p.Issuer(), nil)
	waitReady(t, g)
	down := gwtest.StartIDP(t, true)
	gDown := newDecisionGateway(t, down.Issuer(), nil) // keys never load
	user := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})

	check := func(name string, rec *httptest.ResponseRecorder, status int, header, want string) {
		t.Helper()
		if rec.Code != status || !strings.Contains(rec.Header().Get(header), want) {
			t.Errorf("%s: %d %s=%q, want %d with %q: %s", name, rec.Code, header, rec.Header().Get(header), status, want, rec.Body)
		}
	}
	check("no token", subRequest(g.Handler(), fromProxy, "GET", "/_jwtgate", "", "X-Original-URI", "/app"), 401, "WWW-Authenticate", `Bearer realm="jwtgate"`)
	check("bad token", subRequest(g.Handler(), fromProxy, "GET", "/_jwtgate", "x.y.z", "X-Original-URI", "/app"), 401, "WWW-Authenticate", `error="invalid_token"`)
	check("wrong audience", subRequest(g.Handler(), fromProxy, "GET", "/_jwtgate", p.Mint(t, jwtgatetest.Claims{Subject: "a", Audience: "other"}), "X-Original-URI", "/app"), 401, "WWW-Authenticate", `error="invalid_token"`)
	check("scope", subRequest(g.Handler(), fromProxy, "GET", "/_jwtgate", user, "X-Original-URI", "/admin"), 403, "WWW-Authenticate", `scope="admin"`)
	check("token in the original query", subRequest(g.Handler(), fromProxy, "GET", "/_jwtgate", "", "X-Original-URI", "/app?access_token="+user), 400, "WWW-Authenticate", `error="invalid_request"`)
	check("first on the rate", subRequest(g.Handler(), fromProxy, "GET", "/_jwtgate", user, "X-Original-URI", "/limited/a"), 200, "RateLimit-Remaining", "0")
	check("over the rate", subRequest(g.Handler(), fromProxy, "GET", "/_jwtgate", user, "X-Original-URI", "/limited/a"), 429, "Retry-After", "")
	if rec := subRequest(g.Handler(), fromProxy, "GET", "/_jwtgate", user, "X-Original-URI", "/limited/b"); rec.Header().Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After: %v", rec.Header())
	}
	check("keys unavailable", subRequest(gDown.Handler(), fromProxy, "GET", "/_jwtgate", user, "X-Original-URI", "/app"), 503, "Retry-After", "5")
	if rec := subRequest(gDown.Handler(), fromProxy, "GET", "/_jwtgate", user, "X-Original-URI", "/app"); rec.Header().Get("WWW-Authenticate") != "" && rec.Code == 401 {
		t.Errorf("keys unavailable answered 401")
	}
}

// blockingBody blocks any Read until the test ends, and says so.
type blockingBody struct {
	t    *testing.T
	done chan struct{}
}

func (b blockingBody) Read([]byte) (int, error) {
	b.t.Error("the decision read the request body")
	<-b.done
	return 0, context.Canceled
}

func (b blockingBody) Close() error { return nil }

func TestDecisionNeverReadsTheBody(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	g := newDecisionGateway(t, p.Issuer(), nil)
	waitReady(t, g)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	for _, tok := range []string{p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"}), ""} {
		r := httptest.NewRequest(http.MethodPost, "/_jwtgate", nil)
		r.Body, r.ContentLength = blockingBody{t, done}, 1<<20
		r.RemoteAddr = fromProxy
		r.Header.Set("X-Original-URI", "/upload")
		r.Header.Set("X-Original-Method", "POST")
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		g.Handler().ServeHTTP(rec, r) // returns: the body was not waited for
		if want := map[bool]int{true: 200, false: 401}[tok != ""]; rec.Code != want {
			t.Errorf("token %v: %d, want %d", tok != "", rec.Code, want)
		}
	}
}

// TestTraefikForwardAuthContract sends what Traefik's ForwardAuth
// middleware sends: a GET to its address with the client's headers and
// X-Forwarded-Method/-Proto/-Host/-Uri/-For.
func TestTraefikForwardAuthContract(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	g := newDecisionGateway(t, p.Issuer(), nil)
	waitReady(t, g)
	admin := p.Mint(t, jwtgatetest.Claims{Subject: "root", Audience: "api", Scopes: []string{"admin"}, Extra: map[string]any{"email": "root@example.com"}})
	user := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	traefik := func(token, uri string) *httptest.ResponseRecorder {
		return subRequest(g.Handler(), fromProxy, http.MethodGet, "/_jwtgate", token,
			"X-Forwarded-Method", "DELETE", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.example.com",
			"X-Forwarded-Uri", uri, "X-Forwarded-For", "203.0.113.9", "X-Jwtgate-Subject", "forged")
	}
	rec := traefik(admin, "/admin/users/7?force=1")
	if rec.Code != 200 || rec.Header().Get("X-Jwtgate-Subject") != "root" || rec.Header().Get("X-Jwtgate-Email") != "root@example.com" {
		t.Errorf("admin: %d %v", rec.Code, rec.Header())
	}
	if rec := traefik(user, "/admin/users/7"); rec.Code != 403 {
		t.Errorf("user on /admin: %d", rec.Code)
	}
	if rec := traefik(user, "/public/%2e%2e/admin"); rec.Code != 403 {
		t.Errorf("user on /public/%%2e%%2e/admin: %d", rec.Code)
	}
	if rec := traefik("", "/"); rec.Code != 401 || rec.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %v", rec.Code, rec.Header())
	}
}

// TestEnvoyHTTPExtAuthzContract sends what Envoy's HTTP ext_authz filter
// sends with path_prefix /_jwtgate: the original method, the original path
// appended to the prefix, and the allowed headers.
func TestEnvoyHTTPExtAuthzContract(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	g := newDecisionGateway(t, p.Issuer(), nil)
	waitReady(t, g)
	admin := p.Mint(t, jwtgatetest.Claims{Subject: "root", Audience: "api", Scopes: []string{"admin"}})
	user := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	envoy := func(method, path, token string, hdr ...string) *httptest.ResponseRecorder {
		return subRequest(g.Handler(), fromProxy, method, "/_jwtgate"+path, token,
			append([]string{"X-Envoy-Internal", "true", "X-Request-Id", "abc"}, hdr...)...)
	}
	for _, c := range []struct {
		method, path, token string
		status              int
	}{
		{"POST", "/admin/users?x=1", admin, 200},
		{"POST", "/admin/users?x=1", user, 403},
		{"GET", "/", user, 200},
		{"GET", "/public/%2e%2e/admin", user, 403},
		{"GET", "/public/../admin", user, 403},
		{"GET", "//admin", user, 403},
		{"GET", "/x%2F..%2Fadmin", user, 400},
		{"GET", "/app", "", 401},
	} {
		rec := envoy(c.method, c.path, c.token)
		if rec.Code != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, rec.Code, c.status, rec.Body)
		}
	}
	// The appended path is the original: a header cannot replace it.
	if rec := envoy("GET", "/admin", user, "X-Forwarded-Uri", "/public"); rec.Code != 403 {
		t.Errorf("X-Forwarded-Uri replaced Envoy's appended path: %d", rec.Code)
	}
	rec := envoy("GET", "/app", admin)
	if rec.Header().Get("X-Jwtgate-Subject") != "root" {
		t.Errorf("claim headers: %v", rec.Header())
	}
	if _, ok := rec.Header()["X-Jwtgate-Email"]; !ok {
		t.Errorf("X-Jwtgate-Email missing from the answer: %v", rec.Header())
	}
}

// A trusted proxy's description of the original request that is present but
// unusable is a 400 invalid_request: never a fallback to the sub-request's
// own path (/_jwtgate, which has no requirements), nor to the other header,
// which the client may have set (issue 19, item 1).
func TestDecisionRefusesAnUnusableOriginal(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	g := newDecisionGateway(t, p.Issuer(), nil)
	waitReady(t, g)
	user := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	admin := p.Mint(t, jwtgatetest.Claims{Subject: "root", Audience: "api", Scopes: []string{"admin"}})
	long := "/admin/" + strings.Repeat("x", 9<<10)
	for _, c := range []struct {
		name string
		hdr  []string
	}{
		{"control byte", []string{"X-Original-URI", "/admin/\x01"}},
		{"space", []string{"X-Original-URI", "/admin /x"}},
		{"raw fragment (Traefik ?a#b)", []string{"X-Forwarded-Uri", "/admin?a#b"}},
		{"absolute-form", []string{"X-Forwarded-Uri", "http://app.example.com/admin"}},
		{"longer than the bound (9 KiB)", []string{"X-Forwarded-Uri", long}},
		{"X-Original-URI twice", []string{"X-Original-URI", "/admin", "X-Original-URI", "/admin"}},
		{"X-Forwarded-Uri twice", []string{"X-Forwarded-Uri", "/admin", "X-Forwarded-Uri", "/public"}},
		{"unusable X-Original-URI, the client's X-Forwarded-Uri", []string{"X-Original-URI", "/admin/\x01", "X-Forwarded-Uri", "/public"}},
		{"the two disagree", []string{"X-Forwarded-Uri", "/public", "X-Original-URI", "/admin"}},
		{"method not a token", []string{"X-Original-URI", "/admin", "X-Original-Method", "GE T"}},
		{"method twice", []string{"X-Original-URI", "/admin", "X-Original-Method", "GET", "X-Original-Method", "GET"}},
		{"methods disagree", []string{"X-Forwarded-Uri", "/admin", "X-Forwarded-Method", "GET", "X-Original-Method", "DELETE"}},
	} {
		for _, tok := range []string{user, admin} {
			rec := subRequest(g.Handler(), fromProxy, http.MethodGet, "/_jwtgate", tok, c.hdr...)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_request"`) {
				t.Errorf("%s: %d %q, want 400 invalid_request: %s", c.name, rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body)
			}
			if rec.Header().Get("X-Jwtgate-Subject") != "" {
				t.Errorf("%s: a refusal with claim headers: %v", c.name, rec.Header())
			}
		}
	}
	// From an outsider the same headers are ignored, as all its forwarded
	// headers are: decided by its own path.
	if rec := subRequest(g.Handler(), fromOutsider, http.MethodGet, "/admin", user, "X-Original-URI", "/public\x01"); rec.Code != 403 {
		t.Errorf("outsider's unusable header: %d, want 403 for its own /admin", rec.Code)
	}
}

// Raw UTF-8 in nginx's $request_uri is percent-encoded and decided by its
// route; two headers that agree are one original.
func TestDecisionOriginalWithHighBytesAndAgreeingHeaders(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	g := newDecisionGateway(t, p.Issuer(), nil)
	waitReady(t, g)
	user := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	admin := p.Mint(t, jwtgatetest.Claims{Subject: "root", Audience: "api", Scopes: []string{"admin"}})
	for _, c := range []struct {
		name  string
		hdr   []string
		user  int
		admin int
	}{
		{"nginx raw UTF-8 under /admin", []string{"X-Original-URI", "/admin/café", "X-Original-Method", "GET"}, 403, 200},
		{"raw UTF-8 under /public", []string{"X-Original-URI", "/public/café"}, 200, 200},
		{"a lone byte 0xff under /admin", []string{"X-Forwarded-Uri", "/admin/\xff"}, 403, 200},
		{"both URI headers agree", []string{"X-Forwarded-Uri", "/admin/x", "X-Original-URI", "/admin/x"}, 403, 200},
		{"both agree once encoded", []string{"X-Forwarded-Uri", "/admin/caf%C3%A9", "X-Original-URI", "/admin/café"}, 403, 200},
		{"both methods agree", []string{"X-Forwarded-Uri", "/admin", "X-Forwarded-Method", "post", "X-Original-Method", "POST"}, 403, 200},
	} {
		if rec := subRequest(g.Handler(), fromProxy, http.MethodGet, "/_jwtgate", user, c.hdr...); rec.Code != c.user {
			t.Errorf("%s, user: %d, want %d: %s", c.name, rec.Code, c.user, rec.Body)
		}
		if rec := subRequest(g.Handler(), fromProxy, http.MethodGet, "/_jwtgate", admin, c.hdr...); rec.Code != c.admin {
			t.Errorf("%s, admin: %d, want %d: %s", c.name, rec.Code, c.admin, rec.Body)
		}
	}
}
