package oauthclient_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
)

// keys are one signing key of each kind SigningAlg accepts, with the alg
// it must choose.
var keys = func() []struct {
	name, alg string
	key       crypto.Signer
} {
	must := func(k crypto.Signer, err error) crypto.Signer {
		if err != nil {
			panic(err)
		}
		return k
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return []struct {
		name, alg string
		key       crypto.Signer
	}{
		{"RSA", "RS256", must(rsa.GenerateKey(rand.Reader, 2048))},
		{"P-256", "ES256", must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))},
		{"P-384", "ES384", must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))},
		{"P-521", "ES512", must(ecdsa.GenerateKey(elliptic.P521(), rand.Reader))},
		{"Ed25519", "EdDSA", ed},
	}
}()

// seen is what a token endpoint read from one request.
type seen struct {
	Method, ContentType, Accept string
	BasicOK                     bool
	BasicID, BasicSecret        string
	Form                        url.Values
}

// wireServer parses each request as a token endpoint does and answers
// what it read.
func wireServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s seen
		s.Method, s.ContentType, s.Accept = r.Method, r.Header.Get("Content-Type"), r.Header.Get("Accept")
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.Form = r.PostForm
		var id, secret string
		id, secret, s.BasicOK = r.BasicAuth()
		// RFC 6749 §2.3.1: the server form-decodes both parts.
		s.BasicID, _ = url.QueryUnescape(id)
		s.BasicSecret, _ = url.QueryUnescape(secret)
		_ = json.NewEncoder(w).Encode(s)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func send(t *testing.T, srv *httptest.Server, a *oauthclient.Authenticator) seen {
	t.Helper()
	ep := srv.URL + "/token"
	req, err := a.NewRequest(context.Background(), ep, url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s seen
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEachMethodOnTheWire(t *testing.T) {
	srv := wireServer(t)
	key := keys[1].key
	for _, tc := range []struct {
		name  string
		creds oauthclient.Credentials
		check func(t *testing.T, s seen)
	}{
		{"client_secret_basic", oauthclient.Credentials{Method: oauthclient.MethodClientSecretBasic, ClientID: "gw:1", ClientSecret: "s%cr=t:x"},
			func(t *testing.T, s seen) {
				if !s.BasicOK || s.BasicID != "gw:1" || s.BasicSecret != "s%cr=t:x" {
					t.Errorf("basic %v %q %q", s.BasicOK, s.BasicID, s.BasicSecret)
				}
				if s.Form.Has("client_secret") || s.Form.Has("client_id") || s.Form.Has("client_assertion") {
					t.Errorf("basic also put credentials in the form: %v", s.Form)
				}
			}},
		{"client_secret_post", oauthclient.Credentials{Method: oauthclient.MethodClientSecretPost, ClientID: "gw", ClientSecret: "s3cr&t"},
			func(t *testing.T, s seen) {
				if s.BasicOK || s.Form.Get("client_id") != "gw" || s.Form.Get("client_secret") != "s3cr&t" {
					t.Errorf("post: basic %v form %v", s.BasicOK, s.Form)
				}
			}},
		{"private_key_jwt", oauthclient.Credentials{Method: oauthclient.MethodPrivateKeyJWT, ClientID: "gw", PrivateKey: key, Issuer: "https://as.example"},
			func(t *testing.T, s seen) {
				if s.BasicOK || s.Form.Get("client_id") != "gw" || s.Form.Get("client_assertion_type") != oauthclient.ClientAssertionType ||
					s.Form.Get("client_assertion") == "" || s.Form.Has("client_secret") {
					t.Errorf("private_key_jwt: basic %v form %v", s.BasicOK, s.Form)
				}
				verify(t, s.Form.Get("client_assertion"), key.Public(), "ES256")
			}},
		{"none with a client ID", oauthclient.Credentials{ClientID: "public"},
			func(t *testing.T, s seen) {
				if s.BasicOK || s.Form.Get("client_id") != "public" || s.Form.Has("client_secret") {
					t.Errorf("none: basic %v form %v", s.BasicOK, s.Form)
				}
			}},
		{"none", oauthclient.Credentials{},
			func(t *testing.T, s seen) {
				if s.BasicOK || s.Form.Has("client_id") {
					t.Errorf("none: basic %v form %v", s.BasicOK, s.Form)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := oauthclient.NewAuthenticator(tc.creds)
			if err != nil {
				t.Fatal(err)
			}
			s := send(t, srv, a)
			if s.Method != http.MethodPost || s.ContentType != "application/x-www-form-urlencoded" || s.Accept != "application/json" ||
				s.Form.Get("grant_type") != "client_credentials" {
				t.Errorf("request %+v", s)
			}
			tc.check(t, s)
		})
	}
}

// verify checks an assertion's signature with pub, its alg, and returns
// its claims.
func verify(t *testing.T, assertion string, pub crypto.PublicKey, alg string) jwt.MapClaims {
	t.Helper()
	var claims jwt.MapClaims
	tok, err := jwt.ParseWithClaims(assertion, &claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{alg}), jwt.WithoutClaimsValidation())
	if err != nil {
		t.Fatalf("assertion does not verify with the public key as %s: %v", alg, err)
	}
	if tok.Header["alg"] != alg {
		t.Fatalf("alg %v, want %s", tok.Header["alg"], alg)
	}
	return claims
}

func TestAssertionClaimsAndSignature(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			a, err := oauthclient.NewAuthenticator(oauthclient.Credentials{Method: oauthclient.MethodPrivateKeyJWT, ClientID: "gw",
				PrivateKey: k.key, KeyID: "k1", Issuer: "https://as.example", Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			s1, err := a.Assertion("https://as.example/token")
			if err != nil {
				t.Fatal(err)
			}
			s2, _ := a.Assertion("https://as.example/token")
			c1, c2 := verify(t, s1, k.key.Public(), k.alg), verify(t, s2, k.key.Public(), k.alg)
			tok, _, _ := jwt.NewParser().ParseUnverified(s1, jwt.MapClaims{})
			if tok.Header["kid"] != "k1" {
				t.Errorf("kid %v", tok.Header["kid"])
			}
			if c1["iss"] != "gw" || c1["sub"] != "gw" {
				t.Errorf("iss %v sub %v, want the client ID", c1["iss"], c1["sub"])
			}
			// One string, not an array: RFC 10070.
			if aud, ok := c1["aud"].(string); !ok || aud != "https://as.example" {
				t.Errorf("aud %#v, want the issuer as a string", c1["aud"])
			}
			if c1["iat"] != float64(now.Unix()) || c1["exp"] != float64(now.Add(oauthclient.AssertionLifetime).Unix()) {
				t.Errorf("iat %v exp %v", c1["iat"], c1["exp"])
			}
			if j, _ := c1["jti"].(string); j == "" || j == c2["jti"] {
				t.Errorf("jti %v then %v: want a fresh one each time", c1["jti"], c2["jti"])
			}
		})
	}
}

func TestAssertionAudience(t *testing.T) {
	const ep = "https://as.example/oauth2/token"
	key := keys[1].key
	for _, tc := range []struct {
		name, issuer, text string
		want               string
	}{
		{"default is the issuer", "https://as.example", "", "https://as.example"},
		{"issuer", "https://as.example", "issuer", "https://as.example"},
		{"no issuer: the endpoint", "", "issuer", ep},
		{"endpoint", "https://as.example", "endpoint", ep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var aud oauthclient.Audience
			if err := aud.UnmarshalText([]byte(tc.text)); err != nil {
				t.Fatal(err)
			}
			a, err := oauthclient.NewAuthenticator(oauthclient.Credentials{Method: oauthclient.MethodPrivateKeyJWT, ClientID: "gw",
				PrivateKey: key, Issuer: tc.issuer, Audience: aud})
			if err != nil {
				t.Fatal(err)
			}
			s, err := a.Assertion(ep)
			if err != nil {
				t.Fatal(err)
			}
			if got := verify(t, s, key.Public(), "ES256")["aud"]; got != tc.want {
				t.Errorf("aud %v, want %s", got, tc.want)
			}
		})
	}
	var aud oauthclient.Audience
	if err := aud.UnmarshalText([]byte("token_endpoint")); !errors.Is(err, oauthclient.ErrInvalidConfig) {
		t.Errorf("unknown audience: %v", err)
	}
	if b, err := oauthclient.AudienceEndpoint.MarshalText(); err != nil || string(b) != "endpoint" {
		t.Errorf("marshal: %s %v", b, err)
	}
}

