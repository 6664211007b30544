package budget_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/llmusage"
	"github.com/jwtgate/jwtgate/middleware"
)

// Every test upstream reports 60 input and 40 output tokens: a request
// costs 100 at the default weights.
func upstreamBody(format llmusage.Format, stream bool) (contentType string, chunks []string) {
	switch {
	case format == llmusage.OpenAIChat && !stream:
		return "application/json", []string{`{"model":"gpt-4o-mini","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":60,"completion_tokens":40}}`}
	case format == llmusage.OpenAIChat:
		return "text/event-stream", []string{
			"data: {\"model\":\"gpt-4o-mini\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
			"data: {\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":60,\"completion_tokens\":40}}\n\n",
			"data: [DONE]\n\n"}
	case format == llmusage.OpenAIResponses && !stream:
		return "application/json", []string{`{"model":"gpt-4.1","output":[],"usage":{"input_tokens":60,"output_tokens":40}}`}
	case format == llmusage.OpenAIResponses:
		return "text/event-stream", []string{
			"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n",
			"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-4.1\",\"usage\":{\"input_tokens\":60,\"output_tokens\":40}}}\n\n"}
	case !stream:
		return "application/json", []string{`{"model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":60,"output_tokens":40}}`}
	default:
		return "text/event-stream", []string{
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":60,\"output_tokens\":1}}}\n\n",
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":20}}\n\n",
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":40}}\n\n",
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"}
	}
}

// fakeLLM answers every request in the format its path names; it counts
// calls and records the last request it got.
type fakeLLM struct {
	calls  atomic.Int64
	mu     sync.Mutex
	header http.Header
	body   string
	// handle, when set, answers instead.
	handle func(w http.ResponseWriter, r *http.Request)
}

func (f *fakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.header, f.body = r.Header.Clone(), string(b)
	f.mu.Unlock()
	if f.handle != nil {
		f.handle(w, r)
		return
	}
	format, _ := llmusage.FormatForPath(r.URL.Path)
	ct, chunks := upstreamBody(format, strings.Contains(string(b), `"stream":true`))
	w.Header().Set("Content-Type", ct)
	for _, c := range chunks {
		io.WriteString(w, c)
		http.NewResponseController(w).Flush()
	}
}

type stack struct {
	t        *testing.T
	url      string
	client   *http.Client
	idps     [2]*jwtgatetest.Issuer
	upstream *fakeLLM
	clock    *jwtgatetest.Clock
	budget   *budget.Local
	// cfgBudget is the Config's Budget (s.budget unless the test set one);
	// handler the Handler.
	cfgBudget budget.Budget
	handler   *budget.Handler

	mu     sync.Mutex
	events []budget.Event
	charge chan budget.Event
}

// newStack is a gateway as a program would build it: Verifier → budget
// Handler → httputil.ReverseProxy → upstream, over real sockets.
func newStack(t *testing.T, cfg budget.Config) *stack {
	s := &stack{t: t, upstream: &fakeLLM{}, charge: make(chan budget.Event, 100)}
	s.clock = jwtgatetest.NewClock(time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC))
	var err error
	s.budget, err = budget.NewLocal(budget.LocalConfig{Limit: 250, Window: budget.PerDay, Now: s.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Budget == nil {
		cfg.Budget = s.budget
	}
	cfg.Observer = func(e budget.Event) {
		s.mu.Lock()
		s.events = append(s.events, e)
		s.mu.Unlock()
		if e.Kind == budget.KindCharged || e.Kind == budget.KindError {
			s.charge <- e
		}
	}
	keys := map[string]jwkset.Storage{}
	var issuers []string
	for i := range s.idps {
		s.idps[i] = jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{
			URL: fmt.Sprintf("https://idp%d.example", i), Algorithms: []string{"ES256"}})
		keys[s.idps[i].Issuer()] = s.idps[i].Keys(t)
		issuers = append(issuers, s.idps[i].Issuer())
	}
	v, err := middleware.New(middleware.Config{KeysByIssuer: keys, Issuers: issuers, Audiences: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := budget.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.cfgBudget, s.handler = cfg.Budget, h
	up := httptest.NewServer(s.upstream)
	t.Cleanup(up.Close)
	target, _ := url.Parse(up.URL)
	proxyTransport := &http.Transport{}
	t.Cleanup(proxyTransport.CloseIdleConnections)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = proxyTransport
	gw := httptest.NewServer(v.Handler(h.Wrap(proxy)))
	t.Cleanup(gw.Close)
	s.url = gw.URL
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	s.client = &http.Client{Transport: tr}
	return s
}

func (s *stack) token(idp int, sub string, extra map[string]any) string {
	return s.idps[idp].Mint(s.t, jwtgatetest.Claims{Subject: sub, Audience: "api", Extra: extra})
}

func (s *stack) do(ctx context.Context, tok, path, body string) *http.Response {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

// call sends one request, reads the whole answer and waits for its
// charge (when it reached the upstream).
func (s *stack) call(tok, path, body string) (*http.Response, string, *budget.Event) {
	s.t.Helper()
	resp := s.do(context.Background(), tok, path, body)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		return resp, string(b), nil
	}
	e := s.waitCharge()
	return resp, string(b), &e
}

func (s *stack) waitCharge() budget.Event {
	s.t.Helper()
	select {
	case e := <-s.charge:
		return e
	case <-time.After(10 * time.Second): // a failsafe, not a wait for behaviour
		s.t.Fatal("no charge")
		return budget.Event{}
	}
}

var formats = []struct {
	path   string
	format llmusage.Format
	stream bool
}{
	{"/v1/chat/completions", llmusage.OpenAIChat, false},
	{"/v1/chat/completions", llmusage.OpenAIChat, true},
	{"/v1/responses", llmusage.OpenAIResponses, false},
	{"/v1/responses", llmusage.OpenAIResponses, true},
	{"/v1/messages", llmusage.AnthropicMessages, false},
	{"/v1/messages", llmusage.AnthropicMessages, true},
}

func requestBody(stream bool) string {
	if stream {
		return `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`
	}
	return `{"model":"m"}`
}

// A subject runs its 250-token daily budget down at 100 a request: the
// third request crosses the line and is charged in full, the fourth gets
// 429 with Retry-After at midnight UTC, and the upstream never sees it.
func TestBudgetRunsDownThen429BeforeUpstream(t *testing.T) {
	for _, f := range formats {
		t.Run(fmt.Sprintf("%v stream=%v", f.format, f.stream), func(t *testing.T) {
			s := newStack(t, budget.Config{})
			tok := s.token(0, "alice", nil)
			for i := range 3 {
				resp, body, e := s.call(tok, f.path, requestBody(f.stream))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
				}
				if e.Cost != 100 || e.Fallback != "" || e.Usage.Input != 60 || e.Usage.Output != 40 || e.Format != f.format {
					t.Fatalf("request %d charged %+v", i+1, e)
				}
				want, _ := upstreamBody(f.format, f.stream)
				if got := resp.Header.Get("Content-Type"); got != want {
					t.Fatalf("Content-Type %q", got)
				}
			}
			d, _ := s.budget.Check(ctx, "https://idp0.example#alice")
			if d.Allowed {
				t.Fatalf("budget after 300 of 250: %+v", d)
			}
			resp, body, _ := s.call(tok, f.path, requestBody(f.stream))
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("fourth request: %d %s", resp.StatusCode, body)
			}
			if got := s.upstream.calls.Load(); got != 3 {
				t.Fatalf("upstream called %d times, want 3", got)
			}
			for h, want := range map[string]string{
				"Retry-After": "7200", "RateLimit-Limit": "250", "RateLimit-Remaining": "0", "RateLimit-Reset": "7200",
				"Content-Type": "application/json",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if !strings.Contains(body, `"error":"budget_exhausted"`) || !strings.Contains(body, "token budget exhausted") {
				t.Errorf("body %s", body)
			}
			s.clock.Advance(2 * time.Hour)
			if resp, _, _ := s.call(tok, f.path, requestBody(f.stream)); resp.StatusCode != http.StatusOK {
				t.Fatalf("next day: %d", resp.StatusCode)
			}
		})
	}
}

func TestSameSubjectTwoIssuersTwoBudgets(t *testing.T) {
	s := newStack(t, budget.Config{})
	a, b := s.token(0, "alice", nil), s.token(1, "alice", nil)
	for range 3 {
		s.call(a, "/v1/messages", `{}`)
	}
	if resp, _, _ := s.call(a, "/v1/messages", `{}`); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("issuer 0's alice: %d", resp.StatusCode)
	}
	resp, _, e := s.call(b, "/v1/messages", `{}`)
	if resp.StatusCode != http.StatusOK || e.Key != "https://idp1.example#alice" || e.Decision.Remaining != 150 {
		t.Fatalf("issuer 1's alice: %d %+v", resp.StatusCode, e)
	}
}

// The first event reaches the client while the upstream is still blocked
// before sending the rest: the tap holds nothing back, and Flush passes
// through the Handler's writer.
func TestFirstStreamedEventBeforeUpstreamFinishes(t *testing.T) {
	for _, f := range formats {
		if !f.stream {
			continue
		}
		t.Run(f.format.String(), func(t *testing.T) {
			s := newStack(t, budget.Config{})
			release := make(chan struct{})
			s.upstream.handle = func(w http.ResponseWriter, r *http.Request) {
				ct, chunks := upstreamBody(f.format, true)
				w.Header().Set("Content-Type", ct)
				io.WriteString(w, chunks[0])
				http.NewResponseController(w).Flush()
				<-release
				for _, c := range chunks[1:] {
					io.WriteString(w, c)
				}
			}
			resp := s.do(context.Background(), s.token(0, "alice", nil), f.path, requestBody(true))
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			_, first := upstreamBody(f.format, true)
			got := ""
			for !strings.HasSuffix(got, "\n\n") {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("reading the first event: %v (got %q)", err, got)
				}
				got += line
			}
			if got != first[0] {
				t.Fatalf("first event %q", got)
			}
			select {
			case e := <-s.charge:
				t.Fatalf("charged before the stream ended: %+v", e)
			default:
			}
			close(release)
			io.Copy(io.Discard, br)
			if e := s.waitCharge(); e.Cost != 100 || e.Fallback != "" {
				t.Fatalf("charge %+v", e)
			}
		})
	}
}

