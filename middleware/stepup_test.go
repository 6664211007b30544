package middleware

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// RFC 9470: a route that requires a stronger or a more recent login
// refuses a token that does not show one with 401
// insufficient_user_authentication, naming what it needs in the challenge,
// on every request (a cache hit too) and in Verify.
func TestStepUp(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.Optional = true
	cfg.Now = clock
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	route := v.With(Route{RequireACR: []string{"urn:mfa", "urn:hwk"}, MaxAuthAge: 10 * time.Minute})
	h := route.Handler(okHandler)
	tok := func(kv ...any) string {
		return sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, with(goodClaims(), kv...))
	}
	recent := testNow.Add(-5 * time.Minute).Unix()
	const challenge = `Bearer realm="jwtgate", error="insufficient_user_authentication", error_description="authentication level insufficient", acr_values="urn:mfa urn:hwk", max_age=600`
	for name, token := range map[string]string{
		"no acr":              tok("auth_time", recent),
		"weak acr":            tok("acr", "urn:pwd", "auth_time", recent),
		"acr not a string":    tok("acr", 2, "auth_time", recent),
		"acr differs in case": tok("acr", "URN:MFA", "auth_time", recent),
		"no auth_time":        tok("acr", "urn:mfa"),
		"stale auth_time":     tok("acr", "urn:mfa", "auth_time", testNow.Add(-time.Hour).Unix()),
		"auth_time a string":  tok("acr", "urn:mfa", "auth_time", "yesterday"),
	} {
		for range 2 { // the second is a verified-token cache hit
			if got := do(h, bearerReq(token)); got.status != 401 || got.www != challenge {
				t.Errorf("%s: %d %q", name, got.status, got.www)
			}
		}
		if _, err := route.Verify(context.Background(), token); !errors.Is(err, ErrInsufficientAuthentication) || Reason(err) != "step_up" {
			t.Errorf("%s: Verify: %v", name, err)
		}
	}
	good := tok("acr", "urn:hwk", "auth_time", recent)
	if got := do(h, bearerReq(good)); got.status != 200 {
		t.Fatalf("a strong, recent login: %d %q", got.status, got.www)
	}
	// Within the leeway (30s) of max age still passes.
	if got := do(h, bearerReq(tok("acr", "urn:mfa", "auth_time", testNow.Add(-10*time.Minute-20*time.Second).Unix()))); got.status != 200 {
		t.Fatalf("within the leeway: %d", got.status)
	}
	// Optional does not let an anonymous request onto a step-up route.
	if got := do(h, bearerReq("")); got.status != 401 {
		t.Fatalf("anonymous: %d", got.status)
	}
	// Only max_age: the challenge names only it.
	if got := do(v.With(Route{MaxAuthAge: time.Minute}).Handler(okHandler), bearerReq(tok("auth_time", recent))); got.status != 401 ||
		got.www != `Bearer realm="jwtgate", error="insufficient_user_authentication", error_description="authentication level insufficient", max_age=60` {
		t.Fatalf("max_age only: %d %q", got.status, got.www)
	}
	for _, bad := range []Route{{MaxAuthAge: -time.Second}, {RequireACR: []string{""}}, {RequireACR: []string{`a"b`}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
		if got := do(v.With(bad).Handler(okHandler), bearerReq(good)); got.status != 500 {
			t.Errorf("%+v: %d", bad, got.status)
		}
	}
}
