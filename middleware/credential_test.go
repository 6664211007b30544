package middleware

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fakeIntrospector answers from a map: token → the answer's JSON; a token
// not in it is inactive; err, when set, answers every call.
type fakeIntrospector struct {
	mu      sync.Mutex
	answers map[string]*IntrospectionResult
	err     error
	jwts    bool
	calls   atomic.Int64
}

func (f *fakeIntrospector) set(token, raw string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answers == nil {
		f.answers = map[string]*IntrospectionResult{}
	}
	f.answers[token] = NewIntrospectionResult("https://idp.test/introspect", raw)
}

func (f *fakeIntrospector) Introspect(_ context.Context, token string) (*IntrospectionResult, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if r, ok := f.answers[token]; ok {
		return r, nil
	}
	return nil, ErrTokenInactive
}

func (f *fakeIntrospector) IntrospectsJWTs() bool { return f.jwts }

// fakeKeys holds keys in the clear (a test double; package apikey hashes).
type fakeKeys struct {
	keys   map[string]*APIKey
	prefix string
	calls  atomic.Int64
}

func (f *fakeKeys) LookupAPIKey(_ context.Context, key string) (*APIKey, error) {
	f.calls.Add(1)
	if k, ok := f.keys[key]; ok {
		return k, nil
	}
	return nil, ErrTokenInactive
}

func (f *fakeKeys) RecognizesAPIKey(t string) bool { return strings.HasPrefix(t, f.prefix) }

func activeAnswer(extra string) string {
	return `{"active":true,"iss":"https://idp.test/","sub":"opaque-user","aud":"api","scope":"read",` +
		`"exp":` + itoa(testNow.Add(time.Hour).Unix()) + extra + `}`
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func credVerifier(t *testing.T, rt Route, mut ...func(*Config)) *Verifier {
	t.Helper()
	cfg := baseConfig(memKeys(t))
	cfg.APIKeyHeader = "X-Api-Key"
	for _, m := range mut {
		m(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := v.With(rt)
	if d.routeErr != nil {
		t.Fatal(d.routeErr.cause)
	}
	return d
}

func TestCredentialKindText(t *testing.T) {
	for _, k := range []CredentialKind{CredentialJWT, CredentialIntrospection, CredentialAPIKey} {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back CredentialKind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("%s: round trip gave %v, %v", k, back, err)
		}
	}
	var k CredentialKind
	if err := k.UnmarshalText([]byte("basic")); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := CredentialKind(9).MarshalText(); err == nil {
		t.Error("kind 9 marshalled")
	}
}

func TestCredentialsConfigRefused(t *testing.T) {
	for name, rt := range map[string]Route{
		"introspection without Introspection": {Credentials: []CredentialKind{CredentialIntrospection}},
		"api_key without APIKeys":             {Credentials: []CredentialKind{CredentialAPIKey}},
		"twice":                               {Credentials: []CredentialKind{CredentialJWT, CredentialJWT}},
		"unknown":                             {Credentials: []CredentialKind{7}},
	} {
		if err := rt.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	cfg := baseConfig(memKeys(t))
	cfg.APIKeyHeader = "Authorization"
	if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("APIKeyHeader Authorization: %v", err)
	}
}

func TestIntrospectedTokenBecomesClaims(t *testing.T) {
	in := &fakeIntrospector{}
	in.set("opaque-1", activeAnswer(`,"client_id":"app","token_type":"Bearer"`))
	var events []VerifyEvent
	v := credVerifier(t, Route{Introspection: in, Scopes: []string{"read"}}, func(c *Config) {
		c.OnVerify = func(e VerifyEvent) { events = append(events, e) }
	})
	var got *Claims
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, _ = ClaimsFromContext(r.Context()) }))
	for range 2 {
		if res := do(h, bearerReq("opaque-1")); res.status != 200 {
			t.Fatalf("got %d %s", res.status, res.body)
		}
	}
	if got.Subject != "opaque-user" || got.ClientID != "app" || got.Kind() != CredentialIntrospection || !got.HasScopes("read") {
		t.Errorf("claims %+v kind %v", got, got.Kind())
	}
	if len(events) != 2 || events[0].Kind != CredentialIntrospection || events[0].Alg != "" {
		t.Errorf("events %+v", events)
	}
	// Decoded once per answer, not per request.
	m := in.answers["opaque-1"].memo.Load()
	if m == nil || m.c != got {
		t.Error("the answer's claims are not memoised")
	}
}

