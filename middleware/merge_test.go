package middleware

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/ratelimit"
)

// routeSamples holds, for every field of Route, a Route with only that field
// set (to a value With keeps as it is: already normalised). A field added to
// Route without a sample here fails TestWithCarriesRoute: deciding how
// Route.merge carries it is part of adding it.
func routeSamples(t *testing.T) map[string]Route {
	t.Helper()
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Route{
		"Scopes":        {Scopes: []string{"admin"}},
		"RateLimit":     {RateLimit: &RateLimit{Limiter: lim, TierClaim: "plan", Tiers: map[string]ratelimit.Limiter{"pro": lim}}},
		"Audiences":     {Audiences: []string{"orders"}},
		"ClaimHeaders":  {ClaimHeaders: map[string]string{"sub": "X-User"}},
		"Types":         {Types: []string{"at+jwt"}},
		"Resource":      {Resource: &Resource{URI: "https://mcp.example.com/mcp", AuthorizationServers: []string{"https://idp.test/"}}},
		"DPoP":          {DPoP: DPoPRequired},
		"Budget":        {Budget: &spentBudget{}},
		"RequireACR":    {RequireACR: []string{"urn:mfa"}},
		"MaxAuthAge":    {MaxAuthAge: 5 * time.Minute},
		"Policy":        {Policy: denyAll{}},
		"Credentials":   {Credentials: []CredentialKind{CredentialJWT}},
		"Introspection": {Introspection: &fakeIntrospector{}},
		"APIKeys":       {APIKeys: &fakeKeys{}},
	}
}

// denyAll is a policy that refuses everything.
type denyAll struct{}

func (denyAll) Allow(PolicyRequest) error { return ErrPolicyDenied }

// spentBudget refuses every request as a spent budget would.
type spentBudget struct{ calls int }

func (b *spentBudget) CheckBudget(*http.Request, *Claims) error {
	b.calls++
	return spent{}
}

type spent struct{}

func (spent) Error() string        { return "spent" }
func (spent) Is(target error) bool { return target == ErrBudgetExhausted }
func (spent) Decision() (ratelimit.Decision, bool) {
	return ratelimit.Decision{Limit: 10, RetryAfter: time.Minute}, true
}

// Deriving a route from a route never drops a requirement: every field of
// Route that the first With sets is still in force after a second With that
// sets nothing, or sets only another field (extauthz, grpcauth and the
// gateway all derive from a Verifier that may itself be derived).
func TestWithCarriesRoute(t *testing.T) {
	v, err := New(baseConfig(memKeys(t)))
	if err != nil {
		t.Fatal(err)
	}
	samples := routeSamples(t)
	rt := reflect.TypeFor[Route]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		sample, ok := samples[f.Name]
		if !ok {
			t.Errorf("Route.%s has no sample in routeSamples: decide how Route.merge carries it, then add one", f.Name)
			continue
		}
		want := reflect.ValueOf(sample).Field(i)
		if want.IsZero() {
			t.Fatalf("routeSamples[%q] leaves Route.%s zero", f.Name, f.Name)
		}
		check := func(how string, d *Verifier) {
			t.Helper()
			if d.routeErr != nil {
				t.Fatalf("Route.%s, %s: route refused: %v", f.Name, how, d.routeErr.cause)
			}
			if got := reflect.ValueOf(d.route).Field(i); !reflect.DeepEqual(got.Interface(), want.Interface()) {
				t.Errorf("Route.%s, %s: got %v, want %v", f.Name, how, got, want)
			}
		}
		check("set once", v.With(sample))
		check("then derived with nothing", v.With(sample).With(Route{}))
		check("set on a derived route", v.With(Route{}).With(sample))
		for other, o := range samples {
			if other != f.Name && other != "Scopes" {
				check("then derived with "+other, v.With(sample).With(o))
			}
		}
	}
	for name := range samples {
		if _, ok := rt.FieldByName(name); !ok {
			t.Errorf("routeSamples has %q, which Route no longer has", name)
		}
	}
}

