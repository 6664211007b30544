// Package exchange gives an upstream a credential of its own for each
// user: an http.RoundTripper that trades the request's verified subject
// token for the upstream's token at an OAuth token endpoint (RFC 8693
// token exchange, or RFC 7523 jwt-bearer "on behalf of"), so that two users
// through one route reach the upstream as two principals, and the client's
// token never reaches the upstream.
//
// The input is the token a middleware.Verifier verified (the Claims in the
// request's context: middleware.ClaimsFromContext, Claims.Token), never a
// header the Transport reads for itself: a request without verified claims
// fails with ErrNoSubjectToken. Exchanged tokens are cached by the subject
// token's SHA-256, the audience and the scope, until their expires_in and
// never past the subject token's exp; concurrent requests with one subject
// token share one call. Calls go through a circuit breaker; when the token
// endpoint fails (5xx, 429, a time-out, an unparsable answer) the request
// fails with ErrUnavailable before anything is sent upstream, and
// WriteError answers it 503 with Retry-After.
//
// A sender-constrained subject token (DPoP or certificate-bound) is
// exchanged only with Config.Binding set to BindingVerifiedAtEdge; by
// default it is refused.
//
// Quick start:
//
//	tr, err := exchange.New(exchange.Config{
//		TokenEndpoint: "https://as.example/oauth2/token",
//		Audience:      "orders",
//		Scopes:        []string{"orders:read"},
//		Client:        exchange.ClientAuth{Method: exchange.AuthClientSecretBasic, ClientID: "gateway", ClientSecret: os.Getenv("GATEWAY_SECRET")},
//	})
//	defer tr.Close()
//	proxy := &httputil.ReverseProxy{Rewrite: …, Transport: tr, ErrorHandler: tr.WriteError}
//	http.Handle("/orders/", verifier.Handler(proxy))
//
// The gateway's upstream_auth: {exchange: …} is this Transport. Package
// jwtgatetest has a token endpoint (NewTokenEndpoint) with both grants,
// faults and counters for tests of exchange flows.
package exchange