func TestFallbacks(t *testing.T) {
	for _, c := range []struct {
		name     string
		cfg      budget.Config
		handle   func(w http.ResponseWriter, r *http.Request)
		body     string
		reason   string
		cost     int64
		wantCode int
	}{
		{"upstream 5xx", budget.Config{}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(502)
			io.WriteString(w, `{"error":"bad gateway"}`)
		}, `{}`, "", 0, 502}, // a refusal the provider does not bill: ErrorCost, not the fallback
		{"body without usage", budget.Config{Fallback: budget.Fallback{Estimate: 77}}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"choices":[]}`)
		}, `{}`, "no_usage", 77, 200},
		{"max_tokens is a floor", budget.Config{Fallback: budget.Fallback{Estimate: 77, UseMaxTokens: true}}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"choices":[]}`)
		}, `{"max_tokens":5000}`, "no_usage", 5000, 200},
		{"max_tokens below the estimate", budget.Config{Fallback: budget.Fallback{Estimate: 77, UseMaxTokens: true}}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{}`)
		}, `{"max_tokens":1}`, "no_usage", 77, 200},
		{"encoded anyway", budget.Config{}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			io.WriteString(w, "\x1f\x8b")
		}, `{}`, "encoded", budget.DefaultFallbackCost, 200},
		{"negative usage", budget.Config{}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"usage":{"prompt_tokens":-100,"completion_tokens":5}}`)
		}, `{}`, "invalid_usage", budget.DefaultFallbackCost, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStack(t, c.cfg)
			s.budget, _ = budget.NewLocal(budget.LocalConfig{Limit: 1e6, Window: budget.PerDay})
			s.upstream.handle = c.handle
			resp, _, e := s.call(s.token(0, "alice", nil), "/v1/chat/completions", c.body)
			if resp.StatusCode != c.wantCode || e.Fallback != c.reason || e.Cost != c.cost {
				t.Fatalf("%d, charged %+v; want %s, %d", resp.StatusCode, e, c.reason, c.cost)
			}
			if got := s.upstream.header.Get("Accept-Encoding"); got != "identity" {
				t.Fatalf("upstream got Accept-Encoding %q", got)
			}
		})
	}
}

