package budget_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/llmusage"
)

func TestParseMicros(t *testing.T) {
	for in, want := range map[string]budget.Micros{
		"0": 0, "2.50": 2_500_000, "2.5": 2_500_000, "10": 10_000_000, "0.075": 75_000, ".5": 500_000,
		"7.": 7_000_000, "0.000001": 1, "1000000000": 1e15,
	} {
		got, err := budget.ParseMicros(in)
		if err != nil || got != want {
			t.Errorf("ParseMicros(%q) = %d, %v; want %d", in, got, err, want)
		}
		if back, err := budget.ParseMicros(got.String()); err != nil || back != got {
			t.Errorf("%q: String %q does not read back: %d %v", in, got.String(), back, err)
		}
	}
	for _, in := range []string{"", ".", "-1", "+1", "1e3", "0.0000001", "1,5", "1.2.3", " 1", "NaN", "Inf", "1000000001", "1000000000.5", "99999999999999999999"} {
		if _, err := budget.ParseMicros(in); !errors.Is(err, budget.ErrInvalidConfig) {
			t.Errorf("ParseMicros(%q): err %v", in, err)
		}
	}
}

// FuzzParseMicros: whatever it accepts is in range and reads back the same.
func FuzzParseMicros(f *testing.F) {
	for _, s := range []string{"2.50", "0.000001", ".5", "-1", "1e3", "99999999999999999999", "1.1234567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := budget.ParseMicros(s)
		if err != nil {
			return
		}
		if m < 0 || m > budget.MaxLimit {
			t.Fatalf("%q: %d out of range", s, m)
		}
		if back, err := budget.ParseMicros(m.String()); err != nil || back != m {
			t.Fatalf("%q: %q reads back as %d %v", s, m.String(), back, err)
		}
	})
}

func TestPriceCost(t *testing.T) {
	p := budget.Price{Input: 2_500_000, CachedInput: 1_250_000, Output: 10_000_000}
	// 176 uncached × 2.50 + 1024 cached × 1.25 + 300 × 10, per million.
	if got := p.Cost(llmusage.Usage{Input: 1200, CachedInput: 1024, Output: 300}); got != 4720 {
		t.Errorf("cost %d µ, want 4720", got)
	}
	// Rounding is half up, once per charge.
	half := budget.Price{Input: 100_000, Output: 1}
	if got := half.Cost(llmusage.Usage{Input: 5}); got != 1 {
		t.Errorf("0.5 µ rounds to %d, want 1", got)
	}
	if got := half.Cost(llmusage.Usage{Input: 4}); got != 0 {
		t.Errorf("0.4 µ rounds to %d, want 0", got)
	}
	// Zero CachedInput, CacheWrite and Reasoning fall back to the dearer
	// kind, never to free.
	p = budget.Price{Input: 1_000_000, Output: 4_000_000}
	if got := p.Cost(llmusage.Usage{Input: 10, CachedInput: 4, CacheWrite: 3, Output: 5, Reasoning: 2}); got != 10+20 {
		t.Errorf("defaults: %d µ", got)
	}
	// No overflow at the extremes.
	big := budget.Price{Input: budget.MaxPrice, CachedInput: budget.MaxPrice, CacheWrite: budget.MaxPrice, Output: budget.MaxPrice, Reasoning: budget.MaxPrice}
	u := llmusage.Usage{Input: 3 * llmusage.MaxTokens, CachedInput: llmusage.MaxTokens, CacheWrite: llmusage.MaxTokens,
		Output: llmusage.MaxTokens, Reasoning: llmusage.MaxTokens}
	if got := big.Cost(u); got != budget.MaxLimit {
		t.Errorf("extremes: %d", got)
	}
	if got := (budget.Price{Input: math.MaxInt64, Output: 1}).Cost(llmusage.Usage{Input: math.MaxInt64}); got != budget.MaxLimit {
		t.Errorf("beyond the bounds: %d", got)
	}
}

