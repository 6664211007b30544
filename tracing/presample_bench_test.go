package tracing_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/tracing"
)

// A verified-token cache hit untraced (without and with an OnVerify hook),
// and with tracing configured whose
// Sample declines the request (the unsampled case when the root decision
// is made before a span starts), in the same run: the second's share is
// the tracing hook's check and Sample's call.
func BenchmarkCacheHitDeclinedBySample(b *testing.B) {
	idp := jwtgatetest.NewIssuer(b, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	tr, err := tracing.New(tracing.Config{TracerProvider: tp, Sample: tracing.RatioSample(0)})
	if err != nil {
		b.Fatal(err)
	}
	verifier := func(onVerify func(middleware.VerifyEvent)) *middleware.Verifier {
		v, err := middleware.New(middleware.Config{Keys: idp.Keys(b), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}, OnVerify: onVerify})
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	tok := idp.Mint(b, jwtgatetest.Claims{Audience: "api"})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"untraced", verifier(nil).Handler(next)},
		// The gateway always has an OnVerify hook (its metrics): the
		// baseline a gateway's tracing adds to.
		{"observed", verifier(func(middleware.VerifyEvent) {}).Handler(next)},
		{"declined", tr.Handler(verifier(tr.OnVerify).Handler(next))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			bc.h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatal(w.Code)
			}
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}
