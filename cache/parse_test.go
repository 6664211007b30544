package cache

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// edit returns raw with fields set (nil value: deleted).
func edit(t *testing.T, raw json.RawMessage, fields map[string]any) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keySource is an issuer whose published keys the parse tests take apart.
func keySource(t *testing.T) *jwtgatetest.Issuer {
	t.Helper()
	return memIdP(t, "RS256", "PS256", "ES256", "ES384", "EdDSA")
}

// jwkOf returns idp's published JWK for alg.
func jwkOf(t *testing.T, idp *jwtgatetest.Issuer, alg string) json.RawMessage {
	t.Helper()
	kid := kidOf(t, idp, alg)
	for _, k := range publishedJWKs(t, idp) {
		if strings.Contains(string(k), `"`+kid+`"`) {
			return k
		}
	}
	t.Fatalf("no published %s key", alg)
	return nil
}

func TestParseKeepsUsableKeysAndSkipsOthersWithReason(t *testing.T) {
	idp := keySource(t)
	good := jwkOf(t, idp, "RS256")
	// Generated here: the kit makes no RSA key below 2048 bits.
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallJWK, err := jwkset.NewJWKFromKey(&small.PublicKey, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: "small", ALG: jwkset.AlgRS256, USE: jwkset.UseSig},
	})
	if err != nil {
		t.Fatal(err)
	}
	smallRaw, _ := json.Marshal(smallJWK.Marshal())
	es := jwkOf(t, idp, "ES256")
	ed := jwkOf(t, idp, "EdDSA")
	ps := jwkOf(t, idp, "PS256")

	tests := []struct {
		name   string
		key    json.RawMessage
		reason string // "" means usable
	}{
		{"RSA 2048 RS256", good, ""},
		{"RSA PS256", ps, ""},
		{"EC P-256 ES256", es, ""},
		{"Ed25519 EdDSA", ed, ""},
		{"no alg no use", edit(t, good, map[string]any{"alg": nil, "use": nil}), ""},
		{"key_ops verify", edit(t, good, map[string]any{"key_ops": []string{"verify"}}), ""},
		{"RSA 1024", smallRaw, "RSA key of 1024 bits"},
		{"use enc", edit(t, good, map[string]any{"use": "enc"}), `use "enc" is not sig`},
		{"key_ops without verify", edit(t, good, map[string]any{"key_ops": []string{"encrypt"}}), "key_ops lacks verify"},
		// RFC 7517 §4.3: an empty key_ops permits nothing; values must not repeat.
		{"key_ops empty", edit(t, good, map[string]any{"key_ops": []string{}}), "key_ops lacks verify"},
		{"key_ops repeated", edit(t, good, map[string]any{"key_ops": []string{"verify", "verify"}}), "key_ops repeats"},
		{"key_ops null entry", edit(t, good, map[string]any{"key_ops": []any{"verify", nil}}), "key_ops has an empty or null entry"},
		{"kty oct", json.RawMessage(`{"kty":"oct","kid":"h","k":"c2VjcmV0"}`), `unsupported kty "oct"`},
		{"kty unknown", json.RawMessage(`{"kty":"XYZ","kid":"x"}`), `unsupported kty "XYZ"`},
		{"OKP X25519", json.RawMessage(`{"kty":"OKP","crv":"X25519","kid":"x","x":"3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08"}`), "unsupported OKP curve"},
		{"alg HS256 on RSA", edit(t, good, map[string]any{"alg": "HS256"}), "not an accepted signature algorithm"},
		{"alg none", edit(t, good, map[string]any{"alg": "none"}), "not an accepted signature algorithm"},
		{"alg ES256 on RSA", edit(t, good, map[string]any{"alg": "ES256"}), "does not fit"},
		{"alg ES384 on P-256", edit(t, es, map[string]any{"alg": "ES384"}), "does not fit"},
		{"private d published", edit(t, es, map[string]any{"d": "AAAA"}), "private key material"},
		{"broken n", edit(t, good, map[string]any{"n": "!!!"}), "broken key parameters"},
		{"missing e", edit(t, good, map[string]any{"e": nil}), "broken"},
		{"huge e", edit(t, good, map[string]any{"e": "AQAAAAAAAAAB"}), "broken RSA exponent"},
		{"even e", edit(t, good, map[string]any{"e": "Ag"}), "broken RSA exponent"},
		{"EC point off curve", edit(t, es, map[string]any{"y": "AAAA"}), "broken key parameters"},
		{"kty wrong type", json.RawMessage(`{"kty":5}`), "malformed key object"},
		{"not an object", json.RawMessage(`"x"`), "malformed key object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A usable companion key keeps the set valid so the skip is visible.
			other := jwkOf(t, idp, "ES384")
			ps, err := parseJWKS(jwks(tt.key, other), 10)
			if err != nil {
				t.Fatalf("parseJWKS: %v", err)
			}
			if tt.reason == "" {
				if len(ps.keys) != 2 || len(ps.skipped) != 0 {
					t.Fatalf("want 2 usable keys, got %d (skipped %+v)", len(ps.keys), ps.skipped)
				}
				return
			}
			if len(ps.keys) != 1 || len(ps.skipped) != 1 {
				t.Fatalf("want 1 usable, 1 skipped; got %d usable, skipped %+v", len(ps.keys), ps.skipped)
			}
			if got := ps.skipped[0].Reason; !strings.Contains(got, tt.reason) {
				t.Fatalf("skip reason %q, want it to contain %q", got, tt.reason)
			}
			if ps.skipped[0].Index != 0 {
				t.Fatalf("skip index %d, want 0", ps.skipped[0].Index)
			}
		})
	}
}

