// Command echo shows jwtgate in an echo (v4) service: the verifier as
// global middleware with a Skipper for /healthz, and a route that also
// needs the "admin" scope.
//
//	go run ./examples/echo                                  # with an embedded demo identity provider
//	go run ./examples/echo -issuer https://idp.example.com  # with yours (OIDC discovery)
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

	"github.com/labstack/echo/v4"

	jwtecho "github.com/jwtgate/jwtgate/adapters/echo"
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
	mw, err := jwtecho.New(jwtecho.Config{
		Verifier: v,
		Skipper:  func(c echo.Context) bool { return c.Path() == "/healthz" },
	})
	if err != nil {
		log.Fatal(err)
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(mw)
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/hello", func(c echo.Context) error {
		claims, _ := jwtecho.Claims(c)
		return c.JSON(http.StatusOK, map[string]any{"hello": claims.Subject, "scopes": claims.Scopes()})
	})
	e.GET("/admin", func(c echo.Context) error {
		claims, _ := jwtecho.Claims(c)
		return c.JSON(http.StatusOK, map[string]string{"admin": claims.Subject})
	}, jwtecho.RequireScopes(v, "admin"))

	fmt.Println("GET /healthz needs no token")
	if err := demo.ServeExample(ctx, *listen, e, keys, idp); err != nil {
		log.Fatal(err)
	}
}
