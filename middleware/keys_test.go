package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// The key cache and the Verifier together, in a testing/synctest bubble:
// virtual time, and a provider served in memory by jwtgatetest whose JWK
// Set is the test's own document (Behavior.Body, with an ETag so that
// refetches are conditional).

// memProvider is an in-memory JWK Set endpoint at https://idp.test that
// counts its requests.
type memProvider struct {
	idp      *jwtgatetest.Issuer
	requests atomic.Int64
	mu       sync.Mutex
	last     time.Time // the last request's arrival
	tooSoon  int       // requests less than a second after the one before
	uncond   int       // requests after the first without If-None-Match
}

func newMemProvider(t *testing.T) *memProvider {
	t.Helper()
	p := &memProvider{}
	p.idp = jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{URL: "https://idp.test", Algorithms: []string{"ES256"},
		OnRequest: func(r jwtgatetest.Request) {
			if r.Path != jwtgatetest.JWKSPath {
				return
			}
			n := p.requests.Add(1)
			p.mu.Lock()
			defer p.mu.Unlock()
			now := time.Now()
			if n > 1 && now.Sub(p.last) < time.Second {
				p.tooSoon++
			}
			if n > 1 && r.Header.Get("If-None-Match") == "" {
				p.uncond++
			}
			p.last = now
		}})
	return p
}

// serve makes the provider publish keys, under a new ETag.
func (p *memProvider) serve(t *testing.T, keys ...jwkset.JWK) {
	t.Helper()
	doc := jwkset.JWKSMarshal{}
	for _, k := range keys {
		doc.Keys = append(doc.Keys, k.Marshal())
	}
	body, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	etag := `"` + strconv.FormatUint(rand.Uint64(), 36) + `"`
	if err := p.idp.SetJWKS(jwtgatetest.Behavior{Body: body, ETag: etag}); err != nil {
		t.Fatal(err)
	}
}

// wantPaced fails if the provider saw two requests less than a second
// apart or a refetch without If-None-Match.
func (p *memProvider) wantPaced(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tooSoon > 0 || p.uncond > 0 {
		t.Fatalf("provider: %d requests less than 1s after the one before, %d refetches without If-None-Match", p.tooSoon, p.uncond)
	}
}

func (p *memProvider) cache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.New(context.Background(), cache.Config{URL: p.idp.JWKSURL(), HTTPClient: p.idp.Client(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	synctest.Wait()
	return c
}

// Goal (issue 19, item 12): a provider that reuses a kid for new key
// material. A token signed with the new material under the known kid fails
// its signature against the cached key; the Verifier asks the cache once
// for a fresh read of the kid, the cache refetches (one conditional
// request), and the token is accepted. Forged signatures under the kid,
// however many, cost the provider at most one request a second and are
// 401 "signature invalid"; a plain jwkset.Storage (no KeyRecheck) still
// works, with the failure final.
func TestReusedKIDWithNewMaterialIsPickedUpAfterASignatureFailure(t *testing.T) {
	k := keys(t)
	synctest.Test(t, func(t *testing.T) {
		p := newMemProvider(t)
		p.serve(t, jwkOf(t, &k.ec.PublicKey, "k1", jwkset.AlgES256, jwkset.UseSig))
		c := p.cache(t)
		v, err := New(baseConfig(c))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		oldTok := sign(t, jwt.SigningMethodES256, k.ec, "k1", nil, goodClaims())
		if _, err := v.Verify(ctx, oldTok); err != nil {
			t.Fatalf("token of the first material: %v", err)
		}

		time.Sleep(5 * time.Second)
		// The provider replaces k1's material.
		p.serve(t, jwkOf(t, &k.ec2.PublicKey, "k1", jwkset.AlgES256, jwkset.UseSig))
		newTok := sign(t, jwt.SigningMethodES256, k.ec2, "k1", nil, goodClaims())
		before := p.requests.Load()
		if _, err := v.Verify(ctx, newTok); err != nil {
			t.Fatalf("token of the new material under the same kid: %v", err)
		}
		if n := p.requests.Load() - before; n != 1 {
			t.Fatalf("%d requests for the recheck, want 1", n)
		}
		if _, err := v.Verify(ctx, oldTok); !errors.Is(err, ErrSignatureInvalid) {
			t.Fatalf("token of the replaced material: %v, want ErrSignatureInvalid", err)
		}

		// Forged signatures under k1 from many goroutines for 10s.
		forged := make([]string, 64)
		for i := range forged {
			c := goodClaims()
			c["jti"] = fmt.Sprint("forged-", i)
			forged[i] = sign(t, jwt.SigningMethodES256, k.ec, "k1", nil, c)
		}
		start := time.Now()
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := 0; time.Since(start) < 10*time.Second; i++ {
					if _, err := v.Verify(ctx, forged[(g+i)%len(forged)]); !errors.Is(err, ErrSignatureInvalid) {
						t.Errorf("forged signature under a known kid: %v, want ErrSignatureInvalid", err)
						return
					}
					time.Sleep(time.Duration(7+g) * time.Millisecond)
				}
			})
		}
		wg.Wait()
		if n := p.requests.Load() - before; n > 1+10 {
			t.Fatalf("%d requests for 10s of forged signatures, want at most one a second", n)
		}
		p.wantPaced(t)
		if st := c.Status(); st.RecheckRefreshes == 0 || st.UnknownKIDRefreshes != 0 {
			t.Fatalf("status: recheck refreshes %d, unknown-kid refreshes %d", st.RecheckRefreshes, st.UnknownKIDRefreshes)
		}

		// Behind a plain jwkset.Storage a signature failure is final.
		m := jwkset.NewMemoryStorage()
		_ = m.KeyWrite(ctx, jwkOf(t, &k.ec.PublicKey, "k1", jwkset.AlgES256, jwkset.UseSig))
		vm, err := New(baseConfig(m))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vm.Verify(ctx, newTok); !errors.Is(err, ErrSignatureInvalid) {
			t.Fatalf("plain storage: %v, want ErrSignatureInvalid", err)
		}
		if _, err := vm.Verify(ctx, oldTok); err != nil {
			t.Fatalf("plain storage, good token: %v", err)
		}
	})
}

