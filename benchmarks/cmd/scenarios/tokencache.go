package main

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/middleware"

	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

// tokenCacheMemory fills jwtgate's verified-token cache with distinct
// tokens. HS256 tokens are used so that a million of them can be signed and
// verified in seconds; what the cache holds per entry (the token, its
// claims, the key reference) does not depend on the algorithm beyond the
// token's length, which is reported.
func tokenCacheMemory(ctx context.Context, _ *fixture.Fixture, s settings) ([]MemoryResult, []string, error) {
	secret := []byte("jwtgate-bench-memory-secret-0123456789")
	iat := time.Now().Add(-time.Minute)
	token := func(i int) (string, error) {
		c := fixture.ValidClaims(iat.Add(time.Minute))
		c.Subject = "user-" + strconv.Itoa(i)
		c.IssuedAt = jwt.NewNumericDate(iat)
		return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	}
	sample, err := token(s.memoryN - 1)
	if err != nil {
		return nil, nil, err
	}
	var out []MemoryResult
	for _, size := range []int{s.memoryN, 0} {
		lastHit := false
		cfg := middleware.Config{
			OnVerify:       func(e middleware.VerifyEvent) { lastHit = e.CacheHit },
			Issuers:        []string{fixture.Issuer},
			Audiences:      []string{fixture.Audience},
			Algorithms:     []string{"HS256"},
			HMACSecret:     secret,
			TokenCacheSize: size,
		}
		what := fmt.Sprintf("verified-token cache, TokenCacheSize %d", size)
		if size == 0 {
			what = "verified-token cache, TokenCacheSize default"
		}
		r, err := measure(what, s.memoryN,
			func() (any, error) { return middleware.New(cfg) },
			func(v any, i int) error {
				tok, err := token(i)
				if err != nil {
					return err
				}
				_, err = v.(*middleware.Verifier).Verify(ctx, tok)
				return err
			},
			func(v any) int {
				// The cache has no size accessor; estimate what it holds
				// from the hit rate (OnVerify's CacheHit) of a random
				// sample of the offered tokens.
				const n = 20000
				hits := 0
				for range n {
					tok, err := token(rand.IntN(s.memoryN))
					if err != nil {
						return 0
					}
					r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
					r.Header.Set("Authorization", "Bearer "+tok)
					lastHit = false
					if _, err := v.(*middleware.Verifier).Authenticate(httptest.NewRecorder(), r); err == nil && lastHit {
						hits++
					}
				}
				return int(float64(hits) / n * float64(s.memoryN))
			})
		if err != nil {
			return nil, nil, err
		}
		out = append(out, r)
	}
	log.Printf("memory: token length %d bytes", len(sample))
	return out, []string{fmt.Sprintf("verified-token cache entries are HS256 tokens of %d bytes; entries held are estimated from the hit rate of a random sample of 20,000 offered tokens", len(sample))}, nil
}
