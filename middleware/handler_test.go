package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestOptionalAuth(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.Optional = true
	v, _ := New(cfg)
	h := v.Handler(okHandler)
	if got := do(h, bearerReq("")); got.status != 200 || got.body != "anonymous" {
		t.Fatalf("no token: %d %q", got.status, got.body)
	}
	if got := do(h, bearerReq(sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims()))); got.status != 200 || got.body != "hello user-1" {
		t.Fatalf("good token: %d %q", got.status, got.body)
	}
	bad := sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa1", nil, goodClaims())
	if got := do(h, bearerReq(bad)); got.status != 401 || got.www != wwwInvalid("signature invalid") {
		t.Fatalf("bad token in optional mode: %d %q", got.status, got.www)
	}
}

func TestClaimHeadersOverwriteClientHeaders(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.ClaimHeaders = map[string]string{"sub": "X-User", "tenant": "X-Tenant", "roles": "X-Roles", "missing": "X-Missing"}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var seen http.Header
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() }))
	r := bearerReq(sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "tenant", "acme", "roles", []string{"a", "b"})))
	r.Header.Set("X-User", "forged")
	r.Header.Add("X-Tenant", "forged")
	r.Header.Set("X-Missing", "forged")
	for range 2 { // second round: from the verified-token cache
		rr := r.Clone(context.Background())
		if got := do(h, rr); got.status != 200 {
			t.Fatal(got.status)
		}
		if seen.Values("X-User")[0] != "user-1" || len(seen.Values("X-User")) != 1 ||
			seen.Get("X-Tenant") != "acme" || len(seen.Values("X-Tenant")) != 1 ||
			seen.Get("X-Roles") != "a,b" || seen.Get("X-Missing") != "" {
			t.Fatalf("upstream saw %v", seen)
		}
	}
}

func TestCookieAndCustomHeader(t *testing.T) {
	k := keys(t)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims())
	cfg := baseConfig(memKeys(t))
	cfg.CookieName = "at"
	cfg.HeaderName = "X-Token"
	v, _ := New(cfg)
	h := v.Handler(okHandler)
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: "at", Value: tok})
	if got := do(h, r); got.status != 200 {
		t.Fatalf("cookie: %d %s", got.status, got.body)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Token", tok)
	if got := do(h, r); got.status != 200 {
		t.Fatalf("header: %d %s", got.status, got.body)
	}
	r.AddCookie(&http.Cookie{Name: "at", Value: tok})
	if got := do(h, r); got.status != 400 {
		t.Fatalf("cookie and header: %d, want 400", got.status)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: "at", Value: tok})
	r.AddCookie(&http.Cookie{Name: "at", Value: tok})
	if got := do(h, r); got.status != 400 {
		t.Fatalf("two cookies: %d, want 400", got.status)
	}
	cfg.DisableAuthorizationHeader = true
	v, _ = New(cfg)
	if got := do(v.Handler(okHandler), bearerReq(tok)); got.status != 401 || got.www != wwwMissing {
		t.Fatalf("Authorization disabled: %d %q", got.status, got.www)
	}
}

func TestRequireScopes(t *testing.T) {
	k := keys(t)
	v, _ := New(baseConfig(memKeys(t)))
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "scope", "read", "scp", []string{"write admin"}))
	for _, tc := range []struct {
		scopes []string
		status int
	}{{[]string{"read"}, 200}, {[]string{"read", "admin"}, 200}, {[]string{"delete"}, 403}} {
		h := v.Handler(v.RequireScopes(tc.scopes...)(okHandler))
		if got := do(h, bearerReq(tok)); got.status != tc.status {
			t.Errorf("scopes %v: %d, want %d", tc.scopes, got.status, tc.status)
		}
	}
	if got := do(v.RequireScopes("read")(okHandler), bearerReq(tok)); got.status != 401 {
		t.Errorf("RequireScopes without Handler: %d, want 401", got.status)
	}
}

