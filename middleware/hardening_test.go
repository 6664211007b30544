package middleware

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// A route that requires scopes requires a token: Optional must not let an
// anonymous request through a scoped route (it used to answer 200 there
// while RequireScopes answered 401).
func TestOptionalScopedRouteNeedsToken(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.Optional = true
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin := v.With(Route{Scopes: []string{"admin"}}).Handler(okHandler)
	if got := do(admin, bearerReq("")); got.status != 401 || got.www != wwwMissing {
		t.Fatalf("anonymous on a scoped route: %d %q %q", got.status, got.www, got.body)
	}
	if got := do(v.Handler(v.RequireScopes("admin")(okHandler)), bearerReq("")); got.status != 401 {
		t.Fatalf("anonymous through RequireScopes: %d", got.status)
	}
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "scope", "admin"))
	if got := do(admin, bearerReq(tok)); got.status != 200 || got.body != "hello user-1" {
		t.Fatalf("token with the scope: %d %q", got.status, got.body)
	}
	if got := do(v.Handler(okHandler), bearerReq("")); got.status != 200 || got.body != "anonymous" {
		t.Fatalf("anonymous on an open route: %d %q", got.status, got.body)
	}
}

// A token bound to a key (cnf.jkt, DPoP) or a certificate (cnf.x5t#S256,
// mTLS) is refused as a bearer token unless the opt-out is set.
func TestSenderConstrainedTokenRefusedAsBearer(t *testing.T) {
	k := keys(t)
	for name, cnf := range map[string]any{
		"dpop": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
		"mtls": map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"},
		"junk": "not an object",
	} {
		tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "cnf", cnf))
		v, err := New(baseConfig(memKeys(t)))
		if err != nil {
			t.Fatal(err)
		}
		got := do(v.Handler(okHandler), bearerReq(tok))
		if got.status != 401 || got.www != wwwInvalid("token is sender-constrained") ||
			got.body != `{"error":"invalid_token","error_description":"token is sender-constrained"}`+"\n" {
			t.Errorf("%s: %d %q %q", name, got.status, got.www, got.body)
		}
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrSenderConstrained) || Reason(err) != "sender_constrained" {
			t.Errorf("%s: Verify: %v", name, err)
		}
		cfg := baseConfig(memKeys(t))
		cfg.AllowSenderConstrained = true
		lax, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := do(lax.Handler(okHandler), bearerReq(tok)); got.status != 200 {
			t.Errorf("%s with AllowSenderConstrained: %d %q", name, got.status, got.body)
		}
	}
}

// selfSigned returns a DER certificate for priv's public key.
func selfSigned(t *testing.T, priv any, pub any) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "idp.test"},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Key hygiene does not depend on the storage: a plain jwkset storage that
// holds a key the key cache would have skipped must not make the Verifier
// use it.
func TestKeyHygieneAnyStorage(t *testing.T) {
	k := keys(t)
	good := jwkOf(t, &k.rsa.PublicKey, "k", jwkset.AlgRS256, jwkset.UseSig).Marshal()
	lax := jwkset.JWKValidateOptions{SkipAll: true}
	build := func(edit func(m *jwkset.JWKMarshal), opts jwkset.JWKMarshalOptions) jwkset.JWK {
		m := good
		m.KEYOPS = nil
		edit(&m)
		j, err := jwkset.NewJWKFromMarshal(m, opts, lax)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	privMarshal := func() jwkset.JWKMarshal {
		j, err := jwkset.NewJWKFromKey(k.rsa, jwkset.JWKOptions{Marshal: jwkset.JWKMarshalOptions{Private: true}, Metadata: jwkset.JWKMetadataOptions{KID: "k"}})
		if err != nil {
			t.Fatal(err)
		}
		return j.Marshal()
	}()
	otherCert := base64.StdEncoding.EncodeToString(selfSigned(t, k.rsa2, &k.rsa2.PublicKey))
	ownCert := base64.StdEncoding.EncodeToString(selfSigned(t, k.rsa, &k.rsa.PublicKey))
	cases := map[string]struct {
		jwk    jwkset.JWK
		usable bool
	}{
		"clean":               {build(func(*jwkset.JWKMarshal) {}, jwkset.JWKMarshalOptions{}), true},
		"key_ops verify":      {build(func(m *jwkset.JWKMarshal) { m.KEYOPS = []jwkset.KEYOPS{"verify"} }, jwkset.JWKMarshalOptions{}), true},
		"x5c of the same key": {build(func(m *jwkset.JWKMarshal) { m.X5C = []string{ownCert} }, jwkset.JWKMarshalOptions{}), true},
		"private members":     {build(func(m *jwkset.JWKMarshal) { *m = privMarshal }, jwkset.JWKMarshalOptions{Private: true}), false},
		"x5c of another key":  {build(func(m *jwkset.JWKMarshal) { m.X5C = []string{otherCert} }, jwkset.JWKMarshalOptions{}), false},
		"key_ops empty":       {build(func(m *jwkset.JWKMarshal) { m.KEYOPS = []jwkset.KEYOPS{} }, jwkset.JWKMarshalOptions{}), false},
		"key_ops duplicated":  {build(func(m *jwkset.JWKMarshal) { m.KEYOPS = []jwkset.KEYOPS{"verify", "verify"} }, jwkset.JWKMarshalOptions{}), false},
		"key_ops null entry":  {build(func(m *jwkset.JWKMarshal) { m.KEYOPS = []jwkset.KEYOPS{"verify", ""} }, jwkset.JWKMarshalOptions{}), false},
		"key_ops sign only":   {build(func(m *jwkset.JWKMarshal) { m.KEYOPS = []jwkset.KEYOPS{"sign"} }, jwkset.JWKMarshalOptions{}), false},
		"private key from Go": {func() jwkset.JWK {
			j, _ := jwkset.NewJWKFromKey(k.rsa, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k"}})
			return j
		}(), false},
	}
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "k", nil, goodClaims())
	for name, c := range cases {
		if c.jwk.Key() == nil {
			t.Fatalf("%s: no key built", name)
		}
		store := jwkset.NewMemoryStorage()
		if err := store.KeyWrite(context.Background(), c.jwk); err != nil {
			t.Fatal(err)
		}
		v, err := New(baseConfig(store))
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), tok)
		if c.usable != (err == nil) || (err != nil && !errors.Is(err, ErrAlgorithmNotAllowed)) {
			t.Errorf("%s: Verify = %v, want usable=%v", name, err, c.usable)
		}
	}
}

