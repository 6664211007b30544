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
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jwtgate/jwtgate/adapters/nethttp"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internal/demo"
	"github.com/jwtgate/jwtgate/middleware"
)

func main() {
	issuer := flag.String("issuer", "", "OIDC issuer whose tokens to accept (default: an embedded demo provider)")
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
	v, err := middleware.New(middleware.Config{Keys: keys, Issuers: []string{*issuer}})
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

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); srv.Shutdown(context.Background()) }()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := keys.WaitReady(wctx); err != nil {
		log.Printf("keys not loaded yet (requests get 503 until they are): %v", err)
	}
	cancel()
	printTry(idp, "http://"+ln.Addr().String())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

func printTry(idp *demo.Local, base string) {
	fmt.Printf("listening on %s\n", base)
	if idp == nil {
		return
	}
	user, _ := idp.Mint(demo.Token{Subject: "alice", Scope: "read"})
	admin, _ := idp.Mint(demo.Token{Subject: "root", Scope: "read admin"})
	fmt.Printf("\n200: curl -H \"Authorization: Bearer %s\" %s/hello\n", user, base)
	fmt.Printf("\n403: curl -i -H \"Authorization: Bearer %s\" %s/admin\n", user, base)
	fmt.Printf("\n200: curl -H \"Authorization: Bearer %s\" %s/admin\n", admin, base)
}