func TestBadCredentialsRefused(t *testing.T) {
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	key := keys[1].key
	for name, c := range map[string]oauthclient.Credentials{
		"basic without secret": {Method: oauthclient.MethodClientSecretBasic, ClientID: "gw"},
		"basic without id":     {Method: oauthclient.MethodClientSecretBasic, ClientSecret: "s"},
		"basic with a key":     {Method: oauthclient.MethodClientSecretBasic, ClientID: "gw", ClientSecret: "s", PrivateKey: key},
		"post without secret":  {Method: oauthclient.MethodClientSecretPost, ClientID: "gw"},
		"jwt without key":      {Method: oauthclient.MethodPrivateKeyJWT, ClientID: "gw"},
		"jwt without id":       {Method: oauthclient.MethodPrivateKeyJWT, PrivateKey: key},
		"jwt with a secret":    {Method: oauthclient.MethodPrivateKeyJWT, ClientID: "gw", PrivateKey: key, ClientSecret: "s"},
		"jwt RSA 1024":         {Method: oauthclient.MethodPrivateKeyJWT, ClientID: "gw", PrivateKey: rsa1024},
		"jwt P-224":            {Method: oauthclient.MethodPrivateKeyJWT, ClientID: "gw", PrivateKey: p224},
		"none with a secret":   {ClientID: "gw", ClientSecret: "s"},
		"none with a key":      {ClientID: "gw", PrivateKey: key},
		"unknown method":       {Method: 9, ClientID: "gw"},
		"unknown aud":          {Method: oauthclient.MethodPrivateKeyJWT, ClientID: "gw", PrivateKey: key, Audience: 7},
	} {
		if _, err := oauthclient.NewAuthenticator(c); !errors.Is(err, oauthclient.ErrInvalidConfig) {
			t.Errorf("%s: err %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestSigningAlg(t *testing.T) {
	for _, k := range keys {
		if alg, err := oauthclient.SigningAlg(k.key); err != nil || alg != k.alg {
			t.Errorf("%s: %s %v, want %s", k.name, alg, err, k.alg)
		}
	}
	if _, err := oauthclient.SigningAlg(nil); !errors.Is(err, oauthclient.ErrInvalidConfig) {
		t.Errorf("nil key: %v", err)
	}
}

func TestMethodNames(t *testing.T) {
	for i, n := range oauthclient.MethodNames() {
		m, ok := oauthclient.ParseMethod(n)
		if !ok || int(m) != i || m.String() != n {
			t.Errorf("%s: %v %v", n, m, ok)
		}
	}
	if _, ok := oauthclient.ParseMethod("tls_client_auth"); ok {
		t.Error("an unknown method parsed")
	}
}
