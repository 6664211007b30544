// Package jwtgatetest is an in-process identity provider for tests of code
// that verifies JWTs, with jwtgate or anything else: an httptest server on
// loopback serving OIDC discovery and a JWK Set (RS256/384/512, PS256,
// ES256/384/512 and EdDSA keys), minting of valid tokens, one call per kind
// of token a verifier must refuse, key rotation, and provider faults
// (status codes, hangs, slowness, garbage, oversized bodies, caching
// headers, 304s, a wrong discovery issuer) with request counters.
//
// It does not import jwtgate's middleware or cache, so those packages' own
// tests can use it.
//
// Quick start:
//
//	func TestHandler(t *testing.T) {
//		idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256", "RS256"}})
//		v, _ := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}})
//		tok := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api", Scopes: []string{"read"}})
//		// … send a request with "Authorization: Bearer "+tok through v.Handler(yours)
//		for _, r := range jwtgatetest.MustReject() {
//			bad := idp.Bad(t, r.Class) // must get 401, r.Error from Verify
//			_ = bad
//		}
//	}
//
// NewTokenEndpoint is an OAuth token endpoint for tests of token exchange
// (RFC 8693 and RFC 7523 jwt-bearer grants), with client authentication,
// faults (TokenBehavior) and counters (TokenStats), as package exchange's
// own tests use it.
//
// Keys (a jwkset.Storage that follows Rotate and Remove) needs no HTTP; for
// the HTTP path point a cache at Issuer() (discovery) or JWKSURL().
//
// With IssuerOptions.URL no server is started: Client serves Handler in
// memory, which is what a testing/synctest bubble needs (create the issuer
// inside it), and a program can mount Handler under a URL of its own.
// Clock is a manual clock for Now fields where a bubble does not fit.
//
// Every call that takes a TB (a *testing.T) fails the test on error and has
// a variant returning the error instead (Start, Sign, BadToken, Storage,
// SignRaw) for programs and Example functions. NewIssuer closes the issuer
// in t.Cleanup; Start's caller calls Close. No goroutine outlives Close: a
// request held by a Hang fault is released by it.
//
// RSA keys are expensive to generate, so issuers in one process share RSA
// key material from a pool (under their own kids) unless
// IssuerOptions.FreshKeys is set. ECDSA and Ed25519 keys are always fresh.
package jwtgatetest
