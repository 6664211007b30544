package policy

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/forwarded"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A bad expression is a *CompileError at Compile, with where and why:
// typos in variables and fields are type errors, not runtime denials.
func TestCompileErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"":                               "empty expression",
		`claim.sub == "a"`:               "undeclared reference to 'claim'",
		`request.methd == "GET"`:         "methd",
		`claims.sub`:                     "not bool",
		`claims.sub == "a" &&`:           "line 1, column",
		`claims.sub == 1 +`:              "line 1, column",
		"claims.groups.exists(g,\n g ==": "line 2",
		// Nested comprehensions over every claim and header: a worst case
		// far above the bound, refused before any request pays it.
		`claims.all(a, claims.all(b, request.headers.all(h, request.headers[h].matches(a + b))))`: "worst-case cost",
	} {
		_, err := Compile(expr, Options{})
		ce, ok := errors.AsType[*CompileError](err)
		if !errors.Is(err, ErrCompile) || !ok || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want a CompileError mentioning %q", expr, err, want)
			continue
		}
		if ce.Expression != expr {
			t.Errorf("%q: CompileError.Expression %q", expr, ce.Expression)
		}
	}
	if _, err := Compile(`claims.sub == "a" || claims.sub == "b"`, Options{MaxCost: 1}); !errors.Is(err, ErrCompile) {
		t.Errorf("MaxCost 1: %v", err)
	}
}

type testEnv struct {
	t   *testing.T
	v   *middleware.Verifier
	idp *jwtgatetest.Issuer
}

func newEnv(t *testing.T) testEnv {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	fw, err := forwarded.New(forwarded.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}, Forwarded: fw})
	if err != nil {
		t.Fatal(err)
	}
	return testEnv{t: t, v: v, idp: idp}
}

// do sends r with a token for c through a route with expr, returning the
// status and the error body's code and description.
func (e testEnv) do(expr string, c jwtgatetest.Claims, r *http.Request) (int, string) {
	e.t.Helper()
	p, err := Compile(expr, Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	h := e.v.With(middleware.Route{Policy: p}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r.Header.Set("Authorization", "Bearer "+e.idp.Mint(e.t, c))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body.Error + ": " + body.Desc
}

func req(method, target, remote string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func TestPolicyDecides(t *testing.T) {
	e := newEnv(t)
	const client = "203.0.113.5:4000"
	acme := jwtgatetest.Claims{Subject: "alice", Extra: map[string]any{"tenant": "acme", "groups": []string{"ops", "dev"}, "level": 3}}
	for _, tc := range []struct {
		name, expr string
		claims     jwtgatetest.Claims
		r          *http.Request
		allow      bool
	}{
		{"claim equals", `claims.tenant == "acme"`, acme, req("GET", "/a", client), true},
		{"claim differs", `claims.tenant == "globex"`, acme, req("GET", "/a", client), false},
		{"absent claim denies, never errors open", `claims.department == "x" || true == false`, acme, req("GET", "/a", client), false},
		{"negated absent claim still denies", `!(claims.department == "x")`, acme, req("GET", "/a", client), false},
		{"has() on an absent claim is false, not an error", `!has(claims.department)`, acme, req("GET", "/a", client), true},
		{"type mismatch denies", `claims.level == "3"`, acme, req("GET", "/a", client), false},
		{"number claim", `claims.level >= 3.0`, acme, req("GET", "/a", client), true},
		{"membership", `"ops" in claims.groups`, acme, req("GET", "/a", client), true},
		{"three clauses", `claims.tenant == "acme" && "dev" in claims.groups && request.method == "GET"`, acme, req("GET", "/a", client), true},
		{"method", `request.method == "GET"`, acme, req("DELETE", "/a", client), false},
		{"path", `request.path.startsWith("/reports/")`, acme, req("GET", "/reports/q1", client), true},
		{"header, lower-case name", `request.headers["x-team"] == "blue"`, acme, req("GET", "/a", client, "X-Team", "blue"), true},
		{"absent header denies", `request.headers["x-team"] == "blue"`, acme, req("GET", "/a", client), false},
		{"source ip of a direct client", `cidr("203.0.113.0/24").containsIP(source.ip)`, acme, req("GET", "/a", client), true},
		{"an untrusted client's X-Forwarded-For is ignored", `cidr("10.0.0.0/8").containsIP(source.ip)`, acme,
			req("GET", "/a", client, "X-Forwarded-For", "10.1.2.3"), false},
		{"a trusted proxy's X-Forwarded-For counts", `cidr("198.51.100.0/24").containsIP(source.ip)`, acme,
			req("GET", "/a", "10.0.0.9:4000", "X-Forwarded-For", "6.6.6.6, 198.51.100.20"), true},
		{"a trusted proxy's junk X-Forwarded-For denies", `!cidr("10.0.0.0/8").containsIP(source.ip)`, acme,
			req("GET", "/a", "10.0.0.9:4000", "X-Forwarded-For", "not-an-ip"), false},
		{"host only through trusted proxies", `request.host == "admin.example"`, acme,
			req("GET", "/a", client, "X-Forwarded-Host", "admin.example"), false},
		{"host from a trusted proxy", `request.host == "admin.example"`, acme,
			req("GET", "/a", "10.0.0.9:4000", "X-Forwarded-Host", "admin.example"), true},
		{"mcp without a call: empty", `mcp.tool == ""`, acme, req("GET", "/a", client), true},
		{"strings extension", `claims.sub.upperAscii() == "ALICE"`, acme, req("GET", "/a", client), true},
	} {
		status, body := e.do(tc.expr, tc.claims, tc.r)
		switch {
		case tc.allow && status != 200:
			t.Errorf("%s: %d %s, want allowed", tc.name, status, body)
		case !tc.allow && (status != 403 || body != "access_denied: denied by policy"):
			t.Errorf("%s: %d %s, want 403 access_denied", tc.name, status, body)
		}
	}
}

// The refusal is the Verifier's: its own reason in OnVerify (and so in
// jwtgate_requests_total), and derived routes keep their parent's policy.
func TestPolicyReasonAndDerivation(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	var reasons []string
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"},
		OnVerify: func(e middleware.VerifyEvent) { reasons = append(reasons, e.Reason) }})
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := Compile(`claims.tenant == "acme"`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := Compile(`claims.sub == "alice"`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := v.With(middleware.Route{Policy: tenant}).With(middleware.Route{Policy: alice}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, tc := range []struct {
		c    jwtgatetest.Claims
		want int
	}{
		{jwtgatetest.Claims{Subject: "alice", Extra: map[string]any{"tenant": "acme"}}, 200},
		{jwtgatetest.Claims{Subject: "bob", Extra: map[string]any{"tenant": "acme"}}, 403},
		{jwtgatetest.Claims{Subject: "alice", Extra: map[string]any{"tenant": "globex"}}, 403},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+idp.Mint(t, tc.c))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%+v: %d, want %d", tc.c, w.Code, tc.want)
		}
	}
	if strings.Join(reasons, ",") != "ok,policy,policy" {
		t.Fatalf("reasons %v", reasons)
	}
}