// A client that hangs up mid-stream is charged the fallback (plus what
// was reported before it left), not nothing.
func TestClientGoneIsCharged(t *testing.T) {
	s := newStack(t, budget.Config{Fallback: budget.Fallback{Estimate: 500}})
	s.upstream.handle = func(w http.ResponseWriter, r *http.Request) {
		_, chunks := upstreamBody(llmusage.AnthropicMessages, true)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, chunks[0]) // message_start: 60 input tokens
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // until the proxy gives up on us
	}
	cctx, cancel := context.WithCancel(context.Background())
	// No body: the server notices a closed connection only once the
	// request body has been read to its end, which a proxy forwarding a
	// Content-Length body need not do.
	resp := s.do(cctx, s.token(0, "alice", nil), "/v1/messages", "")
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	e := s.waitCharge()
	if e.Fallback != "client_gone" || e.Cost != 500 || e.Usage.Input != 60 {
		t.Fatalf("charged %+v", e)
	}
}

// Usage a client claims, in its body or a header, is not what is charged.
func TestClientUsageNotTrusted(t *testing.T) {
	s := newStack(t, budget.Config{Fallback: budget.Fallback{UseMaxTokens: true}})
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","usage":{"prompt_tokens":0,"completion_tokens":0}}`))
	req.Header.Set("Authorization", "Bearer "+s.token(0, "alice", nil))
	req.Header.Set("X-Usage", `{"prompt_tokens":0}`)
	req.Header.Set("OpenAI-Usage", "0")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if e := s.waitCharge(); e.Cost != 100 || e.Fallback != "" {
		t.Fatalf("charged %+v", e)
	}
}