func TestIntrospectedClaimsChecked(t *testing.T) {
	for name, tc := range map[string]struct {
		raw, want string
	}{
		"past exp":           {`{"active":true,"sub":"u","aud":"api","exp":` + itoa(testNow.Add(-time.Hour).Unix()) + `}`, "token expired"},
		"future nbf":         {`{"active":true,"sub":"u","aud":"api","nbf":` + itoa(testNow.Add(time.Hour).Unix()) + `}`, "token not yet valid"},
		"foreign aud":        {`{"active":true,"sub":"u","aud":"other"}`, "audience not accepted"},
		"no aud":             {`{"active":true,"sub":"u"}`, "audience not accepted"},
		"foreign iss":        {`{"active":true,"sub":"u","aud":"api","iss":"https://evil.test/"}`, "issuer not accepted"},
		"refresh token type": {`{"active":true,"sub":"u","aud":"api","token_type":"refresh_token"}`, "token type not accepted"},
		"exp not a number":   {`{"active":true,"sub":"u","aud":"api","exp":"soon"}`, "token payload is not a JSON claims object"},
		"duplicate member":   {`{"active":true,"sub":"u","aud":"api","sub":"v"}`, "token payload is not a JSON claims object"},
	} {
		t.Run(name, func(t *testing.T) {
			in := &fakeIntrospector{}
			in.set("tok", tc.raw)
			res := do(credVerifier(t, Route{Introspection: in}).Handler(okHandler), bearerReq("tok"))
			if res.status != 401 || !strings.Contains(res.body, tc.want) {
				t.Errorf("got %d %s, want 401 %q", res.status, res.body, tc.want)
			}
		})
	}
}

func TestIntrospectionUnavailableIs503(t *testing.T) {
	in := &fakeIntrospector{err: errors.New("introspect: endpoint answered 500")}
	res := do(credVerifier(t, Route{Introspection: in}).Handler(okHandler), bearerReq("opaque"))
	if res.status != 503 || res.header.Get("Retry-After") == "" || strings.Contains(res.body, "500") {
		t.Errorf("got %d %v %s", res.status, res.header, res.body)
	}
}

func TestInactiveTokenIs401(t *testing.T) {
	in := &fakeIntrospector{}
	res := do(credVerifier(t, Route{Introspection: in}).Handler(okHandler), bearerReq("unknown"))
	if res.status != 401 || !strings.Contains(res.body, "token not active") || !strings.Contains(res.www, "invalid_token") {
		t.Errorf("got %d %s %s", res.status, res.www, res.body)
	}
}

// A JWS goes to JWT verification, never to introspection; a refused one is
// not retried as an opaque token or a key.
func TestFirstMatchDecides(t *testing.T) {
	k := keys(t)
	in := &fakeIntrospector{}
	ks := &fakeKeys{prefix: "sk-", keys: map[string]*APIKey{"sk-good": {ID: "k1", Subject: "svc"}}}
	v := credVerifier(t, Route{Introspection: in, APIKeys: ks, Credentials: []CredentialKind{CredentialJWT, CredentialAPIKey, CredentialIntrospection}})
	expired := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, with(goodClaims(), "exp", testNow.Add(-time.Hour).Unix()))
	if res := do(v.Handler(okHandler), bearerReq(expired)); res.status != 401 || !strings.Contains(res.body, "token expired") {
		t.Errorf("expired JWT: %d %s", res.status, res.body)
	}
	if res := do(v.Handler(okHandler), bearerReq("sk-bad")); res.status != 401 || !strings.Contains(res.body, "api key not accepted") {
		t.Errorf("unknown key: %d %s", res.status, res.body)
	}
	if in.calls.Load() != 0 {
		t.Errorf("refused credentials were introspected %d times", in.calls.Load())
	}
	if res := do(v.Handler(okHandler), bearerReq("sk-good")); res.status != 200 || res.body != "hello svc" {
		t.Errorf("good key: %d %s", res.status, res.body)
	}
	if res := do(v.Handler(okHandler), bearerReq("other-opaque")); res.status != 401 || in.calls.Load() != 1 {
		t.Errorf("opaque: %d %s, %d introspections", res.status, res.body, in.calls.Load())
	}
	// A route that takes JWTs only answers an API key as it always has.
	jwtOnly := credVerifier(t, Route{APIKeys: ks, Credentials: []CredentialKind{CredentialJWT}})
	if res := do(jwtOnly.Handler(okHandler), bearerReq("sk-good")); res.status != 401 || ks.calls.Load() != 2 {
		t.Errorf("jwt-only route: %d %s, %d look-ups", res.status, res.body, ks.calls.Load())
	}
	// A route without JWTs refuses a JWS outright.
	noJWT := credVerifier(t, Route{APIKeys: ks, Credentials: []CredentialKind{CredentialAPIKey}})
	good := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	if res := do(noJWT.Handler(okHandler), bearerReq(good)); res.status != 401 || !strings.Contains(res.body, "credential kind not accepted") {
		t.Errorf("JWT on a key-only route: %d %s", res.status, res.body)
	}
}