// What each merge rule means for a request: scopes accumulate, the other
// requirements survive a derivation that does not restate them.
func TestWithDerivedKeepsRequirements(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.Optional = true
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	idTok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	atTok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", map[string]any{"typ": "at+jwt"}, goodClaims())

	// An access-token-only route derived again, as extauthz and grpcauth do.
	at := v.With(Route{Types: []string{"at+jwt"}}).With(Route{Scopes: []string{"read"}})
	if got := do(at.Handler(okHandler), bearerReq(idTok)); got.status != 401 || got.www != wwwInvalid("token type not accepted") {
		t.Fatalf("an ID token on a derived at+jwt route: %d %q", got.status, got.www)
	}
	if got := do(at.Handler(okHandler), bearerReq(atTok)); got.status != 200 {
		t.Fatalf("an access token on a derived at+jwt route: %d", got.status)
	}

	// A protected resource derived again, under Optional: a request without
	// a token still gets the resource's 401 with its metadata URL.
	res := v.With(Route{Resource: &Resource{URI: "https://mcp.example.com/mcp", AuthorizationServers: []string{"https://idp.test/"}}}).
		With(Route{})
	got := do(res.Handler(okHandler), bearerReq(""))
	if got.status != 401 || !strings.Contains(got.www, `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`) {
		t.Fatalf("tokenless on a derived resource route: %d %q", got.status, got.www)
	}

	// Scopes accumulate.
	both := v.With(Route{Scopes: []string{"read"}}).With(Route{Scopes: []string{"admin"}})
	if s := both.Scopes(); !slices.Equal(s, []string{"read", "admin"}) {
		t.Fatalf("scopes %v", s)
	}
	if got := do(both.Handler(okHandler), bearerReq(atTok)); got.status != 403 {
		t.Fatalf("a token without admin: %d", got.status)
	}

	// A DPoP mode survives: a bearer token on a derived DPoP-required
	// route is refused.
	dp := v.With(Route{DPoP: DPoPRequired}).With(Route{Scopes: []string{"read"}})
	if got := do(dp.Handler(okHandler), bearerReq(atTok)); got.status != 401 {
		t.Fatalf("bearer on a derived DPoP-required route: %d", got.status)
	}
}

// A route's budget is part of its verdict: checked after the token (never
// for a token that fails), its refusal a 429 of its own (budget_exhausted,
// the budget's Retry-After and RateLimit-*), and the one OnVerify event
// says so.
func TestRouteBudget(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	var events []VerifyEvent
	cfg.OnVerify = func(e VerifyEvent) { events = append(events, e) }
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &spentBudget{}
	h := v.With(Route{Budget: b}).Handler(okHandler)
	tok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	got := do(h, bearerReq(tok))
	if got.status != 429 || got.header.Get("Retry-After") != "60" || got.header.Get("RateLimit-Limit") != "10" ||
		!strings.Contains(got.body, `"error":"budget_exhausted"`) {
		t.Fatalf("spent budget: %d %v %s", got.status, got.header, got.body)
	}
	if len(events) != 1 || events[0].Reason != "budget_exhausted" {
		t.Fatalf("events %+v", events)
	}
	if got := do(h, bearerReq("junk")); got.status != 401 || b.calls != 1 {
		t.Fatalf("a bad token: %d, budget asked %d times", got.status, b.calls)
	}
}

// DPoPMode names itself in config files: every value round-trips and an
// unknown name is a config error.
func TestDPoPModeText(t *testing.T) {
	for _, m := range []DPoPMode{DPoPDefault, DPoPOff, DPoPAllowed, DPoPRequired} {
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got DPoPMode
		if err := got.UnmarshalText(b); err != nil || got != m {
			t.Errorf("%v: %q → %v, %v", m, b, got, err)
		}
	}
	var m DPoPMode
	if err := m.UnmarshalText([]byte("Required")); err == nil {
		t.Error("Required accepted")
	}
	if _, err := DPoPMode(9).MarshalText(); err == nil {
		t.Error("DPoPMode(9) marshalled")
	}
}
