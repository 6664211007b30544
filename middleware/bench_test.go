package middleware

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/ratelimit"
)

// Benchmarks for the request path, beside the bare signature check and plain
// golang-jwt on the same token, so ratios come from one run:
//
//	go test -run '^$' -bench . -benchmem ./middleware
//
// Handler/<alg>/cold has the verified-token cache off; /hit has it on with
// the token already verified.

type benchCase struct {
	alg    string
	method jwt.SigningMethod
	priv   any
	pub    any
	kid    string
}

func benchCases(b *testing.B) []benchCase {
	k := keys(b)
	return []benchCase{
		{"RS256", jwt.SigningMethodRS256, k.rsa, &k.rsa.PublicKey, "rsa1"},
		{"ES256", jwt.SigningMethodES256, k.ec, &k.ec.PublicKey, "ec1"},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, k.ed.Public(), "ed1"},
	}
}

// benchClaims is a realistic access token payload (~300 bytes).
func benchClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": "https://idp.test/", "sub": "user-1234567890", "aud": []string{"api", "other"},
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"jti": "3f1b6c1e-8d9a-4a53-9d2b-7f0c5e1a2b3c", "azp": "client-abc",
		"scope": "openid profile email read:things write:things", "tenant": "acme",
	}
}

// benchVerifier runs over a real cache.Cache fed by an httptest JWKS, as
// in production.
func benchVerifier(b *testing.B, cacheSize int) *Verifier {
	keysCache := newTestCache(b, serveJWKS(b, memKeys(b)).URL(), nil)
	v, err := New(Config{
		Keys:           keysCache,
		Issuers:        []string{"https://idp.test/"},
		Audiences:      []string{"api"},
		TokenCacheSize: cacheSize,
	})
	if err != nil {
		b.Fatal(err)
	}
	return v
}

func benchVerifierDoor(b *testing.B, cacheSize int) *Verifier {
	keysCache := newTestCache(b, serveJWKS(b, memKeys(b)).URL(), nil)
	v, err := New(Config{
		Keys:                 keysCache,
		Issuers:              []string{"https://idp.test/"},
		Audiences:            []string{"api"},
		TokenCacheSize:       cacheSize,
		TokenCacheDoorkeeper: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	return v
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

var nopNext = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

func BenchmarkHandler(b *testing.B) {
	for _, bc := range benchCases(b) {
		tok := sign(b, bc.method, bc.priv, bc.kid, nil, benchClaims())
		for _, mode := range []struct {
			name string
			size int
		}{{"cold", -1}, {"hit", 0}} {
			v := benchVerifier(b, mode.size)
			h := v.Handler(nopNext)
			req, _ := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			w := &nopWriter{h: http.Header{}}
			h.ServeHTTP(w, req) // warm the cache for "hit"
			if _, err := v.Verify(context.Background(), tok); err != nil {
				b.Fatal(err)
			}
			b.Run(bc.alg+"/"+mode.name+"/serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(w, req)
				}
			})
			b.Run(bc.alg+"/"+mode.name+"/parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					w := &nopWriter{h: http.Header{}}
					for pb.Next() {
						h.ServeHTTP(w, req)
					}
				})
			})
		}
	}
}

