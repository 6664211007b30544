package gateway

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/budget/redisbudget"
	"github.com/jwtgate/jwtgate/llmusage"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// RouteBudget is a route's LLM token budget (package budget): each
// verified subject (issuer and subject, as the rate limit's key) may spend
// Limit model tokens per Window, as the upstream reports them in its
// response. A subject whose budget is spent gets 429 with Retry-After at
// the window's end and the budget's RateLimit-* headers, and the upstream
// is not called; the request that crosses the line completes and is
// charged in full. With the top-level Redis the budget is shared by every
// replica; otherwise it is kept in this process.
type RouteBudget struct {
	// Limit is the budget in tokens (weighted by Weights) per Window, for
	// subjects without a tier. Required, 1 to 1e15. With Currency it is
	// an amount of the currency: in YAML a decimal ("25", 12.50, exact to
	// six decimals), in Go its micro-units (budget.Micros).
	Limit int64 `yaml:"limit"`
	// Currency makes the budget one of money (an ISO 4217 code: USD):
	// Limit, the tiers', tenant's and route cap's limits, ErrorCost and
	// NoUsageCost are amounts of it, and Prices prices every model's
	// tokens. Empty: a budget of (weighted) tokens.
	Currency string `yaml:"currency"`
	// Prices is the price table of a Currency budget. Required with
	// Currency, and only with it (Weights are for token budgets).
	Prices *BudgetPrices `yaml:"prices"`
	// Window is "minute", "hour", "day" (00:00 UTC) or "month" (the
	// calendar month, UTC). Required.
	Window string `yaml:"window"`
	// Format is the upstream's API: "openai" (Chat Completions),
	// "openai-responses", "anthropic" (Messages) or "auto". Empty or
	// "auto": from the request path (…/chat/completions, …/v1/responses,
	// …/v1/messages); any other path is charged Estimate.
	Format string `yaml:"format"`
	// Weights price each model's tokens: the model's exact name, else the
	// longest "prefix*" matching it, else "*", else one unit per token.
	// Empty means one unit per token of every kind.
	Weights map[string]budget.Weights `yaml:"weights"`
	// Estimate is charged for a response whose usage cannot be read (a
	// stream the client cut, an upstream 5xx, a body without usage). 0
	// means 1000; never nothing.
	Estimate int64 `yaml:"estimate"`
	// UseMaxTokens charges at least the request's max_tokens when the
	// usage cannot be read.
	UseMaxTokens bool `yaml:"use_max_tokens"`
	// ErrorCost is what an upstream error answer without usage costs
	// (429, 529, 5xx, a bad request: providers do not bill them, and an
	// SDK retries them). 0 means nothing.
	ErrorCost int64 `yaml:"error_cost"`
	// NoUsageCost is what a call with no usage concept costs (listing
	// models, counting tokens). 0 means nothing.
	NoUsageCost int64 `yaml:"no_usage_cost"`
	// Shadow measures and reports without refusing, for rolling it out.
	Shadow bool `yaml:"shadow"`
	// IncludeUsage adds stream_options.include_usage to an OpenAI Chat
	// Completions request that streams without it, so that its stream
	// reports usage; the client then gets the extra usage chunk unless
	// StripAddedUsage. Only stream_options changes. A body that upstreams
	// would read in different ways (stream_options, include_usage, stream,
	// model or a max_tokens count given twice or spelt in another letter
	// case, a "stream" that is not a boolean) is refused with 400, as it
	// is with UseMaxTokens (package budget).
	IncludeUsage bool `yaml:"include_usage"`
	// StripAddedUsage removes the usage chunk include_usage added from
	// what the client receives (it is charged all the same). The stream
	// then goes to the client chunked, without the upstream's
	// Content-Length, ETag or digests, which describe the longer body.
	StripAddedUsage bool `yaml:"strip_added_usage"`
	// TierClaim names a string claim whose value picks a budget from
	// Tiers; a missing claim or another value uses Limit. Empty: no tiers.
	TierClaim string `yaml:"tier_claim"`
	// Tiers are the budgets of TierClaim's values. Empty: no tiers.
	Tiers map[string]BudgetTier `yaml:"tiers"`
	// TenantClaim names a claim (for example "org") whose value is the
	// tenant each request is also charged to, against Tenant: a tenant's
	// spent budget refuses its users even when they have budget left. A
	// token without the claim is refused 403 access_denied (in shadow
	// mode, reported and charged to its subject): charging its subject
	// alone would let it escape the cap. Empty: no tenants.
	TenantClaim string `yaml:"tenant_claim"`
	// Tenant is each tenant's budget. Required with TenantClaim, and only
	// with it.
	Tenant *BudgetTier `yaml:"tenant"`
	// RouteCap, when set, is one budget every request of the route is
	// also charged to, whoever sends it. Empty: none.
	RouteCap *BudgetTier `yaml:"route_cap"`
	// RedisFailure is what the budget does while the top-level Redis
	// cannot be reached: "local" (default: each replica keeps its share,
	// 1/replicas, starting from what Redis last said), "open" (let
	// requests through; the charges are lost) or "closed" (refuse).
	RedisFailure string `yaml:"redis_failure"`
}

