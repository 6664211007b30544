package middleware

// Red-team tests: each one is an attack (a hostile client, or a hostile or
// flaky identity provider) that once got through or could, kept as a
// regression test. Tests that show an attack is refused as it should be are
// here too, so the behaviour stays pinned.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// TestRedTeamQueryTokenSpellings: a query parameter name may be
// percent-encoded ("access%5Ftoken" is "access_token" to every query
// parser), and some upstreams (older Python, Rails, Java servlet
// containers) also split on ';', which Go's url.ParseQuery refuses and
// drops silently. Either way, a token the Verifier did not look at reached
// the upstream next to the one it verified, or a query token got past
// AllowQuery=false without the 400 the behaviour table asks for.
func TestRedTeamQueryTokenSpellings(t *testing.T) {
	k := keys(t)
	good := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims())
	other := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "sub", "user-2"))
	cases := []struct {
		name       string
		allowQuery bool
		query      string
		authz      string
		status     int
		want       string // body for 200
	}{
		{"encoded name, query off, plus a header token", false, "access%5Ftoken=" + other, good, 400, ""},
		{"encoded name, query off, alone", false, "access%5ftoken=" + other, "", 400, ""},
		{"fully encoded name, query off", false, "%61%63%63%65%73%73%5F%74%6F%6B%65%6E=" + other, "", 400, ""},
		{"encoded name, query on, plus a header token", true, "access%5Ftoken=" + other, good, 400, ""},
		{"encoded name, query on, alone", true, "access%5Ftoken=" + good, "", 200, "hello user-1"},
		{"semicolon-separated second token, query on", true, "a=1;access_token=" + other + "&access_token=" + good, "", 400, ""},
		{"semicolon-separated token, query off", false, "a=1;access_token=" + other, good, 400, ""},
		{"a name that only contains access_token is not it", false, "my_access_token_hint=1", good, 200, "hello user-1"},
		{"unrelated escapes are not a token", false, "q=%41%42&x=%zz", good, 200, "hello user-1"},
		{"plain query token, query on", true, "access_token=" + good, "", 200, "hello user-1"},
		{"plain query token, query off", false, "access_token=" + good, "", 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(memKeys(t))
			cfg.AllowQuery = tc.allowQuery
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, "http://api.test/x", nil)
			r.URL.RawQuery = tc.query
			if tc.authz != "" {
				r.Header.Set("Authorization", "Bearer "+tc.authz)
			}
			got := do(v.Handler(okHandler), r)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d (body %s)", got.status, tc.status, got.body)
			}
			if tc.status == 400 && !strings.Contains(got.www, `error="invalid_request"`) {
				t.Fatalf("WWW-Authenticate %q", got.www)
			}
			if tc.status == 200 && got.body != tc.want {
				t.Fatalf("body %q, want %q", got.body, tc.want)
			}
		})
	}
}

// TestRedTeamForwardedClaimHeaderLookalikes: a forwarded claim header is an
// identity the upstream trusts. A client-sent "X_User" is the same variable
// (HTTP_X_USER) as "X-User" to CGI, WSGI, Rack and PHP upstreams, and a
// header name Go did not canonicalize ("x-user", set by an adapter or a
// handler in front) is the same header on the wire. Neither may survive
// next to the forwarded one.
func TestRedTeamForwardedClaimHeaderLookalikes(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.ClaimHeaders = map[string]string{"sub": "X-User", "missing": "X-Role"}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var seen http.Header
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() }))
	r := bearerReq(sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims()))
	r.Header["X_User"] = []string{"admin"}
	r.Header["x-user"] = []string{"admin"}
	r.Header["X-USER"] = []string{"admin"}
	r.Header["X_role"] = []string{"root"}
	r.Header.Add("X-Other", "kept")
	if got := do(h, r); got.status != 200 {
		t.Fatalf("status %d", got.status)
	}
	for name, vals := range seen {
		canon := strings.ReplaceAll(strings.ToLower(name), "_", "-")
		switch canon {
		case "x-user":
			if name != "X-User" || len(vals) != 1 || vals[0] != "user-1" {
				t.Errorf("upstream sees %s: %q; want only X-User: user-1", name, vals)
			}
		case "x-role":
			t.Errorf("upstream sees %s: %q for a claim the token lacks", name, vals)
		}
	}
	if seen.Get("X-Other") != "kept" {
		t.Errorf("an unrelated header was removed")
	}
}

