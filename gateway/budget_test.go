package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestBadBudgetConfig(t *testing.T) {
	route := func(budget string) string {
		return "issuer: https://idp\nroutes: [{prefix: /v1/, upstream: 'http://u', budget: {" + budget + "}}]\n"
	}
	cases := []struct{ name, yaml, want string }{
		{"no limit", route("window: day"), "budget: limit 0: want 1 to"},
		{"negative limit", route("limit: -5, window: day"), "budget: limit -5"},
		{"huge limit", route("limit: 1000000000000000000, window: day"), "budget: limit 1000000000000000000"},
		{"fractional limit", route("limit: 1.5, window: day"), "limit 1.5: want a whole number of tokens"},
		{"exponent estimate", route("limit: 100, window: day, estimate: 1e3"), "estimate 1e3: want a whole number of tokens"},
		{"fractional tier limit", route("limit: 100, window: day, tier_claim: plan, tiers: {pro: {limit: 2.5}}"), "limit 2.5: want a whole number"},
		{"no window", route("limit: 100"), `budget: window "": want minute, hour, day or month`},
		{"bad window", route("limit: 100, window: week"), `window "week"`},
		{"bad format", route("limit: 100, window: day, format: gemini"), `format "gemini": want openai, openai-responses, anthropic or auto`},
		{"include_usage with anthropic", route("limit: 100, window: day, format: anthropic, include_usage: true"), "include_usage applies to OpenAI Chat Completions"},
		{"strip without include_usage", route("limit: 100, window: day, strip_added_usage: true"), "strip_added_usage needs include_usage"},
		{"negative weight", route("limit: 100, window: day, weights: {gpt-4o: {input: -1}}"), `weights "gpt-4o": each weight must be a number from 0 to 1e6`},
		{"huge weight", route("limit: 100, window: day, weights: {'*': {output: 1e7}}"), `weights "*"`},
		{"inner wildcard", route("limit: 100, window: day, weights: {'gpt-*-mini': {input: 1}}"), `weights "gpt-*-mini": want a model name, a prefix ending in *`},
		{"unknown weight kind", route("limit: 100, window: day, weights: {m: {inputs: 1}}"), "field inputs not found"},
		{"negative estimate", route("limit: 100, window: day, estimate: -1"), "estimate -1"},
		{"tier claim without tiers", route("limit: 100, window: day, tier_claim: plan"), `tier_claim "plan" without tiers`},
		{"tiers without claim", route("limit: 100, window: day, tiers: {pro: {limit: 5}}"), "tiers without tier_claim"},
		{"tier without limit", route("limit: 100, window: day, tier_claim: plan, tiers: {pro: {window: hour}}"), `tier "pro": limit 0`},
		{"tier bad window", route("limit: 100, window: day, tier_claim: plan, tiers: {pro: {limit: 5, window: fortnight}}"), `tier "pro": window "fortnight"`},
		{"unknown budget key", route("limit: 100, window: day, tokens: 5"), "field tokens not found"},
		{"bad redis_failure", "redis: 'r:6379'\n" + route("limit: 100, window: day, redis_failure: maybe"), `redis_failure "maybe": want local, open or closed`},
		{"redis_failure without redis", route("limit: 100, window: day, redis_failure: closed"), "without redis"},
		{"budget on a decision route", "issuer: https://idp\nroutes: [{prefix: /, mode: decision, budget: {limit: 100, window: day}}]\n", "a decision route proxies nowhere"},
	}
	for _, tc := range cases {
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
	// A bad budget: New refuses it too (the program exits 2 before
	// listening, cli's TestConfigErrorsExitTwo).
	cfg, err := LoadFile(gwtest.WriteConfig(t, route("limit: 0, window: day")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), cfg, Options{Logger: quiet, LookupEnv: gwtest.Env(nil)}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "budget: limit 0") {
		t.Errorf("New: %v", err)
	}
}

func TestBudgetConfigRoundTrip(t *testing.T) {
	cfg, err := ParseYAML([]byte(`
issuer: https://idp
routes:
  - prefix: /v1/
    upstream: http://u
    budget:
      limit: 100000
      window: day
      format: openai
      weights:
        gpt-4o: {input: 1, output: 4, cached_input: 0.5}
        "gpt-4o*": {input: 2, output: 8}
        "*": {input: 1, output: 1}
      estimate: 2000
      use_max_tokens: true
      shadow: true
      include_usage: true
      tier_claim: plan
      tiers:
        pro: {limit: 1000000}
        team: {limit: 5000000, window: month}
`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := again.Routes[0].Budget
	if b.Limit != 100000 || b.Window != "day" || b.Weights["gpt-4o"].Output != 4 || b.Weights["gpt-4o"].CachedInput != 0.5 ||
		b.Tiers["team"].Window != "month" || !b.UseMaxTokens || !b.Shadow || !b.IncludeUsage || b.Estimate != 2000 {
		t.Errorf("budget = %+v", b)
	}
}

// llmUpstream speaks OpenAI Chat Completions, OpenAI Responses and
// Anthropic Messages, JSON or streamed ("stream": true in the body), each
// answer using 10 input and 20 output tokens. A stream sends its first
// event, then waits for hold (when set) before the rest. It counts the
// requests it gets.
type llmUpstream struct {
	srv   *httptest.Server
	calls atomic.Int32
	hold  chan struct{}

	mu       sync.Mutex
	encoding []string // the Accept-Encoding of every request
}

func startLLMUpstream(t *testing.T, hold chan struct{}) *llmUpstream {
	t.Helper()
	u := &llmUpstream{hold: hold}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *llmUpstream) serve(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	u.mu.Lock()
	u.encoding = append(u.encoding, r.Header.Get("Accept-Encoding"))
	u.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	stream := strings.Contains(string(body), `"stream":true`)
	var first, rest, whole string
	switch {
	case strings.HasSuffix(r.URL.Path, "/chat/completions"):
		whole = `{"model":"gpt-4o","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}`
		first = "data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n"
		rest = "data: {\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":20,\"total_tokens\":30}}\n\ndata: [DONE]\n\n"
	case strings.HasSuffix(r.URL.Path, "/v1/responses"):
		whole = `{"model":"gpt-4o","output":[],"usage":{"input_tokens":10,"output_tokens":20,"total_tokens":30}}`
		first = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n"
		rest = "event: response.completed\r\ndata: {\"type\":\"response.completed\",\r\ndata: \"response\":{\"model\":\"gpt-4o\",\"usage\":{\"input_tokens\":10,\"output_tokens\":20}}}\r\n\r\n"
	case strings.HasSuffix(r.URL.Path, "/v1/messages"):
		whole = `{"model":"claude-x","content":[],"usage":{"input_tokens":10,"output_tokens":20}}`
		first = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n"
		// message_delta's counts are cumulative: 15 then 20 is 20.
		rest = ": keep-alive\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n" +
			"event: message_delta\ndata:{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":20}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	default:
		http.NotFound(w, r)
		return
	}
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, whole)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, first)
	http.NewResponseController(w).Flush()
	if u.hold != nil {
		select {
		case <-u.hold:
		case <-r.Context().Done():
			return
		}
	}
	io.WriteString(w, rest)
}

