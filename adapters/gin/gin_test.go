package jwtgin_test

import (
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	jwtgin "github.com/jwtgate/jwtgate/adapters/gin"
	"github.com/jwtgate/jwtgate/internal/adaptertest"
	"github.com/jwtgate/jwtgate/middleware"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

func body(c *gin.Context) {
	claims, ok := jwtgin.Claims(c)
	c.String(http.StatusOK, adaptertest.Body(claims, ok, c.Request))
}

func TestGinBehaviourTable(t *testing.T) {
	f := adaptertest.New(t)
	r := gin.New()
	r.GET("/items", jwtgin.Middleware(f.V), body)
	r.GET("/admin", jwtgin.Middleware(f.V), jwtgin.RequireScopes(f.V, "admin"), body)
	r.GET("/limited", jwtgin.Middleware(f.Limited), body)
	r.GET("/down", jwtgin.Middleware(f.Down), body)
	adaptertest.Run(t, f, r)
}

// Per-route scopes the other way: a Verifier derived with With.
func TestGinPerRouteVerifier(t *testing.T) {
	f := adaptertest.New(t)
	r := gin.New()
	g := r.Group("/")
	g.GET("/items", jwtgin.Middleware(f.V), body)
	g.GET("/admin", jwtgin.Middleware(f.V.With(middleware.Route{Scopes: []string{"admin"}})), body)
	g.GET("/limited", jwtgin.Middleware(f.Limited), body)
	g.GET("/down", jwtgin.Middleware(f.Down), body)
	adaptertest.Run(t, f, r)
}

// A scoped route behind an optional-auth Verifier still needs a token, both
// with a derived Verifier and with RequireScopes.
func TestGinOptionalScopedRoute(t *testing.T) {
	f := adaptertest.New(t)
	for name, admin := range map[string][]gin.HandlerFunc{
		"With":          {jwtgin.Middleware(f.Optional.With(middleware.Route{Scopes: []string{"admin"}}))},
		"RequireScopes": {jwtgin.Middleware(f.Optional), jwtgin.RequireScopes(f.Optional, "admin")},
	} {
		t.Run(name, func(t *testing.T) {
			r := gin.New()
			r.GET("/open", jwtgin.Middleware(f.Optional), body)
			r.GET("/admin", append(admin, body)...)
			adaptertest.RunOptional(t, f, r)
		})
	}
}

func TestClaimsWithoutMiddleware(t *testing.T) {
	c, _ := gin.CreateTestContext(nil)
	if _, ok := jwtgin.Claims(c); ok {
		t.Fatal("claims without middleware")
	}
	c.Set(jwtgin.ClaimsKey, "not claims")
	if _, ok := jwtgin.Claims(c); ok {
		t.Fatal("a foreign value under the key was taken for claims")
	}
}

func BenchmarkMiddleware(b *testing.B) {
	f := adaptertest.New(b)
	r := gin.New()
	r.GET("/items", jwtgin.Middleware(f.V), jwtgin.RequireScopes(f.V, "admin"), func(c *gin.Context) { c.Status(http.StatusOK) })
	adaptertest.Bench(b, f, r, "/items")
}
