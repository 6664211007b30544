package gateway

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// What a subject has spent of an unchanged route's budget survives a
// reload; a reload that changes the budget starts it afresh.
func TestReloadKeepsBudgetState(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), startLLMUpstream(t, nil)
	cfg := budgetConfig(p.Issuer(), up.srv.URL, RouteBudget{Limit: 60, Window: "hour"})
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "spender"})
	const path, body = "/llm/v1/chat/completions", `{"model":"gpt-4o"}`
	for i := range 2 { // 30 tokens each
		if resp, b := g.post(t, path, tok, body); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
	}
	next := cfg
	next.Routes = append(slices.Clone(cfg.Routes), Route{Prefix: "/other/", Upstream: up.srv.URL})
	if err := g.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if resp, _ := g.post(t, path, tok, body); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("spent budget after a reload that left the route alone: %d, want 429", resp.StatusCode)
	}
	// A reload that changes how answers are priced, not what is counted,
	// builds a new handler over the same spending.
	repriced := budgetConfig(p.Issuer(), up.srv.URL, RouteBudget{Limit: 60, Window: "hour",
		Weights: map[string]budget.Weights{"*": {Input: 1, Output: 1}}})
	if err := g.Reload(context.Background(), repriced); err != nil {
		t.Fatal(err)
	}
	if resp, _ := g.post(t, path, tok, body); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("spent budget after a reload that changed only the weights: %d, want 429", resp.StatusCode)
	}
	raised := budgetConfig(p.Issuer(), up.srv.URL, RouteBudget{Limit: 600, Window: "hour"})
	if err := g.Reload(context.Background(), raised); err != nil {
		t.Fatal(err)
	}
	if resp, b := g.post(t, path, tok, body); resp.StatusCode != http.StatusOK {
		t.Fatalf("after a reload that changed the budget: %d %s", resp.StatusCode, b)
	}
}

// A DPoP proof used before a reload is still a replay after it (the
// in-process replay store outlives generations), even when the reload
// rebuilds the Verifier.
func TestReloadKeepsDPoPReplayState(t *testing.T) {
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: idp.Issuer(), Audiences: []string{"api"},
		DPoP:   DPoP{Mode: DPoPRequired},
		Routes: []Route{{Prefix: "/", Upstream: up.URL}},
	}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	c := newDPoPClient(t, idp)
	p := c.proof(t, "GET", g.url+"/items", "")
	resp, body := g.do(t, "GET", "/items", "DPoP "+c.token, p)
	wantStatus(t, "first use", resp, body, http.StatusOK)

	next := cfg
	next.Audiences = []string{"api", "other"} // another base Verifier
	next.Routes = []Route{{Prefix: "/", Upstream: up.URL}, {Prefix: "/more/", Upstream: up.URL}}
	if err := g.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	resp, body = g.do(t, "GET", "/items", "DPoP "+c.token, p)
	wantStatus(t, "replayed after the reload", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)
}

// The Redis client and a route's Redis limiter are kept while their
// settings stay; another Redis gets a client of its own, and the old one
// is closed with the config that used it.
func TestReloadKeepsTheRedisClient(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg := reloadConfig(p, p.JWKSURL(), up.URL, "/a/", "/limited/")
	cfg.Redis = RedisConfig{Addr: a.Addr}
	cfg.Rate, cfg.Burst = 100, 100
	var last ReloadEvent
	g := startGatewayOpts(t, cfg, Options{OnReload: func(e ReloadEvent) { last = e }})
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "u"})
	if resp, body := g.get(t, "/limited/x", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	client := g.cur.Load().redis

	next := cfg
	next.Routes = append(slices.Clone(cfg.Routes), Route{Prefix: "/b/", Upstream: up.URL})
	if err := g.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if g.cur.Load().redis != client || !slices.Contains(last.Kept, "redis client") || !slices.Contains(last.Kept, `rate limit "/limited/"`) {
		t.Fatalf("unchanged redis: kept %q, started %q", last.Kept, last.Started)
	}
	if resp, body := g.get(t, "/limited/x", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the reload: %d %s", resp.StatusCode, body)
	}

	moved := next
	moved.Redis = RedisConfig{Addr: b.Addr}
	if err := g.Reload(context.Background(), moved); err != nil {
		t.Fatal(err)
	}
	if g.cur.Load().redis == client || !slices.Contains(last.Started, "redis client") {
		t.Fatalf("another redis: kept %q, started %q", last.Kept, last.Started)
	}
	if err := client.Ping(context.Background()).Err(); err == nil {
		t.Fatal("the old Redis client still open after its last config was replaced")
	}
	if resp, body := g.get(t, "/limited/x", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("on the other redis: %d %s", resp.StatusCode, body)
	}
}