// post sends an LLM request through g and returns the response with its
// body read.
func (g *gw) post(t *testing.T, path, token, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func budgetConfig(issuer, up string, b RouteBudget) Config {
	return Config{
		Listen: "127.0.0.1:0", Issuer: issuer,
		Routes: []Route{{Prefix: "/llm/", Upstream: up, StripPrefix: true, Budget: &b}},
	}
}

// A subject runs its budget down: each answer uses 30 tokens of 90, so
// the third request is the one that reaches the limit (it completes and
// is charged), and the fourth is refused with 429 before the upstream is
// called, for every format, streamed and not.
func TestBudgetRunsDownAndRefusesBeforeTheUpstream(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	for _, path := range []string{"/llm/v1/chat/completions", "/llm/v1/responses", "/llm/v1/messages"} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", path, stream), func(t *testing.T) {
				up := startLLMUpstream(t, nil)
				g := startGateway(t, budgetConfig(p.Issuer(), up.srv.URL, RouteBudget{Limit: 90, Window: "hour"}), nil)
				g.waitReady(t)
				tok := p.Mint(t, jwtgatetest.Claims{Subject: "runner"})
				body := fmt.Sprintf(`{"model":"gpt-4o","stream":%v}`, stream)
				for i := 1; i <= 3; i++ {
					resp, b := g.post(t, path, tok, body)
					if resp.StatusCode != http.StatusOK || !strings.Contains(b, "usage") {
						t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
					}
				}
				resp, b := g.post(t, path, tok, body)
				if resp.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("fourth: %d %s", resp.StatusCode, b)
				}
				if got := up.calls.Load(); got != 3 {
					t.Fatalf("upstream called %d times, want 3: the refused request reached it", got)
				}
				if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 3600 {
					t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
				}
				if resp.Header.Get("RateLimit-Limit") != "90" || resp.Header.Get("RateLimit-Remaining") != "0" || resp.Header.Get("RateLimit-Reset") == "" {
					t.Errorf("RateLimit headers %v", resp.Header)
				}
				// The upstream was asked for an unencoded answer, which the
				// budget reads.
				up.mu.Lock()
				for _, e := range up.encoding {
					if e != "identity" {
						t.Errorf("upstream got Accept-Encoding %q, want identity", e)
					}
				}
				up.mu.Unlock()
				// Another subject has its own budget.
				if resp, _ := g.post(t, path, p.Mint(t, jwtgatetest.Claims{Subject: "other"}), body); resp.StatusCode != http.StatusOK {
					t.Errorf("other subject: %d", resp.StatusCode)
				}
			})
		}
	}
}