// TestRedTeamRateLimitKeyAcrossIssuers: with several accepted issuers, "sub"
// is only unique within one issuer (RFC 7519 §4.1.2). A user who controls
// their sub at one issuer (a self-service tenant, a second IdP) must not be
// able to drain the bucket of the same sub at another issuer.
func TestRedTeamRateLimitKeyAcrossIssuers(t *testing.T) {
	k := keys(t)
	const issA, issB = "https://idp.test/", "https://tenant-b.idp.test/"
	for _, byIssuer := range []bool{false, true} {
		clk := jwtgatetest.NewClock(testNow)
		lim := newBucketLimiter(1, 1, clk.Now)
		cfg := baseConfig(memKeys(t))
		cfg.Issuers = []string{issA, issB}
		if byIssuer {
			store := cfg.Keys
			cfg.Keys = nil
			cfg.Issuers = nil
			cfg.KeysByIssuer = map[string]jwkset.Storage{issA: store, issB: store}
		}
		cfg.RateLimit = RateLimit{Limiter: lim}
		v, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := v.Handler(okHandler)
		victim := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "iss", issA, "sub", "alice"))
		attacker := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "iss", issB, "sub", "alice"))
		if got := do(h, bearerReq(attacker)); got.status != 200 {
			t.Fatalf("byIssuer=%v: attacker's first request: %d", byIssuer, got.status)
		}
		if got := do(h, bearerReq(victim)); got.status != 200 {
			t.Errorf("byIssuer=%v: alice at %s is limited by alice at %s: %d", byIssuer, issA, issB, got.status)
		}
		if got := do(h, bearerReq(victim)); got.status != 429 {
			t.Errorf("byIssuer=%v: alice's own second request: %d, want 429", byIssuer, got.status)
		}
	}
}

// TestRedTeamRotationDuringOutage: the provider starts signing with a new
// key and then goes down before the cache has seen it. A client's token
// with the new kid cannot be checked through no fault of the client: 503
// with Retry-After, never 401 invalid_token (which makes clients discard a
// good token). A token with a known kid still passes, a forged token with a
// known kid is still 401, and once the provider answers the new token
// passes.
func TestRedTeamRotationDuringOutage(t *testing.T) {
	k := keys(t)
	store := jwkset.NewMemoryStorage()
	ctx := context.Background()
	_ = store.KeyWrite(ctx, jwkOf(t, &k.rsa.PublicKey, "old", jwkset.AlgRS256, jwkset.UseSig))
	srv := serveJWKS(t, store)
	// Over real sockets the set must not stay authoritative for the new
	// kid for a second after the load: the interval is all but zero.
	c := newTestCache(t, srv.URL(), func(c *cache.Config) { c.UnknownKIDInterval = time.Nanosecond })
	v, err := New(baseConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(okHandler)
	oldTok := sign(t, jwt.SigningMethodRS256, k.rsa, "old", nil, goodClaims())
	newTok := sign(t, jwt.SigningMethodRS256, k.rsa2, "new", nil, goodClaims())
	forged := sign(t, jwt.SigningMethodRS256, k.rsa2, "old", nil, goodClaims())

	_ = store.KeyWrite(ctx, jwkOf(t, &k.rsa2.PublicKey, "new", jwkset.AlgRS256, jwkset.UseSig))
	srv.publish(t)
	srv.setFail(t, true)
	for i := range 2 { // the refresh fails; then the gate is closed
		got := do(h, bearerReq(newTok))
		if got.status != 503 || got.header.Get("Retry-After") == "" || got.www != "" {
			t.Fatalf("new kid during the outage, try %d: %d %q %s", i, got.status, got.www, got.body)
		}
	}
	if _, err := v.Verify(ctx, newTok); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("Verify: %v, want ErrKeysUnavailable", err)
	}
	if got := do(h, bearerReq(oldTok)); got.status != 200 {
		t.Fatalf("known kid during the outage: %d", got.status)
	}
	if got := do(h, bearerReq(forged)); got.status != 401 {
		t.Fatalf("forged token with a known kid during the outage: %d", got.status)
	}
	srv.setFail(t, false)
	c2 := newTestCache(t, srv.URL(), nil) // a replica that starts now sees the new key
	v2, _ := New(baseConfig(c2))
	if got := do(v2.Handler(okHandler), bearerReq(newTok)); got.status != 200 {
		t.Fatalf("new kid once the provider is back: %d", got.status)
	}
}

