package budget_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// benchWriter keeps the header and nothing of the body.
type benchWriter struct{ h http.Header }

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(int)             {}

// A budgeted request behind a Verifier whose route checks the budget and
// a Meter charging it, with a tenant and a route cap (three levels), the
// upstream a handler answering with its usage at once.
func BenchmarkBudgetedRequest(b *testing.B) {
	idp := jwtgatetest.NewIssuer(b, jwtgatetest.IssuerOptions{URL: "https://idp.example", Algorithms: []string{"ES256"}})
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(b), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}})
	if err != nil {
		b.Fatal(err)
	}
	local := func() budget.Budget {
		l, err := budget.NewLocal(budget.LocalConfig{Limit: 1_000_000_000_000_000, Window: budget.PerDay})
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	h, err := budget.NewHandler(budget.Config{Budget: local(), Tenant: local(), TenantClaim: "org", Route: local()})
	if err != nil {
		b.Fatal(err)
	}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":60,"output_tokens":40}}`)
	})
	handler := v.With(middleware.Route{Budget: h}).Handler(h.Meter(upstream))
	tok := idp.Mint(b, jwtgatetest.Claims{Subject: "alice", Audience: "api", Extra: map[string]any{"org": "acme"}})
	body := strings.NewReader(`{"model":"m"}`)
	r, _ := http.NewRequest(http.MethodPost, "http://gw/v1/messages", body)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(`{"model":"m"}`)
		clear(w.h)
		handler.ServeHTTP(w, r)
	}
}