// The first streamed event reaches the client while the upstream still
// holds the rest; the charge happens after the stream ends.
func TestBudgetFirstStreamedEventArrivesBeforeTheUpstreamFinishes(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	hold := make(chan struct{})
	up := startLLMUpstream(t, hold)
	g := startGateway(t, budgetConfig(p.Issuer(), up.srv.URL, RouteBudget{Limit: 30, Window: "day"}), nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "streamer"})
	req, _ := http.NewRequest(http.MethodPost, g.url+"/llm/v1/chat/completions", strings.NewReader(`{"stream":true}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	// The upstream is blocked on hold: this read succeeds only if the
	// gateway passed the first event on without waiting for the tap.
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: ") || !strings.Contains(line, `"usage":null`) {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(hold)
	rest, err := io.ReadAll(r)
	if err != nil || !strings.Contains(string(rest), "[DONE]") {
		t.Fatalf("rest %q, %v", rest, err)
	}
	resp.Body.Close()
	// The stream's 30 tokens were charged: nothing is left.
	if resp, b := g.post(t, "/llm/v1/chat/completions", tok, `{}`); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after the stream: %d %s", resp.StatusCode, b)
	}
	if got := up.calls.Load(); got != 1 {
		t.Errorf("upstream calls %d", got)
	}
}

// Two gateways sharing one Redis spend one budget: three answers of 30
// tokens, alternating between them, spend the 90, and then both refuse.
func TestBudgetSharedAcrossGatewaysInRedis(t *testing.T) {
	budgetShared(t, RedisConfig{Addr: redistest.Start(t).Addr})
}

// The same through a three-master Redis Cluster.
func TestBudgetSharedAcrossGatewaysInRedisCluster(t *testing.T) {
	budgetShared(t, RedisConfig{Cluster: redistest.StartCluster(t).Addrs})
}

func budgetShared(t *testing.T, rc RedisConfig) {
	t.Helper()
	p, up := gwtest.StartIDP(t, false), startLLMUpstream(t, nil)
	cfg := budgetConfig(p.Issuer(), up.srv.URL, RouteBudget{Limit: 90, Window: "day"})
	cfg.Redis = rc
	a, b := startGateway(t, cfg, nil), startGateway(t, cfg, nil)
	a.waitReady(t)
	b.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "shared"})
	for i, c := range []struct {
		g    *gw
		want int
	}{{a, 200}, {b, 200}, {a, 200}, {b, 429}, {a, 429}} {
		resp, body := c.g.post(t, "/llm/v1/messages", tok, `{"stream":true}`)
		if resp.StatusCode != c.want {
			t.Fatalf("request %d: %d, want %d: %s", i+1, resp.StatusCode, c.want, body)
		}
	}
	if got := up.calls.Load(); got != 3 {
		t.Errorf("upstream calls %d, want 3", got)
	}
	if resp, _ := b.post(t, "/llm/v1/messages", p.Mint(t, jwtgatetest.Claims{Subject: "other"}), `{}`); resp.StatusCode != http.StatusOK {
		t.Errorf("other subject: %d", resp.StatusCode)
	}
}

// The same sub from two issuers is two subjects with two budgets.
func TestBudgetSameSubjectFromTwoIssuers(t *testing.T) {
	a, b := gwtest.StartIDP(t, false), gwtest.StartIDP(t, false)
	up := startLLMUpstream(t, nil)
	cfg := budgetConfig(a.Issuer(), up.srv.URL, RouteBudget{Limit: 30, Window: "day"})
	cfg.Providers = []Provider{{Issuer: b.Issuer()}}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	fromA, fromB := a.Mint(t, jwtgatetest.Claims{Subject: "same"}), b.Mint(t, jwtgatetest.Claims{Subject: "same"})
	for i, c := range []struct {
		tok  string
		want int
	}{{fromA, 200}, {fromA, 429}, {fromB, 200}, {fromB, 429}} {
		if resp, body := g.post(t, "/llm/v1/responses", c.tok, `{}`); resp.StatusCode != c.want {
			t.Fatalf("request %d: %d, want %d: %s", i+1, resp.StatusCode, c.want, body)
		}
	}
}

// Tiers, weights, shadow mode and the metrics: a "pro" token spends its
// tier's budget at the model's weights, a shadow route reports refusals
// without making them, and no metric names a subject.
func TestBudgetTiersShadowAndMetrics(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), startLLMUpstream(t, nil)
	weights := map[string]budget.Weights{"gpt-4o*": {Input: 1, Output: 2}}
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: p.Issuer(),
		Routes: []Route{
			{Prefix: "/llm/", Upstream: up.srv.URL, StripPrefix: true, Budget: &RouteBudget{
				Limit: 30, Window: "day", Format: "auto", Weights: weights,
				TierClaim: "plan", Tiers: map[string]BudgetTier{"pro": {Limit: 100}},
			}},
			{Prefix: "/shadow/", Upstream: up.srv.URL, StripPrefix: true, Budget: &RouteBudget{
				Limit: 30, Window: "day", Format: "openai", Shadow: true,
			}},
			{Prefix: "/other/", Upstream: up.srv.URL, StripPrefix: true, Budget: &RouteBudget{
				Limit: 30, Window: "day", Estimate: 7,
			}},
		},
	}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	pro := p.Mint(t, jwtgatetest.Claims{Subject: "pro-user", Extra: map[string]any{"plan": "pro"}})
	free := p.Mint(t, jwtgatetest.Claims{Subject: "free-user", Extra: map[string]any{"plan": "gold"}}) // not a tier: the default
	// At 1 and 2 per token an answer costs 50: pro's 100 holds two.
	for i, c := range []struct {
		tok  string
		want int
	}{{pro, 200}, {pro, 200}, {pro, 429}, {free, 200}, {free, 429}} {
		if resp, body := g.post(t, "/llm/v1/chat/completions", c.tok, `{}`); resp.StatusCode != c.want {
			t.Fatalf("request %d: %d, want %d: %s", i+1, resp.StatusCode, c.want, body)
		}
	}
	for i := 0; i < 3; i++ {
		if resp, body := g.post(t, "/shadow/v1/chat/completions", free, `{"stream":true}`); resp.StatusCode != 200 {
			t.Fatalf("shadow %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// A path auto-detection does not know is charged the estimate.
	if resp, _ := g.post(t, "/other/v1/unknown", free, `{}`); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	_, m := g.get(t, "/metrics", "")
	for _, want := range []string{
		`jwtgate_budget_tokens_total{kind="input",model="gpt-4o*",route="/llm/",tier="pro"} 20`,
		`jwtgate_budget_tokens_total{kind="output",model="gpt-4o*",route="/llm/",tier="pro"} 40`,
		`jwtgate_budget_charged_total{model="gpt-4o*",route="/llm/",tier="pro"} 100`,
		`jwtgate_budget_charged_total{model="gpt-4o*",route="/llm/",tier=""} 50`,
		`jwtgate_budget_refusals_total{route="/llm/",shadow="false",tier="pro"} 1`,
		`jwtgate_budget_refusals_total{route="/llm/",shadow="false",tier=""} 1`,
		`jwtgate_budget_refusals_total{route="/shadow/",shadow="true",tier=""} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The upstream's 404 is a refusal the provider does not bill: charged
	// error_cost (0), not the fallback estimate of 7.
	if regexp.MustCompile(`jwtgate_budget_fallbacks_total\{reason="[a-z_]+",route="/other/"`).MatchString(m) ||
		!strings.Contains(m, `jwtgate_budget_charged_total{model="",route="/other/",tier=""} 0`) {
		t.Errorf("/metrics: the /other/ 404 was not charged 0 without a fallback:\n%s", grepLines(m, "/other/"))
	}
	for _, sub := range []string{"pro-user", "free-user"} {
		if strings.Contains(m, sub) {
			t.Errorf("/metrics names %q", sub)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The README's budget YAML is a valid config.
func TestREADMEBudgetYAMLIsValid(t *testing.T) {
	readme, err := gwtest.ReadDocs()
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "# LLM usage budgets")
	_, block, _ := strings.Cut(section, "```yaml\n")
	block, _, ok := strings.Cut(block, "```")
	if !ok || !strings.Contains(block, "budget:") {
		t.Fatalf("no budget YAML in docs/llm-budgets.md")
	}
	cfg, err := ParseYAML([]byte(block))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Validate(gwtest.Env(map[string]string{"OPENAI_API_KEY": "sk"})); err != nil {
		t.Fatal(err)
	}
}

// While Redis is down the budget follows redis_failure: closed refuses
// (429, Retry-After 1s) without calling the upstream, open lets the
// request through.
func TestBudgetRedisFailurePolicy(t *testing.T) {
	rs := redistest.Start(t)
	p, up := gwtest.StartIDP(t, false), startLLMUpstream(t, nil)
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: p.Issuer(), Redis: RedisConfig{Addr: rs.Addr},
		Routes: []Route{
			{Prefix: "/closed/", Upstream: up.srv.URL, StripPrefix: true, Budget: &RouteBudget{Limit: 1000, Window: "day", RedisFailure: "closed"}},
			{Prefix: "/open/", Upstream: up.srv.URL, StripPrefix: true, Budget: &RouteBudget{Limit: 1000, Window: "day", RedisFailure: "open"}},
		},
	}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "u"})
	if resp, body := g.post(t, "/closed/v1/chat/completions", tok, `{}`); resp.StatusCode != 200 {
		t.Fatalf("with Redis: %d %s", resp.StatusCode, body)
	}
	rs.Stop()
	resp, body := g.post(t, "/closed/v1/chat/completions", tok, `{}`)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("closed, Redis down: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if got := up.calls.Load(); got != 1 {
		t.Fatalf("upstream calls %d, want 1", got)
	}
	if resp, body := g.post(t, "/open/v1/chat/completions", tok, `{}`); resp.StatusCode != 200 {
		t.Fatalf("open, Redis down: %d %s", resp.StatusCode, body)
	}
	_, m := g.get(t, "/metrics", "")
	for _, want := range []string{
		`jwtgate_budget_redis_failures_total{op="check",route="/closed/"} 1`,
		`jwtgate_budget_redis_failures_total{op="charge",route="/open/"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "redis_failures"))
		}
	}
}

// A decision about a budgeted proxy route makes the check proxying makes
// (no charge): once the subject's budget is spent, both answer 429
// budget_exhausted, and jwtgate_requests_total counts the refusals under
// their own reason, not "ok".
func TestBudgetDecisionAndReason(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	up := startLLMUpstream(t, nil)
	cfg := budgetConfig(p.Issuer(), up.srv.URL, RouteBudget{Limit: 30, Window: "hour"})
	cfg.Routes = append(cfg.Routes, Route{Prefix: "/_jwtgate", Mode: ModeDecision})
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "runner"})
	decide := func() *httptest.ResponseRecorder {
		return subRequest(g.Handler(), fromProxy, http.MethodGet, "/_jwtgate", tok, "X-Original-URI", "/llm/v1/chat/completions")
	}
	if rec := decide(); rec.Code != http.StatusOK {
		t.Fatalf("decision before spending: %d %s", rec.Code, rec.Body)
	}
	if resp, b := g.post(t, "/llm/v1/chat/completions", tok, `{"model":"gpt-4o"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("the spending request: %d %s", resp.StatusCode, b)
	}
	rec := decide()
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), `"error":"budget_exhausted"`) ||
		rec.Header().Get("Retry-After") == "" || rec.Header().Get("RateLimit-Limit") != "30" {
		t.Fatalf("decision once spent: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	resp, b := g.post(t, "/llm/v1/chat/completions", tok, `{"model":"gpt-4o"}`)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(b, `"error":"budget_exhausted"`) || !strings.Contains(b, "token budget exhausted") {
		t.Fatalf("proxying once spent: %d %s", resp.StatusCode, b)
	}
	if got := up.calls.Load(); got != 1 {
		t.Fatalf("upstream called %d times, want 1 (decisions charge nothing and reach nothing)", got)
	}
	_, metrics := g.get(t, "/metrics", "")
	if line := grepLines(metrics, `jwtgate_requests_total{outcome="rejected",reason="budget_exhausted"}`); !strings.HasSuffix(line, " 2") {
		t.Fatalf("budget refusals counted as %q\n%s", line, grepLines(metrics, "jwtgate_requests_total"))
	}
}

