package middleware

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

const mcpURI = "https://mcp.example.com/mcp"

func mcpResource() *Resource {
	return &Resource{URI: mcpURI, AuthorizationServers: []string{"https://idp.test/"}, ScopesSupported: []string{"tools:read", "tools:call"}, Name: "Example MCP"}
}

func TestResourceValidation(t *testing.T) {
	for name, r := range map[string]Resource{
		"empty":                {},
		"relative":             {URI: "/mcp"},
		"http, not loopback":   {URI: "http://mcp.example.com/mcp"},
		"ftp":                  {URI: "ftp://mcp.example.com/mcp"},
		"fragment":             {URI: mcpURI + "#x"},
		"empty fragment":       {URI: mcpURI + "#"},
		"query":                {URI: mcpURI + "?a=b"},
		"quote":                {URI: `https://mcp.example.com/m"cp`},
		"line break":           {URI: "https://mcp.example.com/mcp\r\nX: y"},
		"userinfo":             {URI: "https://user:pw@mcp.example.com/mcp"},
		"bad AS":               {URI: mcpURI, AuthorizationServers: []string{"http://idp.example.com"}},
		"scope with a quote":   {URI: mcpURI, ScopesSupported: []string{`a"b`}},
		"name with line break": {URI: mcpURI, Name: "a\nb"},
	} {
		cfg := baseConfig(memKeys(t))
		cfg.Resource = &r
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, r)
		}
		v, err := New(baseConfig(memKeys(t)))
		if err != nil {
			t.Fatal(err)
		}
		if got := do(v.With(Route{Resource: &r}).Handler(okHandler), bearerReq("")); got.status != 500 {
			t.Errorf("%s: a route With could not apply answered %d", name, got.status)
		}
	}
	for _, ok := range []string{mcpURI, "https://mcp.example.com", "https://mcp.example.com/", "http://127.0.0.1:8080/mcp", "http://localhost/mcp", "http://[::1]:9/x"} {
		cfg := baseConfig(memKeys(t))
		cfg.Resource = &Resource{URI: ok}
		if _, err := New(cfg); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
}

func TestResourceMetadataDocument(t *testing.T) {
	for _, c := range []struct{ uri, path string }{
		{mcpURI, "/.well-known/oauth-protected-resource/mcp"},
		{"https://mcp.example.com/tenant/a/mcp", "/.well-known/oauth-protected-resource/tenant/a/mcp"},
		{"https://mcp.example.com", "/.well-known/oauth-protected-resource"},
		{"https://mcp.example.com/", "/.well-known/oauth-protected-resource"},
	} {
		v, err := New(baseConfig(memKeys(t)))
		if err != nil {
			t.Fatal(err)
		}
		rv := v.With(Route{Resource: &Resource{URI: c.uri, AuthorizationServers: []string{"https://idp.test/"}, ScopesSupported: []string{"tools:read"}}})
		path, ok := rv.MetadataPath()
		u, _ := rv.MetadataURL()
		if !ok || path != c.path || u != "https://mcp.example.com"+c.path {
			t.Errorf("%s: path %q url %q", c.uri, path, u)
		}
		if _, ok := v.MetadataPath(); ok || v.MetadataHandler() != nil {
			t.Errorf("a Verifier without Resource has metadata")
		}
		rec := httptest.NewRecorder()
		// The Host a client sends plays no part in the document.
		req := httptest.NewRequest(http.MethodGet, "http://evil.example"+path, nil)
		req.Header.Set("X-Forwarded-Host", "evil.example")
		rv.MetadataHandler().ServeHTTP(rec, req)
		want := `{"resource":"` + c.uri + `","authorization_servers":["https://idp.test/"],"scopes_supported":["tools:read"],"bearer_methods_supported":["header"]}` + "\n"
		if rec.Code != 200 || rec.Body.String() != want || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q %q", c.uri, rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"))
		}
		rec = httptest.NewRecorder()
		rv.MetadataHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
		if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" || rec.Body.Len() != 0 {
			t.Errorf("%s POST: %d %q", c.uri, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

func TestResourceRoute(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.Audiences = nil // the route's resource is the audience check
	cfg.AllowQuery = true
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := mcpResource()
	res.AccessTokenOnly = true
	rv := v.With(Route{Resource: res, Scopes: []string{"tools:call"}})
	h := rv.Handler(okHandler)
	meta := `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
	mint := func(aud any, typ string, scope string) string {
		return sign(t, jwt.SigningMethodES256, k.ec, "ec1", map[string]any{"typ": typ}, with(goodClaims(), "aud", aud, "scope", scope))
	}
	good := mint(mcpURI, "at+jwt", "tools:call")
	cases := []struct {
		name   string
		req    *http.Request
		status int
		www    string
	}{
		{"no token", bearerReq(""), 401, `Bearer realm="jwtgate", ` + meta + `, scope="tools:call"`},
		{"valid", bearerReq(good), 200, ""},
		{"application/at+jwt", bearerReq(mint(mcpURI, "application/at+jwt", "tools:call")), 200, ""},
		{"aud in an array", bearerReq(mint([]string{"other", mcpURI}, "at+jwt", "tools:call")), 200, ""},
		{"ID token (typ JWT)", bearerReq(mint(mcpURI, "JWT", "tools:call")), 401, `error_description="token type not accepted", ` + meta},
		{"missing scope", bearerReq(mint(mcpURI, "at+jwt", "tools:read")), 403, `error="insufficient_scope", error_description="insufficient scope", ` + meta + `, scope="tools:call"`},
		{"query token", func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "http://api.test/x?access_token="+good, nil)
		}(), 400, `error="invalid_request"`},
	}
	for _, other := range []string{
		"https://mcp.example.com.evil/mcp", "https://mcp.example.com/mcp/../admin", mcpURI + "/",
		"https://mcp.example.com/MCP", "https://MCP.example.com/mcp", "https://mcp.example.com", mcpURI + "x", "http://mcp.example.com/mcp",
	} {
		cases = append(cases, struct {
			name   string
			req    *http.Request
			status int
			www    string
		}{"aud " + other, bearerReq(mint(other, "at+jwt", "tools:call")), 401, `error_description="audience not accepted", ` + meta})
	}
	for _, c := range cases {
		got := do(h, c.req)
		if got.status != c.status || !strings.Contains(got.www, c.www) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, got.status, got.www, c.status, c.www)
		}
	}
	// Verify on the route applies the resource's audience and type too.
	if _, err := rv.Verify(context.Background(), mint("https://mcp.example.com.evil/mcp", "at+jwt", "")); !errors.Is(err, ErrClaimsInvalid) {
		t.Fatalf("Verify with another resource's token: %v", err)
	}
	if _, err := rv.Verify(context.Background(), good); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// A custom ErrorHandler passing on to WriteError keeps the challenge.
	cfg.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { WriteError(w, r, err) }
	v2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := do(v2.With(Route{Resource: res}).Handler(okHandler), bearerReq("")); !strings.Contains(got.www, meta) {
		t.Fatalf("through an ErrorHandler: %q", got.www)
	}
}
