// Package depcheck has no code: its test asserts what the core packages
// link, so a heavy dependency (go-redis, the Prometheus client, grpc,
// go-control-plane, a web framework) cannot creep into what a plain
// middleware user builds.
package depcheck