func TestDefaultPrices(t *testing.T) {
	d := budget.DefaultPrices()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Currency != "USD" || d.Version != budget.DefaultPricesVersion || d.Date != budget.DefaultPricesDate {
		t.Fatalf("identity %q %q %q", d.Currency, d.Version, d.Date)
	}
	for model, want := range map[string]string{
		"gpt-4o": "gpt-4o*", "gpt-4o-2024-08-06": "gpt-4o*", "gpt-4o-mini-2024-07-18": "gpt-4o-mini*",
		"gpt-4o-2024-05-13": "gpt-4o-2024-05-13", "gpt-4.1-mini": "gpt-4.1-mini*", "o3": "o3*", "o3-mini": "o3-mini*",
		"o3-pro": "o3-pro*", "o4-mini-2025-04-16": "o4-mini*", "claude-opus-4-1-20250805": "claude-opus-4*",
		"claude-opus-4-5": "claude-opus-4-5*", "claude-sonnet-4-5-20250929": "claude-sonnet-4*",
		"claude-haiku-4-5": "claude-haiku-4-5*", "claude-3-5-haiku-latest": "claude-3-5-haiku*",
	} {
		if _, entry, ok := d.Lookup(model); !ok || entry != want {
			t.Errorf("%s: entry %q %v, want %q", model, entry, ok, want)
		}
	}
	if p, entry, ok := d.Lookup("mistral-large"); ok || entry != "" || p != d.Fallback {
		t.Errorf("unknown model: %+v %q %v", p, entry, ok)
	}
	// A copy each time: one caller's edit is not another's table.
	d.Models["gpt-4o*"] = budget.Price{Input: 1, Output: 1}
	if budget.DefaultPrices().Models["gpt-4o*"].Input != 2_500_000 {
		t.Fatal("DefaultPrices shares its map")
	}
}

