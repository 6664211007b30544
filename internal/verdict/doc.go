// Package verdict holds the verdict matrix: one table of requests (no
// token, expired, wrong audience, wrong type, missing scope, rate-limited,
// budget spent, keys unavailable, a bound token without its proof, valid)
// sent through every face jwtgate answers with — the Verifier's Handler, the
// gin and echo adapters, the gateway's proxy and decision routes, Envoy
// ext_authz, the gRPC interceptors and the MCP SDK adapter — each of which
// must give the same verdict: allow with the same subject, or the same
// status and client-safe description.
//
// It has no code, only its test: a face or a Route requirement that the
// matrix does not cover fails it.
package verdict
