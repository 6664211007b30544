package middleware

import (
	"context"
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// One Verifier, several routes that differ in audience and claim headers:
// each route checks its own audience after the shared verified-token cache,
// so a token is verified once however many routes it visits.
func TestRouteAudiencesAndClaimHeaders(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.Audiences = []string{"orders", "billing"}
	cfg.ClaimHeaders = map[string]string{"sub": "X-User"}
	var events []VerifyEvent
	cfg.OnVerify = func(e VerifyEvent) { events = append(events, e) }
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var seen http.Header
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() })
	orders := v.With(Route{Audiences: []string{"orders"}, ClaimHeaders: map[string]string{"sub": "X-Orders-User", "tenant": "X-Tenant"}}).Handler(next)
	billing := v.With(Route{Audiences: []string{"billing"}}).Handler(next)

	tok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, with(goodClaims(), "aud", "orders", "tenant", "acme"))
	r := bearerReq(tok)
	r.Header.Set("X-Orders-User", "forged")
	r.Header.Set("x_tenant", "forged")
	if got := do(orders, r); got.status != 200 || seen.Get("X-Orders-User") != "user-1" || seen.Get("X-Tenant") != "acme" ||
		len(seen.Values("X-Orders-User")) != 1 || seen.Get("x_tenant") != "" || seen.Get("X-User") != "" {
		t.Fatalf("orders route: %d, upstream saw %v", got.status, seen)
	}
	if got := do(billing, bearerReq(tok)); got.status != 401 || got.www != wwwInvalid("audience not accepted") {
		t.Fatalf("billing route with an orders token: %d %q", got.status, got.www)
	}
	if n := v.TokenCacheLen(); n != 1 {
		t.Fatalf("%d cache entries, want the one token", n)
	}
	if len(events) != 2 || events[0].CacheHit || !events[1].CacheHit || events[0].Reason != "ok" || events[1].Reason != "claims" {
		t.Fatalf("events %+v", events)
	}
	if events[1].Context == nil || events[0].Err != nil || events[1].Err == nil {
		t.Fatalf("events carry no context or the wrong error: %+v", events)
	}
}

// Optional lets an anonymous request through only where the route needs
// no token to decide: not where it requires an audience.
func TestOptionalRouteWithAudienceNeedsToken(t *testing.T) {
	cfg := baseConfig(memKeys(t))
	cfg.Optional = true
	var events []VerifyEvent
	cfg.OnVerify = func(e VerifyEvent) { events = append(events, e) }
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := do(v.With(Route{Audiences: []string{"api"}}).Handler(okHandler), bearerReq("")); got.status != 401 {
		t.Fatalf("anonymous on an audience route: %d", got.status)
	}
	if got := do(v.Handler(okHandler), bearerReq("")); got.status != 200 {
		t.Fatalf("anonymous on an open route: %d", got.status)
	}
	if len(events) != 2 || events[0].Reason != "missing" || events[0].Anonymous ||
		events[1].Reason != "ok" || !events[1].Anonymous || events[1].Err != nil {
		t.Fatalf("events %+v", events)
	}
}

// A route With cannot apply is refused, not served half-configured.
func TestWithBadClaimHeadersFailsClosed(t *testing.T) {
	k := keys(t)
	v, err := New(baseConfig(memKeys(t)))
	if err != nil {
		t.Fatal(err)
	}
	bad := v.With(Route{ClaimHeaders: map[string]string{"sub": "Authorization"}})
	tok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	if got := do(bad.Handler(okHandler), bearerReq(tok)); got.status != 500 {
		t.Fatalf("bad route: %d %q", got.status, got.body)
	}
	if _, err := bad.With(Route{Scopes: []string{"x"}}).Authenticate(newRecorder(), bearerReq(tok)); Status(err) != 500 {
		t.Fatalf("a route derived from a bad one: %v", err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("the base Verifier is unharmed: %v", err)
	}
}

// A route's own typ allow-list narrows the Verifier's, after the cache.
func TestRouteTypes(t *testing.T) {
	k := keys(t)
	v, err := New(baseConfig(memKeys(t)))
	if err != nil {
		t.Fatal(err)
	}
	at := v.With(Route{Types: []string{"application/AT+JWT"}}).Handler(okHandler)
	idTok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	atTok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", map[string]any{"typ": "at+jwt"}, goodClaims())
	if got := do(at, bearerReq(idTok)); got.status != 401 || got.www != wwwInvalid("token type not accepted") {
		t.Fatalf("typ JWT on an at+jwt route: %d %q", got.status, got.www)
	}
	if got := do(at, bearerReq(atTok)); got.status != 200 {
		t.Fatalf("at+jwt: %d", got.status)
	}
	if got := do(v.Handler(okHandler), bearerReq(idTok)); got.status != 200 {
		t.Fatalf("typ JWT on an open route: %d", got.status)
	}
	if got := do(v.With(Route{Types: []string{""}}).Handler(okHandler), bearerReq(atTok)); got.status != 500 {
		t.Fatalf("an empty Types entry: %d", got.status)
	}
}
