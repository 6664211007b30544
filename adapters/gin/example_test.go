package jwtgin_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"

	"github.com/gin-gonic/gin"

	jwtgin "github.com/jwtgate/jwtgate/adapters/gin"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

func ExampleMiddleware() {
	idp, _ := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}}) // a test identity provider on loopback
	defer idp.Close()
	keys, _ := cache.New(context.Background(), cache.Config{Issuer: idp.Issuer(), WaitForFirstLoad: true, Logger: slog.New(slog.DiscardHandler)})
	defer keys.Close()
	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{idp.Issuer()}})

	r := gin.New()
	r.GET("/hello", jwtgin.Middleware(v), func(c *gin.Context) {
		claims, _ := jwtgin.Claims(c)
		c.String(200, "hello, %s", claims.Subject)
	})
	r.GET("/admin", jwtgin.Middleware(v), jwtgin.RequireScopes(v, "admin"), func(c *gin.Context) {})

	tok, _ := idp.Sign(jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}}, jwtgatetest.MintOptions{})
	for _, path := range []string{"/hello", "/admin"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		fmt.Println(path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// /hello 200 hello, alice
	// /admin 403 {"error":"insufficient_scope","error_description":"insufficient scope"}
}
