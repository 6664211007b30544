package middleware

import (
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// TestDefaultRateLimitKeyFallbacksDistinct: a client token (azp or
// client_id, no sub) must not spend the bucket of a user whose sub spells
// the same name, nor of a user whose sub spells the fallback key itself.
// sub stays bare (existing keys do not move) unless it starts with one of
// the fallback prefixes, so the mapping is one-to-one.
func TestDefaultRateLimitKeyFallbacksDistinct(t *testing.T) {
	for _, tc := range []struct {
		c    Claims
		want string
	}{
		{Claims{Subject: "svc", AuthorizedParty: "a", ClientID: "c"}, "svc"},
		{Claims{AuthorizedParty: "svc", ClientID: "c"}, "azp:svc"},
		{Claims{ClientID: "svc"}, "client_id:svc"},
		{Claims{Subject: "azp:svc"}, "sub:azp:svc"},
		{Claims{Subject: "client_id:svc"}, "sub:client_id:svc"},
		{Claims{Subject: "sub:svc"}, "sub:sub:svc"},
		{Claims{Subject: "subsvc"}, "subsvc"},
		{Claims{Subject: "azp"}, "azp"},
		{Claims{}, ""},
	} {
		if got := DefaultRateLimitKey(&tc.c, nil); got != tc.want {
			t.Errorf("%+v: key %q, want %q", tc.c, got, tc.want)
		}
	}

	// End to end: one bucket of 1 per key, five identities that all spell
	// "svc" somewhere, each gets its own first request.
	k := keys(t)
	clk := jwtgatetest.NewClock(testNow)
	lim := newBucketLimiter(1, 1, clk.Now)
	cfg := baseConfig(memKeys(t))
	cfg.RateLimit = RateLimit{Limiter: lim}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(okHandler)
	for _, claims := range []map[string]any{
		with(goodClaims(), "sub", "svc"),
		with(goodClaims(), "sub", nil, "azp", "svc"),
		with(goodClaims(), "sub", nil, "client_id", "svc"),
		with(goodClaims(), "sub", "azp:svc"),
		with(goodClaims(), "sub", "client_id:svc"),
	} {
		r := bearerReq(sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, claims))
		if got := do(h, r); got.status != http.StatusOK {
			t.Errorf("%v: %d (shares a bucket with an earlier identity)", claims, got.status)
		}
	}
	if len(lim.buckets) != 5 {
		t.Errorf("buckets %v, want 5", lim.calls)
	}
}
