package middleware

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// External vectors (testdata/vectors, see PROVENANCE.md there): every
// applicable one runs through the JWS-level step the Verifier itself uses
// (parseJWS → usableKey → checkSig), and every token also through the whole
// Verifier, where all of them must be rejected (their payloads are not
// claim sets, or they are HS*, expired, …) without a panic.

func readVector(t *testing.T, name string, dst any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// loadJWK turns a JWK (public or private) into a jwkset.JWK; nil when
// jwkset refuses it (then no key is usable, which must end in rejection).
//
// Vectors often publish the private key; a verification key set holds only
// its public half (a key with private members is refused, see
// TestKeyHygieneAnyStorage), so that is what this returns.
func loadJWK(raw json.RawMessage) *jwkset.JWK {
	var m jwkset.JWKMarshal
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	// An oct key has no public half: kept whole (it never verifies anything
	// from a JWK Set anyway).
	private := m.KTY == jwkset.KtyOct
	if !private {
		m.D, m.P, m.Q, m.DP, m.DQ, m.QI, m.OTH = "", "", "", "", "", "", nil
	}
	j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: private}, jwkset.JWKValidateOptions{})
	if err != nil {
		return nil
	}
	return &j
}

// vectorVerifier accepts every asymmetric alg, tokens without kid, and
// (for the JWS-level step only) RSA keys down to 1024 bits, so the vectors
// exercise the signature code rather than policy; policy has its own tests.
func vectorVerifier(t *testing.T, keys jwkset.Storage, now time.Time) *Verifier {
	return vectorVerifierBits(t, keys, now, 1024)
}