// New copies every slice and map of the Config: a caller editing its own
// afterwards neither races with requests (go test -race) nor changes what
// the Verifier does.
func TestConfigCopiedDeeply(t *testing.T) {
	k := keys(t)
	lim := ratelimit.Limiter(newBucketLimiter(1e9, 1<<30, clock))
	cfg := baseConfig(nil)
	cfg.KeysByIssuer = map[string]jwkset.Storage{"https://idp.test/": memKeys(t)}
	cfg.Issuers = []string{"https://idp.test/"}
	cfg.Audiences = []string{"api"}
	cfg.RequiredClaims = []string{"sub"}
	cfg.Algorithms = []string{"RS256"}
	cfg.Types = []string{"JWT"}
	cfg.ClaimHeaders = map[string]string{"sub": "X-User"}
	cfg.RateLimit = RateLimit{TierClaim: "plan", Tiers: map[string]ratelimit.Limiter{"gold": lim}}
	route := Route{Scopes: []string{"read"}, RateLimit: &RateLimit{TierClaim: "plan", Tiers: map[string]ratelimit.Limiter{"gold": lim}}}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rv := v.With(route)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "plan", "gold"))

	var (
		wg   sync.WaitGroup
		bad  atomic.Value
		stop = make(chan struct{})
	)
	serve := func(h http.Handler) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			rec := do(h, bearerReq(tok))
			if rec.status != 200 {
				bad.Store(rec.status)
				return
			}
		}
	}
	for _, h := range []http.Handler{v.Handler(okHandler), rv.Handler(okHandler)} {
		wg.Add(1)
		go serve(h)
	}
	// The caller reuses its config for something else.
	for i := range 200 {
		cfg.ClaimHeaders["sub"] = "X-Other"
		cfg.ClaimHeaders["x"+string(rune('a'+i%26))] = "X-More"
		delete(cfg.KeysByIssuer, "https://idp.test/")
		cfg.KeysByIssuer["https://other/"] = memKeys(t)
		cfg.Issuers[0] = "https://other/"
		cfg.Audiences[0] = "other"
		cfg.RequiredClaims[0] = "nope"
		cfg.Algorithms[0] = "ES256"
		cfg.Types[0] = "at+jwt"
		cfg.RateLimit.Tiers["gold"] = nil
		route.Scopes[0] = "admin"
		route.RateLimit.Tiers["gold"] = nil
	}
	close(stop)
	wg.Wait()
	if st := bad.Load(); st != nil {
		t.Fatalf("a request was answered %v after the caller edited its config", st)
	}
	var header string
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { header = r.Header.Get("X-User") }))
	if got := do(h, bearerReq(tok)); got.status != 200 || header != "user-1" {
		t.Fatalf("after the edits: %d, X-User %q", got.status, header)
	}
}

// The package's pre-built errors are shared by every request: nothing a
// caller reaches through errors.As may change what later responses say.
func TestErrorsCannotBeEdited(t *testing.T) {
	typ := reflect.TypeFor[Error]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() {
			t.Errorf("Error.%s is exported: a caller could edit a shared error", f.Name)
		}
	}
	k := keys(t)
	v, err := New(baseConfig(memKeys(t)))
	if err != nil {
		t.Fatal(err)
	}
	h := v.With(Route{Scopes: []string{"admin"}}).Handler(okHandler)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims())
	for range 2 {
		_, aerr := v.With(Route{Scopes: []string{"admin"}}).Authenticate(newRecorder(), bearerReq(tok))
		var e *Error
		if !errors.As(aerr, &e) || e.Description() != "insufficient scope" || !errors.Is(e.Kind(), ErrInsufficientScope) {
			t.Fatalf("Authenticate: %v", aerr)
		}
		e.Scopes()[0] = "edited"
		if got := do(h, bearerReq(tok)); !strings.HasSuffix(got.www, `scope="admin"`) {
			t.Fatalf("challenge after editing Scopes(): %q", got.www)
		}
	}
}

