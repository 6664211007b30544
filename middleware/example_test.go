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

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"
)

func Example() {
	// An identity provider: a generated key, published as a JWK Set.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	jwk, _ := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", USE: jwkset.UseSig}})
	set := jwkset.NewMemoryStorage()
	_ = set.KeyWrite(context.Background(), jwk)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := set.JSONPublic(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer idp.Close()

	// The key cache in front of it, and the Verifier over the cache.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := cache.New(ctx, cache.Config{URL: idp.URL, WaitForFirstLoad: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer keys.Close()

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

func Example_rateLimit() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	jwk, _ := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1"}})
	keys := jwkset.NewMemoryStorage()
	_ = keys.KeyWrite(context.Background(), jwk)

	// Two requests per subject at once, one more per minute.
	lim, _ := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1, Period: time.Minute, Burst: 2})
	v, _ := middleware.New(middleware.Config{
		Keys:      keys,
		RateLimit: middleware.RateLimit{Limiter: lim}, // keyed by sub by default
	})
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))

	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "carol", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	signed, _ := tok.SignedString(priv)
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+signed)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%d limit=%s remaining=%s retry-after=%q\n", w.Code,
			w.Header().Get("RateLimit-Limit"), w.Header().Get("RateLimit-Remaining"), w.Header().Get("Retry-After"))
	}
	// Output:
	// 200 limit=2 remaining=1 retry-after=""
	// 200 limit=2 remaining=0 retry-after=""
	// 429 limit=2 remaining=0 retry-after="60"
}