// BudgetPrices is a Currency budget's price table (budget.PriceTable):
// list prices per million tokens, in the budget's currency, written as
// decimals (2.50 or "2.50": exact, never through a float).
type BudgetPrices struct {
	// Default starts from the shipped table, budget.DefaultPrices (OpenAI
	// and Anthropic list prices in USD; see its Version and Date), which
	// Models extend or override. Only with currency USD.
	Default bool `yaml:"default"`
	// Version names this table, for the operators; informational.
	Version string `yaml:"version"`
	// Models price models by exact name or "prefix*" (the longest that
	// matches wins): input, cached_input, cache_write, output, reasoning
	// per million tokens. cached_input and cache_write default to input,
	// reasoning to output.
	Models map[string]budget.Price `yaml:"models"`
	// Fallback prices a model no entry matches (counted in
	// jwtgate_budget_unknown_models_total). Required unless Default (whose
	// fallback is its dearest model's price); never free.
	Fallback *budget.Price `yaml:"fallback"`
}

// table is the price table the config describes (validated or not).
func (p *BudgetPrices) table(currency string) budget.PriceTable {
	t := budget.PriceTable{Currency: currency, Version: p.Version}
	if p.Default {
		t = budget.DefaultPrices()
		if p.Version != "" {
			t.Version = p.Version
		}
	}
	var fb budget.Price
	if p.Fallback != nil {
		fb = *p.Fallback
	}
	return t.Merge(p.Models, fb)
}

// BudgetTier is one tier's budget (also a tenant's, and a route cap).
type BudgetTier struct {
	// Limit is the tier's budget in tokens per Window (an amount of the
	// route budget's Currency when it has one). Required.
	Limit int64 `yaml:"limit"`
	// Window as RouteBudget's. Empty means the route budget's window.
	Window string `yaml:"window"`
}

// UnmarshalYAML refuses a count that is not a whole number: the YAML
// decoder would truncate "limit: 1.5" to 1 without a word.
// With a currency, the amounts are decimals of it, read exactly into
// micro-units.
func (b *RouteBudget) UnmarshalYAML(unmarshal func(any) error) error {
	type plain RouteBudget // without this method, so no recursion
	var m map[string]yaml.Node
	if unmarshal(&m) != nil || m["currency"].Value == "" {
		if err := wholeCounts(unmarshal, "limit", "estimate", "error_cost", "no_usage_cost"); err != nil {
			return err
		}
		return unmarshal((*plain)(b))
	}
	if err := wholeCounts(unmarshal, "estimate"); err != nil { // tokens still
		return err
	}
	nodes := amountNodes(m)
	values := make(map[*yaml.Node]budget.Micros, len(nodes))
	for _, a := range nodes {
		v, err := budget.ParseMicros(a.node.Value)
		if a.node.Kind != yaml.ScalarNode || err != nil {
			return fmt.Errorf("line %d: %s %s: want an amount of %s such as 12.50, at most 6 decimals",
				a.node.Line, a.name, a.node.Value, m["currency"].Value)
		}
		values[a.node] = v
	}
	err := unmarshal((*plain)(b))
	// The int64 fields refuse "12.50": those refusals are the amounts read
	// above, and only those go.
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var rest []string
		for _, e := range te.Errors {
			if !amountRefusal(e, nodes) {
				rest = append(rest, e)
			}
		}
		err = nil
		if len(rest) > 0 {
			err = &yaml.TypeError{Errors: rest}
		}
	}
	if err != nil {
		return err
	}
	for _, a := range nodes {
		a.set(b, int64(values[a.node]))
	}
	return nil
}

