// Package authtest is the fixture shared by the tests of the packages that
// put a Verifier behind another protocol (grpcauth, extauthz): a kit issuer
// without a server, the default claims, a Verifier of its tokens, a key set
// that is unavailable for real, and limiters with fixed answers.
package authtest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// NewIssuer returns an ES256 kit issuer without a server: a Verifier reads
// its keys from idp.Keys, or through a cache over idp.Client.
func NewIssuer(t testing.TB) *jwtgatetest.Issuer {
	t.Helper()
	return jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, URL: "https://idp.test"})
}

// Claims is the token the tests expect by default (sub user-1, scope
// read), with extra set last (a nil value deletes the claim).
func Claims(extra map[string]any) jwtgatetest.Claims {
	return jwtgatetest.Claims{Subject: "user-1", Scopes: []string{"read"}, Extra: extra}
}

// UnavailableKeys is a real cache in front of idp while idp's JWK Set
// answers 500: before any good load its keys are unavailable (503).
func UnavailableKeys(t testing.TB, idp *jwtgatetest.Issuer) *cache.Cache {
	t.Helper()
	if err := idp.SetJWKS(jwtgatetest.Behavior{Status: 500}); err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(context.Background(), cache.Config{URL: idp.JWKSURL(), HTTPClient: idp.Client(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// FixedLimiter answers every Allow with its Decision, for a deterministic
// 429 or RateLimit-* headers.
type FixedLimiter ratelimit.Decision

// Allow returns l's Decision.
func (l FixedLimiter) Allow(context.Context, string, int) (ratelimit.Decision, error) {
	return ratelimit.Decision(l), nil
}

// Deny refuses with a 2 s wait.
func Deny() FixedLimiter {
	return FixedLimiter{Allowed: false, Limit: 10, Remaining: 0, ResetAfter: 2 * time.Second, RetryAfter: 2 * time.Second}
}

// Allow10 allows, with 9 of 10 left.
func Allow10() FixedLimiter {
	return FixedLimiter{Allowed: true, Limit: 10, Remaining: 9, ResetAfter: time.Second}
}

// NewVerifier returns a Verifier of idp's tokens, reading idp.Keys unless
// cfg.Keys is set.
func NewVerifier(t testing.TB, idp *jwtgatetest.Issuer, cfg middleware.Config) *middleware.Verifier {
	t.Helper()
	if cfg.Keys == nil {
		cfg.Keys = idp.Keys(t)
	}
	cfg.Issuers = []string{idp.Issuer()}
	cfg.Audiences = []string{jwtgatetest.DefaultAudience}
	cfg.Logger = slog.New(slog.DiscardHandler)
	v, err := middleware.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
