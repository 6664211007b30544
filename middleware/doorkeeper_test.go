package middleware

import (
	"context"
	"strconv"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// With the doorkeeper a token is cached on its second sighting: the first
// two are cold checks, the third a hit; never-repeated tokens leave the
// cache empty.
func TestTokenCacheDoorkeeper(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.TokenCacheDoorkeeper = true
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	for i, wantHit := range []bool{false, false, true, true} {
		if _, hit, verr := v.verify(ctx, tok, nil); verr != nil || hit != wantHit {
			t.Fatalf("sighting %d: err %v hit=%v, want hit=%v", i+1, verr, hit, wantHit)
		}
	}
	for i := range 100 {
		once := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, with(goodClaims(), "jti", strconv.Itoa(i)))
		if _, hit, verr := v.verify(ctx, once, nil); verr != nil || hit {
			t.Fatalf("never-repeated token %d: err %v hit=%v", i, verr, hit)
		}
	}
	if n := v.TokenCacheLen(); n != 1 {
		t.Errorf("cache holds %d tokens, want 1 (only the repeated one)", n)
	}
	// A token that fails is never admitted, however often it is seen.
	bad := tok[:len(tok)-4] + "AAAA"
	for range 3 {
		if _, _, verr := v.verify(ctx, bad, nil); verr == nil {
			t.Fatal("forged signature accepted")
		}
	}
	if n := v.TokenCacheLen(); n != 1 {
		t.Errorf("cache holds %d tokens after failures, want 1", n)
	}
}

// Without it (the default) the first sighting is cached.
func TestTokenCacheDefaultAdmitsAtOnce(t *testing.T) {
	k := keys(t)
	v, err := New(baseConfig(memKeys(t)))
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	ctx := context.Background()
	v.verify(ctx, tok, nil)
	if _, hit, verr := v.verify(ctx, tok, nil); verr != nil || !hit {
		t.Fatalf("second sighting: err %v hit=%v, want a hit", verr, hit)
	}
}
