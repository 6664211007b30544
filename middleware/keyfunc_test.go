package middleware

import (
	"context"
	"testing"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// TestStricterThanKeyfunc compares the Verifier's own key look-up with the
// usual golang-jwt + keyfunc/v3 pairing over the same key set: whatever the
// Verifier accepts, keyfunc accepts too, and the tokens keyfunc lets
// through that the Verifier refuses are exactly the key-misuse cases the
// README lists (an HS256 token verified with an "oct" key published in the
// JWK Set, a "use":"enc" key, key_ops without verify, a 1024-bit RSA key).
func TestStricterThanKeyfunc(t *testing.T) {
	k := keys(t)
	ctx := context.Background()
	store := memKeys(t)
	secret := []byte("a shared secret someone published in the JWKS!!")
	oct, err := jwkset.NewJWKFromKey(secret, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "oct1"}, Marshal: jwkset.JWKMarshalOptions{Private: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.KeyWrite(ctx, oct); err != nil {
		t.Fatal(err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Storage: store})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := New(baseConfig(store))
	parser := jwt.NewParser(jwt.WithIssuer("https://idp.test/"), jwt.WithAudience("api"), jwt.WithTimeFunc(clock), jwt.WithExpirationRequired())
	cases := []struct {
		name           string
		token          string
		onlyKeyfuncAOK bool // keyfunc accepts, the Verifier must not
	}{
		{"RS256", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims()), false},
		{"ES256", sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims()), false},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", nil, goodClaims()), false},
		{"JWK alg mismatch", sign(t, jwt.SigningMethodRS384, k.rsa, "rsa1", nil, goodClaims()), false},
		{"HS256 with an oct key from the JWKS", sign(t, jwt.SigningMethodHS256, secret, "oct1", nil, goodClaims()), true},
		{"use enc", sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa-enc", nil, goodClaims()), true},
		{"key_ops sign only", sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa-ops-sign", nil, goodClaims()), true},
		{"1024-bit RSA", sign(t, jwt.SigningMethodRS256, k.rsaSmall, "rsa-small", nil, goodClaims()), true},
		{"wrong key", sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa1", nil, goodClaims()), false},
	}
	for _, c := range cases {
		_, ours := v.Verify(ctx, c.token)
		_, theirs := parser.Parse(c.token, kf.Keyfunc)
		switch {
		case ours == nil && theirs != nil:
			t.Errorf("%s: the Verifier accepts what keyfunc refuses (%v)", c.name, theirs)
		case c.onlyKeyfuncAOK && (ours == nil || theirs != nil):
			t.Errorf("%s: want keyfunc to accept (%v) and the Verifier to refuse (%v)", c.name, theirs, ours)
		case !c.onlyKeyfuncAOK && (ours == nil) != (theirs == nil):
			t.Errorf("%s: Verifier %v, keyfunc %v: want the same verdict", c.name, ours, theirs)
		}
	}
}

// TestKidSharedAcrossKeyTypes: RFC 7520 §3 publishes an EC and an RSA key
// under one kid. Whichever KeyRead returns, the key whose type fits the
// token's alg is used; a second key of the same type under that kid makes
// the choice ambiguous and the token is refused.
func TestKidSharedAcrossKeyTypes(t *testing.T) {
	k := keys(t)
	ctx := context.Background()
	store := jwkset.NewMemoryStorage()
	_ = store.KeyWrite(ctx, jwkOf(t, &k.ec.PublicKey, "bilbo", "", jwkset.UseSig))
	_ = store.KeyWrite(ctx, jwkOf(t, &k.rsa.PublicKey, "bilbo", "", jwkset.UseSig))
	v, _ := New(baseConfig(store))
	rs := sign(t, jwt.SigningMethodRS256, k.rsa, "bilbo", nil, goodClaims())
	es := sign(t, jwt.SigningMethodES256, k.ec, "bilbo", nil, goodClaims())
	for _, tok := range []string{rs, es} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("shared kid: %v", err)
		}
	}
	_ = store.KeyWrite(ctx, jwkOf(t, &k.rsa2.PublicKey, "bilbo", "", jwkset.UseSig))
	v, _ = New(baseConfig(store))
	if _, err := v.Verify(ctx, rs); err == nil {
		t.Fatal("two RSA keys under one kid: accepted, want a deterministic refusal")
	}
}
