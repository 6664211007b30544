package tracing_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"
	"github.com/jwtgate/jwtgate/tracing"
)

// stack is a traced gateway in miniature: server span → Verifier (with a
// rate limit) → ReverseProxy with the traced Transport → upstream.
type stack struct {
	idp       *jwtgatetest.Issuer
	exp       *tracetest.InMemoryExporter
	srv       *httptest.Server
	mu        sync.Mutex
	upstreams []http.Header // the headers each upstream request carried
	release   chan struct{} // closed: /stream sends its events after the first
}

func newStack(t *testing.T, trust func(*http.Request) bool, sample ...func(*http.Request) bool) *stack {
	t.Helper()
	s := &stack{exp: tracetest.NewInMemoryExporter(), release: make(chan struct{})}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(s.exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg := tracing.Config{TracerProvider: tp, TrustIncoming: trust}
	if len(sample) > 0 {
		cfg.Sample = sample[0]
	}
	tr, err := tracing.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.idp = jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	v, err := middleware.New(middleware.Config{
		Keys: s.idp.Keys(t), Issuers: []string{s.idp.Issuer()}, Audiences: []string{"api"},
		RateLimit: middleware.RateLimit{Limiter: lim, OnDecision: tr.OnRateLimit},
		OnVerify:  tr.OnVerify,
	})
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.upstreams = append(s.upstreams, r.Header.Clone())
		s.mu.Unlock()
		if r.URL.Path == "/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				_, _ = io.WriteString(w, "data: "+string(rune('a'+i))+"\n\n")
				w.(http.Flusher).Flush()
				if i == 0 {
					<-s.release
				}
			}
			return
		}
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
	})
	u, _ := url.Parse(up.URL)
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: tr.Transport(up.Client().Transport),
	}
	s.srv = httptest.NewServer(tr.Handler(v.Handler(proxy)))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stack) get(t *testing.T, path, token string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// spans returns the finished spans by name (client spans' prefixed with
// "client "); each must occur once.
func spans(t *testing.T, exp *tracetest.InMemoryExporter) map[string]tracetest.SpanStub {
	t.Helper()
	out := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		name := s.Name
		if s.SpanKind == trace.SpanKindClient {
			name = "client " + name
		}
		if _, dup := out[name]; dup {
			t.Errorf("span %q twice", name)
		}
		out[name] = s
	}
	return out
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func childOf(t *testing.T, child, parent tracetest.SpanStub) {
	t.Helper()
	if child.Parent.SpanID() != parent.SpanContext.SpanID() || child.SpanContext.TraceID() != parent.SpanContext.TraceID() {
		t.Errorf("%s is not a child of %s", child.Name, parent.Name)
	}
}

func TestAcceptedRequest(t *testing.T) {
	s := newStack(t, nil)
	tok := s.idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	resp := s.get(t, "/x", tok, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}

	got := spans(t, s.exp)
	if len(got) != 4 {
		t.Fatalf("want 4 spans (server, verify, ratelimit, upstream), got %v", names(got))
	}
	server, verify, rl, client := got["GET"], got[tracing.SpanVerify], got[tracing.SpanRateLimit], clientSpan(t, s.exp)
	if server.SpanKind != trace.SpanKindServer || server.Parent.IsValid() {
		t.Errorf("server span: kind %v, parent %v", server.SpanKind, server.Parent)
	}
	childOf(t, verify, server)
	childOf(t, rl, server)
	childOf(t, client, server)

	va := attrs(verify)
	if va["jwtgate.cache_hit"].AsBool() || va["jwtgate.alg"].AsString() != "ES256" ||
		va["jwtgate.reason"].AsString() != "ok" || va["jwtgate.credential"].AsString() != "jwt" {
		t.Errorf("verify attributes: %v", verify.Attributes)
	}
	if verify.Status.Code == codes.Error {
		t.Errorf("verify status %v", verify.Status)
	}
	if a := attrs(rl); a["jwtgate.reason"].AsString() != "allowed" || a["ratelimit.limit"].AsInt64() != 1000 {
		t.Errorf("ratelimit attributes: %v", rl.Attributes)
	}
	if a := attrs(server); a["http.response.status_code"].AsInt64() != 200 || a["jwtgate.reason"].AsString() != "ok" {
		t.Errorf("server attributes: %v", server.Attributes)
	}
	if a := attrs(client); a["http.response.status_code"].AsInt64() != 200 || client.SpanKind != trace.SpanKindClient {
		t.Errorf("client span: %v %v", client.SpanKind, client.Attributes)
	}
	noToken(t, s.exp, tok)

	// The upstream got the client span's context.
	want := "00-" + client.SpanContext.TraceID().String() + "-" + client.SpanContext.SpanID().String() + "-01"
	if tp := s.upstreams[0].Get("Traceparent"); tp != want {
		t.Errorf("upstream traceparent %q, want %q", tp, want)
	}

	// A second request hits the verified-token cache.
	s.exp.Reset()
	resp = s.get(t, "/x", tok, nil)
	resp.Body.Close()
	if a := attrs(spans(t, s.exp)[tracing.SpanVerify]); !a["jwtgate.cache_hit"].AsBool() {
		t.Errorf("second request: cache_hit %v", a["jwtgate.cache_hit"])
	}
}

func TestRefusedRequest(t *testing.T) {
	s := newStack(t, nil)
	bad := s.idp.Bad(t, jwtgatetest.Expired)
	resp := s.get(t, "/x", bad, nil)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := spans(t, s.exp)
	if len(got) != 2 {
		t.Fatalf("want server and verify spans only, got %v", names(got))
	}
	server, verify := got["GET"], got[tracing.SpanVerify]
	childOf(t, verify, server)
	va := attrs(verify)
	if va["jwtgate.reason"].AsString() != "expired" || verify.Status.Code != codes.Error || verify.Status.Description != "expired" {
		t.Errorf("verify: %v %v", verify.Status, verify.Attributes)
	}
	if a := attrs(server); a["http.response.status_code"].AsInt64() != 401 || a["jwtgate.reason"].AsString() != "expired" || server.Status.Code != codes.Error {
		t.Errorf("server: %v %v", server.Status, server.Attributes)
	}
	if len(s.upstreams) != 0 {
		t.Error("a refused request reached the upstream")
	}
	noToken(t, s.exp, bad)
}

func TestStreamedRequest(t *testing.T) {
	s := newStack(t, nil)
	tok := s.idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	resp := s.get(t, "/stream", tok, nil)
	br := bufio.NewReader(resp.Body)
	// The first event arrives while the stream is open: no span has ended
	// but the verification's and the rate limit's.
	line, err := br.ReadString('\n')
	if err != nil || line != "data: a\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	open := spans(t, s.exp)
	if len(open) != 2 || open[tracing.SpanVerify].Name == "" || open[tracing.SpanRateLimit].Name == "" {
		t.Errorf("while streaming, want only verify and ratelimit ended, got %v", names(open))
	}
	close(s.release)
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if !strings.Contains(string(rest), "data: c") {
		t.Fatalf("stream: %q", rest)
	}
	got := spans(t, s.exp)
	if len(got) != 4 {
		t.Fatalf("want 4 spans, got %v", names(got))
	}
	server, client := got["GET"], clientSpan(t, s.exp)
	childOf(t, client, server)
	if client.EndTime.After(server.EndTime) || server.EndTime.Before(got[tracing.SpanVerify].EndTime) {
		t.Errorf("span ends: server %v client %v", server.EndTime, client.EndTime)
	}
	if a := attrs(server); a["http.response.status_code"].AsInt64() != 200 {
		t.Errorf("server attributes %v", server.Attributes)
	}
}

// The server span honours the client's traceparent only when TrustIncoming
// says so; either way the upstream sees the gateway's context, not the
// client's.
func TestIncomingTraceparent(t *testing.T) {
	const incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, trust := range []bool{false, true} {
		s := newStack(t, func(*http.Request) bool { return trust })
		tok := s.idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
		resp := s.get(t, "/x", tok, map[string]string{"Traceparent": incoming})
		resp.Body.Close()
		server := spans(t, s.exp)["GET"]
		joined := server.SpanContext.TraceID().String() == "0af7651916cd43dd8448eb211c80319c"
		if joined != trust || server.Parent.IsValid() != trust {
			t.Errorf("trust=%v: joined the client's trace: %v", trust, joined)
		}
		if up := s.upstreams[0].Get("Traceparent"); up == incoming || !strings.Contains(up, server.SpanContext.TraceID().String()) {
			t.Errorf("trust=%v: upstream traceparent %q", trust, up)
		}
	}
}

func clientSpan(t *testing.T, exp *tracetest.InMemoryExporter) tracetest.SpanStub {
	t.Helper()
	for _, s := range exp.GetSpans() {
		if s.SpanKind == trace.SpanKindClient {
			return s
		}
	}
	t.Fatal("no client span")
	return tracetest.SpanStub{}
}

func names(m map[string]tracetest.SpanStub) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	return out
}