func TestErrorHandlerReplacesWriter(t *testing.T) {
	cfg := baseConfig(memKeys(t))
	var got error
	cfg.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(499)
	}
	v, _ := New(cfg)
	if res := do(v.Handler(okHandler), bearerReq("x.y.z")); res.status != 499 || Reason(got) != "malformed" {
		t.Fatalf("%d %v", res.status, got)
	}
}

func TestResponsesNeverEchoTheToken(t *testing.T) {
	k := keys(t)
	v, _ := New(baseConfig(memKeys(t)))
	h := v.Handler(okHandler)
	for _, tok := range []string{
		sign(t, jwt.SigningMethodRS256, k.rsa, "kid-<secret>", nil, goodClaims()),
		sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa1", nil, goodClaims()),
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln",
	} {
		got := do(h, bearerReq(tok))
		all := got.body + got.www
		for _, part := range strings.Split(tok, ".") {
			if strings.Contains(all, part) {
				t.Fatalf("response %q echoes the token", all)
			}
		}
		if strings.Contains(all, "secret") {
			t.Fatalf("response %q echoes the kid", all)
		}
	}
}

func TestHugeTokenRejectedCheaply(t *testing.T) {
	v, _ := New(baseConfig(memKeys(t)))
	huge := strings.Repeat("a", 1<<20)
	hugeDots := strings.Repeat("eyJh.", 1<<18)
	r := bearerReq(huge)
	ctx := context.Background()
	for _, tok := range []string{huge, hugeDots} {
		if allocs := testing.AllocsPerRun(100, func() {
			if _, err := v.Verify(ctx, tok); Reason(err) != "malformed" {
				t.Fatal(err)
			}
		}); allocs > 0 {
			t.Errorf("Verify of a 1 MB token: %.0f allocations, want 0", allocs)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := v.Extract(r); Reason(err) != "malformed" {
			t.Fatal(err)
		}
	}); allocs > 0 {
		t.Errorf("Extract of a 1 MB header: %.0f allocations, want 0", allocs)
	}
	w := &discardWriter{h: http.Header{}}
	h := v.Handler(okHandler)
	if allocs := testing.AllocsPerRun(100, func() {
		clear(w.h)
		h.ServeHTTP(w, r)
		if w.status != 401 {
			t.Fatal(w.status)
		}
	}); allocs > 10 {
		t.Errorf("Handler answering a 1 MB token: %.0f allocations, want ≤ 10 (the error response only)", allocs)
	}
}

type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }

func TestOnVerifyEvents(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	var events []VerifyEvent
	cfg.OnVerify = func(e VerifyEvent) { events = append(events, e) }
	v, _ := New(cfg)
	h := v.Handler(okHandler)
	tok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	do(h, bearerReq(tok))
	do(h, bearerReq(tok))
	do(h, bearerReq(sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, with(goodClaims(), "exp", testNow.Add(-time.Hour).Unix()))))
	do(h, bearerReq(b64([]byte(`{"alg":"random-123"}`))+".e30.c2ln"))
	do(h, bearerReq(""))
	want := []struct {
		reason, alg string
		hit         bool
	}{{"ok", "ES256", false}, {"ok", "ES256", true}, {"expired", "ES256", false}, {"alg", "", false}, {"missing", "", false}}
	if len(events) != len(want) {
		t.Fatalf("%d events: %+v", len(events), events)
	}
	for i, w := range want {
		e := events[i]
		if e.Reason != w.reason || e.Alg != w.alg || e.CacheHit != w.hit || (w.reason == "ok") != (e.Err == nil) || e.Duration < 0 {
			t.Errorf("event %d: %+v, want %+v", i, e, w)
		}
	}
}

