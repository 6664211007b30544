package gateway

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// TestRedTeamConnectionHeaderCannotDropClaimHeaders: ReverseProxy removes
// every header a request's Connection header names (hop-by-hop, RFC 9110
// §7.6.1) after the Verifier has set the claim headers, so a client sending
// "Connection: X-User" made the upstream see the request without the
// identity the gateway vouches for (an upstream that reads a missing
// X-Tenant as "default" or "all" then acts on nobody's authority). The
// verified claim headers must reach the upstream whatever Connection says.
func TestRedTeamConnectionHeaderCannotDropClaimHeaders(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startGateway(t, testConfig(p.Issuer(), up.URL), nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}, Extra: map[string]any{"email": "alice@example.com"}})
	resp, body := g.get(t, "/api/items", tok, "Connection", "X-User, x-user-email")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct{ Headers http.Header }
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Headers.Get("X-User") != "alice" || got.Headers.Get("X-User-Email") != "alice@example.com" {
		t.Errorf("claim headers at the upstream: X-User %q, X-User-Email %q", got.Headers.Get("X-User"), got.Headers.Get("X-User-Email"))
	}
}
