package benchmarks

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/benchmarks/cases"
	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

// TestCasesVerify proves that every case measured by the benchmarks does
// the whole job: a case that accepted a bad signature, a wrong issuer or
// audience, an expired token or an unknown key would be measured doing less
// work than the others.
func TestCasesVerify(t *testing.T) {
	fx := sharedFixture(t)
	now := time.Now()
	_, strangerKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases.All() {
		for _, alg := range fixture.Algs {
			t.Run(c.Name+"/"+alg, func(t *testing.T) {
				inst := build(t, c, alg)
				defer inst.Close()

				ok, sub := newCaller(inst, fx.Tokens[alg]).call()
				if !ok {
					t.Fatal("good token rejected")
				}
				if c.Kind == cases.Verifier && sub != fixture.Subject {
					t.Fatalf("inner handler saw sub %q, want %q", sub, fixture.Subject)
				}

				if ok, _ := newCaller(inst, "").call(); ok && c.Framework != "" {
					t.Error("request without a token accepted")
				}
				if c.Kind == cases.Floor && c.Framework != "" {
					return // the no-JWT floors verify nothing, by design
				}
				if ok, _ := newCaller(inst, fixture.BadSignature(fx.Tokens[alg])).call(); ok {
					t.Error("bad signature accepted")
				}
				if c.Kind == cases.Floor {
					return // crypto_floor checks only the signature
				}

				bad := map[string]jwt.RegisteredClaims{}
				wrongIss := fixture.ValidClaims(now)
				wrongIss.Issuer = "https://evil.example/"
				bad["wrong iss"] = wrongIss
				wrongAud := fixture.ValidClaims(now)
				wrongAud.Audience = jwt.ClaimStrings{"someone-else"}
				bad["wrong aud"] = wrongAud
				expired := fixture.ValidClaims(now)
				expired.IssuedAt = jwt.NewNumericDate(now.Add(-2 * time.Hour))
				expired.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
				bad["expired"] = expired
				for name, claims := range bad {
					tok, err := fx.Sign(alg, fx.KIDs[alg], claims)
					if err != nil {
						t.Fatal(err)
					}
					if ok, _ := newCaller(inst, tok).call(); ok {
						t.Errorf("%s accepted", name)
					}
				}
				if alg == fixture.EdDSA {
					// Right kid, wrong key: the signature cannot verify.
					tok, err := fixture.SignWith(strangerKey, jwt.SigningMethodEdDSA, fx.KIDs[alg], fixture.ValidClaims(now))
					if err != nil {
						t.Fatal(err)
					}
					if ok, _ := newCaller(inst, tok).call(); ok {
						t.Error("token signed by a key outside the JWKS accepted")
					}
				}
			})
		}
	}
}
