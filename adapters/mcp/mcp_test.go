package jwtmcp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/modelcontextprotocol/go-sdk/auth"

	jwtmcp "github.com/jwtgate/jwtgate/adapters/mcp"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

const testURI = "https://mcp.example.com/mcp"

func routeVerifier(t *testing.T, idp *jwtgatetest.Issuer) *middleware.Verifier {
	t.Helper()
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}})
	if err != nil {
		t.Fatal(err)
	}
	return v.With(middleware.Route{Resource: &middleware.Resource{URI: testURI, AuthorizationServers: []string{"https://idp.example.com"}, AccessTokenOnly: true}})
}

// The three SDK outcomes, each with only fixed client-safe text.
func TestTokenVerifierErrors(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	verify := jwtmcp.TokenVerifier(routeVerifier(t, idp))
	at := jwtgatetest.MintOptions{Type: "at+jwt"}
	for _, c := range []struct {
		name  string
		token string
		query string
		sdk   error // nil: neither SDK sentinel (500)
		kind  error
		text  string
	}{
		{"other audience", idp.MintWith(t, jwtgatetest.Claims{Audience: "https://mcp.example.com/other"}, at), "", auth.ErrInvalidToken, middleware.ErrClaimsInvalid, "jwtmcp: invalid token: audience not accepted"},
		{"case variant of the host", idp.MintWith(t, jwtgatetest.Claims{Audience: "https://MCP.example.com/mcp"}, at), "", auth.ErrInvalidToken, middleware.ErrClaimsInvalid, "jwtmcp: invalid token: audience not accepted"},
		{"ID token", idp.Mint(t, jwtgatetest.Claims{Audience: testURI}), "", auth.ErrInvalidToken, middleware.ErrTokenMalformed, "jwtmcp: invalid token: token type not accepted"},
		{"expired", idp.MintWith(t, jwtgatetest.Claims{Audience: testURI, ExpiresAt: time.Now().Add(-time.Hour)}, at), "", auth.ErrInvalidToken, middleware.ErrTokenExpired, "jwtmcp: invalid token: token expired"},
		{"junk", "not.a.jwt", "", auth.ErrInvalidToken, middleware.ErrTokenMalformed, ""},
		{"query token", idp.MintWith(t, jwtgatetest.Claims{Audience: testURI}, at), "?access_token=x", auth.ErrOAuth, middleware.ErrInvalidRequest, "jwtmcp: invalid request: token not allowed in the query"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, testURI+c.query, nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			ti, err := verify(t.Context(), c.token, req)
			if ti != nil || err == nil {
				t.Fatalf("accepted: %+v", ti)
			}
			if !errors.Is(err, c.sdk) || !errors.Is(err, c.kind) {
				t.Errorf("%v: want %v and %v", err, c.sdk, c.kind)
			}
			if _, ok := errors.AsType[*middleware.Error](err); !ok {
				t.Errorf("%v: no *middleware.Error behind it", err)
			}
			if c.text != "" && err.Error() != c.text {
				t.Errorf("text %q, want %q", err.Error(), c.text)
			}
			if strings.Contains(err.Error(), c.token) && c.token != "" {
				t.Errorf("the token is in the error")
			}
		})
	}
}

// Keys unavailable: not a token problem (the SDK answers 500), and the
// cause, which names internal servers, stays out of the text.
func TestTokenVerifierKeysUnavailable(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	v, err := middleware.New(middleware.Config{Keys: unavailable{idp.Keys(t)}, Issuers: []string{idp.Issuer()}})
	if err != nil {
		t.Fatal(err)
	}
	tok := idp.Mint(t, jwtgatetest.Claims{})
	_, err = jwtmcp.TokenVerifier(v)(t.Context(), tok, nil)
	if middleware.Status(err) != http.StatusServiceUnavailable {
		t.Fatalf("%v: status %d", err, middleware.Status(err))
	}
	if errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrOAuth) {
		t.Errorf("%v would be a 401/400", err)
	}
	if err.Error() != "jwtmcp: token verification temporarily unavailable" {
		t.Errorf("text %q", err.Error())
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	auth.RequireBearerToken(jwtmcp.TokenVerifier(v), jwtmcp.Options(v))(http.NotFoundHandler()).ServeHTTP(rec, req)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "jwks.internal") {
		t.Errorf("SDK answered %d %q", rec.Code, rec.Body.String())
	}
}

// unavailable is a key source whose every look-up fails as a cache with no
// key set does; its error names an internal host.
type unavailable struct{ jwkset.Storage }

func (unavailable) KeyRead(context.Context, string) (jwkset.JWK, error) {
	return jwkset.JWK{}, keysErr{}
}

func (unavailable) KeyReadAll(context.Context) ([]jwkset.JWK, error) { return nil, keysErr{} }

type keysErr struct{}

func (keysErr) Error() string         { return "cache: https://jwks.internal/keys: connection refused" }
func (keysErr) KeysUnavailable() bool { return true }

