// Command gateway is jwtgate's runnable gateway: a reverse proxy that lets
// through only requests with a valid JWT.
//
// With no flags it is a self-contained demo on loopback: an identity
// provider whose JWK Set rotates its signing key, an upstream answering
// JSON and server-sent events, and the gateway in front of it; it prints a
// curl line with a fresh token. The demo's provider mints tokens for
// anyone, so the demo refuses a non-loopback -listen unless -demo is given.
//
//	go run ./examples/gateway
//
// It is cmd/jwtgate under another name: both call cli.Main (package
// cmd/jwtgate/cli). A program of one's own can embed the gateway instead
// (package gateway, gateway.New and Handler).
//
// With flags it is a real gateway:
//
//	go run ./examples/gateway -issuer https://idp.example.com -audience api \
//	    -upstream http://127.0.0.1:9000 -rate 10 -burst 20
//	go run ./examples/gateway -config gateway.yaml
//
// See docs/gateway.md for every flag, the config file and the metrics.
package main

import (
	"os"

	"github.com/jwtgate/jwtgate/cmd/jwtgate/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