// Goal (issue 19, item 12), through the Handler: a continuous flood of
// junk kids is answered 401, never 503, while the provider is healthy, at
// most one conditional JWK Set request a second; a key published during
// the flood is accepted within 2s; during an outage unknown kids are 503
// with the cache's Retry-After (1s, not the Verifier's 5s guess), never
// 401.
func TestUnknownKIDFloodThroughTheHandler(t *testing.T) {
	k := keys(t)
	synctest.Test(t, func(t *testing.T) {
		p := newMemProvider(t)
		first := jwkOf(t, &k.ec.PublicKey, "k1", jwkset.AlgES256, jwkset.UseSig)
		p.serve(t, first)
		c := p.cache(t)
		v, err := New(baseConfig(c))
		if err != nil {
			t.Fatal(err)
		}
		h := v.Handler(okHandler)
		junk := make([]string, 256) // signed first, so that the flood is dense
		for i := range junk {
			junk[i] = sign(t, jwt.SigningMethodES256, k.ec, fmt.Sprintf("junk-%d-%x", i, rand.Uint64()), nil, goodClaims())
		}

		flood := func(span time.Duration, want int) (statuses map[int]int) {
			statuses = make(map[int]int)
			var mu sync.Mutex
			start := time.Now()
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					for i := g; time.Since(start) < span; i++ {
						got := do(h, bearerReq(junk[i%len(junk)]))
						mu.Lock()
						statuses[got.status]++
						mu.Unlock()
						if got.status != want || (want == 503 && got.header.Get("Retry-After") != "1") {
							t.Errorf("junk kid: %d Retry-After %q, want %d", got.status, got.header.Get("Retry-After"), want)
							return
						}
						time.Sleep(time.Duration(5+g) * time.Millisecond)
					}
				})
			}
			// Meanwhile the provider publishes k2, and a client uses it.
			if want == 401 {
				time.Sleep(7*time.Second + 300*time.Millisecond)
				p.serve(t, first, jwkOf(t, &k.ec2.PublicKey, "k2", jwkset.AlgES256, jwkset.UseSig))
				published := time.Now()
				tok := sign(t, jwt.SigningMethodES256, k.ec2, "k2", nil, goodClaims())
				for {
					got := do(h, bearerReq(tok))
					if got.status == 200 {
						break
					}
					if got.status != 401 || time.Since(published) > 2*time.Second {
						t.Errorf("new key %v after publication: %d, want 200 within 2s", time.Since(published), got.status)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			wg.Wait()
			return statuses
		}
		t.Logf("healthy: %v", flood(20*time.Second, 401))
		p.wantPaced(t)

		if err := p.idp.SetJWKS(jwtgatetest.Behavior{Status: 503}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // the last set is no longer authoritative
		before := p.requests.Load()
		t.Logf("outage: %v", flood(10*time.Second, 503))
		if n := p.requests.Load() - before; n > 10+1 {
			t.Fatalf("%d requests in a 10s outage, want at most one a second", n)
		}
		p.wantPaced(t)
	})
}
