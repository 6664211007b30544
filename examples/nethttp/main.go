// Command nethttp shows jwtgate in a plain net/http service: a ServeMux
// with one route for any valid token and one that needs the "admin" scope.
//
//	go run ./examples/nethttp                                  # with an embedded demo identity provider
//	go run ./examples/nethttp -issuer https://idp.example.com  # with yours (OIDC discovery)
//
// It prints curl lines to try.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/jwtgate/jwtgate/adapters/nethttp"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internal/demo"
	"github.com/jwtgate/jwtgate/middleware"
)

func main() {
	issuer := flag.String("issuer", "", "OIDC issuer whose tokens to accept (default: an embedded demo provider)")
	audience := flag.String("audience", demo.ExampleAudience, "the audience tokens must name in aud")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var idp *demo.Local
	if *issuer == "" {
		var err error
		if idp, err = demo.StartLocal(demo.ProviderConfig{}); err != nil {
			log.Fatal(err)
		}
		defer idp.Close()
		*issuer = idp.Issuer()
	}

	keys, err := cache.New(ctx, cache.Config{Issuer: *issuer})
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()
	v, err := middleware.New(middleware.Config{Keys: keys, Issuers: []string{*issuer}, Audiences: []string{*audience}})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	nethttp.Handle(mux, "GET /hello", v, func(w http.ResponseWriter, r *http.Request) {
		c, _ := nethttp.Claims(r)
		fmt.Fprintf(w, "hello, %s\n", c.Subject)
	})
	mux.Handle("GET /admin", nethttp.HandlerFunc(v, func(w http.ResponseWriter, r *http.Request, c *middleware.Claims) {
		fmt.Fprintf(w, "welcome, admin %s\n", c.Subject)
	}, "admin"))

	if err := demo.ServeExample(ctx, *listen, mux, keys, idp); err != nil {
		log.Fatal(err)
	}
}
