package jwtgin

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/middleware"
)

// ClaimsKey is the gin context key holding the verified *middleware.Claims.
// Read it with Claims rather than by hand.
const ClaimsKey = "jwtgate.claims"

// Middleware verifies each request with v (its route scopes and rate limit
// included; use v.With for per-route requirements). A rejected request is
// answered by v.WriteError and aborted; an accepted one continues with the
// claims in the gin context and in c.Request's context.
func Middleware(v *middleware.Verifier) gin.HandlerFunc {
	return func(c *gin.Context) {
		claims, err := v.Authenticate(c.Writer, c.Request)
		if err != nil {
			v.WriteError(c.Writer, c.Request, err)
			c.Abort()
			return
		}
		if claims != nil { // nil: an optional-auth request without a token
			c.Set(ClaimsKey, claims)
			c.Request = c.Request.WithContext(middleware.ContextWithClaims(c.Request.Context(), claims))
		}
		c.Next()
	}
}

// RequireScopes is per-route middleware for routes behind Middleware: it
// aborts with 403 insufficient_scope unless the claims have every one of
// scopes, and with 401 when the request has no claims. The check and the
// answer are the core's (Verifier.RequireScopes).
func RequireScopes(v *middleware.Verifier, scopes ...string) gin.HandlerFunc {
	check := v.RequireScopes(scopes...)
	return func(c *gin.Context) {
		passed := false
		check(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true })).ServeHTTP(c.Writer, c.Request)
		if !passed {
			c.Abort()
			return
		}
		c.Next()
	}
}

// Claims returns the claims Middleware stored in c.
func Claims(c *gin.Context) (*middleware.Claims, bool) {
	v, ok := c.Get(ClaimsKey)
	if !ok {
		return nil, false
	}
	claims, ok := v.(*middleware.Claims)
	return claims, ok && claims != nil
}
