package nethttp_test

import (
	"fmt"
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/jwtgate/jwtgate/adapters/nethttp"
	"github.com/jwtgate/jwtgate/internal/adaptertest"
	"github.com/jwtgate/jwtgate/middleware"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServeMuxBehaviourTable(t *testing.T) {
	f := adaptertest.New(t)
	mux := http.NewServeMux()
	items := func(w http.ResponseWriter, r *http.Request) {
		c, ok := nethttp.Claims(r)
		fmt.Fprint(w, adaptertest.Body(c, ok, r))
	}
	nethttp.Handle(mux, "GET /items", f.V, items)
	nethttp.Handle(mux, "GET /admin", f.V, items, "admin")
	mux.Handle("GET /limited", nethttp.HandlerFunc(f.Limited, func(w http.ResponseWriter, r *http.Request, c *middleware.Claims) {
		fmt.Fprint(w, adaptertest.Body(c, c != nil, r))
	}))
	mux.Handle("GET /down", nethttp.Middleware(f.Down)(http.HandlerFunc(items)))
	adaptertest.Run(t, f, mux)
}

// A scoped route behind an optional-auth Verifier still needs a token.
func TestOptionalScopedRoute(t *testing.T) {
	f := adaptertest.New(t)
	items := func(w http.ResponseWriter, r *http.Request) {
		c, ok := nethttp.Claims(r)
		fmt.Fprint(w, adaptertest.Body(c, ok, r))
	}
	mux := http.NewServeMux()
	nethttp.Handle(mux, "GET /open", f.Optional, items)
	nethttp.Handle(mux, "GET /admin", f.Optional, items, "admin")
	adaptertest.RunOptional(t, f, mux)
}

// Require has chi's middleware shape; chained by hand here the way chi's
// r.With(...) chains it.
func TestRequireComposes(t *testing.T) {
	f := adaptertest.New(t)
	chain := func(h http.Handler, mws ...func(http.Handler) http.Handler) http.Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			h = mws[i](h)
		}
		return h
	}
	items := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := nethttp.Claims(r)
		fmt.Fprint(w, adaptertest.Body(c, ok, r))
	})
	mux := http.NewServeMux()
	mux.Handle("/items", chain(items, nethttp.Middleware(f.V)))
	mux.Handle("/admin", chain(items, nethttp.Middleware(f.V, "admin")))
	mux.Handle("/limited", chain(items, nethttp.Middleware(f.Limited)))
	mux.Handle("/down", chain(items, nethttp.Middleware(f.Down)))
	adaptertest.Run(t, f, mux)
}

func BenchmarkHandle(b *testing.B) {
	f := adaptertest.New(b)
	mux := http.NewServeMux()
	nethttp.Handle(mux, "GET /items", f.V, func(w http.ResponseWriter, r *http.Request) {}, "admin")
	adaptertest.Bench(b, f, mux, "/items")
}
