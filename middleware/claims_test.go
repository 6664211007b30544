package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

func TestClaimsAccessors(t *testing.T) {
	k := keys(t)
	v, _ := New(baseConfig(memKeys(t)))
	tok := sign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", nil, with(goodClaims(),
		"scope", "read  write", "scp", []string{"write", "admin"}, "azp", "app", "client_id", "cli", "jti", "j1",
		"nbf", testNow.Add(-time.Minute).Unix(), "tenant", "acme", "n", 42, "ok", true, "obj", map[string]any{"a": 1},
		"roles", []string{"x", "y"}, "esc", "a\u00e9\n"))
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://idp.test/" || c.Subject != "user-1" || len(c.Audience) != 1 || c.Audience[0] != "api" ||
		!c.ExpiresAt.Equal(testNow.Add(time.Hour)) || !c.IssuedAt.Equal(testNow.Add(-time.Minute)) ||
		!c.NotBefore.Equal(testNow.Add(-time.Minute)) || c.ID != "j1" || c.AuthorizedParty != "app" || c.ClientID != "cli" {
		t.Fatalf("registered claims: %+v", c)
	}
	if got := c.Scopes(); len(got) != 3 || got[0] != "read" || got[1] != "write" || got[2] != "admin" {
		t.Fatalf("scopes %q", got)
	}
	if !c.HasScopes("read", "admin") || c.HasScopes("read", "delete") {
		t.Fatal("HasScopes")
	}
	for name, want := range map[string]string{"tenant": "acme", "n": "42", "ok": "true", "roles": "x,y", "sub": "user-1", "esc": "a\u00e9\n"} {
		if got, ok := c.String(name); !ok || got != want {
			t.Errorf("String(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"obj", "missing"} {
		if got, ok := c.String(name); ok {
			t.Errorf("String(%q) = %q, want not ok", name, got)
		}
	}
	var obj map[string]int
	if ok, err := c.Get("obj", &obj); !ok || err != nil || obj["a"] != 1 {
		t.Fatalf("Get obj: %v %v %v", ok, err, obj)
	}
	if ok, err := c.Get("missing", &obj); ok || err != nil {
		t.Fatal("Get missing")
	}
	raw := c.Raw()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m["tenant"] != "acme" {
		t.Fatalf("Raw: %v", err)
	}
	raw[0] = 'X' // a copy: the shared claims do not change
	if c.Raw()[0] != '{' {
		t.Fatal("Raw is not a copy")
	}
}

func TestClaimTypes(t *testing.T) {
	k := keys(t)
	v, _ := New(baseConfig(memKeys(t)))
	ctx := context.Background()
	for name, tc := range map[string]struct {
		claims map[string]any
		want   error
	}{
		"exp as exponent":      {with(goodClaims(), "exp", json.RawMessage("1.7e10")), nil},
		"exp negative":         {with(goodClaims(), "exp", -1), ErrTokenMalformed},
		"exp huge":             {with(goodClaims(), "exp", 1e300), ErrTokenMalformed},
		"exp string":           {with(goodClaims(), "exp", "1"), ErrTokenMalformed},
		"exp null":             {with(goodClaims(), "exp", json.RawMessage("null")), ErrTokenMalformed},
		"iss number":           {with(goodClaims(), "iss", 1), ErrTokenMalformed},
		"sub array":            {with(goodClaims(), "sub", []string{"a"}), ErrTokenMalformed},
		"aud number":           {with(goodClaims(), "aud", 5), ErrTokenMalformed},
		"aud mixed array":      {with(goodClaims(), "aud", []any{"api", 1}), ErrTokenMalformed},
		"scope number":         {with(goodClaims(), "scope", 5), ErrTokenMalformed},
		"scope mixed array":    {with(goodClaims(), "scope", []any{"a", 1}), ErrTokenMalformed},
		"scp as string":        {with(goodClaims(), "scp", "a b"), nil},
		"unknown claims":       {with(goodClaims(), "x", map[string]any{"y": []any{1, "z", nil}}), nil},
		"iss escaped":          {with(goodClaims(), "iss", json.RawMessage(`"https:\/\/idp.test\/"`)), nil},
		"nbf exactly leeway":   {with(goodClaims(), "nbf", testNow.Add(30*time.Second).Unix()), nil},
		"nbf past leeway":      {with(goodClaims(), "nbf", testNow.Add(31*time.Second).Unix()), ErrTokenNotYetValid},
		"exp exactly - leeway": {with(goodClaims(), "exp", testNow.Add(-30*time.Second).Unix()), ErrTokenExpired},
	} {
		tok := sign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", nil, tc.claims)
		_, err := v.Verify(ctx, tok)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// Duplicate names, also through an escape, are refused: a header or
	// claim read two ways is how confusion attacks start.
	for _, payload := range []string{
		`{"iss":"https://idp.test/","aud":"api","exp":9999999999,"exp":1}`,
		`{"iss":"https://idp.test/","aud":"api","exp":9999999999,"\u0065xp":1}`,
	} {
		tok := signRaw(t, jwt.SigningMethodEdDSA, k.ed, []byte(`{"alg":"EdDSA","kid":"ed1"}`), []byte(payload))
		if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrTokenMalformed) {
			t.Errorf("duplicate claim %s: %v", payload, err)
		}
	}
	tok := signRaw(t, jwt.SigningMethodEdDSA, k.ed, []byte(`{"alg":"EdDSA","kid":"ed1","alg":"none"}`), mustJSON(t, goodClaims()))
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrTokenMalformed) {
		t.Errorf("duplicate alg: %v", err)
	}
}

// TestConcurrentVerifyDuringKeyChanges runs hits, misses and key-set
// changes at once, for the race detector, and checks that no token of a
// removed key is accepted after the removal returned.
func TestConcurrentVerifyDuringKeyChanges(t *testing.T) {
	k := keys(t)
	store := &versioned{Storage: memKeys(t)}
	v, _ := New(baseConfig(store))
	h := v.Handler(okHandler)
	ctx := context.Background()
	toks := []string{
		sign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", nil, goodClaims()),
		sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims()),
		sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims()),
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				do(h, bearerReq(toks[(i+n)%len(toks)]))
			}
		})
	}
	for n := range 50 {
		_ = store.KeyWrite(ctx, jwkOf(t, &k.ec2.PublicKey, "extra", jwkset.AlgES256, jwkset.UseSig))
		if n%10 == 0 {
			_, _ = store.KeyDelete(ctx, "extra")
		}
	}
	if ok, _ := store.KeyDelete(ctx, "ed1"); !ok {
		t.Fatal("delete")
	}
	for range 20 {
		if _, err := v.Verify(ctx, toks[0]); err == nil {
			t.Fatal("token of a removed key accepted after the removal")
		}
	}
	close(stop)
	wg.Wait()
}