func vectorVerifierBits(t *testing.T, keys jwkset.Storage, now time.Time, minRSABits int) *Verifier {
	t.Helper()
	if keys == nil {
		keys = jwkset.NewMemoryStorage()
	}
	v, err := New(Config{Keys: keys, KIDOptional: true, MinRSABits: minRSABits, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// jwsLevel is the Verifier's JWS step on its own.
func jwsLevel(v *Verifier, token string, jwk *jwkset.JWK) *Error {
	j, _, err := v.parseJWS(token)
	if err != nil {
		return err
	}
	if jwk == nil {
		return errKeyUnusable
	}
	key, err := v.usableKey(*jwk, j.spec)
	if err != nil {
		return err
	}
	return checkSig(&j, key)
}

// jwtLevel runs the whole Verifier and requires a rejection; a panic fails
// the test by itself.
func jwtLevel(t *testing.T, name, token string, jwks ...*jwkset.JWK) {
	t.Helper()
	store := jwkset.NewMemoryStorage()
	for _, j := range jwks {
		if j != nil {
			_ = store.KeyWrite(context.Background(), *j)
		}
	}
	v := vectorVerifier(t, store, time.Now())
	if c, err := v.Verify(context.Background(), token); err == nil {
		t.Errorf("%s: JWT level accepted (sub %q)", name, c.Subject)
	}
}

func TestRFCVectors(t *testing.T) {
	var file struct {
		Vectors []struct {
			Name            string                            `json:"name"`
			Alg             json.RawMessage                   `json:"alg"`
			JWK             json.RawMessage                   `json:"jwk"`
			JWKS            *struct{ Keys []json.RawMessage } `json:"jwks"`
			Token           *string                           `json:"token"`
			ExpectValid     *bool                             `json:"expect_valid"`
			Applicable      bool                              `json:"applicable"`
			KeyExpectations []struct {
				KID        *string `json:"kid"`
				Usable     bool    `json:"usable_for_jws"`
				AllowedAlg string  `json:"allowed_alg"`
			} `json:"key_expectations"`
		} `json:"vectors"`
	}
	readVector(t, "rfc/rfc_vectors.json", &file)
	if len(file.Vectors) != 24 {
		t.Fatalf("%d vectors, want 24", len(file.Vectors))
	}
	v := vectorVerifier(t, nil, time.Now())
	ran := 0
	for _, vec := range file.Vectors {
		var keys []*jwkset.JWK
		if vec.JWK != nil {
			keys = append(keys, loadJWK(vec.JWK))
		}
		if vec.JWKS != nil {
			for _, k := range vec.JWKS.Keys {
				keys = append(keys, loadJWK(k))
			}
		}
		// Key-only entries: which keys may verify what.
		for _, ke := range vec.KeyExpectations {
			for _, k := range keys {
				if k == nil || ke.KID == nil || k.Marshal().KID != *ke.KID {
					continue
				}
				for _, alg := range DefaultAlgorithms() {
					_, err := v.usableKey(*k, algSpecs[alg])
					want := ke.Usable && (ke.AllowedAlg == "" || ke.AllowedAlg == alg) && algSpecs[alg].kty == k.Marshal().KTY
					if k.Marshal().KTY == jwkset.KtyEC && want {
						want = algSpecs[alg].crv == k.Marshal().CRV
					}
					if (err == nil) != want {
						t.Errorf("%s: key %q usable for %s = %v, want %v", vec.Name, *ke.KID, alg, err == nil, want)
					}
					ran++
				}
			}
		}
		if vec.Token == nil {
			continue
		}
		tok := *vec.Token
		// JWS level: an applicable vector verifies with one of its keys
		// exactly when the RFC says the signature is valid.
		if vec.Applicable && vec.ExpectValid != nil {
			ok := false
			for _, k := range keys {
				if jwsLevel(v, tok, k) == nil {
					ok = true
				}
			}
			want := *vec.ExpectValid && !isHS(tok) // HS* never verifies with a JWK Set key
			if ok != want {
				t.Errorf("%s: JWS level valid=%v, want %v", vec.Name, ok, want)
			}
			ran++
		} else if !vec.Applicable {
			// HS*, detached content: never accepted, not even at JWS level.
			for _, k := range keys {
				if jwsLevel(v, tok, k) == nil {
					t.Errorf("%s: inapplicable vector accepted at JWS level", vec.Name)
				}
			}
		}
		jwtLevel(t, vec.Name, tok, keys...)
		ran++
	}
	if ran < 30 {
		t.Fatalf("only %d checks ran", ran)
	}

	// RFC 7515 A.2/A.3 carry real claims (exp 1300819380, 2011): before
	// that instant, with kid-less key selection, the whole Verifier accepts.
	for _, name := range []string{"rfc7515-A.2-RS256", "rfc7515-A.3-ES256"} {
		for _, vec := range file.Vectors {
			if vec.Name != name {
				continue
			}
			store := jwkset.NewMemoryStorage()
			_ = store.KeyWrite(context.Background(), *loadJWK(vec.JWK))
			before := vectorVerifier(t, store, time.Unix(1300819380-3600, 0))
			c, err := before.Verify(context.Background(), *vec.Token)
			if err != nil || c.Issuer != "joe" {
				t.Errorf("%s before exp: %v", name, err)
			}
			after := vectorVerifier(t, store, time.Unix(1300819380+3600, 0))
			if _, err := after.Verify(context.Background(), *vec.Token); !errors.Is(err, ErrTokenExpired) {
				t.Errorf("%s after exp: %v, want ErrTokenExpired", name, err)
			}
		}
	}
}

func TestRFC8037Cookbook(t *testing.T) {
	var vec struct {
		Input struct {
			Key json.RawMessage `json:"key"`
		} `json:"input"`
		Output struct {
			Compact string `json:"compact"`
		} `json:"output"`
	}
	readVector(t, "jose-cookbook/rfc8037_jws.json", &vec)
	v := vectorVerifier(t, nil, time.Now())
	k := loadJWK(vec.Input.Key)
	if err := jwsLevel(v, vec.Output.Compact, k); err != nil {
		t.Fatalf("RFC 8037 A.4 at JWS level: %v", err)
	}
	bad := vec.Output.Compact[:len(vec.Output.Compact)-2] + "Ag"
	if bad == vec.Output.Compact {
		bad = vec.Output.Compact[:len(vec.Output.Compact)-2] + "AQ"
	}
	if jwsLevel(v, bad, k) == nil {
		t.Fatal("modified signature accepted")
	}
	jwtLevel(t, "RFC 8037 A.4", vec.Output.Compact, k)
}

type wycheproofFile struct {
	TestGroups []struct {
		Comment string          `json:"comment"`
		Public  json.RawMessage `json:"public"`
		Private json.RawMessage `json:"private"`
		// raw signature files
		PublicKeyJwk json.RawMessage `json:"publicKeyJwk"`
		KeyJwk       json.RawMessage `json:"keyJwk"`
		PublicKey    struct {
			Uncompressed string `json:"uncompressed"`
		} `json:"publicKey"`
		Tests []struct {
			TcID    json.Number `json:"tcId"`
			Comment string      `json:"comment"`
			JWS     string      `json:"jws"`
			Msg     string      `json:"msg"`
			Sig     string      `json:"sig"`
			Result  string      `json:"result"`
			Flags   []string    `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestWycheproofRawSignatures runs the raw-signature files (JWK public keys)
// through the JWS-level signature step: the key must be usable for the alg
// and the signature over msg must verify exactly when the vector is valid.
func TestWycheproofRawSignatures(t *testing.T) {
	v := vectorVerifier(t, nil, time.Now())
	for file, alg := range map[string]string{
		"ecdsa_secp256r1_sha256_p1363_test.json": "ES256",
		"ecdsa_secp384r1_sha384_p1363_test.json": "ES384",
		"ecdsa_secp521r1_sha512_p1363_test.json": "ES512",
		"ed25519_test.json":                      "EdDSA",
		"rsa_signature_2048_sha256_test.json":    "RS256",
		"rsa_pss_2048_sha256_mgf1_32_test.json":  "PS256",
	} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			var f wycheproofFile
			readVector(t, "wycheproof/"+file, &f)
			spec := algSpecs[alg]
			n, zeroRS := 0, 0
			for _, g := range f.TestGroups {
				raw := g.PublicKeyJwk
				if raw == nil {
					raw = g.KeyJwk
				}
				jwk := loadJWK(raw)
				if raw == nil && g.PublicKey.Uncompressed != "" {
					// A few edge-case groups give only the EC point.
					jwk = jwkFromUncompressed(t, g.PublicKey.Uncompressed, alg)
				}
				if jwk == nil {
					t.Fatalf("group %q: JWK does not load", g.Comment)
				}
				key, kerr := v.usableKey(*jwk, spec)
				if kerr != nil {
					t.Fatalf("group key not usable for %s: %v", alg, kerr)
				}
				for _, tc := range g.Tests {
					msg, err1 := hex.DecodeString(tc.Msg)
					sig, err2 := hex.DecodeString(tc.Sig)
					if err1 != nil || err2 != nil {
						t.Fatalf("tc %s: bad hex", tc.TcID)
					}
					if len(sig) > 0 && strings.Trim(tc.Sig, "0") == "" {
						zeroRS++
					}
					got := checkSig(&jws{signingInput: string(msg), sig: sig, spec: spec}, key) == nil
					switch tc.Result {
					case "valid":
						if !got {
							t.Errorf("tc %s (%s): valid signature rejected", tc.TcID, tc.Comment)
						}
					case "invalid":
						if got {
							t.Errorf("tc %s (%s, %v): invalid signature accepted", tc.TcID, tc.Comment, tc.Flags)
						}
					}
					n++
				}
			}
			if n < 100 {
				t.Fatalf("only %d tests", n)
			}
			if strings.HasPrefix(alg, "ES") && zeroRS == 0 {
				t.Fatalf("no r = s = 0 vector among %d", n)
			}
		})
	}
}

// TestWycheproofJWS runs the JWS and JWK test files. At the JWS level, an
// invalid vector must be rejected; a valid one must be accepted unless it
// falls under this Verifier's stricter policy, which must then be the
// reason: HS* (never with a JWK Set key).
func TestWycheproofJWS(t *testing.T) {
	v := vectorVerifierBits(t, nil, time.Now(), DefaultMinRSABits)
	for _, file := range []string{"json_web_signature_test.json", "json_web_key_test.json"} {
		t.Run(file, func(t *testing.T) {
			var f wycheproofFile
			readVector(t, "wycheproof/"+file, &f)
			n, accepted := 0, 0
			for _, g := range f.TestGroups {
				var keys []*jwkset.JWK
				raw := g.Public
				if raw == nil {
					raw = g.Private
				}
				var set struct{ Keys []json.RawMessage }
				if json.Unmarshal(raw, &set) == nil && set.Keys != nil {
					for _, k := range set.Keys {
						keys = append(keys, loadJWK(k))
					}
				} else {
					keys = append(keys, loadJWK(raw))
				}
				for _, tc := range g.Tests {
					name := fmt.Sprintf("%s tc %s (%s)", g.Comment, tc.TcID, tc.Comment)
					var errs []*Error
					ok := false
					for _, k := range keys {
						err := jwsLevel(v, tc.JWS, k)
						ok = ok || err == nil
						errs = append(errs, err)
					}
					n++
					switch {
					case tc.Result == "invalid" && ok:
						t.Errorf("%s: invalid vector accepted", name)
					case tc.Result == "valid" && ok:
						accepted++
					case tc.Result == "valid" && !ok:
						if !isHS(tc.JWS) && !jwkAlgDiffers(tc.JWS, keys) {
							t.Errorf("%s: valid vector rejected: %v", name, errs)
						}
					}
					jwtLevel(t, name, tc.JWS, keys...)
				}
			}
			if n < 20 || accepted == 0 {
				t.Fatalf("%d vectors, %d accepted at JWS level", n, accepted)
			}
		})
	}
}

// jwkAlgDiffers: every key names an alg other than the token's. RFC 7517
// §4.4 lets a verifier refuse that; this one does (as keyfunc does).
func jwkAlgDiffers(token string, keys []*jwkset.JWK) bool {
	alg := tokenAlg(token)
	for _, k := range keys {
		if k == nil || k.Marshal().ALG == "" || string(k.Marshal().ALG) == alg {
			return false
		}
	}
	return true
}

func isHS(token string) bool { return strings.HasPrefix(tokenAlg(token), "HS") }

func tokenAlg(token string) string {
	h, _, _ := strings.Cut(token, ".")
	n := decodedLen(len(h))
	if n < 0 {
		return ""
	}
	hdr := make([]byte, n)
	if !b64Decode(hdr, h) {
		return ""
	}
	var x struct{ Alg string }
	_ = json.Unmarshal(hdr, &x)
	return x.Alg
}

// TestSignatureEdgeCasesOnRealTokens ports the raw-signature edge cases onto
// tokens with valid claims: r = s = 0, r or s equal to the curve order,
// wrong lengths, DER instead of r‖s, and a non-canonical Ed25519 S (S + L).
func TestSignatureEdgeCasesOnRealTokens(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	v, _ := New(cfg)
	ctx := context.Background()
	es := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	si := es[:strings.LastIndexByte(es, '.')]
	order := k.ec.Curve.Params().N.FillBytes(make([]byte, 32))
	for name, sig := range map[string][]byte{
		"r=s=0":          make([]byte, 64),
		"r=s=n":          append(append([]byte{}, order...), order...),
		"r=0":            append(make([]byte, 32), order...),
		"all ones":       []byte(strings.Repeat("\xff", 64)),
		"63 bytes":       make([]byte, 63),
		"65 bytes":       make([]byte, 65),
		"DER-shaped sig": append([]byte{0x30, 0x44, 0x02, 0x20}, make([]byte, 68)...),
	} {
		if _, err := v.Verify(ctx, si+"."+b64(sig)); !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("ES256 %s: %v, want ErrSignatureInvalid", name, err)
		}
	}
	ed := sign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", nil, goodClaims())
	dot := strings.LastIndexByte(ed, '.')
	sig := make([]byte, 64)
	if !b64Decode(sig, ed[dot+1:]) {
		t.Fatal("decode")
	}
	// S' = S + L (little-endian): same point equation, non-canonical encoding.
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	s := new(big.Int).SetBytes(reverse(sig[32:]))
	s.Add(s, l)
	if s.BitLen() <= 256 {
		copy(sig[32:], reverse(s.FillBytes(make([]byte, 32))))
		if _, err := v.Verify(ctx, ed[:dot]+"."+b64(sig)); !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("EdDSA with S+L: %v, want ErrSignatureInvalid", err)
		}
	}
}

func jwkFromUncompressed(t *testing.T, hexPoint, alg string) *jwkset.JWK {
	t.Helper()
	pt, err := hex.DecodeString(hexPoint)
	if err != nil {
		t.Fatal(err)
	}
	curve := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
	if err != nil {
		return nil
	}
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{})
	if err != nil {
		return nil
	}
	return &j
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

func TestROCAFingerprint(t *testing.T) {
	k := keys(t)
	for _, key := range []*rsa.PrivateKey{k.rsa, k.rsa2, k.rsaSmall} {
		if rocaVulnerable(key.N) {
			t.Fatal("a freshly generated key has the ROCA fingerprint")
		}
	}
	var f wycheproofFile
	readVector(t, "wycheproof/json_web_key_test.json", &f)
	found := false
	for _, g := range f.TestGroups {
		if g.Comment != "jws_rsa_roca_key" {
			continue
		}
		var set struct{ Keys []json.RawMessage }
		if err := json.Unmarshal(g.Public, &set); err != nil || len(set.Keys) != 1 {
			t.Fatal(err)
		}
		pub, ok := loadJWK(set.Keys[0]).Key().(*rsa.PublicKey)
		if !ok || !rocaVulnerable(pub.N) {
			t.Fatalf("Wycheproof's ROCA key is not detected")
		}
		found = true
	}
	if !found {
		t.Fatal("no ROCA group")
	}
}