func TestIncludeUsageAdded(t *testing.T) {
	s := newStack(t, budget.Config{IncludeUsage: true})
	resp, body, e := s.call(s.token(0, "alice", nil), "/v1/chat/completions", `{"model":"m","stream":true}`)
	if resp.StatusCode != 200 || e.Cost != 100 || e.Fallback != "" {
		t.Fatalf("%d %s, charged %+v", resp.StatusCode, body, e)
	}
	var got map[string]any
	json.Unmarshal([]byte(s.upstream.body), &got)
	if opts, _ := got["stream_options"].(map[string]any); opts["include_usage"] != true {
		t.Fatalf("upstream got %s", s.upstream.body)
	}
	// Without the option the same stream has no usage: the fallback.
	s2 := newStack(t, budget.Config{Fallback: budget.Fallback{Estimate: 42}})
	s2.upstream.handle = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[{\"delta\":{}}]}\n\ndata: [DONE]\n\n")
	}
	if _, _, e := s2.call(s2.token(0, "alice", nil), "/v1/chat/completions", `{"model":"m","stream":true}`); e.Cost != 42 || e.Fallback != "no_usage" {
		t.Fatalf("charged %+v", e)
	}
}

func TestShadowModeReportsWithoutRefusing(t *testing.T) {
	s := newStack(t, budget.Config{Shadow: true})
	tok := s.token(0, "alice", nil)
	for i := range 5 {
		if resp, _, _ := s.call(tok, "/v1/messages", `{}`); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	refused := 0
	for _, e := range s.events {
		if e.Kind == budget.KindRefused {
			refused++
			if !e.Shadow || e.Decision.Allowed {
				t.Errorf("event %+v", e)
			}
		}
	}
	if refused != 2 || s.upstream.calls.Load() != 5 {
		t.Fatalf("%d refusals reported, %d upstream calls", refused, s.upstream.calls.Load())
	}
}

func TestTiers(t *testing.T) {
	pro, _ := budget.NewLocal(budget.LocalConfig{Limit: 1e6, Window: budget.PerMonth})
	s := newStack(t, budget.Config{TierClaim: "plan", Tiers: map[string]budget.Budget{"pro": pro}})
	tok := s.token(0, "alice", map[string]any{"plan": "pro"})
	for range 4 {
		resp, _, e := s.call(tok, "/v1/messages", `{}`)
		if resp.StatusCode != 200 || e.Tier != "pro" {
			t.Fatalf("%d %+v", resp.StatusCode, e)
		}
	}
	// An unknown tier is the default budget, labelled "".
	resp, _, e := s.call(s.token(0, "bob", map[string]any{"plan": "gold-" + strings.Repeat("x", 50)}), "/v1/messages", `{}`)
	if resp.StatusCode != 200 || e.Tier != "" {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}
}

func TestHandlerConfigErrors(t *testing.T) {
	b, _ := budget.NewLocal(budget.LocalConfig{Limit: 1, Window: budget.PerDay})
	for _, cfg := range []budget.Config{
		{},
		{Tiers: map[string]budget.Budget{"x": b}},
		{TierClaim: "plan", Tiers: map[string]budget.Budget{"x": nil}},
		{Budget: b, Fallback: budget.Fallback{Estimate: -1}},
		{Budget: b, MaxBody: -1},
		{Budget: b, Format: 99},
		{Budget: b, Weights: budget.WeightTable{"m": {Input: -1}}},
	} {
		if _, err := budget.NewHandler(cfg); err == nil {
			t.Errorf("NewHandler(%+v) accepted", cfg)
		}
	}
}

// Without claims in the context (no Verifier in front) nothing is
// budgeted, and that is reported.
func TestNoClaimsNotBudgeted(t *testing.T) {
	b, _ := budget.NewLocal(budget.LocalConfig{Limit: 1, Window: budget.PerDay})
	var kinds []budget.Kind
	h, _ := budget.NewHandler(budget.Config{Budget: b, Observer: func(e budget.Event) { kinds = append(kinds, e.Kind) }})
	rec := httptest.NewRecorder()
	h.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })).
		ServeHTTP(rec, httptest.NewRequest("POST", "/v1/messages", nil))
	if rec.Code != 204 || len(kinds) != 1 || kinds[0] != budget.KindNoKey {
		t.Fatalf("%d %v", rec.Code, kinds)
	}
}

