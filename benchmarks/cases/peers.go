package cases

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/MicahParks/keyfunc/v3"
	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/jwks"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/golang-jwt/jwt/v5"
	echojwt "github.com/labstack/echo-jwt/v4"
	"github.com/labstack/echo/v4"
	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

// golangJWTParser is the golang-jwt configuration shared by the golang-jwt
// based cases: the same allow-list and the same iss/aud/exp checks.
// Claims are parsed into jwt.RegisteredClaims, the cheapest claims type
// golang-jwt offers (jwt.MapClaims, its default, costs dozens more
// allocations): each peer is measured in its fastest documented setup.
func golangJWTParser() *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods(fixture.Algs),
		jwt.WithIssuer(fixture.Issuer),
		jwt.WithAudience(fixture.Audience),
		jwt.WithExpirationRequired(),
	)
}

// newGolangJWTRaw is golang-jwt alone: a kid → key map, no HTTP, no JWKS.
func newGolangJWTRaw(_ context.Context, fx *fixture.Fixture, _ string, _ Options) (*Instance, error) {
	keys := map[string]any{}
	for _, alg := range fixture.Algs {
		keys[fx.KIDs[alg]] = fx.Public(alg)
	}
	p := golangJWTParser()
	kf := func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("cases: unknown kid %q", kid)
		}
		return k, nil
	}
	return &Instance{Verify: func(tok string) (string, error) {
		var c jwt.RegisteredClaims
		if _, err := p.ParseWithClaims(tok, &c, kf); err != nil {
			return "", err
		}
		return c.Subject, nil
	}}, nil
}

// newKeyfuncHTTP is MicahParks/keyfunc/v3's default storage (jwkset HTTP
// client: background refresh, rate-limited refresh on unknown kid) on the
// fixture's server.
func newKeyfuncHTTP(ctx context.Context, fx *fixture.Fixture, peer string, o Options) (keyfunc.Keyfunc, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{fx.Server.URL(peer)}, keyfunc.Override{
		Client:          fx.Server.Client(),
		RefreshInterval: o.refresh(),
	})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return k, cancel, nil
}

type keyfuncCtxKey struct{}

// newKeyfunc is golang-jwt + keyfunc in the smallest net/http middleware
// that does the job.
func newKeyfunc(ctx context.Context, fx *fixture.Fixture, _ string, o Options) (*Instance, error) {
	k, stop, err := newKeyfuncHTTP(ctx, fx, "keyfunc", o)
	if err != nil {
		return nil, err
	}
	p := golangJWTParser()
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(keyfuncCtxKey{}).(*jwt.RegisteredClaims)
		if c == nil {
			writeSub(w, "")
			return
		}
		writeSub(w, c.Subject)
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			unauthorized(w)
			return
		}
		c := new(jwt.RegisteredClaims)
		if _, err := p.ParseWithClaims(tok, c, k.Keyfunc); err != nil {
			unauthorized(w)
			return
		}
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyfuncCtxKey{}, c)))
	})
	return &Instance{Handler: h, closers: []func(){stop}}, nil
}

// newAuth0 is auth0/go-jwt-middleware/v2 with its jwks.CachingProvider.
// The provider takes an issuer URL and would use OIDC discovery over it;
// WithCustomJWKSURI points it straight at the fixture's plain-HTTP JWKS, so
// no TLS or discovery document is needed (v2.3.1 does not insist on https).
// Its validator accepts exactly one algorithm, so one is built per alg.
func newAuth0(_ context.Context, fx *fixture.Fixture, alg string, o Options) (*Instance, error) {
	iss, err := url.Parse(fixture.Issuer)
	if err != nil {
		return nil, err
	}
	jwksURL, err := url.Parse(fx.Server.URL("auth0"))
	if err != nil {
		return nil, err
	}
	prov := jwks.NewCachingProvider(iss, o.refresh(),
		jwks.WithCustomJWKSURI(jwksURL), jwks.WithCustomClient(fx.Server.Client()))
	v, err := validator.New(prov.KeyFunc, validator.SignatureAlgorithm(alg),
		fixture.Issuer, []string{fixture.Audience})
	if err != nil {
		return nil, err
	}
	mw := jwtmiddleware.New(v.ValidateToken)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(jwtmiddleware.ContextKey{}).(*validator.ValidatedClaims)
		if c == nil {
			writeSub(w, "")
			return
		}
		writeSub(w, c.RegisteredClaims.Subject)
	})
	return &Instance{Handler: mw.CheckJWT(inner)}, nil
}

// newEchoJWT is labstack/echo-jwt/v4 on echo with keyfunc's storage. Its
// default parse function checks neither iss nor aud, so it is given one
// that does (the same golang-jwt parser as the other cases).
func newEchoJWT(ctx context.Context, fx *fixture.Fixture, _ string, o Options) (*Instance, error) {
	k, stop, err := newKeyfuncHTTP(ctx, fx, "echojwt", o)
	if err != nil {
		return nil, err
	}
	p := golangJWTParser()
	mw, err := echojwt.Config{
		ParseTokenFunc: func(_ echo.Context, auth string) (any, error) {
			t, err := p.ParseWithClaims(auth, new(jwt.RegisteredClaims), k.Keyfunc)
			if err != nil {
				return nil, err
			}
			return t, nil
		},
	}.ToMiddleware()
	if err != nil {
		stop()
		return nil, err
	}
	e := echo.New()
	e.Use(mw)
	e.GET("/", func(c echo.Context) error {
		t, _ := c.Get("user").(*jwt.Token)
		if t == nil {
			return c.NoContent(http.StatusInternalServerError)
		}
		sub, _ := t.Claims.GetSubject()
		if sub == "" {
			return c.NoContent(http.StatusInternalServerError)
		}
		return c.String(http.StatusOK, sub)
	})
	return &Instance{Handler: e, closers: []func(){stop}}, nil
}

// newJWX is lestrrat-go/jwx/v3 with a jwk.Cache and its CachedSet (the
// cached key set itself, not a per-request cache look-up).
func newJWX(ctx context.Context, fx *fixture.Fixture, _ string, o Options) (*Instance, error) {
	ctx, cancel := context.WithCancel(ctx)
	c, err := jwk.NewCache(ctx, httprc.NewClient())
	if err != nil {
		cancel()
		return nil, err
	}
	closeAll := func() {
		_ = c.Shutdown(context.Background())
		cancel()
	}
	u := fx.Server.URL("jwx")
	if err := c.Register(ctx, u, jwk.WithHTTPClient(fx.Server.Client()),
		jwk.WithConstantInterval(o.refresh())); err != nil {
		closeAll()
		return nil, err
	}
	set, err := c.CachedSet(u)
	if err != nil {
		closeAll()
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			unauthorized(w)
			return
		}
		t, err := jwxjwt.ParseString(tok,
			jwxjwt.WithKeySet(set),
			jwxjwt.WithValidate(true),
			jwxjwt.WithIssuer(fixture.Issuer),
			jwxjwt.WithAudience(fixture.Audience),
		)
		if err != nil {
			unauthorized(w)
			return
		}
		sub, _ := t.Subject()
		writeSub(w, sub)
	})
	return &Instance{Handler: h, closers: []func(){closeAll}}, nil
}
