package oauthclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
)

// An authorization server found by discovery, and a private_key_jwt
// client authenticating at its token endpoint.
func Example() {
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}) // as read from a file

	var as *httptest.Server
	as = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case oauthclient.WellKnownOAuth:
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": as.URL, "token_endpoint": as.URL + "/token"})
		case "/token":
			_ = r.ParseForm()
			var claims jwt.RegisteredClaims
			_, err := jwt.ParseWithClaims(r.PostForm.Get("client_assertion"), &claims,
				func(*jwt.Token) (any, error) { return &key.PublicKey, nil }, jwt.WithAudience(as.URL), jwt.WithIssuer("gateway"))
			fmt.Println("assertion verified:", err == nil)
		default:
			http.NotFound(w, r)
		}
	}))
	defer as.Close()

	d, err := oauthclient.NewDiscoverer(oauthclient.DiscoveryConfig{Issuer: as.URL, Member: oauthclient.TokenEndpoint})
	if err != nil {
		panic(err)
	}
	endpoint, err := d.Endpoint(context.Background())
	if err != nil {
		panic(err)
	}
	signer, err := oauthclient.ParsePrivateKey(pemKey)
	if err != nil {
		panic(err)
	}
	alg, _ := oauthclient.SigningAlg(signer)
	fmt.Println("alg:", alg)
	auth, err := oauthclient.NewAuthenticator(oauthclient.Credentials{Method: oauthclient.MethodPrivateKeyJWT,
		ClientID: "gateway", PrivateKey: signer, Issuer: as.URL})
	if err != nil {
		panic(err)
	}
	req, err := auth.NewRequest(context.Background(), endpoint, url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		panic(err)
	}
	resp, err := as.Client().Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	// Output:
	// alg: ES384
	// assertion verified: true
}