// BenchmarkVerify is Verify with no HTTP around it: cold (cache off) and a
// verified-token cache hit.
func BenchmarkVerify(b *testing.B) {
	for _, bc := range benchCases(b) {
		tok := sign(b, bc.method, bc.priv, bc.kid, nil, benchClaims())
		for _, mode := range []struct {
			name string
			size int
		}{{"cold", -1}, {"hit", 0}} {
			v := benchVerifier(b, mode.size)
			ctx := context.Background()
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.Run(bc.alg+"/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// bareCheck is the bare stdlib signature check on tok: hash the signing
// input and verify the (already decoded) signature.
func bareCheck(b *testing.B, bc benchCase, tok string) func() bool {
	dot := strings.LastIndexByte(tok, '.')
	si := tok[:dot]
	sig, err := jwt.NewParser().DecodeSegment(tok[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	var verify func() bool
	switch pub := bc.pub.(type) {
	case *rsa.PublicKey:
		verify = func() bool {
			h := sha256.Sum256([]byte(si))
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
		}
	case *ecdsa.PublicKey:
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		verify = func() bool {
			h := sha256.Sum256([]byte(si))
			return ecdsa.Verify(pub, h[:], r, s)
		}
	case ed25519.PublicKey:
		verify = func() bool { return ed25519.Verify(pub, []byte(si), sig) }
	}
	if !verify() {
		b.Fatal("bare check rejects the token")
	}
	return verify
}

// BenchmarkBare is the bare stdlib signature check on the same token.
func BenchmarkBare(b *testing.B) {
	for _, bc := range benchCases(b) {
		verify := bareCheck(b, bc, sign(b, bc.method, bc.priv, bc.kid, nil, benchClaims()))
		b.Run(bc.alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !verify() {
					b.Fatal("rejected")
				}
			}
		})
	}
}

// BenchmarkGolangJWT is plain jwt.ParseWithClaims with MapClaims and a map
// key look-up, the usual hand-rolled middleware core.
func BenchmarkGolangJWT(b *testing.B) {
	for _, bc := range benchCases(b) {
		tok := sign(b, bc.method, bc.priv, bc.kid, nil, benchClaims())
		parse := golangJWT(bc)
		b.Run(bc.alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := parse(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func golangJWT(bc benchCase) func(string) error {
	keyByKID := map[string]any{bc.kid: bc.pub}
	p := jwt.NewParser(jwt.WithValidMethods([]string{bc.alg}), jwt.WithIssuer("https://idp.test/"), jwt.WithAudience("api"), jwt.WithExpirationRequired())
	kf := func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return keyByKID[kid], nil
	}
	return func(tok string) error {
		_, err := p.ParseWithClaims(tok, jwt.MapClaims{}, kf)
		return err
	}
}

// BenchmarkColdRatio interleaves, in every iteration, the bare signature
// check, Handler with the verified-token cache off, and plain golang-jwt
// on the same token, and reports the medians of the per-iteration ratios.
// On a shared, loaded machine separate benchmarks drift apart; paired
// measurements do not. ns/op is the sum of all three.
func BenchmarkColdRatio(b *testing.B) {
	for _, bc := range benchCases(b) {
		tok := sign(b, bc.method, bc.priv, bc.kid, nil, benchClaims())
		bare := bareCheck(b, bc, tok)
		parse := golangJWT(bc)
		h := benchVerifier(b, -1).Handler(nopNext)
		req, _ := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := &nopWriter{h: http.Header{}}
		b.Run(bc.alg, func(b *testing.B) {
			var handler, jwtr []float64
			for b.Loop() {
				t0 := time.Now()
				bare()
				t1 := time.Now()
				h.ServeHTTP(w, req)
				t2 := time.Now()
				_ = parse(tok)
				t3 := time.Now()
				d := float64(t1.Sub(t0))
				handler = append(handler, float64(t2.Sub(t1))/d)
				jwtr = append(jwtr, float64(t3.Sub(t2))/d)
			}
			b.ReportMetric(median(handler), "handler/bare")
			b.ReportMetric(median(jwtr), "golangjwt/bare")
		})
	}
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkNeverRepeated is the verified-token cache's cost when no token
// is ever seen twice (many users, short-lived tokens): every request is a
// cold check, and the cache only adds its insert (and eviction once full).
func BenchmarkNeverRepeated(b *testing.B) {
	k := keys(b)
	toks := make([]string, 4096)
	for i := range toks {
		toks[i] = sign(b, jwt.SigningMethodES256, k.ec, "ec1", nil, with(benchClaims(), "jti", strconv.Itoa(i)))
	}
	for _, mode := range []struct {
		name string
		size int
		door bool
	}{{"cache-off", -1, false}, {"cache-on", 64, false}, {"doorkeeper", 64, true}} {
		// 64 entries for 4096 tokens in turn: a token is evicted long
		// before it comes round again, as with a full cache under
		// never-repeated tokens. The doorkeeper's table (1,024 slots)
		// has forgotten it too.
		v := benchVerifier(b, mode.size)
		if mode.door {
			v = benchVerifierDoor(b, mode.size)
		}
		ctx := context.Background()
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := v.Verify(ctx, toks[i%len(toks)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkHandlerHitOverhead splits a cache hit through Handler into what
// net/http imposes on any middleware that hands values to the next handler
// (r.WithContext and a context node: two allocations) and jwtgate's own
// share, all in one run: "next" calls the handler directly, "context" only
// adds claims to the request's context, "hit" is the whole Handler, and
// "hit+limit" the same hit with a ratelimit.Local limiter that never
// limits (RateLimit-* headers set), "hit+limit+hooks" with an OnDecision
// hook and a limiter Observer as well (what the gateway's metrics set).
func BenchmarkHandlerHitOverhead(b *testing.B) {
	k := keys(b)
	tok := sign(b, jwt.SigningMethodES256, k.ec, "ec1", nil, benchClaims())
	v := benchVerifier(b, 0)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := &nopWriter{h: http.Header{}}
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"next", nopNext},
		{"context", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			nopNext.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), c)))
		})},
		{"hit", v.Handler(nopNext)},
		{"hit+limit", v.With(Route{RateLimit: benchLimit(b, nil, nil)}).Handler(nopNext)},
		{"hit+limit+hooks", v.With(Route{RateLimit: benchLimit(b,
			func(RateLimitEvent) {}, func(ratelimit.Event) {})}).Handler(nopNext)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				serveOnce(bc.h, w, req)
			}
		})
	}
}

// benchLimit is a rate limit that never limits one subject in a benchmark,
// with the given hooks (nil: none).
func benchLimit(b *testing.B, onDecision func(RateLimitEvent), observe func(ratelimit.Event)) *RateLimit {
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1e9, Burst: 1e9, Observer: observe})
	if err != nil {
		b.Fatal(err)
	}
	return &RateLimit{Limiter: lim, OnDecision: onDecision}
}

// serveOnce is one request, in a function of its own so that callgrind
// can count exactly it (--toggle-collect='*serveOnce*').
//
//go:noinline
func serveOnce(h http.Handler, w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }
