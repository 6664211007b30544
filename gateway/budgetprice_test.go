package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// A budget in dollars: every amount is read exactly into micro-dollars,
// the default table is extended, tenants and a route cap are configured.
func TestBudgetInDollarsFromYAML(t *testing.T) {
	cfg, err := ParseYAML([]byte(`
issuer: https://idp
routes:
  - prefix: /v1/
    upstream: http://u
    budget:
      currency: USD
      limit: 12.50
      window: day
      error_cost: "0.000002"
      prices:
        default: true
        version: acme-2026-01
        models:
          my-model: {input: 0.5, output: "1.25", reasoning: 2}
        fallback: {input: 20, output: 80}
      tier_claim: plan
      tiers:
        pro: {limit: 100}
        team: {limit: "2500.000001", window: month}
      tenant_claim: org
      tenant: {limit: 1000, window: month}
      route_cap: {limit: 0.25}
`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := v.Routes[0].Budget
	if b.Limit != 12_500_000 || b.ErrorCost != 2 || b.Tiers["pro"].Limit != 100_000_000 || b.Tiers["team"].Limit != 2_500_000_001 ||
		b.Tenant.Limit != 1_000_000_000 || b.Tenant.Window != "month" || b.RouteCap.Limit != 250_000 || b.Estimate != 0 {
		t.Fatalf("amounts: %+v tiers %+v tenant %+v cap %+v", b, b.Tiers, b.Tenant, b.RouteCap)
	}
	tab := b.Prices.table(b.Currency)
	if p := tab.Models["my-model"]; p.Input != 500_000 || p.Output != 1_250_000 || p.Reasoning != 2_000_000 {
		t.Fatalf("my-model %+v", p)
	}
	if tab.Models["gpt-4o*"].Input != 2_500_000 || tab.Fallback.Output != 80_000_000 || tab.Version != "acme-2026-01" {
		t.Fatalf("table %+v", tab)
	}
}

func TestBadCurrencyBudgetConfig(t *testing.T) {
	route := func(budget string) string {
		return "issuer: https://idp\nroutes: [{prefix: /v1/, upstream: 'http://u', budget: {" + budget + "}}]\n"
	}
	usd := "currency: USD, window: day, prices: {default: true}, "
	for _, tc := range []struct{ name, yaml, want string }{
		{"seven decimals", route(usd + "limit: 0.0000001"), "limit 0.0000001: want an amount of USD such as 12.50"},
		{"negative amount", route(usd + "limit: -1"), "limit -1: want an amount of USD"},
		{"exponent", route(usd + "limit: 1e3"), "limit 1e3: want an amount"},
		{"zero", route(usd + "limit: 0"), "budget: limit 0: want 1 to 1000000000000000 micro-units of USD"},
		{"bad tier amount", route(usd + "limit: 1, tier_claim: p, tiers: {pro: {limit: abc}}"), `tier "pro" limit abc: want an amount`},
		{"fractional estimate", route(usd + "limit: 1, estimate: 1.5"), "estimate 1.5: want a whole number of tokens"},
		{"unknown key still refused", route(usd + "limit: 1, tokens: 5"), "field tokens not found"},
		{"currency without prices", route("currency: USD, limit: 1, window: day"), "currency USD without prices"},
		{"prices without currency", route("limit: 1, window: day, prices: {default: true}"), "prices without currency"},
		{"weights with currency", route(usd + "limit: 1, weights: {'*': {input: 1}}"), "weights are for token budgets"},
		{"default in euros", route("currency: EUR, limit: 1, window: day, prices: {default: true}"), "default is in USD, not EUR"},
		{"no fallback", route("currency: EUR, limit: 1, window: day, prices: {models: {m: {input: 1, output: 1}}}"), "Prices.Fallback"},
		{"bad currency", route("currency: dollars, limit: 1, window: day, prices: {fallback: {input: 1, output: 1}}"), "Prices.Currency"},
		{"star model", route("currency: USD, window: day, limit: 1, prices: {default: true, models: {'*': {input: 1, output: 1}}}"), `Prices.Models[*]`},
		{"free model", route("currency: USD, window: day, limit: 1, prices: {default: true, models: {m: {input: 1}}}"), `Prices.Models[m]`},
		{"price with too many decimals", route("currency: USD, window: day, limit: 1, prices: {default: true, models: {m: {input: 0.1234567, output: 1}}}"), "at most 6 decimals"},
		{"tenant claim alone", route(usd + "limit: 1, tenant_claim: org"), `tenant_claim "org" without tenant`},
		{"tenant alone", route(usd + "limit: 1, tenant: {limit: 5}"), "tenant without tenant_claim"},
		{"route cap without limit", route(usd + "limit: 1, route_cap: {window: hour}"), "route_cap: limit 0"},
		{"token tenant fractional", route("limit: 1, window: day, tenant_claim: org, tenant: {limit: 1.5}"), "limit 1.5: want a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadFile(gwtest.WriteConfig(t, tc.yaml))
			if err == nil {
				_, err = cfg.Validate(gwtest.Env(nil))
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// Two replicas sharing one real Redis charge a dollar budget exactly, at
// every level: each gpt-4o answer of the test upstream (10 input, 20
// output tokens) costs 10 × 2.50 + 20 × 10 = 225 µ$; the tenant's 1000 µ$
// hold five answers whichever replica serves them and whichever of its
// users sends them, so the tenant cap refuses a user with budget left; a
// model the table does not know is charged the fallback price and counted.
func TestDollarBudgetTenantsSharedAcrossReplicasInRedis(t *testing.T) {
	dollarsShared(t, RedisConfig{Addr: redistest.Start(t).Addr})
}

// The same through a three-master Redis Cluster: a subject's, a tenant's
// and the route's keys live on different masters, each call touching one.
func TestDollarBudgetTenantsSharedAcrossReplicasInRedisCluster(t *testing.T) {
	dollarsShared(t, RedisConfig{Cluster: redistest.StartCluster(t).Addrs})
}

func dollarsShared(t *testing.T, rc RedisConfig) {
	t.Helper()
	p, up := gwtest.StartIDP(t, false), startLLMUpstream(t, nil)
	prices := BudgetPrices{Default: true}
	cfg := budgetConfig(p.Issuer(), up.srv.URL, RouteBudget{
		Currency: "USD", Prices: &prices, Limit: 700, Window: "day",
		TenantClaim: "org", Tenant: &BudgetTier{Limit: 1000},
	})
	cfg.Redis = rc
	a, b := startGateway(t, cfg, nil), startGateway(t, cfg, nil)
	a.waitReady(t)
	b.waitReady(t)
	alice := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Extra: map[string]any{"org": "acme"}})
	bob := p.Mint(t, jwtgatetest.Claims{Subject: "bob", Extra: map[string]any{"org": "acme"}})
	carol := p.Mint(t, jwtgatetest.Claims{Subject: "carol", Extra: map[string]any{"org": "globex"}})
	nobody := p.Mint(t, jwtgatetest.Claims{Subject: "dave"})
	for i, c := range []struct {
		g         *gw
		tok, path string
		want      int
		remaining string // the RateLimit field after the check
	}{
		// alice: 225, 450, 675 of her 700 (each check sees what is left).
		{a, alice, "/llm/v1/chat/completions", 200, `"subject";r=700;t=`},
		{b, alice, "/llm/v1/chat/completions", 200, `"subject";r=475;t=`},
		{a, alice, "/llm/v1/chat/completions", 200, `"tenant";r=550;t=`},
		// bob: acme at 675 + 225 = 900 of 1000, then over.
		{b, bob, "/llm/v1/chat/completions", 200, `"tenant";r=325;t=`},
		{a, bob, "/llm/v1/chat/completions", 200, `"tenant";r=100;t=`},
		// bob has spent 450 of his 700; acme is spent: refused.
		{b, bob, "/llm/v1/chat/completions", 429, `"tenant";r=0;t=`},
		{a, carol, "/llm/v1/chat/completions", 200, `"tenant";r=1000;t=`},
		// claude-x is in no table: Claude Opus prices, 10 × 15 + 20 × 75 = 1650 µ$.
		{b, carol, "/llm/v1/messages", 200, `"subject";r=475;t=`},
		{a, nobody, "/llm/v1/chat/completions", 403, ""},
	} {
		resp, body := c.g.post(t, c.path, c.tok, `{}`)
		if resp.StatusCode != c.want {
			t.Fatalf("request %d: %d, want %d: %s", i+1, resp.StatusCode, c.want, body)
		}
		if got := resp.Header.Get("RateLimit"); !strings.Contains(got, c.remaining) {
			t.Fatalf("request %d: RateLimit %q, want it to hold %s", i+1, got, c.remaining)
		}
	}
	if got := up.calls.Load(); got != 7 {
		t.Errorf("upstream calls %d, want 7", got)
	}
	// What Redis holds is exact, whichever replica charged.
	for _, c := range []struct {
		g    *gw
		tok  string
		want string
	}{
		{a, alice, `"subject";r=25;`}, {b, bob, `"subject";r=250;`},
		{a, carol, `"subject";r=0;`}, {b, carol, `"tenant";r=0;`},
	} {
		resp, _ := c.g.post(t, "/llm/v1/chat/completions", c.tok, `{}`)
		if got := resp.Header.Get("RateLimit"); !strings.Contains(got, c.want) {
			t.Errorf("RateLimit %q, want %s", got, c.want)
		}
	}
	var m string
	for _, g := range []*gw{a, b} {
		_, mm := g.get(t, "/metrics", "")
		m += mm
	}
	for _, want := range []string{
		`jwtgate_budget_unknown_models_total{route="/llm/"} 1`,
		`jwtgate_budget_level_refusals_total{level="tenant",route="/llm/",shadow="false"}`,
		`jwtgate_budget_level_refusals_total{level="no_tenant",route="/llm/",shadow="false"} 1`,
		`jwtgate_budget_level_charged_total{level="tenant",route="/llm/"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m, "acme") || strings.Contains(m, "alice") {
		t.Error("a metric names a tenant or a subject")
	}
}
