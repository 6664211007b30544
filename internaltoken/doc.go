// Package internaltoken gives an upstream a short-lived JWT the gateway
// signs itself from the request's verified claims, instead of the
// client's token: services behind the gateway verify it with jwtgate's
// own middleware against the gateway's published keys, and nothing else.
//
// A KeyRing holds the signing keys (ES256 or EdDSA, PEM files: a list, or
// a directory): the newest signs, every key in a file is published, and a
// key whose file is removed stays published until the last token it
// signed has expired, so a rotation never strands a token in flight. The
// files are looked at again lazily (KeyRingConfig.CheckInterval), with no
// goroutine. JWKSHandler and DiscoveryHandler publish the keys and a
// discovery document for the configured issuer.
//
// A Transport (an http.RoundTripper) signs one token per request: iss the
// gateway, aud the upstream, the configured claims copied from the
// verified claims as they are (never a value of the request's own), exp a
// short TTL and never past the verified token's exp, a fresh jti. The
// client's token goes nowhere upstream.
//
// Quick start:
//
//	ring, err := internaltoken.NewKeyRing(internaltoken.KeyRingConfig{Dir: "/etc/jwtgate/keys"})
//	tr, err := internaltoken.New(internaltoken.Config{Keys: ring, Issuer: "https://gateway.internal",
//		Audience: []string{"orders"}, Claims: []string{"sub", "email"}})
//	mux.Handle(internaltoken.JWKSPath, ring.JWKSHandler())
//	mux.Handle(internaltoken.DiscoveryPath, ring.DiscoveryHandler("https://gateway.internal"))
//	proxy := &httputil.ReverseProxy{Rewrite: …, Transport: tr, ErrorHandler: internaltoken.WriteError}
//
// The gateway's upstream_auth: {sign: …} with internal_tokens: {…} is
// this package.
package internaltoken
