package cases

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/gin-gonic/gin"
	"github.com/labstack/echo/v4"

	jwtecho "github.com/jwtgate/jwtgate/adapters/echo"
	jwtgin "github.com/jwtgate/jwtgate/adapters/gin"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/ratelimit"

	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

// jwtgateCases are jwtgate's own cases.
func jwtgateCases() []Case {
	return []Case{
		{Name: "jwtgate_cold", Framework: "net/http", New: newJwtgateHandler("jwtgate_cold", false, false)},
		{Name: "jwtgate_hit", Framework: "net/http", New: newJwtgateHandler("jwtgate_hit", true, false)},
		// jwtgate_hit with a per-subject rate limit (ratelimit.Local) set
		// high enough never to limit: what the limit adds to a hit (the
		// limiter, the RateLimit-* headers).
		{Name: "jwtgate_hit_limited", Framework: "net/http", New: newJwtgateHandler("jwtgate_hit_limited", true, true)},
		{Name: "jwtgate_verify", New: newJwtgateVerify("jwtgate_verify", false)},
		{Name: "jwtgate_verify_hit", New: newJwtgateVerify("jwtgate_verify_hit", true)},
		{Name: "jwtgate_gin", Framework: "gin", New: newJwtgateGin},
		{Name: "jwtgate_echo", Framework: "echo", New: newJwtgateEcho},
	}
}

// jwtgateKeys is jwtgate's own key cache on peer's JWKS path, waiting for
// the first load as a service would before it reports ready.
func jwtgateKeys(ctx context.Context, fx *fixture.Fixture, peer string, o Options) (jwkset.Storage, func(), error) {
	cfg := cache.Config{
		URL:        fx.Server.URL(peer),
		HTTPClient: fx.Server.Client(),
		// The TTL comes from the server's Cache-Control (max-age=3600 in
		// the micro-benchmarks, 1 s in the refresh scenario); the floor of
		// the clamp must let the refresh scenario's 1 s through.
		MinRefreshInterval: min(o.refresh(), time.Minute),
		DefaultTTL:         o.refresh(),
		WaitForFirstLoad:   true,
		// Warnings and errors still reach stderr; the INFO line per key-set
		// load would land in the middle of benchmark output.
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := cache.New(wctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { _ = c.Close() }, nil
}

// newJwtgateVerifier builds the Verifier as a user would: the fixture's
// issuer and audience, the three algorithms, and the verified-token cache
// on (its default size) or off.
func newJwtgateVerifier(ctx context.Context, fx *fixture.Fixture, peer string, tokenCache bool, o Options) (*middleware.Verifier, func(), error) {
	keys, stop, err := jwtgateKeys(ctx, fx, peer, o)
	if err != nil {
		return nil, nil, err
	}
	cfg := middleware.Config{
		Keys:       keys,
		Issuers:    []string{fixture.Issuer},
		Audiences:  []string{fixture.Audience},
		Algorithms: fixture.Algs,
	}
	if !tokenCache {
		cfg.TokenCacheSize = -1
	}
	v, err := middleware.New(cfg)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return v, stop, nil
}

func newJwtgateHandler(peer string, tokenCache, limited bool) func(context.Context, *fixture.Fixture, string, Options) (*Instance, error) {
	return func(ctx context.Context, fx *fixture.Fixture, _ string, o Options) (*Instance, error) {
		v, stop, err := newJwtgateVerifier(ctx, fx, peer, tokenCache, o)
		if err != nil {
			return nil, err
		}
		if limited {
			lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{Rate: 1_000_000_000})
			if err != nil {
				stop()
				return nil, err
			}
			v = v.With(middleware.Route{RateLimit: &middleware.RateLimit{Limiter: lim}})
		}
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := middleware.ClaimsFromContext(r.Context())
			if !ok {
				writeSub(w, "")
				return
			}
			writeSub(w, c.Subject)
		})
		return &Instance{Handler: v.Handler(inner), closers: []func(){stop}}, nil
	}
}

// newJwtgateVerify is Verifier.Verify with no HTTP around it (for gRPC or
// queue consumers), comparable with golangjwt_raw.
func newJwtgateVerify(peer string, tokenCache bool) func(context.Context, *fixture.Fixture, string, Options) (*Instance, error) {
	return func(ctx context.Context, fx *fixture.Fixture, _ string, o Options) (*Instance, error) {
		v, stop, err := newJwtgateVerifier(ctx, fx, peer, tokenCache, o)
		if err != nil {
			return nil, err
		}
		return &Instance{Verify: func(tok string) (string, error) {
			c, err := v.Verify(ctx, tok)
			if err != nil {
				return "", err
			}
			return c.Subject, nil
		}, closers: []func(){stop}}, nil
	}
}

// newJwtgateGin is the Verifier (verified-token cache off, like the cold
// peers) through adapters/gin on a gin engine, as gin_floor is.
func newJwtgateGin(ctx context.Context, fx *fixture.Fixture, _ string, o Options) (*Instance, error) {
	v, stop, err := newJwtgateVerifier(ctx, fx, "jwtgate_gin", false, o)
	if err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.Use(jwtgin.Middleware(v))
	g.GET("/", func(c *gin.Context) {
		cl, ok := jwtgin.Claims(c)
		if !ok || cl.Subject == "" {
			c.Status(http.StatusInternalServerError)
			return
		}
		c.String(http.StatusOK, cl.Subject)
	})
	return &Instance{Handler: g, closers: []func(){stop}}, nil
}

// newJwtgateEcho is the Verifier (verified-token cache off) through
// adapters/echo on an echo instance, as echo_floor and echojwt are.
func newJwtgateEcho(ctx context.Context, fx *fixture.Fixture, _ string, o Options) (*Instance, error) {
	v, stop, err := newJwtgateVerifier(ctx, fx, "jwtgate_echo", false, o)
	if err != nil {
		return nil, err
	}
	mw, err := jwtecho.New(jwtecho.Config{Verifier: v})
	if err != nil {
		stop()
		return nil, err
	}
	e := echo.New()
	e.Use(mw)
	e.GET("/", func(c echo.Context) error {
		cl, ok := jwtecho.Claims(c)
		if !ok || cl.Subject == "" {
			return c.NoContent(http.StatusInternalServerError)
		}
		return c.String(http.StatusOK, cl.Subject)
	})
	return &Instance{Handler: e, closers: []func(){stop}}, nil
}
