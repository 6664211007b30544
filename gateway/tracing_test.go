package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/tracing"
)

func startTracedGateway(t *testing.T) (*gw, *jwtgatetest.Issuer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr, err := tracing.New(tracing.Config{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	refreshed := make(chan struct{}, 1)
	tune := func(c *cache.Config) {
		// After the gateway's hooks, the tracer's among them.
		prev := c.Observer.OnRefresh
		c.Observer.OnRefresh = func(e cache.RefreshEvent) {
			prev(e)
			select {
			case refreshed <- struct{}{}:
			default:
			}
		}
	}
	g := startGatewayOpts(t, testConfig(p.Issuer(), up.URL), Options{Tracing: tr, Cache: tune})
	g.waitReady(t)
	<-refreshed
	return g, p, exp
}

// Options.Tracing: the route's request is a trace of server span,
// verification, rate limit and upstream call, whose traceparent the
// upstream receives; the key cache's start-up is a trace of its own; the
// probes are not traced.
func TestTracingThroughGateway(t *testing.T) {
	g, p, exp := startTracedGateway(t)
	var sawRefresh bool
	for _, s := range exp.GetSpans() {
		sawRefresh = sawRefresh || s.Name == tracing.SpanRefresh && !s.Parent.IsValid()
	}
	if !sawRefresh {
		t.Error("no root jwtgate.jwks.refresh span for the cache's start-up")
	}
	exp.Reset()

	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if resp, _ := g.get(t, path, ""); resp.StatusCode != 200 {
			t.Fatal(path, resp.Status)
		}
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("the gateway's own endpoints made %d spans", n)
	}
	checkAcceptedSpans(t, g, p, exp)
	exp.Reset()
	checkRefusedSpans(t, g, exp)
}

func checkAcceptedSpans(t *testing.T, g *gw, p *jwtgatetest.Issuer, exp *tracetest.InMemoryExporter) {
	t.Helper()
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api", Scopes: []string{"read"}})
	resp, body := g.get(t, "/limited/x", tok)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s", resp.Status, body)
	}
	var echo struct{ Headers http.Header }
	if err := json.Unmarshal([]byte(body), &echo); err != nil {
		t.Fatal(err)
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		name := s.Name
		if s.SpanKind == trace.SpanKindClient {
			name = "client"
		}
		byName[name] = s
	}
	server := byName["GET"]
	if server.SpanKind != trace.SpanKindServer {
		t.Fatalf("no server span: %v", exp.GetSpans())
	}
	for _, name := range []string{tracing.SpanVerify, tracing.SpanRateLimit, "client"} {
		s, ok := byName[name]
		if !ok || s.Parent.SpanID() != server.SpanContext.SpanID() {
			t.Errorf("%s: not a child of the server span", name)
		}
	}
	client := byName["client"]
	if got := echo.Headers.Get("Traceparent"); !strings.Contains(got, client.SpanContext.SpanID().String()) {
		t.Errorf("upstream traceparent %q, client span %s", got, client.SpanContext.SpanID())
	}
}

func checkRefusedSpans(t *testing.T, g *gw, exp *tracetest.InMemoryExporter) {
	t.Helper()
	if resp, _ := g.get(t, "/api/x", "not-a-token"); resp.StatusCode != 401 {
		t.Fatal(resp.Status)
	}
	for _, s := range exp.GetSpans() {
		if s.Name == tracing.SpanVerify && (s.Status.Code != codes.Error || s.Status.Description != "malformed") {
			t.Errorf("refused: verify status %v", s.Status)
		}
		if s.SpanKind == trace.SpanKindClient {
			t.Error("a refused request made an upstream call")
		}
	}
}

func TestTracingFromEnv(t *testing.T) {
	for _, c := range []struct {
		name string
		vars map[string]string
		on   bool
		err  string
	}{
		{"unset", nil, false, ""},
		{"disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false, ""},
		{"none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, false, ""},
		{"endpoint, http", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, true, ""},
		{"exporter otlp, grpc", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, ""},
		{"traces protocol wins", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "bogus", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, true, ""},
		{"zipkin", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "only otlp and none"},
		{"bad protocol", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, "want grpc or http/protobuf"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, shutdown, err := TracingFromEnv(context.Background(), gwtest.Env(c.vars))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tr != nil) != c.on {
				t.Fatalf("tracer %v, want on=%v", tr, c.on)
			}
			if shutdown != nil {
				// Nothing queued: no export is tried.
				if err := shutdown(context.Background()); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TracingFromEnv with OTEL_EXPORTER_OTLP_ENDPOINT set gives a tracer whose
// spans reach an OTLP/HTTP collector. (cli's TestRunExportsTracesOverOTLP:
// the program wires it so.)
func TestTracingFromEnvExportsOverOTLP(t *testing.T) {
	got := make(chan struct{}, 1)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			select {
			case got <- struct{}{}:
			default:
			}
		}
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "10")
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	tr, shutdown, err := TracingFromEnv(context.Background(), os.LookupEnv)
	if err != nil || tr == nil {
		t.Fatalf("TracingFromEnv: %v, %v", tr, err)
	}
	defer shutdown(context.Background())
	g := startGatewayOpts(t, Config{Listen: "127.0.0.1:0", Issuer: p.Issuer(), Audiences: []string{"api"},
		Routes: []Route{{Prefix: "/", Upstream: up.URL}}}, Options{Tracing: tr})
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	if resp, body := g.get(t, "/x", tok); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no spans reached the collector")
	}
}