func TestBadPriceTables(t *testing.T) {
	good := budget.Price{Input: 1, Output: 1}
	for name, tab := range map[string]budget.PriceTable{
		"no currency":     {Fallback: good},
		"lower case":      {Currency: "usd", Fallback: good},
		"no fallback":     {Currency: "USD"},
		"free fallback":   {Currency: "USD", Fallback: budget.Price{Input: 1}},
		"star entry":      {Currency: "USD", Fallback: good, Models: map[string]budget.Price{"*": good}},
		"inner star":      {Currency: "USD", Fallback: good, Models: map[string]budget.Price{"gpt-*-mini": good}},
		"negative price":  {Currency: "USD", Fallback: good, Models: map[string]budget.Price{"m": {Input: -1, Output: 1}}},
		"absurd price":    {Currency: "USD", Fallback: good, Models: map[string]budget.Price{"m": {Input: budget.MaxPrice + 1, Output: 1}}},
		"free output":     {Currency: "USD", Fallback: good, Models: map[string]budget.Price{"m": {Input: 1}}},
		"empty model key": {Currency: "USD", Fallback: good, Models: map[string]budget.Price{"": good}},
	} {
		if err := tab.Validate(); !errors.Is(err, budget.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := budget.NewHandler(budget.Config{Budget: mustLocal(t, 10), Prices: &tab}); !errors.Is(err, budget.ErrInvalidConfig) {
			t.Errorf("%s: NewHandler: %v", name, err)
		}
	}
	d := budget.DefaultPrices()
	for name, cfg := range map[string]budget.Config{
		"prices and weights": {Prices: &d, Weights: budget.WeightTable{"*": {Input: 1}}},
		"prices and cost":    {Prices: &d, Cost: func(string, llmusage.Usage) int64 { return 1 }},
		"tenant claim alone": {TenantClaim: "org"},
		"tenant alone":       {Tenant: mustLocal(t, 10)},
	} {
		cfg.Budget = mustLocal(t, 10)
		if _, err := budget.NewHandler(cfg); !errors.Is(err, budget.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	h, _ := budget.NewHandler(budget.Config{Budget: mustLocal(t, 10)})
	if err := h.SetPrices(d); !errors.Is(err, budget.ErrNotPriced) {
		t.Errorf("SetPrices on a token budget: %v", err)
	}
	h, _ = budget.NewHandler(budget.Config{Budget: mustLocal(t, 10), Prices: &d})
	eur := d
	eur.Currency = "EUR"
	if err := h.SetPrices(eur); !errors.Is(err, budget.ErrInvalidConfig) {
		t.Errorf("SetPrices in another currency: %v", err)
	}
}

func mustLocal(t *testing.T, limit int64) *budget.Local {
	t.Helper()
	b, err := budget.NewLocal(budget.LocalConfig{Limit: limit, Window: budget.PerDay})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonAnswer(body string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func sseAnswer(events ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			io.WriteString(w, e)
			http.NewResponseController(w).Flush()
		}
	}
}

// A mixed day of calls, answered as the OpenAI and Anthropic APIs answer
// their SDKs (chat, responses, messages; streamed and not; cached input,
// cache writes, reasoning tokens), priced from DefaultPrices to the
// micro-dollar; an unknown model pays the fallback price and says so, and
// a refused call is free on every retry.
func TestMixedDayPricedExactly(t *testing.T) {
	prices := budget.DefaultPrices()
	s := newStack(t, budget.Config{Budget: mustLocal(t, 1_000_000), Prices: &prices})
	tok := s.token(0, "alice", nil)
	calls := []struct {
		name    string
		path    string
		answer  func(w http.ResponseWriter, r *http.Request)
		cost    int64 // µUSD, computed by hand from the list prices
		model   string
		unknown bool
	}{
		// 176 × 2.50 + 1024 × 1.25 + 300 × 10 = 4720 µ$
		{"chat, cached input", "/v1/chat/completions",
			jsonAnswer(`{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],` +
				`"usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}}`),
			4720, "gpt-4o*", false},
		// 57 × 0.15 + 13 × 0.60 = 16.35 µ$, rounded half up to 16
		{"chat stream with include_usage", "/v1/chat/completions",
			sseAnswer(`data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}`+"\n\n",
				`data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":57,"completion_tokens":13,"total_tokens":70}}`+"\n\n",
				"data: [DONE]\n\n"),
			16, "gpt-4o-mini*", false},
		// 500 × 1.10 + 464 × 4.40 + 1536 reasoning × 4.40 = 9350 µ$
		{"responses with reasoning", "/v1/responses",
			jsonAnswer(`{"id":"resp_1","object":"response","model":"o4-mini-2025-04-16","status":"completed","output":[],` +
				`"usage":{"input_tokens":500,"input_tokens_details":{"cached_tokens":0},"output_tokens":2000,"output_tokens_details":{"reasoning_tokens":1536},"total_tokens":2500}}`),
			9350, "o4-mini*", false},
		// 32 × 2 + 8 × 0.50 + 12 × 8 = 164 µ$
		{"responses stream", "/v1/responses",
			sseAnswer("event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_2\",\"status\":\"in_progress\",\"usage\":null}}\n\n",
				"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n",
				"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_2\",\"model\":\"gpt-4.1-2025-04-14\",\"status\":\"completed\","+
					"\"usage\":{\"input_tokens\":40,\"input_tokens_details\":{\"cached_tokens\":8},\"output_tokens\":12,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":52}}}\n\n"),
			164, "gpt-4.1*", false},
		// 20 × 3 + 5000 read × 0.30 + 1000 written × 3.75 + 400 × 15 = 11310 µ$
		{"messages with cache read and write", "/v1/messages",
			jsonAnswer(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn",` +
				`"usage":{"input_tokens":20,"cache_creation_input_tokens":1000,"cache_read_input_tokens":5000,"output_tokens":400,"service_tier":"standard"}}`),
			11310, "claude-sonnet-4*", false},
		// 60 × 1 + 40 × 5 = 260 µ$ (message_delta counts are cumulative)
		{"messages stream", "/v1/messages",
			sseAnswer("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"model\":\"claude-haiku-4-5-20251001\",\"usage\":{\"input_tokens\":60,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n",
				"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
				"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":40}}\n\n",
				"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
			260, "claude-haiku-4-5*", false},
		// 5 × 0.10 = 0.5 µ$: half up is 1
		{"half a micro-dollar", "/v1/chat/completions",
			jsonAnswer(`{"model":"gpt-4.1-nano","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}`),
			1, "gpt-4.1-nano*", false},
		// The fallback price (Claude Opus 4): 100 × 15 + 10 × 75 = 2250 µ$
		{"unknown model", "/v1/chat/completions",
			jsonAnswer(`{"model":"mistral-large-2411","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":10,"total_tokens":110}}`),
			2250, "", true},
		// Refused by the provider: free, on each of the SDK's retries.
		{"529 overloaded", "/v1/messages", overloaded, 0, "", false},
		{"529 retried", "/v1/messages", overloaded, 0, "", false},
		{"429 rate limited", "/v1/chat/completions", overloaded429, 0, "", false},
	}
	var total int64
	for _, c := range calls {
		s.upstream.handle = c.answer
		resp := s.do(context.Background(), tok, c.path, `{"model":"whatever-the-request-says"}`)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		e := s.waitCharge() // every call reaches the upstream
		if e.Cost != c.cost || e.Fallback != "" || e.UnknownModel != c.unknown || (c.cost > 0 && e.Model != c.model) {
			t.Errorf("%s: charged %d µ$ (model %q, unknown %v, fallback %q), want %d µ$ (%q, %v)",
				c.name, e.Cost, e.Model, e.UnknownModel, e.Fallback, c.cost, c.model, c.unknown)
		}
		total += e.Cost
	}
	if total != 28071 {
		t.Errorf("the day cost %d µ$, want 28071", total)
	}
	d, _ := s.cfgBudget.Check(context.Background(), "https://idp0.example#alice")
	if d.Remaining != 1_000_000-28071 {
		t.Errorf("budget left %d µ$, want %d", d.Remaining, 1_000_000-28071)
	}
}

