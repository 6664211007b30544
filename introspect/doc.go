// Package introspect checks opaque access tokens by OAuth 2.0 Token
// Introspection (RFC 7662) for the middleware: a *Client is a
// middleware.Introspector, set on a route as middleware.Route.Introspection,
// so an introspected token becomes *middleware.Claims and scopes, policies,
// rate limits, budgets, claim headers and every face work on it unchanged.
//
// What it guarantees:
//
//   - "active" must be the JSON literal true; an answer's exp, nbf, iss,
//     aud, scope, client_id, sub and token_type are then checked by the
//     Verifier as a JWT's claims are.
//   - Answers are cached by (endpoint, SHA-256 of the token): never by the
//     token, and an answer from one endpoint is never used for a route bound
//     to another, even with a shared Cache. Active answers live until
//     min(exp, MaxAge), inactive ones NegativeMaxAge; the cache is bounded.
//   - An active answer says how long it is reused
//     (middleware.IntrospectionResult.Until), so that a Verifier answers a
//     repeated token from its own verified-token cache — keyed like a
//     JWT's, bound to this Client — for no longer than this cache would:
//     the hit costs what a JWT's does, without the SHA-256. This Cache
//     stays behind it, shared, coalescing and negative. (Not with
//     Config.Now set: that clock is not the Verifier's.)
//   - Concurrent look-ups of one token make one call; calls are bounded
//     (MaxConcurrent, MaxPending, Timeout, MaxResponseBytes).
//   - An endpoint that is down, slow, answers 5xx, refuses the client's
//     credentials (401/403) or answers junk is ErrUnavailable: the
//     middleware answers 503 with Retry-After, never 401. Failures open a
//     circuit breaker.
//   - Client authentication: client_secret_basic, client_secret_post or
//     private_key_jwt (RFC 7523); Secret reads a secret from the
//     environment or a file.
//   - IntrospectJWTs (revocation-aware mode) introspects verified JWTs too.
//
// Quick start:
//
//	secret, err := introspect.Secret("IDP_CLIENT_SECRET", "")
//	ic, err := introspect.New(introspect.Config{
//		Endpoint: "https://idp.example.com/oauth2/introspect",
//		ClientID: "gateway", ClientSecret: secret,
//	})
//	defer ic.Close()
//	api := verifier.With(middleware.Route{Introspection: ic})
package introspect
