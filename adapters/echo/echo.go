package jwtecho

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/jwtgate/jwtgate/middleware"
)

// ClaimsKey is the echo context key holding the verified
// *middleware.Claims. Read it with Claims rather than by hand.
const ClaimsKey = "jwtgate.claims"

// ErrInvalidConfig is returned by New for a Config without a Verifier.
var ErrInvalidConfig = errors.New("jwtecho: invalid config")

// ErrConfig is ErrInvalidConfig's former name: one name for the idea in
// every jwtgate package.
//
// Deprecated: use ErrInvalidConfig.
var ErrConfig = ErrInvalidConfig

// Config configures New.
type Config struct {
	// Verifier verifies every request not skipped; use Verifier.With for
	// per-route requirements. Required.
	Verifier *middleware.Verifier
	// Skipper, when it returns true, lets the request through unverified.
	// nil means nothing is skipped.
	Skipper func(c echo.Context) bool
}

// New returns the middleware. A rejected request is answered by the
// Verifier's WriteError and the chain stops (the handler returns nil, so
// echo's error handler does not write a second answer); an accepted one
// continues with the claims in the echo context and the request's context.
func New(cfg Config) (echo.MiddlewareFunc, error) {
	if cfg.Verifier == nil {
		return nil, fmt.Errorf("%w: Verifier is nil", ErrInvalidConfig)
	}
	v, skip := cfg.Verifier, cfg.Skipper
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if skip != nil && skip(c) {
				return next(c)
			}
			r := c.Request()
			claims, err := v.Authenticate(c.Response(), r)
			if err != nil {
				v.WriteError(c.Response(), r, err)
				return nil
			}
			if claims != nil { // nil: an optional-auth request without a token
				c.Set(ClaimsKey, claims)
				c.SetRequest(r.WithContext(middleware.ContextWithClaims(r.Context(), claims)))
			}
			return next(c)
		}
	}, nil
}

// RequireScopes is per-route middleware for routes behind New's
// middleware: it answers 403 insufficient_scope unless the claims have
// every one of scopes, and 401 when the request has no claims. The check
// and the answer are the core's (Verifier.RequireScopes).
func RequireScopes(v *middleware.Verifier, scopes ...string) echo.MiddlewareFunc {
	check := v.RequireScopes(scopes...)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			passed := false
			check(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true })).ServeHTTP(c.Response(), c.Request())
			if !passed {
				return nil
			}
			return next(c)
		}
	}
}

// Claims returns the claims the middleware stored in c.
func Claims(c echo.Context) (*middleware.Claims, bool) {
	claims, ok := c.Get(ClaimsKey).(*middleware.Claims)
	return claims, ok && claims != nil
}
