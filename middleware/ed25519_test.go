package middleware

import (
	"context"
	"errors"
	"testing"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// TestEd25519AlgName: RFC 9864 registers "Ed25519" as the fully specified
// name of what "EdDSA" means here (the Verifier's EdDSA is Ed25519 only).
// A JWK published with alg "Ed25519" verifies EdDSA tokens and the other
// way round; a token with alg "Ed25519" is accepted when "Ed25519" or
// "EdDSA" is allowed; "Ed25519" alone does not let the deprecated "EdDSA"
// in; no other key type gets through under either name.
func TestEd25519AlgName(t *testing.T) {
	k := keys(t)
	ctx := context.Background()
	store := memKeys(t) // "ed1" is published with alg EdDSA
	for _, j := range []jwkset.JWK{
		jwkAlg(t, jwkOf(t, k.ed.Public(), "ed-new", "", jwkset.UseSig), "Ed25519"),
		jwkAlg(t, jwkOf(t, &k.ec.PublicKey, "ec-as-ed", "", ""), "Ed25519"),
	} {
		if err := store.KeyWrite(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	tok := func(alg, kid string) string {
		return signRaw(t, jwt.SigningMethodEdDSA, k.ed, mustJSON(t, map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}), mustJSON(t, goodClaims()))
	}
	verifier := func(algs ...string) *Verifier {
		cfg := baseConfig(store)
		cfg.Algorithms = algs
		v, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	def, eddsa, ed25519Only, es := verifier(), verifier("EdDSA"), verifier("Ed25519"), verifier("ES256")
	for _, tc := range []struct {
		name string
		v    *Verifier
		tok  string
		want error
	}{
		{"default: EdDSA token, JWK alg Ed25519", def, tok("EdDSA", "ed-new"), nil},
		{"default: Ed25519 token, JWK alg Ed25519", def, tok("Ed25519", "ed-new"), nil},
		{"default: Ed25519 token, JWK alg EdDSA", def, tok("Ed25519", "ed1"), nil},
		{"EdDSA listed: Ed25519 token", eddsa, tok("Ed25519", "ed-new"), nil},
		{"EdDSA listed: EdDSA token, JWK alg Ed25519", eddsa, tok("EdDSA", "ed-new"), nil},
		{"Ed25519 listed: Ed25519 token", ed25519Only, tok("Ed25519", "ed1"), nil},
		{"Ed25519 listed: deprecated EdDSA refused", ed25519Only, tok("EdDSA", "ed-new"), ErrAlgorithmNotAllowed},
		{"ES256 only: Ed25519 refused", es, tok("Ed25519", "ed-new"), ErrAlgorithmNotAllowed},
		{"lower-case ed25519 is not the registered name", def, tok("ed25519", "ed-new"), ErrAlgorithmNotAllowed},
		{"EC key labelled Ed25519", def, tok("Ed25519", "ec-as-ed"), ErrAlgorithmNotAllowed},
		{"EC key labelled Ed25519, ES256 token", def, sign(t, jwt.SigningMethodES256, k.ec, "ec-as-ed", nil, goodClaims()), ErrAlgorithmNotAllowed},
		{"Ed25519 token, wrong key", def, signRaw(t, jwt.SigningMethodES256, k.ec, []byte(`{"alg":"Ed25519","kid":"ed-new"}`), mustJSON(t, goodClaims())), ErrSignatureInvalid},
	} {
		_, err := tc.v.Verify(ctx, tc.tok)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}

	// The event names the token's own alg.
	var got string
	cfg := baseConfig(store)
	cfg.OnVerify = func(e VerifyEvent) { got = e.Alg }
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := do(v.Handler(okHandler), bearerReq(tok("Ed25519", "ed-new"))); r.status != 200 || got != "Ed25519" {
		t.Errorf("HTTP Ed25519 token: %d, event alg %q", r.status, got)
	}
}

// TestEd25519AlgNameThroughCache: the key cache keeps a JWK whose alg is
// "Ed25519" (cache/parse.go), and the Verifier uses it.
func TestEd25519AlgNameThroughCache(t *testing.T) {
	k := keys(t)
	// Served as written: jwkset's JSONPublic would rewrite alg to "EdDSA".
	srv := serveJWKS(t, jwkset.NewMemoryStorage())
	m := jwkOf(t, k.ed.Public(), "ed-new", "", jwkset.UseSig).Marshal()
	m.ALG = "Ed25519"
	body := mustJSON(t, map[string]any{"keys": []any{m}})
	srv.setBody(t, body)
	v, err := New(baseConfig(newTestCache(t, srv.URL(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"EdDSA", "Ed25519"} {
		tok := signRaw(t, jwt.SigningMethodEdDSA, k.ed, mustJSON(t, map[string]any{"alg": alg, "kid": "ed-new"}), mustJSON(t, goodClaims()))
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("%s token with a cached alg Ed25519 key: %v", alg, err)
		}
	}
}

// jwkAlg is j with its alg set to alg, through the JWK's JSON form:
// jwkset's NewJWKFromKey refuses "Ed25519" (v0.11.4 predates RFC 9864),
// while providers publish it and the key cache keeps it.
func jwkAlg(t testing.TB, j jwkset.JWK, alg jwkset.ALG) jwkset.JWK {
	t.Helper()
	m := j.Marshal()
	m.ALG = alg
	out, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
