// Package jwtgate is the module root of jwtgate: JWT verification against
// an identity provider's JWK Set, for Go services and as a gateway. It
// holds no code; the entry points are its packages:
//
//   - middleware: the Verifier — net/http middleware (Handler), Verify for
//     other callers, routes with their requirements (With), the one error
//     writer. Start here.
//   - cache: fetching, caching and refreshing JWK Sets; OIDC discovery.
//   - ratelimit, ratelimit/redislimit: per-subject rate limits.
//   - policy: route policies in CEL.
//   - budget, budget/redisbudget, llmusage: LLM token budgets.
//   - forwarded: the trusted-proxy view of a request.
//   - replay, replay/redisreplay: DPoP proof replay stores.
//   - adapters/gin, adapters/echo, adapters/nethttp, adapters/mcp: glue
//     for gin, echo, chi-style routers and the MCP Go SDK (each has
//     Middleware).
//   - grpcauth, extauthz: gRPC interceptors; Envoy's ext_authz service.
//   - metrics: Prometheus metrics fed by the hooks.
//   - gateway: the embeddable gateway (reverse proxy and decision
//     service), a library; cmd/jwtgate is the program (package
//     cmd/jwtgate/cli), which examples/gateway runs too.
//   - jwtgatetest: a test kit — an in-process identity provider, minting,
//     tokens that must be refused, faults.
//
// The README has a quick start for each use.
package jwtgate
