package jwtgatetest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// sentinels maps Rejection.Error names to the middleware's values; the kit
// names them as strings so that it need not import middleware.
var sentinels = map[string]error{
	"ErrTokenMalformed":      middleware.ErrTokenMalformed,
	"ErrAlgorithmNotAllowed": middleware.ErrAlgorithmNotAllowed,
	"ErrUnknownKID":          middleware.ErrUnknownKID,
	"ErrSignatureInvalid":    middleware.ErrSignatureInvalid,
	"ErrTokenExpired":        middleware.ErrTokenExpired,
	"ErrTokenNotYetValid":    middleware.ErrTokenNotYetValid,
	"ErrClaimsInvalid":       middleware.ErrClaimsInvalid,
	"ErrSenderConstrained":   middleware.ErrSenderConstrained,
}

// Each must-reject token is refused by jwtgate with the documented
// sentinel, whatever the issuer's default algorithm.
func TestMustRejectRefusedByJWTGate(t *testing.T) {
	for _, algs := range [][]string{{"ES256", "RS256"}, {"RS256", "ES384"}, {"PS256", "ES512"}, {"EdDSA", "ES256"}} {
		t.Run(algs[0], func(t *testing.T) {
			idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: algs})
			keys := idp.Keys(t)
			for _, r := range jwtgatetest.MustReject() {
				t.Run(string(r.Class), func(t *testing.T) {
					want := sentinels[r.Error]
					if want == nil || r.RFC == "" || r.Why == "" {
						t.Fatalf("table row incomplete: %+v", r)
					}
					tok := idp.Bad(t, r.Class)
					v := verifier(t, idp, middleware.Config{Keys: keys})
					_, err := v.Verify(context.Background(), tok)
					if !errors.Is(err, want) {
						t.Fatalf("%s (%s): Verify = %v, want %s", r.Class, r.RFC, err, r.Error)
					}
				})
			}
			// The issuer still mints good tokens after all that (RemovedKey rotated).
			if _, err := verifier(t, idp, middleware.Config{Keys: keys}).Verify(context.Background(), idp.Mint(t, jwtgatetest.Claims{})); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMustRejectTableCoversEveryClass(t *testing.T) {
	var classes []jwtgatetest.Class
	for _, r := range jwtgatetest.MustReject() {
		if slices.Contains(classes, r.Class) {
			t.Fatalf("%s listed twice", r.Class)
		}
		classes = append(classes, r.Class)
	}
	if len(classes) != 18 {
		t.Fatalf("%d classes, want 18 (issue 10's list)", len(classes))
	}
	tab := jwtgatetest.MustReject()
	tab[0].Error = "changed"
	if jwtgatetest.MustReject()[0].Error == "changed" {
		t.Fatal("MustReject shares its slice")
	}
}

// The faults are the only thing wrong: with the one check relaxed, or by a
// lenient parser, the token is accepted. So a verifier that refuses them
// refuses them for the documented reason.
func TestMustRejectTokensAreOtherwiseValid(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	ctx := context.Background()
	big := verifier(t, idp, middleware.Config{MaxTokenSize: 64 << 10})
	if tok := idp.Bad(t, jwtgatetest.Oversized); len(tok) <= middleware.DefaultMaxTokenSize || len(tok) > 10<<10 {
		t.Fatalf("oversized token is %d bytes", len(tok))
	} else if _, err := big.Verify(ctx, tok); err != nil {
		t.Fatalf("oversized token with a larger limit: %v", err)
	}
	bound := verifier(t, idp, middleware.Config{AllowSenderConstrained: true})
	if _, err := bound.Verify(ctx, idp.Bad(t, jwtgatetest.SenderConstrained)); err != nil {
		t.Fatalf("cnf token with AllowSenderConstrained: %v", err)
	}
	wrongAud := verifier(t, idp, middleware.Config{Audiences: []string{"wrong-audience.invalid"}})
	if _, err := wrongAud.Verify(ctx, idp.Bad(t, jwtgatetest.WrongAudience)); err != nil {
		t.Fatalf("wrong-aud token for its audience: %v", err)
	}
	// golang-jwt's default parser decodes base64url leniently and takes
	// the last duplicate: both tokens verify with it.
	keyfunc := func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		return idp.PublicKey(kid)
	}
	for _, c := range []jwtgatetest.Class{jwtgatetest.NonCanonicalBase64, jwtgatetest.DuplicateClaim} {
		tok, err := jwt.Parse(idp.Bad(t, c), keyfunc, jwt.WithValidMethods([]string{"ES256"}))
		if err != nil {
			t.Fatalf("%s with golang-jwt: %v", c, err)
		}
		if sub, _ := tok.Claims.GetSubject(); c == jwtgatetest.DuplicateClaim && sub != "admin" {
			t.Fatalf("duplicate sub read as %q", sub)
		}
	}
	// The header-key tokens verify with the key they carry.
	p, _, _ := jwt.NewParser().ParseUnverified(idp.Bad(t, jwtgatetest.HeaderJWK), jwt.MapClaims{})
	if _, ok := p.Header["jwk"].(map[string]any); !ok {
		t.Fatalf("no jwk in header %v", p.Header)
	}
	if s := idp.Bad(t, jwtgatetest.AlgNone); !strings.HasSuffix(s, ".") {
		t.Fatal("alg none token has a signature")
	}
}

func TestBadErrors(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"RS256"}})
	if _, err := idp.BadToken(jwtgatetest.ECDSAZeroSignature, jwtgatetest.Claims{}); err == nil {
		t.Fatal("ECDSA zero signature from an RSA-only issuer: no error")
	}
	if _, err := idp.BadToken("no-such-class", jwtgatetest.Claims{}); err == nil {
		t.Fatal("unknown class: no error")
	}
	var f fakeTB
	if idp.Bad(&f, "no-such-class"); f.failed == "" {
		t.Fatal("Bad did not fail the TB")
	}
}