func TestTokenInfo(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	rv := routeVerifier(t, idp)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := idp.MintWith(t, jwtgatetest.Claims{Subject: "alice", Audience: testURI, Scopes: []string{"tools:read", "tools:call"}, ExpiresAt: exp}, jwtgatetest.MintOptions{Type: "at+jwt"})
	ti, err := jwtmcp.TokenVerifier(rv)(t.Context(), tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ti.Scopes, " ") != "tools:read tools:call" || !ti.Expiration.Equal(exp) {
		t.Errorf("scopes %v expiration %v", ti.Scopes, ti.Expiration)
	}
	if want := url.QueryEscape(idp.Issuer()) + "#alice"; ti.UserID != want {
		t.Errorf("UserID %q, want %q", ti.UserID, want)
	}
	c, ok := jwtmcp.Claims(ti)
	if !ok || c.Subject != "alice" || ti.Extra[jwtmcp.ClaimsKey] != c {
		t.Errorf("claims %+v %v", c, ok)
	}
	ti.Scopes[0] = "edited"
	if c.Scopes()[0] != "tools:read" {
		t.Error("TokenInfo.Scopes shares the claims' slice")
	}
	if _, ok := jwtmcp.Claims(nil); ok {
		t.Error("Claims(nil) reported claims")
	}
	if _, ok := jwtmcp.Claims(&auth.TokenInfo{Extra: map[string]any{jwtmcp.ClaimsKey: "x"}}); ok {
		t.Error("Claims took a string for claims")
	}
	if jwtmcp.TokenInfo(nil) != nil || jwtmcp.UserID(nil) != "" {
		t.Error("nil claims made a TokenInfo")
	}
}

// No (iss, sub) pair can pose as another.
func TestUserIDUnambiguous(t *testing.T) {
	pairs := [][2]string{
		{"https://a.example", "b#c"}, {"https://a.example#b", "c"},
		{"https://a.example/", "x"}, {"https://a.example", "/x"},
		{"https://a.example%23b", "c"}, {"", "https://a.example#b"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		id := jwtmcp.UserID(&middleware.Claims{Issuer: p[0], Subject: p[1]})
		if q, dup := seen[id]; dup {
			t.Errorf("%v and %v share UserID %q", p, q, id)
		}
		seen[id] = p
	}
}

func TestOptions(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	scopes := []string{"tools:call"}
	o := jwtmcp.Options(routeVerifier(t, idp), scopes...)
	if o.ResourceMetadataURL != "https://mcp.example.com/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("ResourceMetadataURL %q", o.ResourceMetadataURL)
	}
	scopes[0] = "edited"
	if len(o.Scopes) != 1 || o.Scopes[0] != "tools:call" || !o.AllowMissingExpiration || o.ClockSkew != middleware.DefaultLeeway {
		t.Errorf("%+v", o)
	}
	if o := jwtmcp.Options(nil); o.ResourceMetadataURL != "" {
		t.Errorf("nil Verifier: %+v", o)
	}
	// A route's own scopes are passed on to the SDK, not dropped.
	scoped := routeVerifier(t, idp).With(middleware.Route{Scopes: []string{"tools:admin", "tools:call"}})
	if o := jwtmcp.Options(scoped, "tools:call"); !slices.Equal(o.Scopes, []string{"tools:call", "tools:admin"}) {
		t.Errorf("route scopes: %q", o.Scopes)
	}
}

// Bad input is an error answer, never a panic.
func TestNilVerifier(t *testing.T) {
	if _, err := jwtmcp.TokenVerifier(nil)(t.Context(), "x", nil); err == nil || errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("nil Verifier: %v", err)
	}
	rec := httptest.NewRecorder()
	jwtmcp.Middleware(nil)(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 {
		t.Errorf("Require(nil) answered %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	jwtmcp.WithTokenInfo(nil).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 404 {
		t.Errorf("WithTokenInfo(nil) answered %d", rec.Code)
	}
}

// Require answers a query token with jwtgate's 400 (the SDK alone would
// say "no bearer token"), and its 401s and 403s carry the metadata URL.
func TestRequire(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	rv := routeVerifier(t, idp)
	h := jwtmcp.Middleware(rv, "tools:call")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := jwtmcp.Claims(auth.TokenInfoFromContext(r.Context()))
		w.Write([]byte(c.Subject))
	}))
	at := jwtgatetest.MintOptions{Type: "at+jwt"}
	withScope := idp.MintWith(t, jwtgatetest.Claims{Subject: "alice", Audience: testURI, Scopes: []string{"tools:call"}}, at)
	noScope := idp.MintWith(t, jwtgatetest.Claims{Subject: "alice", Audience: testURI}, at)
	meta := `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
	for _, c := range []struct {
		name, header, query string
		status              int
		www                 string
	}{
		{"ok", withScope, "", 200, ""},
		{"no token", "", "", 401, meta},
		{"no scope", noScope, "", 403, meta},
		{"query token", "", "?access_token=" + withScope, 400, `error="invalid_request"`},
	} {
		req := httptest.NewRequest(http.MethodPost, testURI+c.query, nil)
		if c.header != "" {
			req.Header.Set("Authorization", "Bearer "+c.header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.status || !strings.Contains(rec.Header().Get("WWW-Authenticate"), c.www) {
			t.Errorf("%s: %d %q", c.name, rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
		if c.status == 200 && rec.Body.String() != "alice" {
			t.Errorf("%s: body %q", c.name, rec.Body.String())
		}
	}
}

// Behind v.Handler, an anonymous request (Config.Optional) passes
// WithTokenInfo untouched, with no TokenInfo.
func TestWithTokenInfoAnonymous(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Optional: true})
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(jwtmcp.WithTokenInfo(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
			w.Write([]byte(ti.UserID))
			return
		}
		w.Write([]byte("anonymous"))
	})))
	for tok, want := range map[string]string{"": "anonymous", idp.Mint(t, jwtgatetest.Claims{Subject: "bob"}): url.QueryEscape(idp.Issuer()) + "#bob"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("%d %q, want %q", rec.Code, rec.Body.String(), want)
		}
	}
}
