package nethttp

import (
	"net/http"

	"github.com/jwtgate/jwtgate/middleware"
)

// Router is anything handlers can be registered on by pattern: the
// standard *http.ServeMux, chi.Router, gorilla's *mux.Router.
type Router interface {
	Handle(pattern string, h http.Handler)
}

// Middleware returns middleware that verifies the request's token with v
// and also requires every one of scopes (none: any valid token). It is
// v.With(middleware.Route{Scopes: scopes}).Handler, in the shape chi's Use
// and With take. (Every adapter's entry point is called Middleware.)
func Middleware(v *middleware.Verifier, scopes ...string) func(http.Handler) http.Handler {
	if len(scopes) > 0 {
		v = v.With(middleware.Route{Scopes: scopes})
	}
	return v.Handler
}

// Require is Middleware's former name.
//
// Deprecated: use Middleware.
func Require(v *middleware.Verifier, scopes ...string) func(http.Handler) http.Handler {
	return Middleware(v, scopes...)
}

// Handle registers h on r under pattern, behind v and the given scopes.
func Handle(r Router, pattern string, v *middleware.Verifier, h http.HandlerFunc, scopes ...string) {
	r.Handle(pattern, Middleware(v, scopes...)(h))
}

// ClaimsHandlerFunc is a handler that gets the verified claims as an
// argument. They are also in r's context (middleware.ClaimsFromContext).
type ClaimsHandlerFunc func(w http.ResponseWriter, r *http.Request, c *middleware.Claims)

// HandlerFunc verifies the request with v (and scopes) and calls h with the
// claims. With v's Optional set, a request without a token reaches h with
// nil claims.
func HandlerFunc(v *middleware.Verifier, h ClaimsHandlerFunc, scopes ...string) http.Handler {
	return Middleware(v, scopes...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFromContext(r.Context())
		h(w, r, c)
	}))
}

// Claims returns the verified claims of a request that went through
// Middleware, Handle or HandlerFunc.
func Claims(r *http.Request) (*middleware.Claims, bool) {
	return middleware.ClaimsFromContext(r.Context())
}