func overloaded(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(529)
	io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
}

func overloaded429(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
}

// A usage that cannot be read is charged the fallback estimate as output
// tokens at the model's price (the request's, when the answer names none).
func TestPricedFallbackEstimate(t *testing.T) {
	prices := budget.DefaultPrices()
	s := newStack(t, budget.Config{Budget: mustLocal(t, 1_000_000), Prices: &prices,
		Fallback: budget.Fallback{Estimate: 100, UseMaxTokens: true}})
	s.upstream.handle = jsonAnswer(`{"choices":[]}`)
	tok := s.token(0, "alice", nil)
	// 100 × 10 $/M (gpt-4o's output)
	if _, _, e := s.call(tok, "/v1/chat/completions", `{"model":"gpt-4o"}`); e.Cost != 1000 || e.Fallback != "no_usage" || e.Model != "gpt-4o*" {
		t.Errorf("estimate: %+v", e)
	}
	// max_tokens 2000 × 10 $/M
	if _, _, e := s.call(tok, "/v1/chat/completions", `{"model":"gpt-4o","max_tokens":2000}`); e.Cost != 20000 {
		t.Errorf("max_tokens: %+v", e)
	}
	// An unknown model's estimate is at the fallback price: 100 × 75 $/M.
	if _, _, e := s.call(tok, "/v1/chat/completions", `{"model":"new-model"}`); e.Cost != 7500 || !e.UnknownModel {
		t.Errorf("unknown model estimate: %+v", e)
	}
}

// A reload that swaps the table while a stream is in flight does not
// change its charge: the request is priced with the table it started with;
// the next request pays the new price.
func TestPriceSwapNeverChangesAChargeInFlight(t *testing.T) {
	prices := budget.DefaultPrices()
	s := newStack(t, budget.Config{Budget: mustLocal(t, 1_000_000), Prices: &prices})
	release := make(chan struct{})
	events := []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":60,\"output_tokens\":1}}}\n\n",
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":40}}\n\n",
	}
	s.upstream.handle = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, events[0])
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, events[1])
	}
	tok := s.token(0, "alice", nil)
	resp := s.do(context.Background(), tok, "/v1/messages", `{"stream":true}`)
	br := bufio.NewReader(resp.Body)
	for got := ""; !strings.HasSuffix(got, "\n\n"); {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got += line
	}
	dearer := prices.Merge(map[string]budget.Price{"claude-haiku-4-5*": {Input: 10_000_000, Output: 50_000_000}}, budget.Price{})
	h := s.handler
	if err := h.SetPrices(dearer); err != nil {
		t.Fatal(err)
	}
	close(release)
	io.Copy(io.Discard, br)
	resp.Body.Close()
	if e := s.waitCharge(); e.Cost != 260 { // 60 × 1 + 40 × 5, the old price
		t.Fatalf("in-flight charge %d µ$, want 260 at the price it started with", e.Cost)
	}
	s.upstream.handle = sseAnswer(events...)
	if _, _, e := s.call(tok, "/v1/messages", `{"stream":true}`); e.Cost != 2600 {
		t.Fatalf("next charge %d µ$, want 2600 at the new price", e.Cost)
	}
	if p, ok := h.Prices(); !ok || p.Models["claude-haiku-4-5*"].Input != 10_000_000 {
		t.Fatalf("Prices() = %+v", p.Models["claude-haiku-4-5*"])
	}
}