// amount is one amount of a currency budget in YAML: its node, and how
// to set the field it goes to.
type amount struct {
	name string
	node *yaml.Node
	set  func(b *RouteBudget, v int64)
}

// amountNodes finds the amounts of a budget mapping: limit, error_cost,
// no_usage_cost, and the limits of tiers, tenant and route_cap.
func amountNodes(m map[string]yaml.Node) []amount {
	var out []amount
	top := func(key string, set func(b *RouteBudget, v int64)) {
		if n, ok := m[key]; ok {
			out = append(out, amount{key, &n, set})
		}
	}
	top("limit", func(b *RouteBudget, v int64) { b.Limit = v })
	top("error_cost", func(b *RouteBudget, v int64) { b.ErrorCost = v })
	top("no_usage_cost", func(b *RouteBudget, v int64) { b.NoUsageCost = v })
	// A tier whose limit is not a whole number was refused by its own
	// UnmarshalYAML and left out: it is made again from its node.
	window := func(n *yaml.Node) string {
		if w := mappingValue(n, "window"); w != nil {
			return w.Value
		}
		return ""
	}
	nested := func(key string, set func(b *RouteBudget, t BudgetTier)) {
		if n, ok := m[key]; ok {
			if l := mappingValue(&n, "limit"); l != nil {
				w := window(&n)
				out = append(out, amount{key + " limit", l, func(b *RouteBudget, v int64) { set(b, BudgetTier{Limit: v, Window: w}) }})
			}
		}
	}
	nested("tenant", func(b *RouteBudget, t BudgetTier) { b.Tenant = &t })
	nested("route_cap", func(b *RouteBudget, t BudgetTier) { b.RouteCap = &t })
	if n, ok := m["tiers"]; ok && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			name, tn := n.Content[i].Value, n.Content[i+1]
			if l := mappingValue(tn, "limit"); l != nil {
				w := window(tn)
				out = append(out, amount{"tier " + strconv.Quote(name) + " limit", l, func(b *RouteBudget, v int64) {
					if b.Tiers == nil {
						b.Tiers = map[string]BudgetTier{}
					}
					b.Tiers[name] = BudgetTier{Limit: v, Window: w}
				}})
			}
		}
	}
	return out
}

// mappingValue is the value of key in a mapping node, nil without one.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// amountRefusal reports whether e is the decoder refusing one of the
// amounts as an int64 (or BudgetTier refusing it as a token count).
func amountRefusal(e string, nodes []amount) bool {
	for _, a := range nodes {
		line := fmt.Sprintf("line %d: ", a.node.Line)
		if strings.HasPrefix(e, line+"cannot unmarshal") && strings.Contains(e, "`"+a.node.Value+"`") ||
			strings.HasPrefix(e, line+"limit "+a.node.Value+": want a whole number") {
			return true
		}
	}
	return false
}

// UnmarshalYAML refuses a limit that is not a whole number (as a type
// error, so that a currency budget, which reads it as an amount, can set
// it aside).
func (t *BudgetTier) UnmarshalYAML(unmarshal func(any) error) error {
	if err := wholeCounts(unmarshal, "limit"); err != nil {
		return &yaml.TypeError{Errors: []string{err.Error()}}
	}
	type plain BudgetTier
	return unmarshal((*plain)(t))
}

// wholeCounts checks that the mapping's keys hold integers. It uses the
// v2-style unmarshal func, not yaml.Node.Decode, so that the decode after
// it keeps the decoder's KnownFields.
func wholeCounts(unmarshal func(any) error, keys ...string) error {
	// Into a map of nodes: the decoder hands a yaml.Node target the node
	// itself, with its tag, but only where the target is not a pointer.
	var m map[string]yaml.Node
	if err := unmarshal(&m); err != nil {
		return nil // not a mapping: the decode after says what is wrong
	}
	for _, k := range keys {
		if v, ok := m[k]; ok && v.Kind == yaml.ScalarNode && v.ShortTag() != "!!int" {
			return fmt.Errorf("line %d: %s %s: want a whole number of tokens", v.Line, k, v.Value)
		}
	}
	return nil
}

// budgetRedisFailure is a budget's redis_failure: the library's policy
// names, with local the gateway's default.
func budgetRedisFailure(s string) (ratelimit.FailurePolicy, bool) {
	p, ok := textEnum[ratelimit.FailurePolicy](s)
	return p.Or(ratelimit.FailLocal), ok
}

