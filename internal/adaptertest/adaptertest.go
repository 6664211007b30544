// Package adaptertest is the behaviour table every framework adapter is
// tested against: the same requests, over the adapter's real router, must
// get the same status, WWW-Authenticate and body as the core middleware
// gives. The adapters have no status table of their own; this proves it.
package adaptertest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// Fixture holds the verifiers a router under test mounts:
//
//	GET /items    behind V, no scope
//	GET /admin    behind V, requiring scope "admin" (the adapter's per-route way)
//	GET /limited  behind Limited (burst 1: the second request of a subject is 429)
//	GET /down     behind Down (its key set never loads: 503)
//
// and, for RunOptional, a router over Optional (Config.Optional set):
//
//	GET /open     behind Optional, no scope (no token: 200, no claims)
//	GET /admin    behind Optional, requiring scope "admin" (no token: 401)
//
// A request that passes must be answered 200 with the body Body(c) built
// from the claims the adapter's typed getter returns and those in the
// request's context.
type Fixture struct {
	V, Limited, Down, Optional *middleware.Verifier
	Issuer                     *jwtgatetest.Issuer
}

// Body is what an accepted request's handler writes: the subject the
// adapter's getter found and the one middleware.ClaimsFromContext found.
func Body(fromAdapter *middleware.Claims, okAdapter bool, r *http.Request) string {
	fromCtx, okCtx := middleware.ClaimsFromContext(r.Context())
	var a, c string
	if okAdapter {
		a = fromAdapter.Subject
	}
	if okCtx {
		c = fromCtx.Subject
	}
	return "adapter=" + a + " context=" + c
}

var quiet = slog.New(slog.DiscardHandler)

// New starts an identity provider and a dead one (every JWK Set request
// fails with 500) on loopback and builds the verifiers. Everything is
// released by t.Cleanup.
func New(t testing.TB) *Fixture {
	t.Helper()
	p := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	dead := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	if err := dead.SetJWKS(jwtgatetest.Behavior{Status: http.StatusInternalServerError}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := cache.New(ctx, cache.Config{URL: p.JWKSURL(), Logger: quiet, WaitForFirstLoad: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	deadKeys, err := cache.New(ctx, cache.Config{URL: dead.JWKSURL(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deadKeys.Close() })

	base := middleware.Config{Keys: keys, Issuers: []string{p.Issuer()}, Audiences: []string{"api"}, Logger: quiet}
	f := &Fixture{Issuer: p}
	if f.V, err = middleware.New(base); err != nil {
		t.Fatal(err)
	}
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1, Period: time.Hour, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	lc := base
	lc.RateLimit = middleware.RateLimit{Limiter: lim}
	if f.Limited, err = middleware.New(lc); err != nil {
		t.Fatal(err)
	}
	oc := base
	oc.Optional = true
	if f.Optional, err = middleware.New(oc); err != nil {
		t.Fatal(err)
	}
	dc := base
	dc.Keys = deadKeys
	if f.Down, err = middleware.New(dc); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *Fixture) mint(t testing.TB, c jwtgatetest.Claims) string {
	t.Helper()
	return f.Issuer.Mint(t, c) // aud "api" unless c says otherwise
}

// serve runs h on a loopback server for the test and returns a GET that
// sends token (if any) as a bearer token and returns the answer with its
// trimmed body.
func serve(t *testing.T, h http.Handler) func(name, target, token string) (*http.Response, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	return func(name, target, token string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+target, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, strings.TrimSpace(string(b))
	}
}

// Run sends the behaviour table's requests to h (a real router built from
// f) and checks each answer.
func Run(t *testing.T, f *Fixture, h http.Handler) {
	t.Helper()
	get := serve(t, h)

	alice := f.mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}})
	admin := f.mint(t, jwtgatetest.Claims{Subject: "root", Scopes: []string{"read", "admin"}})
	expired := f.mint(t, jwtgatetest.Claims{Subject: "alice", ExpiresAt: time.Now().Add(-time.Hour)})
	wrongAud := f.mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "other"})
	parts := strings.Split(alice, ".")
	badSig := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))

	type row struct {
		name, path, token, query string
		status                   int
		www, body                string
		header                   string // a header that must be set
	}
	rows := []row{
		{name: "valid token", path: "/items", token: alice, status: 200, body: "adapter=alice context=alice"},
		{name: "no token", path: "/items", status: 401, www: `Bearer realm="jwtgate"`, body: `{"error":"unauthorized","error_description":"authentication required"}`},
		{name: "malformed", path: "/items", token: "abc.def", status: 401, www: `error="invalid_token"`, body: `"error":"invalid_token"`},
		{name: "bad signature", path: "/items", token: badSig, status: 401, www: `error="invalid_token"`, body: `"error":"invalid_token"`},
		{name: "expired", path: "/items", token: expired, status: 401, www: `error="invalid_token"`, body: `"error":"invalid_token"`},
		{name: "wrong audience", path: "/items", token: wrongAud, status: 401, www: `error="invalid_token"`, body: `"error":"invalid_token"`},
		{name: "token in query", path: "/items", token: alice, query: "access_token=x", status: 400, www: `error="invalid_request"`, body: `"error":"invalid_request"`},
		{name: "missing scope", path: "/admin", token: alice, status: 403, www: `error="insufficient_scope", error_description="insufficient scope", scope="admin"`, body: `"error":"insufficient_scope"`},
		{name: "scope present", path: "/admin", token: admin, status: 200, body: "adapter=root context=root"},
		{name: "scope route without token", path: "/admin", status: 401, www: `Bearer realm="jwtgate"`},
		{name: "under the rate", path: "/limited", token: alice, status: 200, body: "adapter=alice context=alice", header: "RateLimit-Remaining"},
		{name: "over the rate", path: "/limited", token: alice, status: 429, body: `"error":"rate_limited"`, header: "Retry-After"},
		{name: "keys unavailable", path: "/down", token: alice, status: 503, body: `"error":"temporarily_unavailable"`, header: "Retry-After"},
	}
	for _, c := range rows {
		target := c.path
		if c.query != "" {
			target += "?" + c.query
		}
		resp, body := get(c.name, target, c.token)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d (body %s)", c.name, resp.StatusCode, c.status, body)
			continue
		}
		if www := resp.Header.Get("WWW-Authenticate"); c.www != "" && !strings.Contains(www, c.www) {
			t.Errorf("%s: WWW-Authenticate %q, want %q", c.name, www, c.www)
		}
		if c.status == 200 && body != c.body || c.status != 200 && !strings.Contains(body, c.body) {
			t.Errorf("%s: body %q, want %q", c.name, body, c.body)
		}
		if c.status != 200 && resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: Content-Type %q", c.name, resp.Header.Get("Content-Type"))
		}
		if c.header != "" && resp.Header.Get(c.header) == "" {
			t.Errorf("%s: no %s header", c.name, c.header)
		}
		if c.token != "" && strings.Contains(body, c.token) {
			t.Errorf("%s: body echoes the token", c.name)
		}
	}
}