// TestRedTeamTokenCacheHitWhileKeysUnavailable: once the key set is stale
// beyond MaxStale (or the cache is closed), no token may verify: a cold
// token gets 503, and a token verified a minute earlier must not keep
// passing from the verified-token cache on the strength of a key set that
// is no longer trusted.
func TestRedTeamTokenCacheHitWhileKeysUnavailable(t *testing.T) {
	k := keys(t)
	srv := serveJWKS(t, memKeys(t))
	c := newTestCache(t, srv.URL(), nil)
	v, err := New(baseConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(okHandler)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims())
	for range 2 {
		if got := do(h, bearerReq(tok)); got.status != 200 {
			t.Fatalf("before: %d", got.status)
		}
	}
	gen := c.Generation()
	_ = c.Close() // Ready turns false; the generation does not move
	if c.Ready() || c.Generation() != gen {
		t.Fatalf("ready %v, generation %d → %d", c.Ready(), gen, c.Generation())
	}
	got := do(h, bearerReq(tok))
	if got.status != 503 || got.header.Get("Retry-After") == "" {
		t.Fatalf("cached token while keys are unavailable: %d %s, want 503", got.status, got.body)
	}
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("Verify: %v, want ErrKeysUnavailable", err)
	}
}

// TestRedTeamForwardedClaimWithLineBreak: a claim the user can shape (a
// display name, an email) forwarded as a header must not carry CR/LF or
// other bytes net/http refuses in a header value: the upstream request
// would be refused (a 502 for that user) or, through a less careful client,
// split. Such a claim is not forwarded (and the client's header of that
// name is still removed).
func TestRedTeamForwardedClaimWithLineBreak(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.ClaimHeaders = map[string]string{"name": "X-User-Name", "sub": "X-User"}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var seen http.Header
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() }))
	for _, name := range []string{"eve\r\nX-Admin: true", "eve\nX-Admin: true", "eve\x00", "eve\x7f"} {
		r := bearerReq(sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "name", name)))
		r.Header.Set("X-User-Name", "spoofed")
		if got := do(h, r); got.status != 200 {
			t.Fatalf("%q: status %d", name, got.status)
		}
		if vals := seen.Values("X-User-Name"); len(vals) != 0 {
			t.Errorf("%q forwarded as %q", name, vals)
		}
		if seen.Get("X-User") != "user-1" {
			t.Errorf("%q: the other claim header is %q", name, seen.Get("X-User"))
		}
	}
	r := bearerReq(sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "name", "Zoë\tO'Brien")))
	do(h, r)
	if got := seen.Get("X-User-Name"); got != "Zoë\tO'Brien" {
		t.Errorf("a clean claim with a tab and UTF-8 forwarded as %q", got)
	}
}