// checkRouteBudget checks a route's budget. It fills nothing, so that
// validating twice gives the same config; buildBudget applies the
// defaults.
func (cfg *Config) checkRouteBudget(p *problems, where string, r Route) {
	b := r.Budget
	if b == nil {
		return
	}
	where += ": budget"
	if r.Mode == ModeDecision {
		// The usage is in the upstream's response, which a decision route
		// never sees.
		p.add("%s: a decision route proxies nowhere and never sees the usage: put the budget on a proxy route", where)
	}
	unit := "tokens"
	if b.Currency != "" {
		unit = "micro-units of " + b.Currency
	}
	checkBudgetLimit(p, where, b.Limit, b.Window, true, unit)
	b.checkFormat(p, where)
	b.checkWeights(p, where)
	b.checkPrices(p, where)
	b.checkLevels(p, where, unit)
	if b.Estimate < 0 || b.Estimate > budget.MaxLimit {
		p.add("%s: estimate %d: want 0 (1000) to %d", where, b.Estimate, int64(budget.MaxLimit))
	}
	if b.ErrorCost < 0 || b.ErrorCost > budget.MaxLimit || b.NoUsageCost < 0 || b.NoUsageCost > budget.MaxLimit {
		p.add("%s: error_cost %d, no_usage_cost %d: want 0 to %d", where, b.ErrorCost, b.NoUsageCost, int64(budget.MaxLimit))
	}
	b.checkTiers(p, where)
	if _, ok := budgetRedisFailure(b.RedisFailure); !ok {
		p.add("%s: redis_failure %q: want local, open or closed", where, b.RedisFailure)
	} else if b.RedisFailure != "" && cfg.Redis.IsZero() {
		p.add("%s: redis_failure %q without redis: an in-process budget does not fail", where, b.RedisFailure)
	}
}

// checkFormat checks the upstream's format and what include_usage and
// strip_added_usage need of it.
func (b *RouteBudget) checkFormat(p *problems, where string) {
	f, ok := textEnum[llmusage.Format](b.Format)
	if !ok {
		p.add("%s: format %q: want openai, openai-responses, anthropic or auto", where, b.Format)
	}
	if b.StripAddedUsage && !b.IncludeUsage {
		p.add("%s: strip_added_usage needs include_usage", where)
	}
	if b.IncludeUsage && ok && f != llmusage.OpenAIChat && f != llmusage.FormatUnknown {
		p.add("%s: include_usage applies to OpenAI Chat Completions streams only, not format %s", where, b.Format)
	}
}

// checkWeights checks the model price table.
func (b *RouteBudget) checkWeights(p *problems, where string) {
	names := make([]string, 0, len(b.Weights))
	for name := range b.Weights {
		names = append(names, name)
	}
	sort.Strings(names) // one order for the messages
	for _, name := range names {
		if i := strings.IndexByte(name, '*'); name == "" || i >= 0 && i != len(name)-1 {
			p.add("%s: weights %q: want a model name, a prefix ending in * (gpt-4o*), or *", where, name)
		}
		if err := (budget.WeightTable{name: b.Weights[name]}).Validate(); err != nil {
			p.add("%s: weights %q: each weight must be a number from 0 to 1e6", where, name)
		}
	}
}

// checkTiers checks tier_claim and the tiers' budgets.
func (b *RouteBudget) checkTiers(p *problems, where string) {
	switch {
	case b.TierClaim != "" && len(b.Tiers) == 0:
		p.add("%s: tier_claim %q without tiers", where, b.TierClaim)
	case b.TierClaim == "" && len(b.Tiers) > 0:
		p.add("%s: tiers without tier_claim (the claim whose value picks the tier)", where)
	}
	unit := "tokens"
	if b.Currency != "" {
		unit = "micro-units of " + b.Currency
	}
	tiers := make([]string, 0, len(b.Tiers))
	for name := range b.Tiers {
		tiers = append(tiers, name)
	}
	sort.Strings(tiers)
	for _, name := range tiers {
		t := b.Tiers[name]
		if name == "" {
			p.add("%s: tiers: a tier needs a name (the claim's value)", where)
		}
		w := t.Window
		if w == "" {
			w = b.Window
		}
		checkBudgetLimit(p, fmt.Sprintf("%s: tier %q", where, name), t.Limit, w, t.Window != "", unit)
	}
}

