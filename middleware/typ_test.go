package middleware

import (
	"context"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestTypesAllowList: with Config.Types set, the header's typ must be one of
// them, compared case-insensitively and with "application/" dropped (RFC
// 7515 §4.1.9), so an ID token (typ "JWT") cannot be used where an access
// token (RFC 9068: "at+jwt") is expected. Unset, typ is not looked at.
func TestTypesAllowList(t *testing.T) {
	k := keys(t)
	tok := func(typ any) string {
		return sign(t, jwt.SigningMethodES256, k.ec, "ec1", map[string]any{"typ": typ}, goodClaims())
	}
	cfg := baseConfig(memKeys(t))
	cfg.Types = []string{"application/AT+JWT"}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []any{"at+jwt", "AT+JWT", "application/at+jwt", "Application/At+Jwt"} {
		if _, err := v.Verify(context.Background(), tok(typ)); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
	for _, typ := range []any{"JWT", nil, "", "jwt+at", "application/jwt", "at+jwt ", "application/application/at+jwt", 5, []string{"at+jwt"}} {
		_, err := v.Verify(context.Background(), tok(typ))
		var e *Error
		if !errors.Is(err, ErrTokenMalformed) || !errors.As(err, &e) || e.Description() != "token type not accepted" {
			t.Errorf("typ %#v: got %v, want token type not accepted", typ, err)
		}
	}
	// Over HTTP: 401 invalid_token with the description.
	got := do(v.Handler(okHandler), bearerReq(tok("JWT")))
	if got.status != 401 || got.www != wwwInvalid("token type not accepted") {
		t.Errorf("HTTP: %d %q", got.status, got.www)
	}

	// Default: typ is not checked at all (only a well-formed header needed).
	def, err := New(baseConfig(memKeys(t)))
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []any{"JWT", nil, "whatever", 5} {
		if _, err := def.Verify(context.Background(), tok(typ)); err != nil {
			t.Errorf("default config, typ %#v: %v", typ, err)
		}
	}

	bad := baseConfig(memKeys(t))
	bad.Types = []string{"at+jwt", ""}
	if _, err := New(bad); err == nil {
		t.Error("an empty entry in Types must be a config error")
	}
}
