// Package tokentest signs tokens for the tests and examples of grpcauth and
// extauthz: one ES256 key (fast to generate, unlike RSA) in a jwkset memory
// storage, and a storage that reports its keys unavailable.
package tokentest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"maps"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/ratelimit"
)

// Issuer, Audience and KID are what Claims and Sign use.
const (
	Issuer   = "https://idp.test/"
	Audience = "api"
	KID      = "k1"
)

// Keys is a signing key and the storage that serves its public half.
type Keys struct {
	priv    *ecdsa.PrivateKey
	Storage jwkset.Storage
}

// New generates a key and stores its public JWK under KID.
func New() (*Keys, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	j, err := jwkset.NewJWKFromKey(&priv.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: KID, ALG: jwkset.AlgES256, USE: jwkset.UseSig}})
	if err != nil {
		return nil, err
	}
	s := jwkset.NewMemoryStorage()
	if err := s.KeyWrite(context.Background(), j); err != nil {
		return nil, err
	}
	return &Keys{priv: priv, Storage: s}, nil
}

// Claims returns a claim set the Keys' Verifier accepts at now: sub
// "user-1", scope "read", valid for an hour. extra is added (a nil value
// deletes the claim).
func Claims(now time.Time, extra map[string]any) map[string]any {
	c := map[string]any{
		"iss":   Issuer,
		"sub":   "user-1",
		"aud":   Audience,
		"iat":   now.Add(-time.Minute).Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		"scope": "read",
	}
	maps.Copy(c, extra)
	for k, v := range c {
		if v == nil {
			delete(c, k)
		}
	}
	return c
}

// Sign signs claims with the key, under KID.
func (k *Keys) Sign(claims map[string]any) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(claims))
	t.Header["kid"] = KID
	return t.SignedString(k.priv)
}

// SignOther signs claims with a fresh key under the same KID: a token whose
// signature does not verify.
func SignOther(claims map[string]any) (string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(claims))
	t.Header["kid"] = KID
	return t.SignedString(priv)
}

// Unavailable is a jwkset.Storage whose keys are never ready, as a
// *cache.Cache is before its first load: the Verifier answers 503.
type Unavailable struct{ jwkset.Storage }

// NewUnavailable returns an empty Unavailable.
func NewUnavailable() Unavailable { return Unavailable{jwkset.NewMemoryStorage()} }

// Ready reports false.
func (Unavailable) Ready() bool { return false }

// Limiter answers every Allow with its Decision, for a deterministic 429 or
// RateLimit-* headers. Safe for concurrent use.
type Limiter struct{ Decision ratelimit.Decision }

// Allow returns l.Decision.
func (l Limiter) Allow(context.Context, string, int) (ratelimit.Decision, error) {
	return l.Decision, nil
}

// Deny returns a Limiter that refuses with a 2 s wait.
func Deny() Limiter {
	return Limiter{ratelimit.Decision{Allowed: false, Limit: 10, Remaining: 0, ResetAfter: 2 * time.Second, RetryAfter: 2 * time.Second}}
}

// Allow10 returns a Limiter that allows, with 9 of 10 left.
func Allow10() Limiter {
	return Limiter{ratelimit.Decision{Allowed: true, Limit: 10, Remaining: 9, ResetAfter: time.Second}}
}