// checkPrices checks a currency budget's price table, and that a token
// budget has none.
func (b *RouteBudget) checkPrices(p *problems, where string) {
	switch {
	case b.Currency == "" && b.Prices != nil:
		p.add("%s: prices without currency: set currency (USD) to budget in money, or use weights for tokens", where)
		return
	case b.Currency == "":
		return
	case b.Prices == nil:
		p.add("%s: currency %s without prices: set prices (default: true for the shipped USD list prices)", where, b.Currency)
		return
	case len(b.Weights) > 0:
		p.add("%s: weights are for token budgets; a currency budget is priced by prices", where)
	case b.Prices.Default && b.Currency != "USD":
		p.add("%s: prices: default is in USD, not %s", where, b.Currency)
		return
	}
	t := b.Prices.table(b.Currency)
	if err := t.Validate(); err != nil {
		var ce *budget.ConfigError
		if errors.As(err, &ce) {
			p.add("%s: prices: %s: %s", where, ce.Field, ce.Reason)
		} else {
			p.add("%s: prices: %v", where, err)
		}
	}
}

// checkLevels checks the tenant and route-wide budgets.
func (b *RouteBudget) checkLevels(p *problems, where, unit string) {
	switch {
	case b.TenantClaim != "" && b.Tenant == nil:
		p.add("%s: tenant_claim %q without tenant (the tenants' budget: {limit, window})", where, b.TenantClaim)
	case b.TenantClaim == "" && b.Tenant != nil:
		p.add("%s: tenant without tenant_claim (the claim naming the tenant)", where)
	}
	for _, l := range []struct {
		name string
		t    *BudgetTier
	}{{"tenant", b.Tenant}, {"route_cap", b.RouteCap}} {
		if l.t == nil {
			continue
		}
		w := l.t.Window
		if w == "" {
			w = b.Window
		}
		checkBudgetLimit(p, where+": "+l.name, l.t.Limit, w, l.t.Window != "", unit)
	}
}

// checkBudgetLimit checks a limit and window; checkWindow false skips a
// window inherited from the route (its own check reports it).
func checkBudgetLimit(p *problems, where string, limit int64, window string, checkWindow bool, unit string) {
	if limit <= 0 || limit > budget.MaxLimit {
		p.add("%s: limit %d: want 1 to %d %s", where, limit, int64(budget.MaxLimit), unit)
	}
	if _, ok := budget.ParseWindow(window); !ok && checkWindow {
		p.add("%s: window %q: want minute, hour, day or month", where, window)
	}
}

// budgetMetrics are the gateway's budget collectors. Their labels are
// the route's prefix, the tier (a configured one, "" for the route's
// default budget), the weights entry that priced the model ("" for one
// unit per token) and fixed words: never the subject, whose values are
// unbounded.
type budgetMetrics struct {
	tokens, cost, refusals, fallbacks, errors, storeFailures *prometheus.CounterVec
	// By level (subject, tenant, route): never the tenant or subject.
	levelRefusals, levelCharged, unknownModels *prometheus.CounterVec
}

func newBudgetMetrics(reg prometheus.Registerer) (*budgetMetrics, error) {
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "jwtgate", Name: name, Help: help}, labels)
	}
	m := &budgetMetrics{
		tokens: c("budget_tokens_total", "Model tokens the upstream reported, by route, tier, model (weights entry) and kind (input: uncached input, cached_input, cache_write, output).",
			"route", "tier", "model", "kind"),
		cost: c("budget_charged_total", "Budget units charged (weighted tokens, or the fallback), by route, tier and model (weights entry).",
			"route", "tier", "model"),
		refusals: c("budget_refusals_total", "Requests refused because the budget was spent (shadow=\"true\": reported but let through).",
			"route", "tier", "shadow"),
		fallbacks: c("budget_fallbacks_total", "Responses charged the fallback because their usage could not be read, by reason.",
			"route", "tier", "reason"),
		errors: c("budget_errors_total", "Budget checks or charges that failed (a check: 503; a charge: lost).",
			"route", "tier"),
		storeFailures: c("budget_redis_failures_total", "Budget calls Redis did not answer, decided by redis_failure, by op (check, charge).",
			"route", "op"),
		levelRefusals: c("budget_level_refusals_total", "Requests refused because a budget was spent, by level (subject, tenant, route; shadow=\"true\": reported but let through); no_tenant counts tokens without the tenant claim.",
			"route", "level", "shadow"),
		levelCharged: c("budget_level_charged_total", "Budget units charged (tokens, or micro-units of a currency budget), by level (subject, tenant, route).",
			"route", "level"),
		unknownModels: c("budget_unknown_models_total", "Responses of a model the price table does not know, charged its fallback price.",
			"route"),
	}
	for _, v := range []prometheus.Collector{m.tokens, m.cost, m.refusals, m.fallbacks, m.errors, m.storeFailures,
		m.levelRefusals, m.levelCharged, m.unknownModels} {
		if err := reg.Register(v); err != nil {
			return nil, fmt.Errorf("budget metrics: %w", err)
		}
	}
	return m, nil
}

