package introspect_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtgate/jwtgate/introspect"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/metrics"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/policy"
)

var quiet = slog.New(slog.DiscardHandler)

// world is an introspection endpoint, a client for it and a route bound to
// it.
type world struct {
	srv   *jwtgatetest.IntrospectionServer
	ic    *introspect.Client
	v     *middleware.Verifier
	route *middleware.Verifier
}

func newWorld(t *testing.T, opts jwtgatetest.IntrospectionOptions, cfg introspect.Config, mut ...func(*middleware.Config)) *world {
	t.Helper()
	w := &world{srv: jwtgatetest.NewIntrospectionServer(t, opts)}
	if cfg.Endpoint == "" && cfg.Issuer == "" {
		cfg.Endpoint = w.srv.URL()
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	var err error
	if w.ic, err = introspect.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.ic.Close() })
	mc := middleware.Config{Keys: jwkset.NewMemoryStorage(), Issuers: []string{w.srv.Issuer()}, Audiences: []string{"api"}, Logger: quiet}
	for _, m := range mut {
		m(&mc)
	}
	if w.v, err = middleware.New(mc); err != nil {
		t.Fatal(err)
	}
	w.route = w.v.With(middleware.Route{Introspection: w.ic})
	return w
}

type answer struct {
	status int
	body   string
	header http.Header
	sub    string
}

func (w *world) do(v *middleware.Verifier, token string) answer {
	var sub string
	h := v.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFromContext(r.Context())
		sub = c.Subject
	}))
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return answer{rec.Code, rec.Body.String(), rec.Header(), sub}
}

func TestActiveOpaqueTokenAccepted(t *testing.T) {
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{})
	tok := w.srv.Issue(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}})
	for range 3 {
		if a := w.do(w.route, tok); a.status != 200 || a.sub != "alice" {
			t.Fatalf("%+v", a)
		}
	}
	if n := w.srv.Requests(); n != 1 {
		t.Errorf("%d introspection requests for three uses of one token, want 1 (cached)", n)
	}
}

// Done when: active missing, "true", 1 are refused.
func TestActiveMustBeJSONTrue(t *testing.T) {
	for name, body := range map[string]string{
		"active missing":    `{"sub":"alice","aud":"api"}`,
		`active "true"`:     `{"active":"true","sub":"alice","aud":"api"}`,
		"active 1":          `{"active":1,"sub":"alice","aud":"api"}`,
		"active false":      `{"active":false,"sub":"alice","aud":"api"}`,
		"active null":       `{"active":null,"sub":"alice","aud":"api"}`,
		"active [true]":     `{"active":[true],"sub":"alice","aud":"api"}`,
		"active True":       `{"active":"True","sub":"alice","aud":"api"}`,
		"duplicate active":  `{"active":false,"active":true,"sub":"alice","aud":"api"}`,
		"active true twice": `{"active":true,"active":true,"sub":"alice","aud":"api"}`,
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{})
			w.srv.SetAnswer("tok", []byte(body))
			if a := w.do(w.route, "tok"); a.status == 200 {
				t.Fatalf("accepted: %+v", a)
			}
			_, err := w.ic.Introspect(context.Background(), "tok")
			if err == nil {
				t.Fatal("Introspect accepted it")
			}
		})
	}
}

// Done when: active true with a past exp, a foreign aud or a foreign iss is
// refused.
func TestActiveTrueWithBadClaimsRefused(t *testing.T) {
	past := time.Now().Add(-time.Minute)
	for name, tc := range map[string]struct {
		c    jwtgatetest.Claims
		want string
	}{
		"past exp":    {jwtgatetest.Claims{ExpiresAt: past, IssuedAt: past.Add(-time.Hour)}, "token expired"},
		"foreign aud": {jwtgatetest.Claims{Audience: "billing"}, "audience not accepted"},
		"foreign iss": {jwtgatetest.Claims{Issuer: "https://evil.example"}, "issuer not accepted"},
		"future nbf":  {jwtgatetest.Claims{NotBefore: time.Now().Add(time.Hour)}, "token not yet valid"},
		"refresh token": {jwtgatetest.Claims{Extra: map[string]any{"token_type": "refresh_token"}},
			"token type not accepted"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{})
			tok := w.srv.Issue(t, tc.c)
			if a := w.do(w.route, tok); a.status != 401 || !strings.Contains(a.body, tc.want) {
				t.Errorf("got %d %s, want 401 %q", a.status, a.body, tc.want)
			}
		})
	}
}

