// Package cli is the jwtgate gateway program: the command line (flags and
// a -config file), exit codes, signals, startup checks and the embedded
// demo. cmd/jwtgate's main is Main; examples/gateway runs the same.
//
// The gateway itself is package gateway, an embeddable library: a program
// of one's own builds a gateway.Config (or reads one with
// gateway.LoadFile), calls gateway.New and serves Handler or Serve. This
// package is that, plus what only a process has: flags mapped onto
// Config, the demo identity provider and upstream when no provider is
// given, SIGINT/SIGTERM, SIGHUP (which reloads -config; -watch reloads
// it whenever its content changes, a Kubernetes ConfigMap update
// included), and exit codes.
//
// Quick start, a program that is the gateway with one more default:
//
//	func main() {
//		os.Exit(cli.Main(os.Args[1:]))
//	}
//
// Tests and supervisors drive Run with an Env (writers, environment,
// gateway.Options, and OnServe once it listens) and a context that stops
// it.
package cli