func (m *budgetMetrics) observer(route string) func(budget.Event) {
	return func(e budget.Event) {
		switch e.Kind {
		case budget.KindRefused:
			if e.Level == budget.LevelSubject {
				m.refusals.WithLabelValues(route, e.Tier, strconv.FormatBool(e.Shadow)).Inc()
			}
			m.levelRefusals.WithLabelValues(route, e.Level.String(), strconv.FormatBool(e.Shadow)).Inc()
		case budget.KindNoTenant:
			m.levelRefusals.WithLabelValues(route, "no_tenant", strconv.FormatBool(e.Shadow)).Inc()
		case budget.KindError:
			m.errors.WithLabelValues(route, e.Tier).Inc()
		case budget.KindCharged:
			u := e.Usage
			for _, k := range []struct {
				kind string
				n    int64
			}{
				{"input", max(u.Input-u.CachedInput-u.CacheWrite, 0)},
				{"cached_input", u.CachedInput}, {"cache_write", u.CacheWrite}, {"output", u.Output},
			} {
				if k.n > 0 {
					m.tokens.WithLabelValues(route, e.Tier, e.Model, k.kind).Add(float64(k.n))
				}
			}
			m.cost.WithLabelValues(route, e.Tier, e.Model).Add(float64(e.Cost))
			for _, l := range e.Budgets {
				m.levelCharged.WithLabelValues(route, l.Level.String()).Add(float64(e.Cost))
			}
			if e.UnknownModel {
				m.unknownModels.WithLabelValues(route).Inc()
			}
			if e.Fallback != "" {
				m.fallbacks.WithLabelValues(route, e.Tier, e.Fallback).Inc()
			}
		}
	}
}

