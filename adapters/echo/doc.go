// Package jwtecho is the glue between jwtgate's Verifier and echo (v4): an
// echo.MiddlewareFunc with a Skipper that verifies the request, answers a
// rejection exactly as the core does (the Verifier's WriteError writes it)
// and puts the claims both in the echo context, under the one key
// ClaimsKey, and in the request's context.
//
// It holds no verification logic and no status table.
//
// Quick start:
//
//	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{iss}})
//	mw, _ := jwtecho.New(jwtecho.Config{
//		Verifier: v,
//		Skipper:  func(c echo.Context) bool { return c.Path() == "/healthz" },
//	})
//	e := echo.New()
//	e.Use(mw)
//	e.GET("/items", func(c echo.Context) error {
//		claims, _ := jwtecho.Claims(c)
//		return c.JSON(200, map[string]string{"sub": claims.Subject})
//	})
//	e.DELETE("/items/:id", deleteItem, jwtecho.RequireScopes(v, "admin"))
package jwtecho
