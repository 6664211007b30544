package gateway

import (
	"net/http"
	"testing"

	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// Two replicas with -redis share one budget per subject.
func TestRedisLimitsAreSharedAcrossReplicas(t *testing.T) {
	rs := redistest.Start(t)
	p, up := startIDP(t, false), startUpstream(t)
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: p.Issuer(), Redis: rs.Addr,
		Routes: []Route{{Prefix: "/", Upstream: up.srv.URL, Rate: ptr(0.001), Burst: ptr(2)}},
	}
	a, b := startGateway(t, cfg, nil), startGateway(t, cfg, nil)
	a.waitReady(t)
	b.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "shared"})
	for i, c := range []struct {
		g    *gw
		want int
	}{{a, 200}, {b, 200}, {a, 429}, {b, 429}} {
		resp, body := c.g.get(t, "/x", tok)
		if resp.StatusCode != c.want {
			t.Fatalf("request %d: %d, want %d: %s", i+1, resp.StatusCode, c.want, body)
		}
	}
	// Another subject is untouched.
	if resp, _ := b.get(t, "/x", p.Mint(t, jwtgatetest.Claims{Subject: "other"})); resp.StatusCode != http.StatusOK {
		t.Fatalf("other subject: %d", resp.StatusCode)
	}
}
