package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/tracing"
)

// A request whose token names a kid the cache has not seen waits for the
// refresh that looks for it; that refresh (and its fetch), a trace of its
// own, links to the request's span, and the request's span back to the
// refresh. The start-up refresh, which nobody waited for, has no links.
func TestUnknownKIDRefreshLinksToTheWaitingRequest(t *testing.T) {
	tr, exp, _ := newTracer(t, sdktrace.AlwaysSample())
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	keys, err := cache.New(context.Background(), cache.Config{
		URL: idp.JWKSURL(), HTTPClient: idp.Client(),
		// Never authoritative: any unknown kid is looked for.
		UnknownKIDInterval: time.Nanosecond,
		Observer:           tr.CacheObserver(cache.Observer{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keys.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := keys.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := middleware.New(middleware.Config{
		Keys: keys, Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}, OnVerify: tr.OnVerify,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tr.Handler(v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))))
	t.Cleanup(srv.Close)
	if err := idp.Rotate("ES256"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
	req.Header.Set("Authorization", "Bearer "+idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"}))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200 once the refresh found the new key", resp.StatusCode)
	}

	var server tracetest.SpanStub
	var refreshes, fetches []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		switch {
		case s.SpanKind == trace.SpanKindServer:
			server = s
		case s.Name == tracing.SpanRefresh:
			refreshes = append(refreshes, s)
		case s.Name == tracing.SpanFetch:
			fetches = append(fetches, s)
		}
	}
	if !server.SpanContext.IsValid() || len(refreshes) != 2 || len(fetches) != 2 {
		t.Fatalf("server span %v, %d refresh and %d fetch spans, want one, 2 and 2", server.SpanContext.IsValid(), len(refreshes), len(fetches))
	}
	for i, s := range append(refreshes, fetches...) {
		reason := ""
		for _, kv := range s.Attributes {
			if kv.Key == "jwtgate.refresh.reason" {
				reason = kv.Value.AsString()
			}
		}
		first := i == 0 || i == 2 // the start-up refresh and its fetch come first
		if s.Parent.IsValid() || s.SpanContext.TraceID() == server.SpanContext.TraceID() {
			t.Errorf("%s (%s) is not a trace of its own", s.Name, reason)
		}
		switch {
		case first && len(s.Links) != 0:
			t.Errorf("%s (%s), nobody waited: links %v", s.Name, reason, s.Links)
		case !first && (len(s.Links) != 1 || s.Links[0].SpanContext.TraceID() != server.SpanContext.TraceID() ||
			s.Links[0].SpanContext.SpanID() != server.SpanContext.SpanID()):
			t.Errorf("%s (%s): links %v, want one to the request's span %v", s.Name, reason, s.Links, server.SpanContext.SpanID())
		}
		if i == 1 && reason != string(cache.ReasonUnknownKID) {
			t.Errorf("second refresh: reason %q, want unknown_kid", reason)
		}
	}
	// And back: the request's span links to the refresh it waited for.
	if len(server.Links) != 1 || server.Links[0].SpanContext.SpanID() != refreshes[1].SpanContext.SpanID() {
		t.Errorf("request span links %v, want one to the unknown-kid refresh %v", server.Links, refreshes[1].SpanContext.SpanID())
	}
}
