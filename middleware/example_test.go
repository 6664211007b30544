package middleware_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/middleware"
)

func Example() {
	// The identity provider's key (generated here) and its JWK Set.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	jwk, _ := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", USE: jwkset.UseSig}})
	keys := jwkset.NewMemoryStorage() // in production: a *cache.Cache
	_ = keys.KeyWrite(context.Background(), jwk)

	v, err := middleware.New(middleware.Config{
		Keys:      keys,
		Issuers:   []string{"https://idp.example/"},
		Audiences: []string{"my-api"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	api := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", c.Subject)
	}))

	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": "https://idp.example/", "aud": "my-api", "sub": "alice",
		"exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = "k1"
	signed, _ := tok.SignedString(priv)

	for _, auth := range []string{"Bearer " + signed, "", "Bearer " + signed[:len(signed)-4] + "AAAA"} {
		r := httptest.NewRequest("GET", "/", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"), w.Body.String())
	}
	// Output:
	// 200  hello alice
	// 401 Bearer realm="jwtgate" {"error":"unauthorized","error_description":"authentication required"}
	//
	// 401 Bearer realm="jwtgate", error="invalid_token", error_description="signature invalid" {"error":"invalid_token","error_description":"signature invalid"}
}

func ExampleVerifier_With() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	jwk, _ := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1"}})
	keys := jwkset.NewMemoryStorage()
	_ = keys.KeyWrite(context.Background(), jwk)
	v, _ := middleware.New(middleware.Config{Keys: keys})

	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("/read", v.Handler(ok))
	mux.Handle("/admin", v.With(middleware.Route{Scopes: []string{"admin"}}).Handler(ok))

	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "bob", "scope": "read", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	signed, _ := tok.SignedString(priv)
	for _, path := range []string{"/read", "/admin"} {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+signed)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(path, w.Code)
	}
	// Output:
	// /read 200
	// /admin 403
}