func TestParseRejectsDocumentsThatAreNotUsableSets(t *testing.T) {
	good := jwkOf(t, keySource(t), "RS256")
	tests := []struct {
		name string
		body string
		want error
	}{
		{"html", "<html><body>Service Unavailable</body></html>", ErrInvalidJWKS},
		{"truncated json", string(jwks(good))[:40], ErrInvalidJWKS},
		{"empty body", "", ErrInvalidJWKS},
		{"no keys member", `{"foo":[]}`, ErrInvalidJWKS},
		{"keys not an array", `{"keys":{}}`, ErrInvalidJWKS},
		{"trailing data", string(jwks(good)) + `{}`, ErrInvalidJWKS},
		{"empty set", `{"keys":[]}`, ErrNoUsableKeys},
		{"only unusable keys", `{"keys":[{"kty":"oct","k":"AA"}]}`, ErrNoUsableKeys},
		{"too many keys", string(jwks(good, good, good, good)), ErrTooManyKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseJWKS([]byte(tt.body), 3)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "cache: ") {
				t.Fatalf("error text %q lacks the package prefix", err)
			}
		})
	}
}

func TestParseDuplicateKIDKeepsFirst(t *testing.T) {
	idp := keySource(t)
	a := edit(t, jwkOf(t, idp, "RS256"), map[string]any{"kid": "same"})
	b := edit(t, jwkOf(t, idp, "PS256"), map[string]any{"kid": "same", "alg": "RS256"})
	ps, err := parseJWKS(jwks(a, b), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.keys) != 1 || len(ps.skipped) != 1 || ps.skipped[0].Reason != "duplicate kid" {
		t.Fatalf("keys %d skipped %+v", len(ps.keys), ps.skipped)
	}
	first, err := idp.PublicKey(kidOf(t, idp, "RS256"))
	if err != nil {
		t.Fatal(err)
	}
	if !ps.byKID["same"].Key().(*rsa.PublicKey).Equal(first) {
		t.Fatal("the first key with the kid must win")
	}
}

func TestParseDigestIgnoresFormattingButNotKeys(t *testing.T) {
	idp := keySource(t)
	a, b := jwkOf(t, idp, "RS256"), jwkOf(t, idp, "PS256")
	p1, err := parseJWKS(jwks(a, b), 10)
	if err != nil {
		t.Fatal(err)
	}
	spaced := strings.ReplaceAll(string(jwks(a, b)), ",", " ,\n ")
	p2, err := parseJWKS([]byte(spaced), 10)
	if err != nil {
		t.Fatal(err)
	}
	p3, err := parseJWKS(jwks(a), 10)
	if err != nil {
		t.Fatal(err)
	}
	if p1.digest != p2.digest {
		t.Fatal("reformatting changed the digest")
	}
	if p1.digest == p3.digest {
		t.Fatal("removing a key kept the digest")
	}
}

func TestParseDropsPrivateMaterialNeverServesIt(t *testing.T) {
	// Even a set that carries "d" must never yield a private key. The key
	// is generated here: the kit never hands out private keys.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{
		Marshal:  jwkset.JWKMarshalOptions{Private: true},
		Metadata: jwkset.JWKMetadataOptions{KID: "p"},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(priv.Marshal())
	_, err = parseJWKS(jwks(raw), 10)
	if !errors.Is(err, ErrNoUsableKeys) {
		t.Fatalf("a set with only a private key: err = %v, want ErrNoUsableKeys", err)
	}
}
