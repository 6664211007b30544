// Package middleware verifies JSON Web Tokens in net/http requests (and for
// non-HTTP callers) against the keys an identity provider publishes as a
// JWK Set.
//
// A Verifier extracts the bearer token, checks it (strict compact-JWS
// pre-parse, algorithm allow-list, key from the configured provider only,
// signature through golang-jwt/jwt/v5's signing methods, registered
// claims), remembers verified tokens in a bounded cache, applies an optional
// per-subject rate limit and puts the claims in the request's context.
// Every rejection is one of the package's sentinel errors and is answered
// by one function, WriteError (RFC 6750 challenges, small JSON bodies, 503
// when keys are unavailable, 429 with RateLimit-* headers).
//
// # Quick start
//
//	keys, err := cache.New(ctx, cache.Config{URL: "https://idp.example/jwks.json"})
//	if err != nil { … }
//	defer keys.Close()
//	v, err := middleware.New(middleware.Config{
//		Keys:      keys,
//		Issuers:   []string{"https://idp.example/"},
//		Audiences: []string{"my-api"},
//	})
//	if err != nil { … }
//	mux := http.NewServeMux()
//	mux.Handle("/api/", v.Handler(api))
//	mux.Handle("/admin/", v.With(middleware.Route{Scopes: []string{"admin"}}).Handler(admin))
//
// In a handler:
//
//	claims, _ := middleware.ClaimsFromContext(r.Context())
//	fmt.Fprintln(w, "hello", claims.Subject)
package middleware