// StripAddedUsage: the usage chunk the gateway asked for is charged but
// not passed on; one the client asked for itself is left alone.
func TestStripAddedUsage(t *testing.T) {
	s := newStack(t, budget.Config{IncludeUsage: true, StripAddedUsage: true})
	resp, body, e := s.call(s.token(0, "alice", nil), "/v1/chat/completions", `{"model":"m","stream":true}`)
	if resp.StatusCode != 200 || e.Cost != 100 || e.Fallback != "" {
		t.Fatalf("%d %s, charged %+v", resp.StatusCode, body, e)
	}
	if strings.Contains(body, `"choices":[]`) || !strings.Contains(body, "[DONE]") {
		t.Fatalf("client got %q", body)
	}
	_, body, e = s.call(s.token(0, "bob", nil), "/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`)
	if !strings.Contains(body, `"choices":[]`) || e.Cost != 100 {
		t.Fatalf("a client that asked for usage lost it: %q, charged %+v", body, e)
	}
	s2 := newStack(t, budget.Config{IncludeUsage: true})
	if _, body, _ := s2.call(s2.token(0, "alice", nil), "/v1/chat/completions", `{"model":"m","stream":true}`); !strings.Contains(body, `"choices":[]`) {
		t.Fatalf("without StripAddedUsage the chunk is passed on: %q", body)
	}
}

// strictChat answers Chat Completions as the strict-name upstreams (vLLM,
// LiteLLM) do: it reads members by their exact names, so it streams usage
// only for "stream_options":{"include_usage":true} spelt exactly so.
func strictChat(w http.ResponseWriter, r *http.Request, body string) {
	var req map[string]json.RawMessage
	var opts map[string]json.RawMessage
	json.Unmarshal([]byte(body), &req)
	json.Unmarshal(req["stream_options"], &opts)
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n")
	if string(opts["include_usage"]) == "true" {
		io.WriteString(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":60,\"completion_tokens\":40}}\n\n")
	}
	io.WriteString(w, "data: [DONE]\n\n")
}

// A body whose stream_options or include_usage is spelt in another letter
// case, or given twice, is read one way by Go's encoding/json and another
// by a strict-name upstream: it is refused with 400 before the upstream,
// never streamed without usage and charged the fallback. With the exact
// names, the usage is asked for and charged.
func TestAmbiguousRequestRefused(t *testing.T) {
	s := newStack(t, budget.Config{IncludeUsage: true, Fallback: budget.Fallback{Estimate: 7}})
	s.upstream.handle = func(w http.ResponseWriter, r *http.Request) {
		s.upstream.mu.Lock()
		body := s.upstream.body
		s.upstream.mu.Unlock()
		strictChat(w, r, body)
	}
	tok := s.token(0, "alice", nil)
	for _, body := range []string{
		`{"model":"m","stream":true,"Stream_Options":{"include_usage":true}}`,
		`{"model":"m","stream":true,"stream_options":{"Include_Usage":true}}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"stream_options":null}`,
		`{"model":"m","stream":"true"}`,
	} {
		resp := s.do(context.Background(), tok, "/v1/chat/completions", body)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(got), `"error":"invalid_request"`) ||
			!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_request"`) {
			t.Errorf("%s: %d %v %s", body, resp.StatusCode, resp.Header, got)
		}
	}
	if n := s.upstream.calls.Load(); n != 0 {
		t.Fatalf("the upstream got %d ambiguous requests", n)
	}
	s.mu.Lock()
	invalid := 0
	for _, e := range s.events {
		if e.Kind == budget.KindInvalidRequest && errors.Is(e.Err, llmusage.ErrAmbiguousRequest) {
			invalid++
		}
	}
	s.mu.Unlock()
	if invalid != 4 {
		t.Errorf("%d invalid_request events, want 4", invalid)
	}
	for _, body := range []string{
		`{"model":"m","stream":true}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false}}`,
		`{"model":"m","stream":true,"stream\u005foptions":{}}`,
	} {
		resp, got, e := s.call(tok, "/v1/chat/completions", body)
		if resp.StatusCode != 200 || e.Cost != 100 || e.Fallback != "" {
			t.Errorf("%s: %d %s, charged %+v", body, resp.StatusCode, got, e)
		}
	}
}