// TestRedTeamCookieSpellingsGoDrops: Go's cookie parser silently drops a
// cookie whose value has a byte it refuses ('\\', '"', DEL), while lenient
// parsers (npm "cookie", which also keeps the first of two) accept it. So
// "at=FORGED\\; at=GOOD" had the Verifier check GOOD while such an upstream
// read FORGED: a token smuggled past verification to any service that only
// decodes the token it is handed. Every cookie of the configured name
// counts, however Go judges its value.
func TestRedTeamCookieSpellingsGoDrops(t *testing.T) {
	k := keys(t)
	good := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, goodClaims())
	forged := strings.Replace(good, ".", "x.", 1) // any other token text
	cfg := baseConfig(memKeys(t))
	cfg.CookieName = "at"
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(okHandler)
	for i, tc := range []struct {
		cookie string
		status int
	}{
		{"at=" + forged + `\; at=` + good, 400},
		{`at="` + forged + "; at=" + good, 400},
		{"at=" + forged + "\x7f; at=" + good, 400},
		{"at=" + good + "; at=" + forged + `\`, 400},
		{"at=" + forged + `\`, 400}, // alone: a cookie of ours Go cannot read
		{"other=" + forged + `\; at=` + good, 200},
		{"at=" + good, 200},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://api.test/x", nil)
		r.Header.Set("Cookie", tc.cookie)
		got := do(h, r)
		if got.status != tc.status {
			t.Errorf("case %d: %d %s, want %d", i, got.status, got.body, tc.status)
		}
	}
}

// TestRedTeamOptionalAuthBearerLookalikes: in optional-auth mode a request
// whose Authorization is not ours to judge passes anonymously, with its
// Authorization header, to the next handler. "Bearer<TAB>token" is not
// RFC 6750's syntax, but lenient upstream parsers split on any whitespace
// and read the token — one the Verifier never checked. It is a malformed
// bearer header (400), not another scheme.
func TestRedTeamOptionalAuthBearerLookalikes(t *testing.T) {
	k := keys(t)
	forged := sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa1", nil, with(goodClaims(), "sub", "admin"))
	cfg := baseConfig(memKeys(t))
	cfg.Optional = true
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := v.Handler(okHandler)
	for _, authz := range []string{"Bearer\t" + forged, "bearer\t\t" + forged, "BEARER\t " + forged} {
		r := httptest.NewRequest(http.MethodGet, "http://api.test/x", nil)
		r.Header.Set("Authorization", authz)
		if got := do(h, r); got.status != 400 {
			t.Errorf("%.10q…: %d %s, want 400", authz, got.status, got.body)
		}
	}
	// Other schemes are still not ours: they pass anonymously.
	r := httptest.NewRequest(http.MethodGet, "http://api.test/x", nil)
	r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	if got := do(h, r); got.status != 200 || got.body != "anonymous" {
		t.Errorf("Basic in optional mode: %d %s", got.status, got.body)
	}
}

// The unknown-kid flood through the Handler is TestUnknownKIDFloodThroughTheHandler (keys_test.go).

// TestRedTeamOneKIDForSeveralKeyTypes: RFC 7517 §4.5 allows one kid for
// keys of different kty ("equivalent alternatives"); RFC 7520 §3 publishes
// exactly that. Over a real cache, a token is verified by the key whose kty
// fits its alg, whichever of them comes first in the set; two keys of the
// same kty under one kid stay ambiguous and only the first is served.
func TestRedTeamOneKIDForSeveralKeyTypes(t *testing.T) {
	k := keys(t)
	rsaJWK := mustJSON(t, jwkOf(t, &k.rsa.PublicKey, "shared", "", jwkset.UseSig).Marshal())
	ecJWK := mustJSON(t, jwkOf(t, &k.ec.PublicKey, "shared", "", jwkset.UseSig).Marshal())
	ec2JWK := mustJSON(t, jwkOf(t, &k.ec2.PublicKey, "shared", "", jwkset.UseSig).Marshal())
	for _, order := range [][]json.RawMessage{{rsaJWK, ecJWK, ec2JWK}, {ecJWK, rsaJWK, ec2JWK}} {
		body := mustJSON(t, map[string]any{"keys": order})
		srv := serveJWKS(t, jwkset.NewMemoryStorage())
		srv.setBody(t, body)
		c := newTestCache(t, srv.URL(), nil)
		v, err := New(baseConfig(c))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, k.rsa, "shared", nil, goodClaims())); err != nil {
			t.Errorf("RS256 under the shared kid: %v", err)
		}
		if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodES256, k.ec, "shared", nil, goodClaims())); err != nil {
			t.Errorf("ES256 under the shared kid: %v", err)
		}
		if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodES256, k.ec2, "shared", nil, goodClaims())); err == nil {
			t.Errorf("the second EC key under one kid verified a token")
		}
		_ = c.Close()
	}
}
