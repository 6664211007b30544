// Command gin shows jwtgate in a gin service: a route group behind the
// verifier, and a route that also needs the "admin" scope.
//
//	go run ./examples/gin                                  # with an embedded demo identity provider
//	go run ./examples/gin -issuer https://idp.example.com  # with yours (OIDC discovery)
//
// It prints curl lines to try.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	jwtgin "github.com/jwtgate/jwtgate/adapters/gin"
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

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	api := r.Group("/", jwtgin.Middleware(v))
	api.GET("/hello", func(c *gin.Context) {
		claims, _ := jwtgin.Claims(c)
		c.JSON(http.StatusOK, gin.H{"hello": claims.Subject, "scopes": claims.Scopes()})
	})
	api.GET("/admin", jwtgin.RequireScopes(v, "admin"), func(c *gin.Context) {
		claims, _ := jwtgin.Claims(c)
		c.JSON(http.StatusOK, gin.H{"admin": claims.Subject})
	})

	if err := demo.ServeExample(ctx, *listen, r, keys, idp); err != nil {
		log.Fatal(err)
	}
}
