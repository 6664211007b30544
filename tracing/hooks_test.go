package tracing_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/tracing"
)

func newTracer(t *testing.T, s sdktrace.Sampler) (*tracing.Tracer, *tracetest.InMemoryExporter, trace.Tracer) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(s))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr, err := tracing.New(tracing.Config{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	return tr, exp, tp.Tracer("test")
}

func TestBudgetSpans(t *testing.T) {
	tr, exp, tt := newTracer(t, sdktrace.AlwaysSample())
	ctx, req := tt.Start(context.Background(), "request")
	tr.OnBudget(budget.Event{Context: ctx, Kind: budget.KindRefused, Key: "alice", Tier: "free"})
	tr.OnBudget(budget.Event{Context: ctx, Kind: budget.KindCharged, Key: "alice", Cost: 42, Model: "gpt", Fallback: "no_usage"})
	tr.OnBudget(budget.Event{Context: context.Background(), Kind: budget.KindCharged, Cost: 1}) // no request span: nothing
	req.End()
	got := spans(t, exp)
	if len(got) != 3 {
		t.Fatalf("spans %v", names(got))
	}
	check, charge := got["jwtgate.budget.check"], got["jwtgate.budget.charge"]
	childOf(t, check, got["request"])
	childOf(t, charge, got["request"])
	if a := attrs(check); a["jwtgate.budget.kind"].AsString() != "refused" || a["jwtgate.tier"].AsString() != "free" || check.Status.Code != codes.Error {
		t.Errorf("check: %v %v", check.Status, check.Attributes)
	}
	if a := attrs(charge); a["jwtgate.budget.cost"].AsInt64() != 42 || a["jwtgate.budget.model"].AsString() != "gpt" ||
		a["jwtgate.budget.fallback"].AsString() != "no_usage" || charge.Status.Code == codes.Error {
		t.Errorf("charge: %v %v", charge.Status, charge.Attributes)
	}
	for _, s := range exp.GetSpans() {
		for _, kv := range s.Attributes {
			if kv.Value.Emit() == "alice" {
				t.Errorf("%s records the budget key", s.Name)
			}
		}
	}
}

func TestCacheSpans(t *testing.T) {
	tr, exp, _ := newTracer(t, sdktrace.AlwaysSample())
	var fetched, refreshed int
	o := tr.CacheObserver(cache.Observer{
		OnFetch:   func(cache.FetchEvent) { fetched++ },
		OnRefresh: func(cache.RefreshEvent) { refreshed++ },
	})
	o.OnFetch(cache.FetchEvent{Provider: "idp", Kind: cache.FetchJWKS, URL: "https://idp.test/jwks", Status: 200, Bytes: 512, Duration: time.Second})
	o.OnRefresh(cache.RefreshEvent{Provider: "idp", Reason: cache.ReasonUnknownKID, Outcome: cache.OutcomeFailed, Err: errors.New("cache: boom"), Keys: 2})
	if fetched != 1 || refreshed != 1 {
		t.Errorf("next's hooks: fetch %d, refresh %d", fetched, refreshed)
	}
	got := spans(t, exp)
	fetch, refresh := got["client "+tracing.SpanFetch], got[tracing.SpanRefresh]
	if fetch.Parent.IsValid() || refresh.Parent.IsValid() {
		t.Error("cache spans have a parent")
	}
	if d := fetch.EndTime.Sub(fetch.StartTime); d != time.Second {
		t.Errorf("fetch span lasts %v, want the event's 1s", d)
	}
	if a := attrs(fetch); a["url.full"].AsString() != "https://idp.test/jwks" || a["http.response.status_code"].AsInt64() != 200 {
		t.Errorf("fetch: %v", fetch.Attributes)
	}
	if a := attrs(refresh); a["jwtgate.refresh.reason"].AsString() != "unknown_kid" || a["jwtgate.refresh.outcome"].AsString() != "failed" ||
		refresh.Status.Code != codes.Error || refresh.Status.Description != "cache: boom" {
		t.Errorf("refresh: %v %v", refresh.Status, refresh.Attributes)
	}

	// A zero Observer gets hooks too.
	o = tr.CacheObserver(cache.Observer{})
	o.OnFetch(cache.FetchEvent{})
	o.OnRefresh(cache.RefreshEvent{})
}

// An unsampled request makes no client span (it would be a root) and the
// client's traceparent does not reach the upstream.
func TestUnsampledUpstreamCall(t *testing.T) {
	tr, exp, _ := newTracer(t, sdktrace.NeverSample())
	var got http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer up.Close()
	client := &http.Client{Transport: tr.Transport(up.Client().Transport)}
	h := tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, up.URL, nil)
		out.Header = r.Header.Clone() // as a proxy forwards them
		resp, err := client.Do(out)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if tp := got.Get("Traceparent"); tp != "" {
		t.Errorf("upstream got traceparent %q", tp)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans recorded", n)
	}
}

// The verify span names the credential kind that decided.
func TestVerifySpanNamesCredentialKind(t *testing.T) {
	tr, exp, tt := newTracer(t, sdktrace.AlwaysSample())
	for _, k := range []middleware.CredentialKind{middleware.CredentialJWT, middleware.CredentialIntrospection, middleware.CredentialAPIKey} {
		ctx, req := tt.Start(context.Background(), "request "+k.String())
		tr.OnVerify(middleware.VerifyEvent{Context: ctx, Reason: "ok", Kind: k})
		req.End()
	}
	var kinds []string
	for _, s := range exp.GetSpans() {
		if s.Name == tracing.SpanVerify {
			kinds = append(kinds, attrs(s)["jwtgate.credential"].AsString())
		}
	}
	if strings.Join(kinds, ",") != "jwt,introspection,api_key" {
		t.Errorf("credential attributes %v", kinds)
	}
}
