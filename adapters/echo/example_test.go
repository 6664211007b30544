package jwtecho_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v4"

	jwtecho "github.com/jwtgate/jwtgate/adapters/echo"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

func ExampleNew() {
	idp, _ := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}}) // a test identity provider on loopback
	defer idp.Close()
	keys, _ := cache.New(context.Background(), cache.Config{Issuer: idp.Issuer(), WaitForFirstLoad: true, Logger: slog.New(slog.DiscardHandler)})
	defer keys.Close()
	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{idp.Issuer()}})

	mw, _ := jwtecho.New(jwtecho.Config{
		Verifier: v,
		Skipper:  func(c echo.Context) bool { return c.Path() == "/healthz" },
	})
	e := echo.New()
	e.Use(mw)
	e.GET("/healthz", func(c echo.Context) error { return c.String(200, "ok") })
	e.GET("/hello", func(c echo.Context) error {
		claims, _ := jwtecho.Claims(c)
		return c.String(200, "hello, "+claims.Subject)
	})

	tok, _ := idp.Sign(jwtgatetest.Claims{Subject: "alice"}, jwtgatetest.MintOptions{})
	for _, c := range []struct{ path, token string }{{"/healthz", ""}, {"/hello", tok}, {"/hello", ""}} {
		req := httptest.NewRequest("GET", c.path, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		fmt.Println(c.path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// /healthz 200 ok
	// /hello 200 hello, alice
	// /hello 401 {"error":"unauthorized","error_description":"authentication required"}
}
