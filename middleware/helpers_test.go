package middleware

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testKeys are generated once per test binary: RSA generation is slow.
type testKeySet struct {
	rsa, rsa2 *rsa.PrivateKey
	rsaSmall  *rsa.PrivateKey
	ec, ec2   *ecdsa.PrivateKey
	ec384     *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	tk       testKeySet
)

func keys(t testing.TB) *testKeySet {
	t.Helper()
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		tk.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		tk.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		tk.rsaSmall, err = rsa.GenerateKey(rand.Reader, 1024)
		must(err)
		tk.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		tk.ec2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		tk.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		_, tk.ed, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
	return &tk
}

// fixed clock for claim checks.
var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

// b64 encodes canonical unpadded base64url.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signRaw builds a compact JWS from a header and payload given as JSON values,
// signed with method and key (golang-jwt's signers).
func signRaw(t testing.TB, method jwt.SigningMethod, key any, header, payload []byte) string {
	t.Helper()
	si := b64(header) + "." + b64(payload)
	sig, err := method.Sign(si, key)
	if err != nil {
		t.Fatal(err)
	}
	return si + "." + b64(sig)
}

// sign builds a token with header {"alg","kid","typ":"JWT"} plus extra header
// fields, and claims.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, extraHdr map[string]any, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": method.Alg(), "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	for k, v := range extraHdr {
		if v == nil {
			delete(h, k)
			continue
		}
		h[k] = v
	}
	return signRaw(t, method, key, mustJSON(t, h), mustJSON(t, claims))
}

// goodClaims is a claim set that passes the default test config.
func goodClaims() map[string]any {
	return map[string]any{
		"iss":   "https://idp.test/",
		"sub":   "user-1",
		"aud":   "api",
		"exp":   testNow.Add(time.Hour).Unix(),
		"iat":   testNow.Add(-time.Minute).Unix(),
		"scope": "read write",
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(m, k)
		} else {
			m[k] = kv[i+1]
		}
	}
	return m
}

// jwkOf builds a public JWK for key with metadata.
func jwkOf(t testing.TB, pub any, kid string, alg jwkset.ALG, use jwkset.USE, ops ...jwkset.KEYOPS) jwkset.JWK {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: use, KEYOPS: ops}})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// memKeys is a jwkset memory storage with the standard test keys.
func memKeys(t testing.TB) jwkset.Storage {
	t.Helper()
	k := keys(t)
	s := jwkset.NewMemoryStorage()
	ctx := context.Background()
	for _, j := range []jwkset.JWK{
		jwkOf(t, &k.rsa.PublicKey, "rsa1", jwkset.AlgRS256, jwkset.UseSig),
		jwkOf(t, &k.rsa.PublicKey, "rsa1-any", "", ""),
		jwkOf(t, &k.ec.PublicKey, "ec1", jwkset.AlgES256, jwkset.UseSig),
		jwkOf(t, k.ed.Public(), "ed1", jwkset.AlgEdDSA, jwkset.UseSig),
		jwkOf(t, &k.rsa2.PublicKey, "rsa-enc", "", jwkset.UseEnc),
		jwkOf(t, &k.rsa2.PublicKey, "rsa-ps", jwkset.AlgPS256, ""),
		jwkOf(t, &k.rsa2.PublicKey, "rsa-ops-sign", "", "", jwkset.KeyOpsSign),
		jwkOf(t, &k.rsa2.PublicKey, "rsa-ops-verify", "", "", jwkset.KeyOpsVerify),
		jwkOf(t, &k.rsaSmall.PublicKey, "rsa-small", "", ""),
		jwkOf(t, &k.ec384.PublicKey, "ec384", "", ""),
	} {
		if err := s.KeyWrite(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// response is what a test sees of one answered request.
type response struct {
	status int
	www    string
	body   string
	header http.Header
}

func do(h http.Handler, req *http.Request) response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{status: rec.Code, www: rec.Header().Get("WWW-Authenticate"), body: rec.Body.String(), header: rec.Header()}
}

func bearerReq(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://api.test/x", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// okHandler answers 200 with the subject from the context.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := ClaimsFromContext(r.Context())
	if !ok {
		_, _ = w.Write([]byte("anonymous"))
		return
	}
	_, _ = w.Write([]byte("hello " + c.Subject))
})

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