func TestWithAccumulates(t *testing.T) {
	k := keys(t)
	v, _ := New(baseConfig(memKeys(t)))
	clk := jwtgatetest.NewClock(testNow)
	strict := newBucketLimiter(1, 1, clk.Now)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "scope", "read write"))
	rw := v.With(Route{Scopes: []string{"read"}, RateLimit: &RateLimit{Limiter: strict}}).With(Route{Scopes: []string{"write"}})
	if got := do(rw.Handler(okHandler), bearerReq(tok)); got.status != 200 || got.header.Get("RateLimit-Limit") != "1" {
		t.Fatalf("read+write with the inherited limit: %d %v", got.status, got.header)
	}
	if got := do(rw.Handler(okHandler), bearerReq(tok)); got.status != 429 {
		t.Fatalf("inherited limit not applied: %d", got.status)
	}
	rwa := rw.With(Route{Scopes: []string{"admin"}, RateLimit: &RateLimit{}})
	if got := do(rwa.Handler(okHandler), bearerReq(tok)); got.status != 403 || !strings.Contains(got.www, `scope="read write admin"`) {
		t.Fatalf("accumulated scopes: %d %q", got.status, got.www)
	}
	if len(v.route.Scopes) != 0 || v.route.RateLimit != nil {
		t.Fatal("With changed its receiver")
	}
}

func TestWriteErrorSanitizesDescriptions(t *testing.T) {
	for _, tc := range []struct {
		err      error
		status   int
		wantDesc string
	}{
		{&Error{kind: ErrInvalidRequest, desc: "bad \"quote\"\r\nX-Injected: 1"}, 400, "invalid request"},
		{&Error{kind: ErrInsufficientScope, desc: "caf\u00e9", scopes: []string{"a\"b"}}, 403, "insufficient scope"},
		{&Error{kind: ErrTokenExpired, desc: "token expired"}, 401, "token expired"},
		{errors.New("some internal failure with secrets"), 500, "internal error"},
		{fmt.Errorf("wrapped: %w", ErrSignatureInvalid), 401, "invalid token"},
	} {
		rec := httptest.NewRecorder()
		WriteError(rec, httptest.NewRequest("GET", "/", nil), tc.err)
		if rec.Code != tc.status {
			t.Errorf("%v: status %d, want %d", tc.err, rec.Code, tc.status)
		}
		www := rec.Header().Get("WWW-Authenticate")
		if strings.ContainsAny(www, "\r\n") || strings.Contains(www, "Injected") || strings.Contains(www, `a"b`) || strings.Contains(rec.Body.String(), "secrets") {
			t.Errorf("%v: unsafe response %q %q", tc.err, www, rec.Body.String())
		}
		if !strings.Contains(rec.Body.String(), `"error_description":"`+tc.wantDesc+`"`) {
			t.Errorf("%v: body %q, want description %q", tc.err, rec.Body.String(), tc.wantDesc)
		}
	}
}

// BenchmarkRejectHugeToken shows the cost of refusing a 1 MB token: one
// length comparison, independent of the size.
func BenchmarkRejectHugeToken(b *testing.B) {
	v, _ := New(baseConfig(memKeys(b)))
	huge := strings.Repeat("a", 1<<20)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, huge); err == nil {
			b.Fatal("accepted")
		}
	}
}

func TestOptionalAuthStripsForgedClaimHeaders(t *testing.T) {
	cfg := baseConfig(memKeys(t))
	cfg.Optional = true
	cfg.ClaimHeaders = map[string]string{"sub": "X-User"}
	v, _ := New(cfg)
	var seen http.Header
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() }))
	r := bearerReq("")
	r.Header.Set("X-User", "admin")
	r.Header["X_user"] = []string{"admin"}
	r.Header["x-USER"] = []string{"admin"}
	if got := do(h, r); got.status != 200 {
		t.Fatal(got.status)
	}
	if len(seen) != 0 {
		t.Fatalf("anonymous request passed client-sent claim headers: %v", seen)
	}
	// With a token, the same spellings go and only the verified value stays.
	k := keys(t)
	r = bearerReq(sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims()))
	r.Header["X_User"] = []string{"admin"}
	if got := do(h, r); got.status != 200 {
		t.Fatal(got.status)
	}
	if len(seen["X_User"]) != 0 || seen.Get("X-User") != "user-1" {
		t.Fatalf("upstream saw %v", seen)
	}
}
