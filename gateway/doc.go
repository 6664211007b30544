// Package gateway is the runnable jwtgate gateway behind examples/gateway: a
// reverse proxy that verifies each request's JWT with the jwtgate
// middleware, applies per-route scopes, audiences and rate limits, forwards
// chosen claims as headers and streams responses (server-sent events) as the
// upstream writes them.
//
// Headers under ReservedHeaderPrefix (X-Jwtgate-) are the gateway's: the
// client's are removed on every route before verification, so an upstream
// may trust the ones it receives.
//
// It lives in an internal package so the end-to-end tests can drive it
// in-process; the program itself is examples/gateway.
//
// Quick start:
//
//	go run ./examples/gateway                      # demo: provider, upstream, gateway on loopback
//	go run ./examples/gateway -issuer https://idp.example.com -audience api -upstream http://127.0.0.1:9000
//	go run ./examples/gateway -config gateway.yaml
package gateway
