package budget_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/budget"
)

// The tenant's cap refuses a user who still has budget of their own: alice
// and bob share tenant acme's 250; alice spends 300 of it (100 a call), and
// bob, with his whole 1000 left, is refused 429 naming the tenant, before
// the upstream; carol of another tenant goes on.
func TestTenantCapRefusesAUserWithBudgetLeft(t *testing.T) {
	tenants := mustLocal(t, 250)
	s := newStack(t, budget.Config{Budget: mustLocal(t, 1000), TenantClaim: "org", Tenant: tenants})
	alice := s.token(0, "alice", map[string]any{"org": "acme"})
	bob := s.token(0, "bob", map[string]any{"org": "acme"})
	carol := s.token(0, "carol", map[string]any{"org": "globex"})
	for range 3 {
		if resp, body, _ := s.call(alice, "/v1/messages", `{}`); resp.StatusCode != http.StatusOK {
			t.Fatalf("alice: %d %s", resp.StatusCode, body)
		}
	}
	calls := s.upstream.calls.Load()
	resp, body, _ := s.call(bob, "/v1/messages", `{}`)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "budget_exhausted") {
		t.Fatalf("bob: %d %s", resp.StatusCode, body)
	}
	if s.upstream.calls.Load() != calls {
		t.Fatal("the upstream saw bob's refused request")
	}
	if d, _ := s.cfgBudget.Check(context.Background(), "https://idp0.example#bob"); d.Remaining != 1000 {
		t.Fatalf("bob's own budget: %+v", d)
	}
	// The legacy fields are the refusing budget's; the structured ones name
	// every level.
	for h, want := range map[string]string{
		"RateLimit-Limit": "250", "RateLimit-Remaining": "0",
		"RateLimit-Policy": `"subject";q=1000;w=86400, "tenant";q=250;w=86400`,
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if got := resp.Header.Get("RateLimit"); !strings.HasPrefix(got, `"subject";r=1000;t=`) || !strings.Contains(got, `"tenant";r=0;t=`) {
		t.Errorf("RateLimit = %q", got)
	}
	refused := s.eventsOf(budget.KindRefused)
	if len(refused) != 1 || refused[0].Level != budget.LevelTenant || refused[0].Key != "https://idp0.example#acme" {
		t.Fatalf("refusals %+v", refused)
	}
	// Another tenant's user goes on and is charged at both levels.
	resp, _, e := s.call(carol, "/v1/messages", `{}`)
	if resp.StatusCode != http.StatusOK || len(e.Budgets) != 2 || e.Budgets[1].Level != budget.LevelTenant || e.Budgets[1].Decision.Remaining != 150 {
		t.Fatalf("carol: %d %+v", resp.StatusCode, e)
	}
	if got := resp.Header.Get("RateLimit"); !strings.Contains(got, `"subject";r=1000;`) || !strings.Contains(got, `"tenant";r=250;`) {
		t.Errorf("carol's RateLimit = %q (what was left before her call)", got)
	}
}

// A token without the tenant claim is refused 403 access_denied (charging
// its subject alone would escape the tenant's cap), before the upstream;
// in shadow mode it is reported and charged to its subject.
func TestTokenWithoutTenantClaim(t *testing.T) {
	for _, shadow := range []bool{false, true} {
		s := newStack(t, budget.Config{Budget: mustLocal(t, 1000), TenantClaim: "org", Tenant: mustLocal(t, 1000), Shadow: shadow})
		for _, extra := range []map[string]any{nil, {"org": ""}, {"org": map[string]any{"id": 1}}} {
			resp := s.do(context.Background(), s.token(0, "dave", extra), "/v1/messages", `{}`)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			var e budget.Event
			if shadow {
				e = s.waitCharge()
			}
			switch {
			case !shadow && (resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"access_denied"`) || s.upstream.calls.Load() != 0):
				t.Fatalf("org %v: %d %s", extra, resp.StatusCode, body)
			case shadow && (resp.StatusCode != http.StatusOK || len(e.Budgets) != 1 || e.Budgets[0].Level != budget.LevelSubject):
				t.Fatalf("shadow, org %v: %d %+v", extra, resp.StatusCode, e)
			}
		}
		if n := len(s.eventsOf(budget.KindNoTenant)); n != 3 {
			t.Fatalf("shadow %v: %d no_tenant events", shadow, n)
		}
	}
}

// A route-wide cap refuses everyone once spent, whatever their own
// budgets; shadow mode reports the refusal at the route level and goes on.
func TestRouteCap(t *testing.T) {
	for _, shadow := range []bool{false, true} {
		route := mustLocal(t, 150)
		s := newStack(t, budget.Config{Budget: mustLocal(t, 1000), Route: route, Shadow: shadow})
		for _, sub := range []string{"a", "b"} {
			if resp, _, _ := s.call(s.token(0, sub, nil), "/v1/responses", `{}`); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", sub, resp.StatusCode)
			}
		}
		resp, _, _ := s.call(s.token(0, "c", nil), "/v1/responses", `{}`)
		want := http.StatusTooManyRequests
		if shadow {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Fatalf("shadow %v: c got %d", shadow, resp.StatusCode)
		}
		if r := s.eventsOf(budget.KindRefused); len(r) != 1 || r[0].Level != budget.LevelRoute || r[0].Key != budget.RouteKey || r[0].Shadow != shadow {
			t.Fatalf("shadow %v: refusals %+v", shadow, r)
		}
		if d, _ := route.Check(context.Background(), budget.RouteKey); d.Remaining != 0 {
			t.Fatalf("route budget %+v", d)
		}
	}
}

func (s *stack) eventsOf(k budget.Kind) []budget.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []budget.Event
	for _, e := range s.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}
