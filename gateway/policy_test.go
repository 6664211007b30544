package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// routes[].policy: a CEL expression checked at load (a bad one is an
// ErrInvalidConfig naming the route, the expression and the position) and applied to every
// request of the route.
func TestPolicyRouteFromYAML(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg, err := ParseYAML([]byte("listen: 127.0.0.1:0\nissuer: " + p.Issuer() + "\nroutes:\n" +
		"  - {prefix: /reports, upstream: '" + up.URL + "', policy: 'claims.tenant == \"acme\" && request.method == \"GET\"'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	acme := p.Mint(t, jwtgatetest.Claims{Extra: map[string]any{"tenant": "acme"}})
	if resp, body := g.get(t, "/reports/q1", acme); resp.StatusCode != http.StatusOK {
		t.Fatalf("acme: %d %s", resp.StatusCode, body)
	}
	if resp, body := g.get(t, "/reports/q1", p.Mint(t, jwtgatetest.Claims{})); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "denied by policy") {
		t.Fatalf("no tenant: %d %s", resp.StatusCode, body)
	}
	_, metrics := g.get(t, "/metrics", "")
	if !strings.Contains(metrics, `jwtgate_requests_total{outcome="rejected",reason="policy"} 1`) {
		t.Fatalf("metrics:\n%s", grepLines(metrics, "jwtgate_requests_total"))
	}

	bad, err := LoadFile(gwtest.WriteConfig(t, "issuer: https://idp.example\nroutes:\n  - {prefix: /a, upstream: 'http://u', policy: 'claims.tenant == '}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), bad, Options{Logger: quiet, LookupEnv: gwtest.Env(nil)})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), `route 1 ("/a"): policy:`) || !strings.Contains(err.Error(), "line 1, column") {
		t.Fatalf("a bad policy: New: %v", err)
	}
}
