package jwtgatetest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

func TestDPoPProofVerifiesWithItsJWK(t *testing.T) {
	for _, alg := range []string{"ES256", "ES384", "ES512", "EdDSA", "PS256"} {
		t.Run(alg, func(t *testing.T) {
			k := jwtgatetest.MustDPoPKey(t, alg)
			iat := time.Unix(1_800_000_000, 0)
			p := k.MustProof(t, jwtgatetest.ProofOptions{Method: "POST", URL: "https://api.example/x", AccessToken: "tok", Nonce: "n1", IAT: iat, JTI: "j1"})
			tok, err := jwt.Parse(p, func(tok *jwt.Token) (any, error) {
				raw, _ := json.Marshal(tok.Header["jwk"])
				j, err := jwkset.NewJWKFromRawJSON(raw, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
				if err != nil {
					return nil, err
				}
				return j.Key(), nil
			}, jwt.WithoutClaimsValidation())
			if err != nil {
				t.Fatalf("proof does not verify with its own jwk: %v", err)
			}
			if tok.Header["typ"] != "dpop+jwt" || tok.Header["alg"] != alg {
				t.Fatalf("header %v", tok.Header)
			}
			c := tok.Claims.(jwt.MapClaims)
			if c["htm"] != "POST" || c["htu"] != "https://api.example/x" || c["jti"] != "j1" || c["nonce"] != "n1" ||
				c["iat"] != float64(iat.Unix()) || c["ath"] != jwtgatetest.ATH("tok") {
				t.Fatalf("claims %v", c)
			}
			if _, ok := k.PublicJWK()["d"]; ok {
				t.Fatal("public JWK has d")
			}
			if _, ok := k.PrivateJWK()["d"]; !ok {
				t.Fatal("private JWK lacks d")
			}
		})
	}
}

func TestDPoPThumbprintIsRFC7638(t *testing.T) {
	k := jwtgatetest.MustDPoPKey(t, "ES256")
	j := k.PublicJWK()
	canon := `{"crv":"P-256","kty":"EC","x":"` + j["x"].(string) + `","y":"` + j["y"].(string) + `"}`
	sum := sha256.Sum256([]byte(canon))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.JKT() != want {
		t.Fatalf("JKT %s, want %s", k.JKT(), want)
	}
}

func TestDPoPOverridesAndMalleate(t *testing.T) {
	k := jwtgatetest.MustDPoPKey(t, "ES256")
	p := k.MustProof(t, jwtgatetest.ProofOptions{URL: "https://a/", Header: map[string]any{"typ": nil, "x": 1}, Claims: map[string]any{"htm": nil}})
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(p, ".")[0])
	if strings.Contains(string(hdr), "typ") || !strings.Contains(string(hdr), `"x":1`) {
		t.Fatalf("header %s", hdr)
	}
	m, err := jwtgatetest.MalleateECDSA(p)
	if err != nil || m == p || m[:strings.LastIndexByte(m, '.')] != p[:strings.LastIndexByte(p, '.')] {
		t.Fatalf("malleated %q err %v", m, err)
	}
	if _, err := jwtgatetest.MalleateECDSA("a.b"); err == nil {
		t.Fatal("no error for a non-ECDSA JWS")
	}
	if _, err := jwtgatetest.NewDPoPKey("HS256"); err == nil {
		t.Fatal("HS256 DPoP key")
	}
}