// RunOptional checks a router over f.Optional (see Fixture): optional
// authentication lets anonymous requests through only where no scope is
// required, since a scope cannot be checked without a token.
func RunOptional(t *testing.T, f *Fixture, h http.Handler) {
	t.Helper()
	get := serve(t, h)

	alice := f.mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}})
	admin := f.mint(t, jwtgatetest.Claims{Subject: "root", Scopes: []string{"read", "admin"}})
	rows := []struct {
		name, path, token string
		status            int
		want              string // body (200) or WWW-Authenticate (else)
	}{
		{"anonymous on an open route", "/open", "", 200, "adapter= context="},
		{"token on an open route", "/open", alice, 200, "adapter=alice context=alice"},
		{"anonymous on a scoped route", "/admin", "", 401, `Bearer realm="jwtgate"`},
		{"missing scope", "/admin", alice, 403, `error="insufficient_scope"`},
		{"scope present", "/admin", admin, 200, "adapter=root context=root"},
	}
	for _, c := range rows {
		resp, body := get(c.name, c.path, c.token)
		switch {
		case resp.StatusCode != c.status:
			t.Errorf("%s: status %d, want %d (body %s)", c.name, resp.StatusCode, c.status, body)
		case c.status == 200 && body != c.want:
			t.Errorf("%s: body %q, want %q", c.name, body, c.want)
		case c.status != 200 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), c.want):
			t.Errorf("%s: WWW-Authenticate %q, want %q", c.name, resp.Header.Get("WWW-Authenticate"), c.want)
		}
	}
}

// Bench measures h serving GET path with a valid token (after the first
// request, a verified-token cache hit): the adapter's own cost on top of
// the Verifier's.
func Bench(b *testing.B, f *Fixture, h http.Handler, path string) {
	tok := f.mint(b, jwtgatetest.Claims{Subject: "bench", Scopes: []string{"read", "admin"}})
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
	}
}
