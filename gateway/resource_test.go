package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// A route with resource: is an MCP-style protected resource: its metadata
// document is served, 401s point at it, aud must name it exactly, query
// tokens are refused, and the client's token does not reach the upstream
// unless forward_token says so.
func TestResourceRoute(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	const uri = "https://mcp.example.com/mcp"
	g := startYAML(t, "listen: 127.0.0.1:0\nissuer: "+p.Issuer()+"\nroutes:\n"+
		"  - {prefix: /mcp, upstream: '"+up.URL+"', types: [at+jwt], resource: {uri: '"+uri+"', scopes_supported: [tools]}}\n"+
		"  - {prefix: /fwd, upstream: '"+up.URL+"', forward_token: true, resource: {uri: 'https://mcp.example.com/fwd'}}\n")
	do := func(path, token string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, g.url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := do("/.well-known/oauth-protected-resource/mcp", "")
	var doc struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if err := json.Unmarshal([]byte(body), &doc); resp.StatusCode != 200 || err != nil || doc.Resource != uri ||
		len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != p.Issuer() {
		t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
	meta := `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
	if resp, _ := do("/mcp", ""); resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), meta) {
		t.Fatalf("no token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	mint := func(aud, typ string) string {
		return p.MintWith(t, jwtgatetest.Claims{Subject: "alice", Audience: aud}, jwtgatetest.MintOptions{Type: typ})
	}
	good := mint(uri, "at+jwt")
	resp, body = do("/mcp", good)
	if resp.StatusCode != 200 || gwtest.UpstreamHeaders(t, body).Get("Authorization") != "" {
		t.Fatalf("valid token: %d, upstream saw Authorization %q", resp.StatusCode, gwtest.UpstreamHeaders(t, body).Get("Authorization"))
	}
	for name, tok := range map[string]string{
		"another resource": mint("https://mcp.example.com/other", "at+jwt"),
		"trailing slash":   mint(uri+"/", "at+jwt"),
		"ID token":         mint(uri, "JWT"),
	} {
		if resp, _ := do("/mcp", tok); resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), meta) {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if resp, _ := do("/mcp?access_token="+good, ""); resp.StatusCode != 400 {
		t.Errorf("query token: %d", resp.StatusCode)
	}
	fwd := p.MintWith(t, jwtgatetest.Claims{Subject: "alice", Audience: "https://mcp.example.com/fwd"}, jwtgatetest.MintOptions{})
	if resp, body := do("/fwd", fwd); resp.StatusCode != 200 || gwtest.UpstreamHeaders(t, body).Get("Authorization") != "Bearer "+fwd {
		t.Fatalf("forward_token: %d %s", resp.StatusCode, body)
	}
}

func TestResourceRouteConfigErrors(t *testing.T) {
	base := "issuer: https://idp.example\nroutes:\n"
	for name, c := range map[string]struct{ yaml, want string }{
		"relative uri":  {base + "  - {prefix: /a, upstream: 'http://u', resource: {uri: /mcp}}\n", "resource"},
		"http uri":      {base + "  - {prefix: /a, upstream: 'http://u', resource: {uri: 'http://mcp.example.com/mcp'}}\n", "loopback"},
		"fragment":      {base + "  - {prefix: /a, upstream: 'http://u', resource: {uri: 'https://m.example/mcp#x'}}\n", "fragment"},
		"same metadata": {base + "  - {prefix: /a, upstream: 'http://u', resource: {uri: 'https://a.example/mcp'}}\n  - {prefix: /b, upstream: 'http://u', resource: {uri: 'https://b.example/mcp'}}\n", "metadata URL"},
		"bad type":      {base + "  - {prefix: /a, upstream: 'http://u', types: ['a b']}\n", "not a media type"},
	} {
		cfg, err := ParseYAML([]byte(c.yaml))
		if err == nil {
			_, err = cfg.Validate(nil)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
	}
}

// A resource route's audience is its own URI, whatever the top-level
// audiences say (they are the other routes'), and a config whose routes are
// all resources checks aud: New logs no "aud unchecked" warning.
func TestResourceRouteBesideTopLevelAudiences(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	const uri = "https://mcp.example.com/mcp"
	g := startGateway(t, Config{Listen: "127.0.0.1:0", Issuer: p.Issuer(), Audiences: []string{"api"}, Routes: []Route{
		{Prefix: "/mcp", Upstream: up.URL, Resource: &Resource{URI: uri}},
		{Prefix: "/", Upstream: up.URL},
	}}, nil)
	g.waitReady(t)
	mint := func(aud string) string { return p.Mint(t, jwtgatetest.Claims{Subject: "u", Audience: aud}) }
	if resp, body := g.get(t, "/mcp", mint(uri)); resp.StatusCode != http.StatusOK {
		t.Fatalf("the resource's own token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := g.get(t, "/mcp", mint("api")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a token for the top-level audience on the resource: %d", resp.StatusCode)
	}
	if resp, _ := g.get(t, "/x", mint(uri)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the resource's token on an api route: %d", resp.StatusCode)
	}
	if resp, _ := g.get(t, "/x", mint("api")); resp.StatusCode != http.StatusOK {
		t.Fatalf("an api token on an api route: %d", resp.StatusCode)
	}

	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mcpOnly, err := New(t.Context(), Config{Issuer: p.Issuer(), Routes: []Route{
		{Prefix: "/mcp", Upstream: up.URL, Resource: &Resource{URI: uri}},
	}}, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	mcpOnly.Close()
	if strings.Contains(logs.String(), "unchecked") {
		t.Fatalf("an MCP-only config warned: %s", logs.String())
	}

	cfg, err := ParseYAML([]byte("issuer: https://idp.example\nroutes:\n  - {prefix: /a, upstream: 'http://u', audiences: [api], resource: {uri: '" + uri + "'}}\n"))
	if err == nil {
		_, err = cfg.Validate(nil)
	}
	if err == nil || !strings.Contains(err.Error(), "audiences do not apply") {
		t.Fatalf("audiences on a resource route: %v", err)
	}
}