// A cached token is refused again once the clock is before its nbf (or
// iat), as a cold check refuses it, not only after its exp.
func TestTokenCacheHitChecksNotBefore(t *testing.T) {
	k := keys(t)
	for _, c := range []struct {
		claim string
		desc  string
	}{{"nbf", "token not yet valid"}, {"iat", "token issued in the future"}} {
		var now atomic.Pointer[time.Time]
		set := func(t time.Time) { now.Store(&t) }
		set(testNow)
		cfg := baseConfig(memKeys(t))
		cfg.Now = func() time.Time { return *now.Load() }
		v, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "iat", nil, c.claim, testNow.Add(-time.Minute).Unix()))
		if _, err := v.Verify(context.Background(), tok); err != nil || v.TokenCacheLen() != 1 {
			t.Fatalf("%s: first check: %v (cached %d)", c.claim, err, v.TokenCacheLen())
		}
		set(testNow.Add(-time.Hour)) // the clock steps back
		_, err = v.Verify(context.Background(), tok)
		var e *Error
		if !errors.Is(err, ErrTokenNotYetValid) || !errors.As(err, &e) || e.Description() != c.desc {
			t.Errorf("%s: hit before %s: %v", c.claim, c.claim, err)
		}
		set(testNow.Add(-time.Minute - 29*time.Second)) // within the leeway
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("%s: hit within the leeway: %v", c.claim, err)
		}
	}
}

// A scope claim that is an array of strings is read like scp; other shapes
// are still refused (TestClaimTypes).
func TestScopeClaimArray(t *testing.T) {
	k := keys(t)
	v, err := New(baseConfig(memKeys(t)))
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "scope", []string{"read", "admin read"}, "scp", []string{"write"}))
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Scopes(); !reflect.DeepEqual(got, []string{"read", "admin", "write"}) {
		t.Fatalf("Scopes() = %q", got)
	}
	if got := do(v.With(Route{Scopes: []string{"admin"}}).Handler(okHandler), bearerReq(tok)); got.status != 200 {
		t.Fatalf("scoped route: %d %q", got.status, got.body)
	}
}

// retryStore is a key provider that cannot look a kid up yet and says when
// it can.
type retryStore struct {
	jwkset.Storage
	wait time.Duration
}

type retryErr struct{ wait time.Duration }

func (e retryErr) Error() string             { return "cache: unknown kid, refresh deferred" }
func (e retryErr) RetryAfter() time.Duration { return e.wait }
func (e retryErr) Unwrap() error             { return cache.ErrKeysUnavailable }
func (s retryStore) KeyRead(context.Context, string) (jwkset.JWK, error) {
	return jwkset.JWK{}, retryErr{s.wait}
}

// A 503 for keys the provider cannot look up yet carries the provider's own
// Retry-After, not the configured guess.
func TestKeysUnavailableRetryAfterFromProvider(t *testing.T) {
	k := keys(t)
	v, err := New(baseConfig(retryStore{Storage: memKeys(t), wait: 3500 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	got := do(v.Handler(okHandler), bearerReq(sign(t, jwt.SigningMethodRS256, k.rsa, "new-kid", nil, goodClaims())))
	if got.status != 503 || got.header.Get("Retry-After") != "4" {
		t.Fatalf("%d Retry-After %q", got.status, got.header.Get("Retry-After"))
	}
}

// budgetErr is another package's rejection that knows its limiter's
// decision (a token budget's).
type budgetErr struct{ d ratelimit.Decision }

func (e budgetErr) Error() string                        { return "budget exhausted" }
func (e budgetErr) Is(t error) bool                      { return t == ErrRateLimited }
func (e budgetErr) Decision() (ratelimit.Decision, bool) { return e.d, true }

// The one writer fills a 429's RateLimit-* and Retry-After from any error
// carrying a Decision, not only its own.
func TestWriteErrorDecisionFromAnyError(t *testing.T) {
	rec := newRecorder()
	WriteError(rec, bearerReq(""), budgetErr{ratelimit.Decision{Limit: 1000, Remaining: 0, ResetAfter: 7200 * time.Second, RetryAfter: 7200 * time.Second}})
	h := rec.Header()
	if rec.Code != 429 || h.Get("Retry-After") != "7200" || h.Get("RateLimit-Limit") != "1000" || h.Get("RateLimit-Reset") != "7200" || h.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("%d %v", rec.Code, h)
	}
}