// newBudget builds the route's budget handler, nil when the route has
// none. The route's Verifier checks it (middleware.Route.Budget), as part
// of its one verdict, on proxied requests and on decisions about the route
// alike; the proxy meters and charges behind it (Handler.Meter).
func (gen *generation) newBudget(rc Route) (*budget.Handler, error) {
	bc := rc.Budget
	if bc == nil {
		return nil, nil
	}
	g := gen.g
	if g.budgetMetrics == nil {
		m, err := newBudgetMetrics(g.registry)
		if err != nil {
			return nil, err
		}
		g.budgetMetrics = m
	}
	// The gateway's one client: each budget is a prefix in it.
	client, err := gen.redisClient()
	if err != nil {
		return nil, err
	}
	// A route whose prefix and budget stay the same keeps its budgets
	// across reloads, and with them what each subject has spent.
	// The key spells the settings out by value (JSON follows the tenant
	// and route-cap pointers, which %+v would print as addresses).
	settings, err := json.Marshal(bc)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("budget %q %s", rc.Prefix, settings)
	if client != nil {
		key += fmt.Sprintf(" replicas %d %s", gen.cfg.Replicas, gen.redisKey())
	}
	// In process, the stores hold what each subject has spent: they are
	// held on their own, by what they count (limit and window), so that a
	// reload that changes only how answers are priced or read (prices,
	// weights, format…) builds a new handler over the same spending.
	var stores map[string]budget.Budget
	if client == nil {
		stores = map[string]budget.Budget{}
		for _, l := range budgetLevels(bc) {
			b, err := gen.hold(fmt.Sprintf("budget store %q %q %d %s", rc.Prefix, l.part, l.limit, l.window),
				fmt.Sprintf("budget %q spending", rc.Prefix), func() (any, func() error, bool, error) {
					w, _ := budget.ParseWindow(l.window) // Validate has checked it
					b, err := budget.NewLocal(budget.LocalConfig{Limit: l.limit, Window: w})
					return b, nil, false, err
				})
			if err != nil {
				return nil, err
			}
			stores[l.part] = b.(budget.Budget)
		}
	}
	v, err := gen.hold(key, fmt.Sprintf("budget %q", rc.Prefix), func() (any, func() error, bool, error) {
		h, err := gen.buildBudget(rc, client, stores)
		return h, nil, false, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*budget.Handler), nil
}

// budgetLevel is one budget a route's config names: part is its key's
// part after the route (see buildBudget), with its limit and window.
type budgetLevel struct {
	part   string
	limit  int64
	window string
}

// budgetLevels lists every budget bc names, as buildBudget makes them.
func budgetLevels(bc *RouteBudget) []budgetLevel {
	ls := []budgetLevel{{"", bc.Limit, bc.Window}}
	for name, t := range bc.Tiers {
		ls = append(ls, budgetLevel{name, t.Limit, cmp.Or(t.Window, bc.Window)})
	}
	if t := bc.Tenant; t != nil {
		ls = append(ls, budgetLevel{"|tenant", t.Limit, cmp.Or(t.Window, bc.Window)})
	}
	if t := bc.RouteCap; t != nil {
		ls = append(ls, budgetLevel{"|route", t.Limit, cmp.Or(t.Window, bc.Window)})
	}
	return ls
}

// buildBudget makes the budget handler of rc, kept in client when there
// is one.
func (gen *generation) buildBudget(rc Route, client redis.UniversalClient, stores map[string]budget.Budget) (*budget.Handler, error) {
	g, bc := gen.g, rc.Budget
	// part is the key's part after the route: the tier ("" for the
	// default budget) for subjects, "|tenant" and "|route" for the other
	// levels (a subject's key, issuer first, never starts with "|").
	newBudget := func(part string, limit int64, window string) (budget.Budget, error) {
		if client == nil {
			return stores[part], nil
		}
		w, _ := budget.ParseWindow(window) // Validate has checked it
		return redisbudget.New(redisbudget.Config{
			Client: client,
			// By the route's prefix, not its position, so that replicas
			// whose configs list routes in other orders still share; the
			// tier is a part of its own ("" is the default budget).
			Prefix: "jwtgate:budget:" + rc.Prefix + "|" + part + "|",
			Limit:  limit, Window: w,
			FailurePolicy: must(budgetRedisFailure(bc.RedisFailure)),
			Replicas:      gen.cfg.Replicas,
			Logger:        g.log,
			OnFailure: func(e redisbudget.FailureEvent) {
				g.budgetMetrics.storeFailures.WithLabelValues(rc.Prefix, e.Op).Inc()
			},
		})
	}
	def, err := newBudget("", bc.Limit, bc.Window)
	if err != nil {
		return nil, err
	}
	var tiers map[string]budget.Budget
	for name, t := range bc.Tiers {
		w := t.Window
		if w == "" {
			w = bc.Window
		}
		b, err := newBudget(name, t.Limit, w)
		if err != nil {
			return nil, err
		}
		if tiers == nil {
			tiers = map[string]budget.Budget{}
		}
		tiers[name] = b
	}
	level := func(part string, t *BudgetTier) (budget.Budget, error) {
		if t == nil {
			return nil, nil
		}
		w := t.Window
		if w == "" {
			w = bc.Window
		}
		return newBudget(part, t.Limit, w)
	}
	tenant, err := level("|tenant", bc.Tenant)
	if err != nil {
		return nil, err
	}
	routeCap, err := level("|route", bc.RouteCap)
	if err != nil {
		return nil, err
	}
	var prices *budget.PriceTable
	if bc.Currency != "" {
		t := bc.Prices.table(bc.Currency)
		prices = &t
	}
	h, err := budget.NewHandler(budget.Config{
		TenantClaim:     bc.TenantClaim,
		Tenant:          tenant,
		Route:           routeCap,
		Prices:          prices,
		Budget:          def,
		TierClaim:       bc.TierClaim,
		Tiers:           tiers,
		Format:          must(textEnum[llmusage.Format](bc.Format)),
		Weights:         budget.WeightTable(bc.Weights),
		Fallback:        budget.Fallback{Estimate: bc.Estimate, UseMaxTokens: bc.UseMaxTokens},
		ErrorCost:       bc.ErrorCost,
		NoUsageCost:     bc.NoUsageCost,
		IncludeUsage:    bc.IncludeUsage,
		StripAddedUsage: bc.StripAddedUsage,
		Shadow:          bc.Shadow,
		Observer:        g.traceBudget(g.budgetMetrics.observer(rc.Prefix)),
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}