// Done when: a token cached from endpoint A is not accepted on a route
// bound to endpoint B, even with one cache shared by both clients (the
// oathkeeper CVE-2026-33496 pattern).
func TestTokenCachedFromEndpointANotAcceptedOnEndpointB(t *testing.T) {
	shared := introspect.NewCache(100)
	a := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{Cache: shared})
	b := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{})
	icB, err := introspect.New(introspect.Config{Endpoint: b.URL(), Cache: shared, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { icB.Close() })
	routeB := a.v.With(middleware.Route{Introspection: icB})

	tok := a.srv.Issue(t, jwtgatetest.Claims{Subject: "alice", Issuer: a.srv.Issuer()})
	if got := a.do(a.route, tok); got.status != 200 {
		t.Fatalf("route A: %+v", got)
	}
	if shared.Len() != 1 {
		t.Fatalf("shared cache holds %d answers, want 1", shared.Len())
	}
	if got := a.do(routeB, tok); got.status != 401 || !strings.Contains(got.body, "token not active") {
		t.Errorf("route B accepted A's token: %d %s", got.status, got.body)
	}
	if b.Requests() != 1 {
		t.Errorf("endpoint B asked %d times, want 1: B's route must ask B", b.Requests())
	}
	// And B's negative answer does not spoil A's route.
	if got := a.do(a.route, tok); got.status != 200 {
		t.Errorf("route A after B: %+v", got)
	}
}

// Done when: endpoint 5xx, time-out and 401 are 503 with Retry-After,
// never 401.
func TestEndpointFailureIs503(t *testing.T) {
	for name, f := range map[string]jwtgatetest.IntrospectionFault{
		"5xx":         {Status: 500},
		"503":         {Status: 503},
		"time-out":    {Hang: true},
		"401":         {Status: 401},
		"403":         {Status: 403},
		"html":        {Body: []byte("<html>gateway error</html>")},
		"not object":  {Body: []byte(`[{"active":true}]`)},
		"exp string":  {Body: []byte(`{"active":true,"exp":"later"}`)},
		"trailing":    {Body: []byte(`{"active":true} {}`)},
		"too large":   {Body: append([]byte(`{"active":true,"x":"`), append(bytes.Repeat([]byte("a"), 70<<10), '"', '}')...)},
		"empty":       {Body: []byte{}},
		"404":         {Status: 404},
		"400 invalid": {Status: 400},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{Timeout: 50 * time.Millisecond})
			tok := w.srv.Issue(t, jwtgatetest.Claims{})
			w.srv.SetFault(f)
			a := w.do(w.route, tok)
			if a.status != 503 || a.header.Get("Retry-After") == "" {
				t.Errorf("got %d %v %s, want 503 with Retry-After", a.status, a.header, a.body)
			}
			if strings.Contains(a.body, tok) {
				t.Errorf("error body has the token: %s", a.body)
			}
			_, err := w.ic.Introspect(context.Background(), tok)
			if !errors.Is(err, introspect.ErrUnavailable) || errors.Is(err, middleware.ErrTokenInactive) {
				t.Errorf("Introspect: %v", err)
			}
		})
	}
}

// A client the endpoint does not know (wrong secret) is the gateway's
// problem, not the caller's: 503, and ErrClientRejected.
func TestWrongClientSecretIs503(t *testing.T) {
	w := newWorld(t, jwtgatetest.IntrospectionOptions{ClientID: "gw", ClientSecret: "right"},
		introspect.Config{ClientID: "gw", ClientSecret: "wrong"})
	tok := w.srv.Issue(t, jwtgatetest.Claims{})
	if a := w.do(w.route, tok); a.status != 503 {
		t.Errorf("got %d", a.status)
	}
	if _, err := w.ic.Introspect(context.Background(), tok); !errors.Is(err, introspect.ErrClientRejected) {
		t.Errorf("%v", err)
	}
}

