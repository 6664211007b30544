package cli_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jwtgate/jwtgate/cmd/jwtgate/cli"
	"github.com/jwtgate/jwtgate/gateway"
)

// The flags map onto a gateway.Config: -upstream is the catch-all route.
func ExampleParseArgs() {
	cfg, flags, err := cli.ParseArgs([]string{
		"-issuer", "https://idp.example.com", "-audience", "api",
		"-upstream", "http://127.0.0.1:9000", "-rate", "10",
	}, io.Discard)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Issuer, cfg.Audiences, cfg.Rate, cfg.Routes[0].Prefix, cfg.Routes[0].Upstream, flags.Demo)
	// Output: https://idp.example.com [api] 10 / http://127.0.0.1:9000 false
}

// Run is the whole program under a context of one's own: here it stops as
// soon as it serves. Its provider is down, which is an outage, not a
// config error: it serves anyway (and /readyz says 503 until the keys
// load).
func ExampleRun() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	code := cli.Run(ctx, []string{"-listen", "127.0.0.1:0", "-issuer", "http://127.0.0.1:1", "-upstream", "http://127.0.0.1:9000"}, cli.Env{
		Stdout: io.Discard, Stderr: io.Discard,
		Options:       gateway.Options{Logger: slog.New(slog.DiscardHandler)},
		StartupWindow: time.Second,
		OnServe:       func(cli.ServeEvent) { stop() },
	})
	fmt.Println("exit", code)
	// Output: exit 0
}
