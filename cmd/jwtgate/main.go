// Command jwtgate is jwtgate's gateway: a reverse proxy (and forward-auth
// decision service) that lets through only requests with a valid JWT.
//
// With flags or a config file it is a real gateway:
//
//	jwtgate -issuer https://idp.example.com -audience api \
//	    -upstream http://127.0.0.1:9000 -rate 10 -burst 20
//	jwtgate -config gateway.yaml
//
// With no identity provider, upstream or config it is a self-contained
// demo on loopback (an identity provider minting tokens for anyone, an
// upstream and the gateway) and prints curl lines with fresh tokens.
//
// The program is package cli (cmd/jwtgate/cli); the gateway it runs is
// package gateway, which a program of one's own can embed instead. See
// docs/gateway.md for every flag, the config file and the metrics.
package main

import (
	"os"

	"github.com/jwtgate/jwtgate/cmd/jwtgate/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