func TestClientAuthentication(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		srv   jwtgatetest.IntrospectionOptions
		cfg   introspect.Config
		check func(t *testing.T, w *world)
	}{
		"client_secret_basic": {jwtgatetest.IntrospectionOptions{ClientID: "gw:1", ClientSecret: "s%cr=t"},
			introspect.Config{ClientID: "gw:1", ClientSecret: "s%cr=t"}, func(t *testing.T, w *world) {
				if f := w.srv.LastForm(); f.Has("client_secret") {
					t.Error("basic sent the secret in the body")
				}
			}},
		"client_secret_post": {jwtgatetest.IntrospectionOptions{ClientID: "gw", ClientSecret: "s3cret"},
			introspect.Config{ClientID: "gw", ClientSecret: "s3cret", AuthMethod: introspect.ClientSecretPost}, func(t *testing.T, w *world) {
				if f := w.srv.LastForm(); f.Get("client_secret") != "s3cret" || f.Get("token_type_hint") != "access_token" {
					t.Errorf("form %v", f)
				}
			}},
		"private_key_jwt": {jwtgatetest.IntrospectionOptions{ClientID: "gw", RequireAssertion: true},
			introspect.Config{ClientID: "gw", PrivateKey: key, KeyID: "k1"}, func(t *testing.T, w *world) {
				a := w.srv.LastForm().Get("client_assertion")
				v, err := middleware.New(middleware.Config{Keys: assertionKeys(t, key), Issuers: []string{"gw"}, Audiences: []string{w.srv.URL()}, Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				c, err := v.Verify(context.Background(), a)
				if err != nil || c.Subject != "gw" || c.ID == "" {
					t.Errorf("assertion %v %v", c, err)
				}
			}},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, tc.srv, tc.cfg)
			tok := w.srv.Issue(t, jwtgatetest.Claims{})
			if a := w.do(w.route, tok); a.status != 200 {
				t.Fatalf("got %d %s", a.status, a.body)
			}
			tc.check(t, w)
		})
	}
}

func assertionKeys(t *testing.T, key *ecdsa.PrivateKey) jwkset.Storage {
	t.Helper()
	st := jwkset.NewMemoryStorage()
	j, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgES256}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.KeyWrite(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSecretFromEnvOrFile(t *testing.T) {
	t.Setenv("JWTGATE_TEST_SECRET", "from-env")
	if s, err := introspect.Secret("JWTGATE_TEST_SECRET", ""); err != nil || s != "from-env" {
		t.Errorf("env: %q %v", s, err)
	}
	f := t.TempDir() + "/secret"
	if err := writeFile(f, "from-file\n"); err != nil {
		t.Fatal(err)
	}
	if s, err := introspect.Secret("", f); err != nil || s != "from-file" {
		t.Errorf("file: %q %v", s, err)
	}
	if _, err := introspect.Secret("JWTGATE_TEST_SECRET", f); !errors.Is(err, introspect.ErrInvalidConfig) {
		t.Errorf("both: %v", err)
	}
	if _, err := introspect.Secret("JWTGATE_TEST_UNSET_SECRET", ""); !errors.Is(err, introspect.ErrInvalidConfig) {
		t.Errorf("unset: %v", err)
	}
}

func TestDiscovery(t *testing.T) {
	srv := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{})
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{Issuer: srv.Issuer()})
	// The world's own server is unused: the client found srv's endpoint.
	tok := srv.Issue(t, jwtgatetest.Claims{Issuer: w.srv.Issuer()})
	if a := w.do(w.route, tok); a.status != 200 {
		t.Fatalf("%+v", a)
	}
	if ep, ok := w.ic.Endpoint(); !ok || ep != srv.URL() {
		t.Errorf("endpoint %q", ep)
	}
}