// strip_added_usage in front of an upstream that sends its stream with a
// Content-Length: the client reads the whole stream, without the usage
// chunk and without an error (the stripped body is shorter than the
// upstream's length, which therefore does not reach it), and the stream
// is charged. A body that names stream_options in another letter case is
// refused before the upstream (a strict-name upstream would stream it
// without usage).
func TestBudgetStripAddedUsageWithContentLength(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	var calls atomic.Int32
	stream := "data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n" +
		"data: {\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":20}}\n\n" +
		"data: [DONE]\n\n"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(stream)))
		io.WriteString(w, stream)
	}))
	t.Cleanup(up.Close)
	g := startGateway(t, budgetConfig(p.Issuer(), up.URL, RouteBudget{
		Limit: 30, Window: "day", Format: "openai", IncludeUsage: true, StripAddedUsage: true,
	}), nil)
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "stripper"})
	req, _ := http.NewRequest(http.MethodPost, g.url+"/llm/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the stream through the gateway: %v (got %q)", err, body)
	}
	if strings.Contains(string(body), `"choices":[]`) || !strings.HasSuffix(string(body), "data: [DONE]\n\n") ||
		len(body) != len(stream)-len("data: {\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":20}}\n\n") {
		t.Fatalf("client got %q", body)
	}
	if resp, body := g.post(t, "/llm/v1/chat/completions", tok, `{}`); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the stream's 30 tokens were not charged: %d %s", resp.StatusCode, body)
	}
	other := p.Mint(t, jwtgatetest.Claims{Subject: "case-folder"})
	if resp, body := g.post(t, "/llm/v1/chat/completions", other, `{"model":"gpt-4o","stream":true,"Stream_Options":{"include_usage":true}}`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("Stream_Options: %d %s", resp.StatusCode, body)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("upstream called %d times, want 1", n)
	}
}
