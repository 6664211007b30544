package middleware_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"
)

func Example() {
	// An identity provider on loopback with a generated key, publishing its
	// JWK Set (jwtgatetest's; in a test, jwtgatetest.NewIssuer(t, …)).
	idp, err := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"EdDSA"}, Audience: "my-api"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer idp.Close()

	// The key cache in front of it, and the Verifier over the cache.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := cache.New(ctx, cache.Config{URL: idp.JWKSURL(), WaitForFirstLoad: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer keys.Close()

	v, err := middleware.New(middleware.Config{
		Keys:      keys,
		Issuers:   []string{idp.Issuer()},
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

	signed, err := idp.Sign(jwtgatetest.Claims{Subject: "alice"}, jwtgatetest.MintOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}

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
	// An issuer without a server (IssuerOptions.URL): its keys as a storage.
	idp, _ := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"EdDSA"}, URL: "https://idp.example"})
	defer idp.Close()
	keys, _ := idp.Storage()
	v, _ := middleware.New(middleware.Config{Keys: keys})

	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("/read", v.Handler(ok))
	mux.Handle("/admin", v.With(middleware.Route{Scopes: []string{"admin"}}).Handler(ok))

	signed, _ := idp.Sign(jwtgatetest.Claims{Subject: "bob", Scopes: []string{"read"}}, jwtgatetest.MintOptions{})
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
	idp, _ := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"EdDSA"}, URL: "https://idp.example"})
	defer idp.Close()
	keys, _ := idp.Storage()

	// Two requests per subject at once, one more per minute.
	lim, _ := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1, Period: time.Minute, Burst: 2})
	v, _ := middleware.New(middleware.Config{
		Keys:      keys,
		RateLimit: middleware.RateLimit{Limiter: lim}, // keyed by sub by default
	})
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))

	signed, _ := idp.Sign(jwtgatetest.Claims{Subject: "carol"}, jwtgatetest.MintOptions{})
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
