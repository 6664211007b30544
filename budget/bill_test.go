package budget_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/budget"
)

// Charges that match the bill: an SDK retrying a call the provider refused
// (429, 529, 5xx without usage) pays ErrorCost per attempt, not the
// fallback; embeddings are charged their usage; calls with no usage
// concept (listing models, counting tokens) cost NoUsageCost; an answer
// that should carry usage and does not still pays the fallback.
func TestChargesMatchTheBill(t *testing.T) {
	refuse := func(status int) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, `{"error":{"type":"overloaded_error"}}`)
		}
	}
	answer := func(body string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}
	}
	for _, c := range []struct {
		name    string
		cfg     budget.Config
		handle  func(w http.ResponseWriter, r *http.Request)
		method  string
		path    string
		retries int
		cost    int64 // per attempt
		status  int   // Event.UpstreamError
	}{
		{"429 retried three times", budget.Config{}, refuse(429), "POST", "/v1/chat/completions", 3, 0, 429},
		{"529 overloaded", budget.Config{}, refuse(529), "POST", "/v1/messages", 3, 0, 529},
		{"503 with a small error cost", budget.Config{ErrorCost: 5}, refuse(503), "POST", "/v1/responses", 2, 5, 503},
		{"embeddings read their usage", budget.Config{}, answer(`{"object":"list","model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`),
			"POST", "/v1/embeddings", 1, 8, 0},
		{"models.list", budget.Config{}, answer(`{"object":"list","data":[]}`), "GET", "/v1/models", 1, 0, 0},
		{"models.retrieve", budget.Config{}, answer(`{"id":"gpt-4o"}`), "GET", "/v1/models/gpt-4o", 1, 0, 0},
		{"count_tokens", budget.Config{NoUsageCost: 1}, answer(`{"input_tokens":12}`), "POST", "/v1/messages/count_tokens", 1, 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStack(t, c.cfg)
			s.upstream.handle = c.handle
			tok := s.token(0, "alice", nil)
			for range c.retries {
				req, _ := http.NewRequest(c.method, s.url+c.path, nil)
				if c.method == "POST" {
					req, _ = http.NewRequest(c.method, s.url+c.path, strings.NewReader(`{"model":"m"}`))
				}
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := s.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				e := s.waitCharge()
				if e.Cost != c.cost || e.Fallback != "" || e.UpstreamError != c.status {
					t.Fatalf("charged %+v, want cost %d, no fallback, upstream error %d", e, c.cost, c.status)
				}
			}
		})
	}

	// An answer that should carry usage and does not still pays the fallback.
	s := newStack(t, budget.Config{Fallback: budget.Fallback{Estimate: 77}})
	s.upstream.handle = answer(`{"choices":[]}`)
	if _, _, e := s.call(s.token(0, "bob", nil), "/v1/chat/completions", `{}`); e.Fallback != "no_usage" || e.Cost != 77 {
		t.Fatalf("a 200 without usage: %+v", e)
	}
	if _, err := budget.NewHandler(budget.Config{Budget: s.budget, ErrorCost: -1}); err == nil {
		t.Fatal("a negative ErrorCost accepted")
	}
}