func TestNegativeCache(t *testing.T) {
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{})
	for range 3 {
		if a := w.do(w.route, "never-issued"); a.status != 401 {
			t.Fatalf("%+v", a)
		}
	}
	if n := w.srv.Requests(); n != 1 {
		t.Errorf("%d requests for one inactive token, want 1", n)
	}
}

// A revoked token is refused once its cached answer ends (MaxAge).
func TestRevokedTokenRefusedAfterMaxAge(t *testing.T) {
	clock := jwtgatetest.NewClock(time.Now())
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{MaxAge: time.Minute, Now: clock.Now})
	tok := w.srv.Issue(t, jwtgatetest.Claims{})
	if a := w.do(w.route, tok); a.status != 200 {
		t.Fatalf("%+v", a)
	}
	w.srv.Revoke(tok)
	if a := w.do(w.route, tok); a.status != 200 {
		t.Fatalf("cached answer: %+v", a)
	}
	clock.Advance(time.Minute)
	if a := w.do(w.route, tok); a.status != 401 {
		t.Errorf("revoked after MaxAge: %+v", a)
	}
}

// Concurrent look-ups of one token make one call. The endpoint holds its
// first answer until every caller is durably blocked (synctest.Wait): a
// caller that did not join the call in flight is then either held at the
// endpoint too or waiting for a slot, and is counted once released.
func TestConcurrentLookupsCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const callers = 16
		const body = `{"active":true,"sub":"alice"}`
		gate := &gatedEndpoint{body: body, release: make(chan struct{})}
		ic, err := introspect.New(introspect.Config{
			Endpoint:   "http://127.0.0.1/introspect",
			HTTPClient: &http.Client{Transport: gate},
			Logger:     quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ic.Close()
		type result struct {
			res *middleware.IntrospectionResult
			err error
		}
		results := make(chan result, callers)
		for range callers {
			go func() {
				res, err := ic.Introspect(context.Background(), "opaque")
				results <- result{res, err}
			}()
		}
		synctest.Wait()
		if n := gate.calls.Load(); n != 1 {
			t.Errorf("%d calls at the endpoint while %d look-ups wait, want 1", n, callers)
		}
		close(gate.release)
		for range callers {
			r := <-results
			if r.err != nil || r.res == nil || r.res.Raw() != body {
				t.Errorf("caller got %v, %v; want the endpoint's answer", r.res, r.err)
			}
		}
		if n := gate.calls.Load(); n != 1 {
			t.Errorf("%d calls for %d concurrent look-ups, want 1", n, callers)
		}
	})
}

// gatedEndpoint is an in-memory introspection endpoint for a synctest
// bubble: it counts calls and holds each until release is closed (a
// durable block), then answers body.
type gatedEndpoint struct {
	body    string
	release chan struct{}
	calls   atomic.Int64
}

func (g *gatedEndpoint) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	g.calls.Add(1)
	select {
	case <-g.release:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(g.body)),
		ContentLength: int64(len(g.body)),
		Request:       req,
	}, nil
}

// Consecutive failures open the breaker: later misses fail at once, without
// calling the endpoint.
func TestBreakerOpensOnFailures(t *testing.T) {
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{BreakerFailures: 2, BreakerOpen: time.Hour, NegativeMaxAge: -1})
	w.srv.SetFault(jwtgatetest.IntrospectionFault{Status: 500})
	for i := range 5 {
		if _, err := w.ic.Introspect(context.Background(), "t"+string(rune('a'+i))); !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("%d: %v", i, err)
		}
	}
	if n := w.srv.Requests(); n != 2 {
		t.Errorf("%d calls, want 2 (then the breaker is open)", n)
	}
}

func TestPendingBounded(t *testing.T) {
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{MaxPending: 1, MaxConcurrent: 1})
	arrived := make(chan struct{}, 1)
	w.srv.SetFault(jwtgatetest.IntrospectionFault{Hang: true, Arrived: arrived})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := w.ic.Introspect(ctx, "first")
		done <- err
	}()
	<-arrived
	if _, err := w.ic.Introspect(context.Background(), "second"); !errors.Is(err, introspect.ErrUnavailable) {
		t.Errorf("second look-up beyond MaxPending: %v", err)
	}
	cancel()
	<-done
}

