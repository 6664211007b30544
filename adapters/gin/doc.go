// Package jwtgin is the glue between jwtgate's Verifier and gin: a
// gin.HandlerFunc that verifies the request, aborts with exactly the answer
// the core gives (status, WWW-Authenticate, RateLimit-*, small JSON body:
// the Verifier's WriteError writes it) and puts the claims both in the gin
// context, under the one key ClaimsKey, and in the request's context.
//
// It holds no verification logic and no status table.
//
// Quick start:
//
//	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{iss}})
//	r := gin.New()
//	api := r.Group("/api", jwtgin.Middleware(v))
//	api.GET("/items", func(c *gin.Context) {
//		claims, _ := jwtgin.Claims(c)
//		c.JSON(200, gin.H{"sub": claims.Subject})
//	})
//	api.DELETE("/items/:id", jwtgin.RequireScopes(v, "admin"), deleteItem)
//	r.GET("/reports", jwtgin.Middleware(v.With(middleware.Route{Scopes: []string{"reports"}})), reports)
package jwtgin