// In shadow mode an ambiguous body is reported and passed on untouched,
// as shadow mode never refuses.
func TestAmbiguousRequestShadow(t *testing.T) {
	s := newStack(t, budget.Config{IncludeUsage: true, Shadow: true, Fallback: budget.Fallback{Estimate: 7}})
	body := `{"model":"m","stream":true,"Stream_Options":{"include_usage":true}}`
	resp, _, e := s.call(s.token(0, "alice", nil), "/v1/chat/completions", body)
	if resp.StatusCode != 200 || s.upstream.body != body {
		t.Fatalf("%d; upstream got %s", resp.StatusCode, s.upstream.body)
	}
	if e.Cost != 100 {
		t.Fatalf("charged %+v", e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.events[0]; e.Kind != budget.KindInvalidRequest || !e.Shadow {
		t.Fatalf("first event %+v", e)
	}
}

// An upstream that sends its stream with a Content-Length: stripping the
// usage chunk makes the body shorter than that, so the length must not
// reach the client (the response goes chunked); nor may anything else
// that describes the upstream's bytes. The client reads the whole stream
// without an error. An encoded stream is not stripped (nor tapped).
func TestStripAddedUsageWithContentLength(t *testing.T) {
	_, chunks := upstreamBody(llmusage.OpenAIChat, true)
	stream := strings.Join(chunks, "")
	s := newStack(t, budget.Config{IncludeUsage: true, StripAddedUsage: true})
	s.upstream.handle = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(stream)))
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-MD5", "Q2hlY2sgSW50ZWdyaXR5IQ==")
		w.Header().Set("Digest", "sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=")
		w.Header().Set("Content-Digest", "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:")
		w.Header().Set("Repr-Digest", "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:")
		for _, c := range chunks {
			io.WriteString(w, c)
			http.NewResponseController(w).Flush()
		}
	}
	resp := s.do(context.Background(), s.token(0, "alice", nil), "/v1/chat/completions", `{"model":"m","stream":true}`)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the stream: %v (got %q)", err, body)
	}
	if want := chunks[0] + chunks[2]; string(body) != want {
		t.Fatalf("client got %q, want %q", body, want)
	}
	if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
		t.Errorf("Content-Length %d %q reached the client", resp.ContentLength, resp.Header.Get("Content-Length"))
	}
	for _, h := range []string{"ETag", "Content-MD5", "Digest", "Content-Digest", "Repr-Digest"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("%s: %s reached the client with a body it does not describe", h, v)
		}
	}
	if e := s.waitCharge(); e.Cost != 100 || e.Fallback != "" {
		t.Fatalf("charged %+v", e)
	}
	// A digest sent as a trailer is dropped too; other trailers pass.
	s.upstream.handle = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Trailer", "content-md5, X-Served-By")
		io.WriteString(w, stream)
		w.Header().Set("Content-MD5", "Q2hlY2sgSW50ZWdyaXR5IQ==")
		w.Header().Set("X-Served-By", "upstream")
	}
	resp = s.do(context.Background(), s.token(0, "alice", nil), "/v1/chat/completions", `{"model":"m","stream":true}`)
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != chunks[0]+chunks[2] || resp.Trailer.Get("X-Served-By") != "upstream" || resp.Trailer.Get("Content-MD5") != "" {
		t.Errorf("trailers: %q %v, %v", body, err, resp.Trailer)
	}
	s.waitCharge()
	// A client that asked for usage gets the upstream's bytes, length
	// and all.
	resp = s.do(context.Background(), s.token(0, "bob", nil), "/v1/chat/completions", requestBody(true))
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != stream || resp.Trailer.Get("Content-MD5") == "" {
		t.Fatalf("not stripped: %q %v, trailers %v", body, err, resp.Trailer)
	}
	s.waitCharge()
	// Neither is an encoded stream, which the tap cannot read.
	s.upstream.handle = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Encoding", "br")
		w.Header().Set("Content-Length", strconv.Itoa(len(stream)))
		io.WriteString(w, stream)
	}
	resp = s.do(context.Background(), s.token(0, "carol", nil), "/v1/chat/completions", `{"model":"m","stream":true}`)
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != stream || resp.ContentLength != int64(len(stream)) {
		t.Fatalf("encoded: %d %q %v", resp.ContentLength, body, err)
	}
	if e := s.waitCharge(); e.Fallback != "encoded" {
		t.Fatalf("encoded: charged %+v", e)
	}
}