// Done when: a raw token never appears in a log line, a metric label or a
// cache key (the cache-key half is TestCacheKeysAreHashes).
func TestNoRawTokenInLogsOrMetrics(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	m, err := metrics.New(metrics.Config{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{Logger: logger, OnIntrospect: m.OnIntrospect}, func(c *middleware.Config) {
		c.Logger, c.OnVerify = logger, m.OnVerify
	})
	good := w.srv.Issue(t, jwtgatetest.Claims{})
	for _, tok := range []string{good, "inactive-secret-token", good + "x"} {
		w.do(w.route, tok)
	}
	w.srv.SetFault(jwtgatetest.IntrospectionFault{Status: 500})
	w.do(w.route, "failing-secret-token")
	var exposition bytes.Buffer
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		exposition.WriteString(mf.String())
	}
	if !strings.Contains(exposition.String(), "introspection") {
		t.Errorf("no introspection metric: %s", exposition.String())
	}
	for _, tok := range []string{good, "inactive-secret-token", "failing-secret-token"} {
		if strings.Contains(logs.String(), tok) {
			t.Errorf("log has a token: %s", logs.String())
		}
		if strings.Contains(exposition.String(), tok) {
			t.Errorf("metrics have a token")
		}
	}
}

func TestConfigRefused(t *testing.T) {
	for name, cfg := range map[string]introspect.Config{
		"no endpoint":         {},
		"plain http":          {Endpoint: "http://idp.example.com/introspect"},
		"userinfo":            {Endpoint: "https://u:p@idp.example.com/introspect"},
		"basic without id":    {Endpoint: "https://idp.example.com/i", ClientSecret: "s"},
		"post without secret": {Endpoint: "https://idp.example.com/i", ClientID: "gw", AuthMethod: introspect.ClientSecretPost},
		"jwt without key":     {Endpoint: "https://idp.example.com/i", ClientID: "gw", AuthMethod: introspect.PrivateKeyJWT},
		"negative timeout":    {Endpoint: "https://idp.example.com/i", Timeout: -1},
	} {
		if _, err := introspect.New(cfg); !errors.Is(err, introspect.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAuthMethodText(t *testing.T) {
	for _, m := range []introspect.AuthMethod{introspect.ClientSecretBasic, introspect.ClientSecretPost, introspect.PrivateKeyJWT, introspect.AuthNone} {
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back introspect.AuthMethod
		if err := back.UnmarshalText(b); err != nil || back != m {
			t.Errorf("%v: %v %v", m, back, err)
		}
	}
	var m introspect.AuthMethod
	if err := m.UnmarshalText([]byte("tls_client_auth")); !errors.Is(err, introspect.ErrInvalidConfig) {
		t.Errorf("%v", err)
	}
}

// Revocation-aware mode: a JWT that verifies is introspected too (once,
// then cached), so a revoked JWT is refused before its exp; a JWT that
// fails verification is never sent to the endpoint.
func TestRevocationAwareModeIntrospectsJWTs(t *testing.T) {
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	as := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{})
	ic, err := introspect.New(introspect.Config{Endpoint: as.URL(), IntrospectJWTs: true, NegativeMaxAge: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close() })
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	rt := v.With(middleware.Route{Introspection: ic})
	w := &world{}
	tok := idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	as.SetAnswer(tok, []byte(`{"active":true}`))
	for range 2 {
		if a := w.do(rt, tok); a.status != 200 || a.sub != "alice" {
			t.Fatalf("active JWT: %+v", a)
		}
	}
	if as.Requests() != 1 {
		t.Errorf("%d introspections of one JWT, want 1 (cached)", as.Requests())
	}
	revoked := idp.Mint(t, jwtgatetest.Claims{Subject: "mallory", Audience: "api"})
	as.Revoke(revoked)
	if a := w.do(rt, revoked); a.status != 401 || !strings.Contains(a.body, "token not active") {
		t.Errorf("revoked JWT: %+v", a)
	}
	bad := idp.Bad(t, jwtgatetest.Expired)
	before := as.Requests()
	if a := w.do(rt, bad); a.status != 401 || as.Requests() != before {
		t.Errorf("bad JWT: %d, %d introspections", a.status, as.Requests()-before)
	}
}

// An issuer whose metadata cannot be read is 503, and is not asked again
// on every request.
func TestDiscoveryFailureIs503AndNotRetriedAtOnce(t *testing.T) {
	var asked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	clock := jwtgatetest.NewClock(time.Now())
	ic, err := introspect.New(introspect.Config{Issuer: srv.URL, Logger: quiet, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	for range 3 {
		if _, err := ic.Introspect(context.Background(), "tok"); !errors.Is(err, introspect.ErrUnavailable) {
			t.Fatalf("%v", err)
		}
	}
	if n := asked.Load(); n != 2 { // the two well-known documents, once
		t.Errorf("%d metadata requests, want 2", n)
	}
	clock.Advance(time.Minute)
	_, _ = ic.Introspect(context.Background(), "tok")
	if n := asked.Load(); n != 4 {
		t.Errorf("%d metadata requests after the pause, want 4", n)
	}
}

// An introspected token's claims reach a route policy, the rate limit and
// the claim headers as a JWT's do.
func TestIntrospectedClaimsFeedPolicyAndHeaders(t *testing.T) {
	pol, err := policy.Compile(`claims.tenant == "acme"`, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, jwtgatetest.IntrospectionOptions{}, introspect.Config{}, func(c *middleware.Config) {
		c.ClaimHeaders = map[string]string{"client_id": "X-Client"}
	})
	rt := w.v.With(middleware.Route{Introspection: w.ic, Policy: pol, Scopes: []string{"read"}})
	var client string
	h := rt.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { client = r.Header.Get("X-Client") }))
	for tenant, want := range map[string]int{"acme": 200, "globex": 403} {
		tok := w.srv.Issue(t, jwtgatetest.Claims{Scopes: []string{"read"}, Extra: map[string]any{"tenant": tenant, "client_id": "app-" + tenant}})
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != want {
			t.Errorf("%s: %d %s, want %d", tenant, rec.Code, rec.Body, want)
		}
		if want == 200 && client != "app-acme" {
			t.Errorf("claim header %q", client)
		}
	}
}

// The private_key_jwt assertion's aud is the Issuer when set (RFC 10070),
// the endpoint with AudienceEndpoint or without an Issuer; keys on P-384
// and P-521 sign as P-256 ones do.
func TestAssertionAudienceAndKeyKinds(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	for _, tc := range []struct {
		name    string
		key     *ecdsa.PrivateKey
		alg     string
		issuer  bool
		aud     introspect.AssertionAudience
		wantIss bool
	}{
		{"issuer", p384, "ES384", true, introspect.AudienceIssuer, true},
		{"endpoint", p521, "ES512", true, introspect.AudienceEndpoint, false},
		{"no issuer", p384, "ES384", false, introspect.AudienceIssuer, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{ClientID: "gw", RequireAssertion: true})
			cfg := introspect.Config{Endpoint: srv.URL(), ClientID: "gw", PrivateKey: tc.key, AssertionAudience: tc.aud}
			if tc.issuer {
				cfg.Issuer = srv.Issuer()
			}
			w := newWorld(t, jwtgatetest.IntrospectionOptions{}, cfg)
			if a := w.do(w.route, srv.Issue(t, jwtgatetest.Claims{Issuer: w.srv.Issuer()})); a.status != 200 {
				t.Fatalf("%+v", a)
			}
			want := srv.URL()
			if tc.wantIss {
				want = srv.Issuer()
			}
			var claims jwt.RegisteredClaims
			_, err := jwt.ParseWithClaims(srv.LastForm().Get("client_assertion"), &claims, func(*jwt.Token) (any, error) { return &tc.key.PublicKey, nil },
				jwt.WithValidMethods([]string{tc.alg}), jwt.WithAudience(want), jwt.WithIssuer("gw"), jwt.WithSubject("gw"))
			if err != nil {
				t.Fatalf("assertion: %v (want aud %s)", err, want)
			}
		})
	}
}
