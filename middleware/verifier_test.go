package middleware

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/cache"
)

func baseConfig(keys jwkset.Storage) Config {
	return Config{
		Keys:      keys,
		Issuers:   []string{"https://idp.test/"},
		Audiences: []string{"api"},
		Now:       clock,
	}
}

const (
	wwwMissing = `Bearer realm="jwtgate"`
)

func wwwInvalid(desc string) string {
	return `Bearer realm="jwtgate", error="invalid_token", error_description="` + desc + `"`
}

func wwwRequest(desc string) string {
	return `Bearer realm="jwtgate", error="invalid_request", error_description="` + desc + `"`
}

func bodyOf(code, desc string) string {
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	return string(b)
}

// TestBehaviourTable walks the README's error table and security rules:
// each case is a request and the exact status, WWW-Authenticate and body.
func TestBehaviourTable(t *testing.T) {
	k := keys(t)
	store := memKeys(t)
	rs := func(claims map[string]any) string { return sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, claims) }
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	attacker := keys(t).rsa2 // a key the provider never published for "rsa1"
	attackerJWK, _ := json.Marshal(jwkOf(t, &attacker.PublicKey, "rsa1", jwkset.AlgRS256, jwkset.UseSig).Marshal())
	valid := rs(goodClaims())
	tampered := func() string {
		p := strings.Split(valid, ".")
		p[1] = b64(mustJSON(t, with(goodClaims(), "sub", "admin")))
		return strings.Join(p, ".")
	}()
	noneTok := func(alg string, sig string) string {
		return b64(mustJSON(t, map[string]any{"alg": alg, "kid": "rsa1"})) + "." + b64(mustJSON(t, goodClaims())) + "." + sig
	}

	type tc struct {
		name   string
		req    func() *http.Request
		cfg    func(*Config)
		status int
		www    string
		body   string // exact JSON body (without newline); "" means: check "hello user-1"
	}
	req := bearerReq
	invalid := func(desc string) (int, string, string) {
		return http.StatusUnauthorized, wwwInvalid(desc), bodyOf("invalid_token", desc)
	}
	cases := []tc{}
	add := func(name string, r func() *http.Request, cfg func(*Config), status int, www, body string) {
		cases = append(cases, tc{name, r, cfg, status, www, body})
	}
	ok := func(name string, token string, cfg func(*Config)) {
		add(name, func() *http.Request { return req(token) }, cfg, 200, "", "")
	}
	bad := func(name string, token string, cfg func(*Config), desc string) {
		st, www, body := invalid(desc)
		add(name, func() *http.Request { return req(token) }, cfg, st, www, body)
	}

	// Accepted.
	ok("valid RS256", valid, nil)
	ok("valid ES256", sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, goodClaims()), nil)
	ok("valid EdDSA", sign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", nil, goodClaims()), nil)
	ok("valid PS256 (JWK alg PS256)", sign(t, jwt.SigningMethodPS256, k.rsa2, "rsa-ps", nil, goodClaims()), nil)
	ok("valid RS512 on a JWK without alg", sign(t, jwt.SigningMethodRS512, k.rsa, "rsa1-any", nil, goodClaims()), nil)
	ok("key_ops contains verify", sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa-ops-verify", nil, goodClaims()), nil)
	ok("aud array with a match", rs(with(goodClaims(), "aud", []string{"other", "api"})), nil)
	ok("exp just past, within leeway", rs(with(goodClaims(), "exp", testNow.Add(-10*time.Second).Unix())), nil)
	ok("nbf just ahead, within leeway", rs(with(goodClaims(), "nbf", testNow.Add(10*time.Second).Unix())), nil)
	ok("fractional exp", rs(with(goodClaims(), "exp", float64(testNow.Add(time.Hour).Unix())+0.5)), nil)
	ok("scheme case-insensitive", valid, nil)
	cases[len(cases)-1].req = func() *http.Request {
		r := req("")
		r.Header.Set("Authorization", "bEaReR "+valid)
		return r
	}

	// No token.
	add("no token: 401 without error code", func() *http.Request { return req("") }, nil,
		401, wwwMissing, bodyOf("unauthorized", "authentication required"))
	add("other scheme (Basic) is no bearer token", func() *http.Request {
		r := req("")
		r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
		return r
	}, nil, 401, wwwMissing, bodyOf("unauthorized", "authentication required"))

	// invalid_request.
	add("two Authorization headers: 400", func() *http.Request {
		r := req(valid)
		r.Header.Add("Authorization", "Bearer "+valid)
		return r
	}, nil, 400, wwwRequest("more than one token in the request"), bodyOf("invalid_request", "more than one token in the request"))
	add("token in query when not allowed: 400", func() *http.Request {
		return httpReq("http://api.test/x?access_token=" + valid)
	}, nil, 400, wwwRequest("token not allowed in the query"), bodyOf("invalid_request", "token not allowed in the query"))
	add("header and query token: 400", func() *http.Request {
		r := httpReq("http://api.test/x?access_token=" + valid)
		r.Header.Set("Authorization", "Bearer "+valid)
		return r
	}, func(c *Config) { c.AllowQuery = true }, 400, wwwRequest("more than one token in the request"), bodyOf("invalid_request", "more than one token in the request"))
	add("query token when allowed", func() *http.Request {
		return httpReq("http://api.test/x?access_token=" + valid)
	}, func(c *Config) { c.AllowQuery = true }, 200, "", "")
	add("empty bearer: 400", func() *http.Request {
		r := req("")
		r.Header.Set("Authorization", "Bearer ")
		return r
	}, nil, 400, wwwRequest("empty bearer token"), bodyOf("invalid_request", "empty bearer token"))

	// alg none, in every casing, with and without a signature.
	for _, a := range []string{"none", "None", "NONE", "nOnE"} {
		bad("alg "+a+" with a signature", noneTok(a, "c2ln"), nil, "algorithm not allowed")
		bad("alg "+a+" without a signature", noneTok(a, ""), nil, "token is not a compact JWS")
	}
	bad("alg not in the allow-list", sign(t, jwt.SigningMethodRS384, k.rsa, "rsa1-any", nil, goodClaims()),
		func(c *Config) { c.Algorithms = []string{"RS256"} }, "algorithm not allowed")
	// HS256 signed with the RSA public key's bytes (the classic confusion).
	bad("HS256 with the RSA public key PEM as secret", sign(t, jwt.SigningMethodHS256, pubPEM, "rsa1", nil, goodClaims()), nil, "algorithm not allowed")
	bad("HS256 with the RSA public key DER as secret", sign(t, jwt.SigningMethodHS256, pubDER, "rsa1", nil, goodClaims()), nil, "algorithm not allowed")
	secret := []byte("0123456789abcdef0123456789abcdef")
	hsCfg := func(c *Config) { c.HMACSecret = secret; c.Algorithms = []string{"HS256", "RS256"} }
	ok("HS256 with the configured secret", sign(t, jwt.SigningMethodHS256, secret, "", nil, goodClaims()), hsCfg)
	bad("HS256 with the RSA PEM even when HS256 is enabled", sign(t, jwt.SigningMethodHS256, pubPEM, "rsa1", nil, goodClaims()), hsCfg, "signature invalid")

	// Keys in the header are never trusted.
	bad("jwk header injection", sign(t, jwt.SigningMethodRS256, attacker, "rsa1", map[string]any{"jwk": json.RawMessage(attackerJWK)}, goodClaims()), nil, "signature invalid")
	bad("jku header injection", sign(t, jwt.SigningMethodRS256, attacker, "evil", map[string]any{"jku": "https://evil.test/jwks"}, goodClaims()), nil, "unknown key id")
	bad("x5u header injection", sign(t, jwt.SigningMethodRS256, attacker, "evil", map[string]any{"x5u": "https://evil.test/cert"}, goodClaims()), nil, "unknown key id")
	bad("x5c header injection", sign(t, jwt.SigningMethodRS256, attacker, "rsa1", map[string]any{"x5c": []string{"MIIB"}}, goodClaims()), nil, "signature invalid")
	bad("unknown crit", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", map[string]any{"crit": []string{"exp"}, "exp": 1}, goodClaims()), nil, "token header has unsupported critical parameters")
	bad("b64 false", sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", map[string]any{"b64": false, "crit": []string{"b64"}}, goodClaims()), nil, "token header has unsupported critical parameters")

	// The key must fit.
	bad("use enc key", sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa-enc", nil, goodClaims()), nil, "key not usable with this algorithm")
	bad("JWK alg mismatch (RS384 token, RS256 key)", sign(t, jwt.SigningMethodRS384, k.rsa, "rsa1", nil, goodClaims()), nil, "key not usable with this algorithm")
	bad("JWK alg mismatch (PS256 token, RS256 key)", sign(t, jwt.SigningMethodPS256, k.rsa, "rsa1", nil, goodClaims()), nil, "key not usable with this algorithm")
	bad("kty mismatch (ES256 token, RSA key)", sign(t, jwt.SigningMethodES256, k.ec, "rsa1-any", nil, goodClaims()), nil, "key not usable with this algorithm")
	bad("curve mismatch (ES256 token, P-384 key)", sign(t, jwt.SigningMethodES256, k.ec, "ec384", nil, goodClaims()), nil, "key not usable with this algorithm")
	bad("key_ops without verify", sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa-ops-sign", nil, goodClaims()), nil, "key not usable with this algorithm")
	bad("RSA key below 2048 bits", sign(t, jwt.SigningMethodRS256, k.rsaSmall, "rsa-small", nil, goodClaims()), nil, "key not usable with this algorithm")
	bad("unknown kid", sign(t, jwt.SigningMethodRS256, k.rsa, "nope", nil, goodClaims()), nil, "unknown key id")
	bad("no kid", sign(t, jwt.SigningMethodRS256, k.rsa, "", nil, goodClaims()), nil, "token header has no kid")
	bad("bad signature (payload changed)", tampered, nil, "signature invalid")
	bad("signed by another key", sign(t, jwt.SigningMethodRS256, k.rsa2, "rsa1", nil, goodClaims()), nil, "signature invalid")

	// Claims.
	bad("expired", rs(with(goodClaims(), "exp", testNow.Add(-time.Hour).Unix())), nil, "token expired")
	bad("no exp", rs(with(goodClaims(), "exp", nil)), nil, "token has no exp")
	bad("nbf ahead", rs(with(goodClaims(), "nbf", testNow.Add(time.Hour).Unix())), nil, "token not yet valid")
	bad("iat ahead", rs(with(goodClaims(), "iat", testNow.Add(time.Hour).Unix())), nil, "token issued in the future")
	bad("aud array without a match", rs(with(goodClaims(), "aud", []string{"other", "another"})), nil, "audience not accepted")
	bad("aud missing", rs(with(goodClaims(), "aud", nil)), nil, "audience not accepted")
	bad("wrong iss", rs(with(goodClaims(), "iss", "https://evil.test/")), nil, "issuer not accepted")
	bad("iss missing", rs(with(goodClaims(), "iss", nil)), nil, "issuer not accepted")
	bad("exp not a number", rs(with(goodClaims(), "exp", "tomorrow")), nil, "token payload is not a JSON claims object")
	bad("required claim missing", valid, func(c *Config) { c.RequiredClaims = []string{"tenant"} }, "required claim missing")

	// Shape.
	bad("1 MB token", strings.Repeat("a", 1<<20), nil, "token too large")
	bad("broken base64 (+)", strings.Replace(valid, "e", "+", 1), nil, "token is not canonical base64url")
	bad("padded base64", valid+"==", nil, "token is not canonical base64url")
	bad("too many segments", valid+".eyJ9", nil, "token is not a compact JWS")
	bad("JWE-shaped (5 segments)", "a.b.c.d.e", nil, "token is not a compact JWS")
	bad("two segments", "eyJhbGciOiJSUzI1NiJ9.e30", nil, "token is not a compact JWS")
	bad("payload not JSON", signRaw(t, jwt.SigningMethodRS256, k.rsa, []byte(`{"alg":"RS256","kid":"rsa1"}`), []byte("foo")), nil, "token payload is not a JSON claims object")
	bad("payload a JSON array", signRaw(t, jwt.SigningMethodRS256, k.rsa, []byte(`{"alg":"RS256","kid":"rsa1"}`), []byte("[1]")), nil, "token payload is not a JSON claims object")
	bad("header not JSON", signRaw(t, jwt.SigningMethodRS256, k.rsa, []byte(`alg=RS256`), mustJSON(t, goodClaims())), nil, "token header invalid")
	bad("header without alg", signRaw(t, jwt.SigningMethodRS256, k.rsa, []byte(`{"kid":"rsa1"}`), mustJSON(t, goodClaims())), nil, "token header invalid")

	// Scopes.
	add("required scope missing: 403", func() *http.Request { return req(valid) }, func(c *Config) {}, 403,
		`Bearer realm="jwtgate", error="insufficient_scope", error_description="insufficient scope", scope="admin"`, bodyOf("insufficient_scope", "insufficient scope"))
	scopeCase := len(cases) - 1

	// Keys unavailable: 503 + Retry-After, never 401.
	add("keys never loaded: 503", func() *http.Request { return req(valid) }, func(c *Config) { c.Keys = notReady{c.Keys} }, 503, "", bodyOf("temporarily_unavailable", "keys unavailable"))
	add("provider says keys unavailable: 503", func() *http.Request { return req(valid) }, func(c *Config) { c.Keys = failing{c.Keys, cache.ErrKeysUnavailable} }, 503, "", bodyOf("temporarily_unavailable", "keys unavailable"))

	// The keys the cache itself refuses to serve (use enc, key_ops without
	// verify, small RSA) are unknown kids behind it; the Verifier's own
	// checks answer for them behind a plain storage.
	skippedByCache := map[string]bool{"use enc key": true, "key_ops without verify": true, "RSA key below 2048 bits": true}
	// An unknown kid of the table is 401 from the set loaded moments before,
	// or from the one refetch a second that decides it.
	cached := newTestCache(t, serveJWKS(t, store).URL(), nil)
	for _, prov := range []struct {
		name  string
		store jwkset.Storage
	}{{"memory", store}, {"cache", cached}} {
		for i, c := range cases {
			t.Run(prov.name+"/"+c.name, func(t *testing.T) {
				cfg := baseConfig(prov.store)
				if c.cfg != nil {
					c.cfg(&cfg)
				}
				v, err := New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				h := v.Handler(okHandler)
				if i == scopeCase {
					h = v.With(Route{Scopes: []string{"admin"}}).Handler(okHandler)
				}
				wantWWW, wantBody := c.www, c.body
				if prov.name == "cache" && skippedByCache[c.name] {
					wantWWW, wantBody = wwwInvalid("unknown key id"), bodyOf("invalid_token", "unknown key id")
				}
				// Twice: the second answer may come from the verified-token
				// cache and must be the same.
				for round := 0; round < 2; round++ {
					got := do(h, c.req())
					if got.status != c.status {
						t.Fatalf("round %d: status %d, want %d (body %s)", round, got.status, c.status, got.body)
					}
					if got.www != wantWWW {
						t.Errorf("round %d: WWW-Authenticate %q, want %q", round, got.www, wantWWW)
					}
					want := wantBody
					if want == "" {
						want = "hello user-1"
					} else {
						want += "\n"
						if ct := got.header.Get("Content-Type"); ct != "application/json" {
							t.Errorf("Content-Type %q", ct)
						}
					}
					if got.body != want {
						t.Errorf("round %d: body %q, want %q", round, got.body, want)
					}
					if c.status == 503 && got.header.Get("Retry-After") != "5" {
						t.Errorf("Retry-After %q, want 5", got.header.Get("Retry-After"))
					}
				}
			})
		}
	}
}

func httpReq(url string) *http.Request {
	r, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		panic(err)
	}
	return r
}

// notReady is a storage whose provider has not loaded keys yet.
type notReady struct{ jwkset.Storage }

func (notReady) Ready() bool { return false }

// failing is a storage whose reads fail with err.
type failing struct {
	jwkset.Storage
	err error
}

func (f failing) KeyRead(context.Context, string) (jwkset.JWK, error) { return jwkset.JWK{}, f.err }

// countingStorage counts key reads.
type countingStorage struct {
	jwkset.Storage
	reads atomic.Int64
}

func (c *countingStorage) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	c.reads.Add(1)
	return c.Storage.KeyRead(ctx, kid)
}

func TestUnconfiguredIssuerRejectedBeforeKeyLookup(t *testing.T) {
	k := keys(t)
	a := &countingStorage{Storage: memKeys(t)}
	b := &countingStorage{Storage: memKeys(t)}
	v, err := New(Config{KeysByIssuer: map[string]jwkset.Storage{"https://a.test/": a, "https://b.test/": b}, Audiences: []string{"api"}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, iss := range []any{"https://evil.test/", nil, 42} {
		tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "iss", iss))
		_, err := v.Verify(ctx, tok)
		if iss == 42 {
			if !errors.Is(err, ErrTokenMalformed) {
				t.Errorf("iss %v: %v, want ErrTokenMalformed", iss, err)
			}
		} else if !errors.Is(err, ErrClaimsInvalid) {
			t.Errorf("iss %v: %v, want ErrClaimsInvalid", iss, err)
		}
	}
	if n := a.reads.Load() + b.reads.Load(); n != 0 {
		t.Fatalf("%d key reads for unconfigured issuers, want 0", n)
	}
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", nil, with(goodClaims(), "iss", "https://b.test/"))
	c, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://b.test/" || b.reads.Load() != 1 || a.reads.Load() != 0 {
		t.Fatalf("issuer %q, reads a=%d b=%d: want b's key set only", c.Issuer, a.reads.Load(), b.reads.Load())
	}
}