// The subject's key (and the rest of what a request spends from) is worked
// out once per request, by the check, and charged by the meter behind it:
// behind a Verifier whose route checks the budget (Route.Budget, Meter),
// carried in the request's context, and within Wrap.
func TestKeyWorkedOutOncePerRequest(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{URL: "https://idp.example", Algorithms: []string{"ES256"}})
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := budget.NewLocal(budget.LocalConfig{Limit: 1000, Window: budget.PerDay})
	if err != nil {
		t.Fatal(err)
	}
	route, err := budget.NewLocal(budget.LocalConfig{Limit: 10000, Window: budget.PerDay})
	if err != nil {
		t.Fatal(err)
	}
	var keys atomic.Int64
	charged := make(chan budget.Event, 10)
	h, err := budget.NewHandler(budget.Config{
		Budget: b, Route: route,
		Key: func(c *middleware.Claims, r *http.Request) string { keys.Add(1); return budget.DefaultKey(c, r) },
		Observer: func(e budget.Event) {
			if e.Kind == budget.KindCharged {
				charged <- e
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	upstream := &fakeLLM{}
	for name, handler := range map[string]http.Handler{
		"verifier and Meter": v.With(middleware.Route{Budget: h}).Handler(h.Meter(upstream)),
		"Wrap":               v.Handler(h.Wrap(upstream)),
	} {
		for i := range 2 {
			keys.Store(0)
			r := httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(`{"model":"m"}`))
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("%s, request %d: %d %s", name, i, w.Code, w.Body)
			}
			if e := <-charged; e.Key != "https://idp.example#alice" || e.Cost != 100 {
				t.Fatalf("%s, request %d: charged %+v", name, i, e)
			}
			if n := keys.Load(); n != 1 {
				t.Errorf("%s, request %d: the key was worked out %d times, want 1", name, i, n)
			}
		}
	}
}
