package jwtecho_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"go.uber.org/goleak"

	jwtecho "github.com/jwtgate/jwtgate/adapters/echo"
	"github.com/jwtgate/jwtgate/internal/adaptertest"
	"github.com/jwtgate/jwtgate/middleware"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func body(c echo.Context) error {
	claims, ok := jwtecho.Claims(c)
	return c.String(http.StatusOK, adaptertest.Body(claims, ok, c.Request()))
}

func mw(t *testing.T, v *middleware.Verifier) echo.MiddlewareFunc {
	t.Helper()
	m, err := jwtecho.New(jwtecho.Config{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEchoBehaviourTable(t *testing.T) {
	f := adaptertest.New(t)
	e := echo.New()
	e.GET("/items", body, mw(t, f.V))
	e.GET("/admin", body, mw(t, f.V), jwtecho.RequireScopes(f.V, "admin"))
	e.GET("/limited", body, mw(t, f.Limited))
	e.GET("/down", body, mw(t, f.Down))
	adaptertest.Run(t, f, e)
}

func TestEchoGroupWithPerRouteVerifier(t *testing.T) {
	f := adaptertest.New(t)
	e := echo.New()
	e.GET("/items", body, mw(t, f.V))
	e.GET("/admin", body, mw(t, f.V.With(middleware.Route{Scopes: []string{"admin"}})))
	e.GET("/limited", body, mw(t, f.Limited))
	e.GET("/down", body, mw(t, f.Down))
	adaptertest.Run(t, f, e)
}

// A scoped route behind an optional-auth Verifier still needs a token, both
// with a derived Verifier and with RequireScopes.
func TestEchoOptionalScopedRoute(t *testing.T) {
	f := adaptertest.New(t)
	for name, admin := range map[string][]echo.MiddlewareFunc{
		"With":          {mw(t, f.Optional.With(middleware.Route{Scopes: []string{"admin"}}))},
		"RequireScopes": {mw(t, f.Optional), jwtecho.RequireScopes(f.Optional, "admin")},
	} {
		t.Run(name, func(t *testing.T) {
			e := echo.New()
			e.GET("/open", body, mw(t, f.Optional))
			e.GET("/admin", body, admin...)
			adaptertest.RunOptional(t, f, e)
		})
	}
}

func TestSkipper(t *testing.T) {
	f := adaptertest.New(t)
	m, err := jwtecho.New(jwtecho.Config{Verifier: f.V, Skipper: func(c echo.Context) bool { return c.Path() == "/healthz" }})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(m)
	e.GET("/healthz", func(c echo.Context) error { return c.String(200, "ok") })
	e.GET("/items", body)
	for path, want := range map[string]int{"/healthz": 200, "/items": 401} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
}

func TestNewNeedsVerifier(t *testing.T) {
	if _, err := jwtecho.New(jwtecho.Config{}); !errors.Is(err, jwtecho.ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkMiddleware(b *testing.B) {
	f := adaptertest.New(b)
	m, err := jwtecho.New(jwtecho.Config{Verifier: f.V})
	if err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	e.GET("/items", func(c echo.Context) error { return c.NoContent(http.StatusOK) }, m, jwtecho.RequireScopes(f.V, "admin"))
	adaptertest.Bench(b, f, e, "/items")
}
