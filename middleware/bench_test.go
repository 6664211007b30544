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
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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

func benchVerifier(b *testing.B, cacheSize int) *Verifier {
	v, err := New(Config{
		Keys:           &versioned{Storage: memKeys(b)},
		Issuers:        []string{"https://idp.test/"},
		Audiences:      []string{"api"},
		TokenCacheSize: cacheSize,
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

// BenchmarkVerifyHit is the verified-token cache hit alone (no HTTP).
func BenchmarkVerifyHit(b *testing.B) {
	bc := benchCases(b)[0]
	tok := sign(b, bc.method, bc.priv, bc.kid, nil, benchClaims())
	v := benchVerifier(b, 0)
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBare is the bare stdlib signature check on the same token: hash
// the signing input and verify the (already decoded) signature.
func BenchmarkBare(b *testing.B) {
	for _, bc := range benchCases(b) {
		tok := sign(b, bc.method, bc.priv, bc.kid, nil, benchClaims())
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
		keyByKID := map[string]any{bc.kid: bc.pub}
		p := jwt.NewParser(jwt.WithValidMethods([]string{bc.alg}), jwt.WithIssuer("https://idp.test/"), jwt.WithAudience("api"), jwt.WithExpirationRequired())
		kf := func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			return keyByKID[kid], nil
		}
		b.Run(bc.alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.ParseWithClaims(tok, jwt.MapClaims{}, kf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