func TestAPIKeyHeader(t *testing.T) {
	ks := &fakeKeys{keys: map[string]*APIKey{"k-123": {ID: "k1", Subject: "svc", Scopes: []string{"chat"}, Tier: "gold"}}}
	var got *Claims
	h := credVerifier(t, Route{APIKeys: ks, Scopes: []string{"chat"}}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = ClaimsFromContext(r.Context())
	}))
	r := bearerReq("")
	r.Header.Set("X-Api-Key", "k-123")
	if res := do(h, r); res.status != 200 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	if tier, _ := got.String("tier"); got.Kind() != CredentialAPIKey || got.Subject != "svc" || tier != "gold" {
		t.Errorf("claims %+v", got)
	}
	r = bearerReq("k-123")
	r.Header.Set("X-Api-Key", "k-123")
	if res := do(h, r); res.status != 400 {
		t.Errorf("key and bearer: %d %s", res.status, res.body)
	}
	expired := &fakeKeys{keys: map[string]*APIKey{"k-old": {Subject: "svc", ExpiresAt: testNow.Add(-time.Second)}}}
	r = bearerReq("")
	r.Header.Set("X-Api-Key", "k-old")
	if res := do(credVerifier(t, Route{APIKeys: expired}).Handler(okHandler), r); res.status != 401 || !strings.Contains(res.body, "token expired") {
		t.Errorf("expired key: %d %s", res.status, res.body)
	}
}

// Revocation-aware mode: a JWT that verifies is introspected too.
func TestRevocationAwareJWT(t *testing.T) {
	k := keys(t)
	in := &fakeIntrospector{jwts: true}
	v := credVerifier(t, Route{Introspection: in})
	tok := sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims())
	if res := do(v.Handler(okHandler), bearerReq(tok)); res.status != 401 || !strings.Contains(res.body, "token not active") {
		t.Errorf("revoked JWT: %d %s", res.status, res.body)
	}
	in.set(tok, `{"active":true}`)
	if res := do(v.Handler(okHandler), bearerReq(tok)); res.status != 200 {
		t.Errorf("active JWT: %d %s", res.status, res.body)
	}
	in.err = errors.New("down")
	if res := do(v.Handler(okHandler), bearerReq(tok)); res.status != 503 {
		t.Errorf("endpoint down: %d %s", res.status, res.body)
	}
}

func TestVerifyTakesOpaqueTokens(t *testing.T) {
	in := &fakeIntrospector{}
	in.set("opaque-1", activeAnswer(""))
	c, err := credVerifier(t, Route{Introspection: in}).Verify(context.Background(), "opaque-1")
	if err != nil || c.Kind() != CredentialIntrospection {
		t.Fatalf("%v %v", c, err)
	}
	if _, err := credVerifier(t, Route{Introspection: in}).Verify(context.Background(), "nope"); !errors.Is(err, ErrTokenInactive) {
		t.Errorf("inactive: %v", err)
	}
}

