package budget_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/jwtgate/jwtgate/budget"
	"github.com/jwtgate/jwtgate/llmusage"
	"github.com/jwtgate/jwtgate/middleware"
)

// A budget of 150 tokens a day in front of an upstream whose answers
// cost 100: the second request crosses the line and is charged, the
// third is refused before the upstream is called.
func ExampleHandler() {
	now := func() time.Time { return time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC) }
	b, err := budget.NewLocal(budget.LocalConfig{Limit: 150, Window: budget.PerDay, Now: now})
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := budget.NewHandler(budget.Config{Budget: b, Observer: func(e budget.Event) {
		if e.Kind == budget.KindCharged {
			fmt.Println("charged", e.Cost, "remaining", e.Decision.Remaining)
		}
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	calls := 0
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"model":"claude-haiku-4-5","usage":{"input_tokens":70,"output_tokens":30}}`)
	})
	srv := h.Wrap(upstream)
	for range 3 {
		r := httptest.NewRequest(http.MethodPost, "/v1/messages", nil)
		// What the Verifier puts in the context.
		r = r.WithContext(middleware.ContextWithClaims(r.Context(), &middleware.Claims{Issuer: "https://idp", Subject: "alice"}))
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		fmt.Printf("%d Retry-After=%q\n", w.Code, w.Header().Get("Retry-After"))
	}
	fmt.Println("upstream calls:", calls)
	// Output:
	// charged 100 remaining 50
	// 200 Retry-After=""
	// charged 100 remaining 0
	// 200 Retry-After=""
	// 429 Retry-After="21600"
	// upstream calls: 2
}

func ExampleWeightTable() {
	table := budget.WeightTable{"claude*": {Input: 1, Output: 5, CachedInput: 0.1, CacheWrite: 1.25}}
	w, label := table.Lookup("claude-sonnet-4-5")
	fmt.Println(label, w.Output)
	// Output: claude* 5
}

// Prices in dollars: budgets then count micro-dollars, computed exactly.
func ExamplePriceTable() {
	table := budget.DefaultPrices().Merge(map[string]budget.Price{
		"my-finetune*": {Input: 3_000_000, Output: 12_000_000}, // $3 and $12 per million tokens
	}, budget.Price{})
	u := llmusage.Usage{Input: 1200, CachedInput: 1024, Output: 300}
	p, entry, known := table.Lookup("gpt-4o-2024-08-06")
	fmt.Println(entry, known, budget.Micros(p.Cost(u)), "USD")
	_, _, known = table.Lookup("some-new-model")
	fmt.Println("known:", known, "fallback input per million:", table.Fallback.Input)
	m, _ := budget.ParseMicros("12.50")
	fmt.Println(int64(m), "micro-dollars")
	// Output:
	// gpt-4o* true 0.00472 USD
	// known: false fallback input per million: 15
	// 12500000 micro-dollars
}