// noToken fails if the token appears in any span's name, attributes,
// status or events.
func noToken(t *testing.T, exp *tracetest.InMemoryExporter, tok string) {
	t.Helper()
	for _, s := range exp.GetSpans() {
		all := s.Name + s.Status.Description
		for _, kv := range s.Attributes {
			all += kv.Value.Emit()
		}
		for _, e := range s.Events {
			all += e.Name
			for _, kv := range e.Attributes {
				all += kv.Value.Emit()
			}
		}
		if strings.Contains(all, tok) || strings.Contains(all, tok[strings.LastIndex(tok, ".")+1:]) {
			t.Errorf("span %s records the token", s.Name)
		}
	}
}

// Config.Sample decides before any span starts: a request it declines is
// served untraced (no span anywhere, no traceparent upstream); one it
// admits is traced as usual. A trusted incoming parent skips it.
func TestSampleDecidesBeforeTheSpan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sample func(*http.Request) bool
		spans  int
	}{
		{"declined", tracing.RatioSample(0), 0},
		{"admitted", tracing.RatioSample(1), 4},
	} {
		s := newStack(t, nil, tc.sample)
		tok := s.idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
		resp := s.get(t, "/x", tok, nil)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", tc.name, resp.StatusCode)
		}
		if n := len(s.exp.GetSpans()); n != tc.spans {
			t.Errorf("%s: %d spans, want %d", tc.name, n, tc.spans)
		}
		if tp := s.upstreams[0].Get("Traceparent"); (tp != "") != (tc.spans > 0) {
			t.Errorf("%s: upstream traceparent %q", tc.name, tp)
		}
	}
	// A trusted parent is the SDK's to decide, whatever Sample says.
	s := newStack(t, func(*http.Request) bool { return true }, tracing.RatioSample(0))
	resp := s.get(t, "/x", s.idp.Mint(t, jwtgatetest.Claims{Subject: "a", Audience: "api"}),
		map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
	resp.Body.Close()
	if len(s.exp.GetSpans()) == 0 {
		t.Error("a sampled trusted parent was declined by Sample")
	}
}
