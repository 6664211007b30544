package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/benchmarks/cases"
	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

var floodCases = []string{"keyfunc", "auth0", "jwx", "jwtgate_cold"}

func floodTokens(n int) ([]string, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	toks := make([]string, n)
	claims := fixture.ValidClaims(time.Now())
	for i := range toks {
		var kid [8]byte
		if _, err := rand.Read(kid[:]); err != nil {
			return nil, err
		}
		if toks[i], err = fixture.SignWith(key, jwt.SigningMethodEdDSA, hex.EncodeToString(kid[:]), claims); err != nil {
			return nil, err
		}
	}
	return toks, nil
}

func runFlood(ctx context.Context, fx *fixture.Fixture, s settings) ([]FloodResult, error) {
	toks, err := floodTokens(s.floodN)
	if err != nil {
		return nil, err
	}
	var out []FloodResult
	for _, name := range floodCases {
		c, ok := cases.ByName(name)
		if !ok {
			continue
		}
		inst, err := c.New(ctx, fx, fixture.EdDSA, cases.Options{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		// Warm: the first good request loads the key set.
		w := httptest.NewRecorder()
		inst.Handler.ServeHTTP(w, authReq(ctx, fx.Tokens[fixture.EdDSA]))
		if w.Code != http.StatusOK {
			inst.Close()
			return nil, fmt.Errorf("%s: good token answered %d", name, w.Code)
		}
		before := fx.Server.Fetches(name)
		r := FloodResult{Case: name}
		durs := make([]time.Duration, len(toks))
		var next, accepted atomic.Int64
		deadline := time.Now().Add(s.scenarioCap)
		start := time.Now()
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(toks) || time.Now().After(deadline) {
						return
					}
					rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					w := httptest.NewRecorder()
					t0 := time.Now()
					inst.Handler.ServeHTTP(w, authReq(rctx, toks[i]))
					durs[i] = time.Since(t0)
					cancel()
					if w.Code == http.StatusOK {
						accepted.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		r.Seconds = time.Since(start).Seconds()
		inst.Close()
		done := min(int(next.Load()), len(toks))
		r.Truncated = done < len(toks)
		r.Requests = done
		r.Accepted = int(accepted.Load())
		r.Fetches = fx.Server.Fetches(name) - before
		ds := sortedCopy(durs[:done])
		r.P50us, r.P99us, r.Maxus = percentile(ds, .5), percentile(ds, .99), percentile(ds, 1)
		log.Printf("flood %-13s %d requests in %.2fs, accepted %d, JWKS fetches %d, p50 %5.0fµs p99 %6.0fµs max %7.0fµs",
			name, r.Requests, r.Seconds, r.Accepted, r.Fetches, r.P50us, r.P99us, r.Maxus)
		out = append(out, r)
	}
	return out, nil
}

func authReq(ctx context.Context, tok string) *http.Request {
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}