// A route's audiences and types bind tokens from issuers, not API keys.
func TestAPIKeyNotRefusedForAudience(t *testing.T) {
	ks := &fakeKeys{keys: map[string]*APIKey{"k": {Subject: "svc"}}}
	v := credVerifier(t, Route{APIKeys: ks, Audiences: []string{"orders"}, Types: []string{"at+jwt"}})
	r := bearerReq("")
	r.Header.Set("X-Api-Key", "k")
	if res := do(v.Handler(okHandler), r); res.status != 200 {
		t.Errorf("%d %s", res.status, res.body)
	}
	in := &fakeIntrospector{}
	in.set("o", activeAnswer(""))
	if res := do(credVerifier(t, Route{Introspection: in, Audiences: []string{"orders"}}).Handler(okHandler), bearerReq("o")); res.status != 401 {
		t.Errorf("introspected token with another aud: %d", res.status)
	}
}

// An API key proves no possession: a DPoP-required route refuses it in the
// key header as it does a bearer token.
func TestAPIKeyOnDPoPRequiredRoute(t *testing.T) {
	ks := &fakeKeys{keys: map[string]*APIKey{"k": {Subject: "svc"}}}
	v := credVerifier(t, Route{APIKeys: ks, DPoP: DPoPRequired})
	for _, r := range []*http.Request{bearerReq("k"), bearerReq("")} {
		if r.Header.Get("Authorization") == "" {
			r.Header.Set("X-Api-Key", "k")
		}
		if res := do(v.Handler(okHandler), r); res.status != 401 || !strings.Contains(res.body, "DPoP") {
			t.Errorf("%d %s", res.status, res.body)
		}
	}
	if ks.calls.Load() != 0 {
		t.Errorf("%d look-ups", ks.calls.Load())
	}
}

// atIntrospector records the clock reading the Verifier hands it.
type atIntrospector struct {
	fakeIntrospector
	at []time.Time
}

func (a *atIntrospector) IntrospectAt(ctx context.Context, token string, now time.Time) (*IntrospectionResult, error) {
	a.at = append(a.at, now)
	return a.Introspect(ctx, token)
}

// An IntrospectorAt gets the Verifier's own clock reading (one read per
// request, shared with the claim checks).
func TestIntrospectorAtGetsTheVerifiersClock(t *testing.T) {
	in := &atIntrospector{}
	in.set("o", activeAnswer(""))
	if res := do(credVerifier(t, Route{Introspection: in}).Handler(okHandler), bearerReq("o")); res.status != 200 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	if len(in.at) != 1 || !in.at[0].Equal(testNow) {
		t.Errorf("IntrospectAt got %v, want [%v]", in.at, testNow)
	}
}

// A JWS whose header's JSON starts with whitespace does not begin "eyJ",
// yet verifies: on a JWT-only route in revocation-aware mode it is still
// introspected, so a revoked token is refused however its header is
// spelled.
func TestRevocationAwareJWTWhateverItsHeader(t *testing.T) {
	k := keys(t)
	payload, err := json.Marshal(goodClaims())
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(` {"alg":"ES256","kid":"ec1","typ":"JWT"}`)) + "." + enc(payload)
	sig, err := jwt.SigningMethodES256.Sign(signing, k.ec)
	if err != nil {
		t.Fatal(err)
	}
	tok := signing + "." + enc(sig)
	if strings.HasPrefix(tok, "eyJ") {
		t.Fatal("the token starts eyJ: the test checks nothing")
	}
	in := &fakeIntrospector{jwts: true}
	in.set(tok, `{"active":true}`)
	v := credVerifier(t, Route{Introspection: in, Credentials: []CredentialKind{CredentialJWT}})
	if res := do(v.Handler(okHandler), bearerReq(tok)); res.status != 200 {
		t.Fatalf("active JWT: %d %s", res.status, res.body)
	}
	in.mu.Lock()
	delete(in.answers, tok) // revoked: the endpoint no longer knows it
	in.mu.Unlock()
	if res := do(v.Handler(okHandler), bearerReq(tok)); res.status != 401 || !strings.Contains(res.body, "token not active") {
		t.Errorf("revoked JWT whose header starts with a space: %d %s", res.status, res.body)
	}
}
