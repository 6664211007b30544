package middleware_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/forwarded"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
	"github.com/jwtgate/jwtgate/replay"
	"github.com/jwtgate/jwtgate/replay/redisreplay"
)

var dpopNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

const dpopURL = "https://api.example.com/v1/things"

// dpopEnv is one identity provider, one client key, one clock and a
// Verifier with DPoP, behind a handler that answers 200 with the proof's
// thumbprint from the context.
type dpopEnv struct {
	idp   *jwtgatetest.Issuer
	clk   *jwtgatetest.Clock
	key   *jwtgatetest.DPoPKey
	token string // bound to key
	v     *middleware.Verifier
	h     http.Handler
}

func newDPoPEnv(t testing.TB, mutate func(*middleware.Config)) *dpopEnv {
	t.Helper()
	clk := jwtgatetest.NewClock(dpopNow)
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, Audience: "api", Now: clk.Now})
	key := jwtgatetest.MustDPoPKey(t, "ES256")
	fw, err := forwarded.New(forwarded.Config{ExternalURL: "https://api.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := middleware.Config{
		Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}, Audiences: []string{"api"},
		DPoP: middleware.DPoP{Mode: middleware.DPoPAllowed}, Forwarded: fw, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := middleware.New(cfg)
	if err != nil {
		t.Fatalf("middleware.New: %v", err)
	}
	e := &dpopEnv{idp: idp, clk: clk, key: key, v: v,
		token: idp.Mint(t, jwtgatetest.Claims{Subject: "alice", Extra: map[string]any{"cnf": map[string]any{"jkt": key.JKT()}}})}
	e.h = v.Handler(okHandler())
	return e
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jkt, _ := middleware.DPoPThumbprintFromContext(r.Context())
		_, _ = io.WriteString(w, "ok "+jkt)
	})
}

// proof mints a valid proof for a GET of dpopURL with e.token, changed by o.
func (e *dpopEnv) proof(t *testing.T, o jwtgatetest.ProofOptions) string {
	t.Helper()
	if o.URL == "" {
		o.URL = dpopURL
	}
	if o.AccessToken == "" {
		o.AccessToken = e.token
	}
	if o.IAT.IsZero() {
		o.IAT = e.clk.Now()
	}
	return e.key.MustProof(t, o)
}

type dpopReq struct {
	method, target, authz string
	proofs                []string
	mutate                func(*http.Request)
}

type dpopAnswer struct {
	status int
	www    []string
	nonce  string
	body   string
}

func serve(h http.Handler, q dpopReq) dpopAnswer {
	if q.method == "" {
		q.method = http.MethodGet
	}
	if q.target == "" {
		q.target = "http://backend.internal:8080/v1/things"
	}
	r := httptest.NewRequest(q.method, q.target, nil)
	r.RemoteAddr = "203.0.113.5:4000"
	if q.authz != "" {
		r.Header.Set("Authorization", q.authz)
	}
	for _, p := range q.proofs {
		r.Header.Add("DPoP", p)
	}
	if q.mutate != nil {
		q.mutate(r)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return dpopAnswer{status: rec.Code, www: rec.Header().Values("WWW-Authenticate"), nonce: rec.Header().Get("DPoP-Nonce"), body: rec.Body.String()}
}

func (a dpopAnswer) dpopChallenge() string {
	for _, w := range a.www {
		if strings.HasPrefix(w, "DPoP ") {
			return w
		}
	}
	return ""
}

func TestDPoPAccepted(t *testing.T) {
	e := newDPoPEnv(t, nil)
	a := serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{})}})
	if a.status != 200 || a.body != "ok "+e.key.JKT() {
		t.Fatalf("%d %q %v", a.status, a.body, a.www)
	}
	// A bearer token without cnf still works when DPoP is only allowed.
	plain := e.idp.Mint(t, jwtgatetest.Claims{Subject: "bob"})
	if a := serve(e.h, dpopReq{authz: "Bearer " + plain}); a.status != 200 || a.body != "ok " {
		t.Fatalf("bearer: %d %q", a.status, a.body)
	}
	c, err := e.v.Verify(context.Background(), plain)
	if err != nil || c.JKT() != "" {
		t.Fatalf("Verify: %v %v", c, err)
	}
}

func TestDPoPEquivalentURLsPass(t *testing.T) {
	for name, htu := range map[string]string{
		"different query":            dpopURL + "?page=2",
		"fragment":                   dpopURL + "#frag",
		"default port":               "https://api.example.com:443/v1/things",
		"host and scheme case":       "HTTPS://API.Example.COM/v1/things",
		"percent-encoded unreserved": "https://api.example.com/v1/%74hings",
		"dot segment":                "https://api.example.com/v1/x/../things",
	} {
		t.Run(name, func(t *testing.T) {
			e := newDPoPEnv(t, nil)
			a := serve(e.h, dpopReq{target: "http://backend.internal:8080/v1/things?other=1", authz: "DPoP " + e.token,
				proofs: []string{e.proof(t, jwtgatetest.ProofOptions{URL: htu})}})
			if a.status != 200 {
				t.Fatalf("%d %v", a.status, a.www)
			}
		})
	}
}

// Every must-reject case of issue 15, each answered 401 with its error on
// the DPoP challenge and the plain Bearer challenge beside it.
func TestDPoPMustReject(t *testing.T) {
	other := jwtgatetest.MustDPoPKey(t, "ES256")
	for _, c := range []struct {
		name string
		req  func(t *testing.T, e *dpopEnv) dpopReq
		err  error
		code string
	}{
		{"two DPoP headers", func(t *testing.T, e *dpopEnv) dpopReq {
			return dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{}), e.proof(t, jwtgatetest.ProofOptions{})}}
		}, middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"two proofs in one header", func(t *testing.T, e *dpopEnv) dpopReq {
			return dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{}) + ", " + e.proof(t, jwtgatetest.ProofOptions{})}}
		}, middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"proof missing", func(t *testing.T, e *dpopEnv) dpopReq {
			return dpopReq{authz: "DPoP " + e.token}
		}, middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"proof too large", func(t *testing.T, e *dpopEnv) dpopReq {
			return dpopReq{authz: "DPoP " + e.token, proofs: []string{strings.Repeat("a", 5000)}}
		}, middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"typ missing", proofWith(jwtgatetest.ProofOptions{Header: map[string]any{"typ": nil}}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"typ JWT", proofWith(jwtgatetest.ProofOptions{Header: map[string]any{"typ": "JWT"}}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"alg none", func(t *testing.T, e *dpopEnv) dpopReq {
			p := e.proof(t, jwtgatetest.ProofOptions{Header: map[string]any{"alg": "none"}})
			return dpopReq{authz: "DPoP " + e.token, proofs: []string{p[:strings.LastIndexByte(p, '.')+1] + "AA"}}
		}, middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"alg HS256", proofWith(jwtgatetest.ProofOptions{Header: map[string]any{"alg": "HS256"}}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"jwk missing", proofWith(jwtgatetest.ProofOptions{Header: map[string]any{"jwk": nil}}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"jwk private", func(t *testing.T, e *dpopEnv) dpopReq {
			return dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{Header: map[string]any{"jwk": e.key.PrivateJWK()}})}}
		}, middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"signature by another key", func(t *testing.T, e *dpopEnv) dpopReq {
			p := e.proof(t, jwtgatetest.ProofOptions{})
			q := other.MustProof(t, jwtgatetest.ProofOptions{URL: dpopURL, AccessToken: e.token, IAT: e.clk.Now()})
			return dpopReq{authz: "DPoP " + e.token, proofs: []string{p[:strings.LastIndexByte(p, '.')] + q[strings.LastIndexByte(q, '.'):]}}
		}, middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"htm mismatch", proofWith(jwtgatetest.ProofOptions{Method: "POST"}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"htu host mismatch", proofWith(jwtgatetest.ProofOptions{URL: "https://other.example.com/v1/things"}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"htu scheme mismatch", proofWith(jwtgatetest.ProofOptions{URL: "http://api.example.com/v1/things"}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"htu port mismatch", proofWith(jwtgatetest.ProofOptions{URL: "https://api.example.com:8443/v1/things"}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"htu path mismatch", proofWith(jwtgatetest.ProofOptions{URL: "https://api.example.com/v1/other"}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"htu from an untrusted X-Forwarded-Host", func(t *testing.T, e *dpopEnv) dpopReq {
			return dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{URL: "https://evil.example/v1/things"})},
				mutate: func(r *http.Request) { r.Header.Set("X-Forwarded-Host", "evil.example") }}
		}, middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"iat too old", func(t *testing.T, e *dpopEnv) dpopReq {
			return dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{IAT: e.clk.Now().Add(-2 * time.Minute)})}}
		}, middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"iat too new", func(t *testing.T, e *dpopEnv) dpopReq {
			return dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{IAT: e.clk.Now().Add(time.Minute)})}}
		}, middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"ath missing", proofWith(jwtgatetest.ProofOptions{Claims: map[string]any{"ath": nil}}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"ath for another token", proofWith(jwtgatetest.ProofOptions{AccessToken: "another.token.value"}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"jti missing", proofWith(jwtgatetest.ProofOptions{Claims: map[string]any{"jti": nil}}), middleware.ErrDPoPProofInvalid, "invalid_dpop_proof"},
		{"cnf.jkt mismatch", func(t *testing.T, e *dpopEnv) dpopReq {
			return dpopReq{authz: "DPoP " + e.token, proofs: []string{other.MustProof(t, jwtgatetest.ProofOptions{URL: dpopURL, AccessToken: e.token, IAT: e.clk.Now()})}}
		}, middleware.ErrBindingMismatch, "invalid_token"},
		{"DPoP scheme with a token without cnf", func(t *testing.T, e *dpopEnv) dpopReq {
			plain := e.idp.Mint(t, jwtgatetest.Claims{Subject: "bob"})
			return dpopReq{authz: "DPoP " + plain, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{AccessToken: plain})}}
		}, middleware.ErrBindingMismatch, "invalid_token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newDPoPEnv(t, nil)
			var got error
			e2 := newDPoPEnvSharing(t, e, &got)
			a := serve(e2.h, c.req(t, e))
			if a.status != http.StatusUnauthorized || !errors.Is(got, c.err) {
				t.Fatalf("%d %v err %v, want 401 %v", a.status, a.www, got, c.err)
			}
			ch := a.dpopChallenge()
			if !strings.Contains(ch, `error="`+c.code+`"`) || !strings.Contains(ch, `algs="`) {
				t.Fatalf("DPoP challenge %q, want error=%q and algs", ch, c.code)
			}
			if len(a.www) != 2 || a.www[0] != `Bearer realm="jwtgate"` {
				t.Fatalf("challenges %q, want a plain Bearer beside DPoP", a.www)
			}
		})
	}
}

// newDPoPEnvSharing is e with an ErrorHandler recording the error.
func newDPoPEnvSharing(t *testing.T, e *dpopEnv, got *error) *dpopEnv {
	t.Helper()
	fw, _ := forwarded.New(forwarded.Config{ExternalURL: "https://api.example.com"})
	v, err := middleware.New(middleware.Config{Keys: e.idp.Keys(t), Issuers: []string{e.idp.Issuer()}, Audiences: []string{"api"},
		DPoP: middleware.DPoP{Mode: middleware.DPoPAllowed}, Forwarded: fw, Now: e.clk.Now,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { *got = err; middleware.WriteError(w, r, err) }})
	if err != nil {
		t.Fatal(err)
	}
	return &dpopEnv{idp: e.idp, clk: e.clk, key: e.key, token: e.token, v: v, h: v.Handler(okHandler())}
}

func proofWith(o jwtgatetest.ProofOptions) func(t *testing.T, e *dpopEnv) dpopReq {
	return func(t *testing.T, e *dpopEnv) dpopReq {
		return dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, o)}}
	}
}

func TestDPoPBoundTokenUnderBearerRefused(t *testing.T) {
	e := newDPoPEnv(t, nil)
	a := serve(e.h, dpopReq{authz: "Bearer " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{})}})
	if a.status != 401 || !strings.Contains(a.www[0], `error="invalid_token"`) || !strings.Contains(a.body, "sender-constrained") {
		t.Fatalf("%d %v %s", a.status, a.www, a.body)
	}
	if _, err := e.v.Verify(context.Background(), e.token); !errors.Is(err, middleware.ErrSenderConstrained) {
		t.Fatalf("Verify: %v", err)
	}
	// Mode off: the DPoP scheme is not read at all, as before.
	off := newDPoPEnv(t, func(c *middleware.Config) { c.DPoP.Mode = middleware.DPoPOff })
	if a := serve(off.h, dpopReq{authz: "DPoP " + off.token, proofs: []string{off.proof(t, jwtgatetest.ProofOptions{})}}); a.status != 401 ||
		len(a.www) != 1 || a.www[0] != `Bearer realm="jwtgate"` {
		t.Fatalf("off: %d %v", a.status, a.www)
	}
}

func TestDPoPRequired(t *testing.T) {
	e := newDPoPEnv(t, func(c *middleware.Config) { c.DPoP.Mode = middleware.DPoPRequired })
	plain := e.idp.Mint(t, jwtgatetest.Claims{Subject: "bob"})
	a := serve(e.h, dpopReq{authz: "Bearer " + plain})
	if a.status != 401 || len(a.www) != 1 || !strings.HasPrefix(a.www[0], "DPoP ") || !strings.Contains(a.www[0], `error="invalid_token"`) {
		t.Fatalf("bearer under required: %d %v", a.status, a.www)
	}
	if a := serve(e.h, dpopReq{}); a.status != 401 || len(a.www) != 1 || a.www[0] != `DPoP realm="jwtgate", algs="`+strings.Join(middleware.DefaultAlgorithms(), " ")+`"` {
		t.Fatalf("no token: %d %v", a.status, a.www)
	}
	// A route may relax it.
	rh := e.v.With(middleware.Route{DPoP: middleware.DPoPAllowed}).Handler(okHandler())
	if a := serve(rh, dpopReq{authz: "Bearer " + plain}); a.status != 200 {
		t.Fatalf("route allowed: %d %v", a.status, a.www)
	}
}

func TestDPoPReplay(t *testing.T) {
	e := newDPoPEnv(t, nil)
	p := e.proof(t, jwtgatetest.ProofOptions{})
	if a := serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{p}}); a.status != 200 {
		t.Fatalf("first: %d %v", a.status, a.www)
	}
	if a := serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{p}}); a.status != 401 || !strings.Contains(a.body, "replayed") {
		t.Fatalf("replayed jti: %d %v %s", a.status, a.www, a.body)
	}
	m, err := jwtgatetest.MalleateECDSA(p)
	if err != nil {
		t.Fatal(err)
	}
	if a := serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{m}}); a.status != 401 || !strings.Contains(a.body, "replayed") {
		t.Fatalf("malleated ECDSA signature (s → n−s): %d %v %s", a.status, a.www, a.body)
	}
	// The same jti under another key is another proof.
	other := jwtgatetest.MustDPoPKey(t, "ES256")
	tok2 := e.idp.Mint(t, jwtgatetest.Claims{Subject: "carol", Extra: map[string]any{"cnf": map[string]any{"jkt": other.JKT()}}})
	p2 := other.MustProof(t, jwtgatetest.ProofOptions{URL: dpopURL, AccessToken: tok2, IAT: e.clk.Now(), JTI: jtiOf(t, p)})
	if a := serve(e.h, dpopReq{authz: "DPoP " + tok2, proofs: []string{p2}}); a.status != 200 {
		t.Fatalf("same jti, other key: %d %v", a.status, a.www)
	}
}

func jtiOf(t *testing.T, p string) string {
	t.Helper()
	seg := strings.Split(p, ".")[1]
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, `"jti":"`) + len(`"jti":"`)
	return s[i : i+strings.IndexByte(s[i:], '"')]
}

func TestDPoPCacheHitStillNeedsAFreshProof(t *testing.T) {
	var hits []bool
	e := newDPoPEnv(t, func(c *middleware.Config) {
		c.OnVerify = func(ev middleware.VerifyEvent) { hits = append(hits, ev.CacheHit) }
	})
	p := e.proof(t, jwtgatetest.ProofOptions{})
	if a := serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{p}}); a.status != 200 {
		t.Fatalf("first: %d", a.status)
	}
	if a := serve(e.h, dpopReq{authz: "DPoP " + e.token}); a.status != 401 || !strings.Contains(a.body, "proof missing") {
		t.Fatalf("cache hit without a proof: %d %s", a.status, a.body)
	}
	if a := serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{p}}); a.status != 401 {
		t.Fatalf("cache hit with a replayed proof: %d", a.status)
	}
	if a := serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{})}}); a.status != 200 {
		t.Fatalf("cache hit with a fresh proof: %d", a.status)
	}
	if len(hits) != 4 || hits[0] || !hits[1] || !hits[2] || !hits[3] {
		t.Fatalf("cache hits %v, want the token cached after the first", hits)
	}
}

func TestDPoPNonces(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	e := newDPoPEnv(t, func(c *middleware.Config) { c.DPoP.NonceSecret = secret; c.DPoP.NonceStep = time.Minute })
	a := serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{})}})
	if a.status != 401 || a.nonce == "" || !strings.Contains(a.dpopChallenge(), `error="use_dpop_nonce"`) {
		t.Fatalf("missing nonce: %d %v nonce %q", a.status, a.www, a.nonce)
	}
	nonce := a.nonce
	a = serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{Nonce: nonce})}})
	if a.status != 200 || a.nonce == "" {
		t.Fatalf("with nonce: %d %v, DPoP-Nonce %q", a.status, a.www, a.nonce)
	}
	e.clk.Advance(70 * time.Second) // previous step: still good
	if a := serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{Nonce: nonce})}}); a.status != 200 {
		t.Fatalf("previous step's nonce: %d %v", a.status, a.www)
	}
	e.clk.Advance(2 * time.Minute)
	a = serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{e.proof(t, jwtgatetest.ProofOptions{Nonce: nonce})}})
	if a.status != 401 || a.nonce == "" || a.nonce == nonce || !strings.Contains(a.dpopChallenge(), "use_dpop_nonce") {
		t.Fatalf("stale nonce: %d %v nonce %q", a.status, a.www, a.nonce)
	}
}

func TestDPoPReplayThroughRedisAcrossVerifiers(t *testing.T) {
	srv := redistest.Start(t)
	st := func(p redisreplay.FailurePolicy) replay.Store {
		s, err := redisreplay.New(redisreplay.Config{Addr: srv.Addr, FailurePolicy: p, Timeout: time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	e := newDPoPEnv(t, func(c *middleware.Config) { c.DPoP.Replay = st(redisreplay.FailClosed) })
	second := withReplay(t, e, st(redisreplay.FailClosed))
	p := e.proof(t, jwtgatetest.ProofOptions{})
	if a := serve(e.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{p}}); a.status != 200 {
		t.Fatalf("replica 1: %d %v", a.status, a.www)
	}
	if a := serve(second.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{p}}); a.status != 401 || !strings.Contains(a.body, "replayed") {
		t.Fatalf("replayed to replica 2: %d %s", a.status, a.body)
	}

	// Redis outage under each policy.
	closed, local, open := withReplay(t, e, st(redisreplay.FailClosed)), withReplay(t, e, st(redisreplay.FailLocal)), withReplay(t, e, st(redisreplay.FailOpen))
	srv.Stop()
	p = e.proof(t, jwtgatetest.ProofOptions{})
	if a := serve(closed.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{p}}); a.status != 503 {
		t.Fatalf("FailClosed outage: %d %s, want 503", a.status, a.body)
	}
	if a := serve(local.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{p}}); a.status != 200 {
		t.Fatalf("FailLocal outage, first: %d %s", a.status, a.body)
	}
	if a := serve(local.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{p}}); a.status != 401 {
		t.Fatalf("FailLocal outage, replay to the same replica: %d %s", a.status, a.body)
	}
	if a := serve(open.h, dpopReq{authz: "DPoP " + e.token, proofs: []string{p}}); a.status != 200 {
		t.Fatalf("FailOpen outage: %d %s", a.status, a.body)
	}
}

func withReplay(t *testing.T, e *dpopEnv, st replay.Store) *dpopEnv {
	t.Helper()
	fw, _ := forwarded.New(forwarded.Config{ExternalURL: "https://api.example.com"})
	v, err := middleware.New(middleware.Config{Keys: e.idp.Keys(t), Issuers: []string{e.idp.Issuer()}, Audiences: []string{"api"},
		DPoP: middleware.DPoP{Mode: middleware.DPoPAllowed, Replay: st}, Forwarded: fw, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &dpopEnv{idp: e.idp, clk: e.clk, key: e.key, token: e.token, v: v, h: v.Handler(okHandler())}
}

func TestDPoPConfigRefused(t *testing.T) {
	e := newDPoPEnv(t, nil)
	for name, d := range map[string]middleware.DPoP{
		"HS256":        {Mode: middleware.DPoPAllowed, Algorithms: []string{"HS256"}},
		"none":         {Mode: middleware.DPoPAllowed, Algorithms: []string{"none"}},
		"short secret": {Mode: middleware.DPoPAllowed, NonceSecret: []byte("x")},
		"mode":         {Mode: 9},
	} {
		if _, err := middleware.New(middleware.Config{Keys: e.idp.Keys(t), DPoP: d}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestMTLSBoundTokens(t *testing.T) {
	der := []byte("the client's certificate DER")
	x5t := func(b []byte) string { s := sha256.Sum256(b); return base64.RawURLEncoding.EncodeToString(s[:]) }
	if x5t(der) != jwtgatetest.CertThumbprint(der) {
		t.Fatal("thumbprint mismatch")
	}
	clientCert := ":" + base64.StdEncoding.EncodeToString(der) + ":"
	for _, c := range []struct {
		name   string
		enable bool
		remote string
		tlsDER []byte
		header string
		want   int
	}{
		{"matching cert via r.TLS", true, "203.0.113.5:1", der, "", 200},
		{"matching cert via trusted Client-Cert", true, "127.0.0.1:1", nil, clientCert, 200},
		{"untrusted Client-Cert ignored", true, "203.0.113.5:1", nil, clientCert, 401},
		{"wrong cert", true, "203.0.113.5:1", []byte("another certificate"), "", 401},
		{"no cert", true, "203.0.113.5:1", nil, "", 401},
		{"switch off: refused as today", false, "203.0.113.5:1", der, "", 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newDPoPEnv(t, func(cfg *middleware.Config) { cfg.CertificateBoundTokens = c.enable; cfg.Forwarded = nil })
			tok := e.idp.Mint(t, jwtgatetest.Claims{Subject: "svc", Extra: map[string]any{"cnf": map[string]any{"x5t#S256": x5t(der)}}})
			a := serve(e.h, dpopReq{authz: "Bearer " + tok, mutate: func(r *http.Request) {
				r.RemoteAddr = c.remote
				if c.tlsDER != nil {
					r.TLS = tlsWithPeer(c.tlsDER)
				}
				if c.header != "" {
					r.Header.Set("Client-Cert", c.header)
				}
			}})
			if a.status != c.want {
				t.Fatalf("%d %v %s, want %d", a.status, a.www, a.body, c.want)
			}
		})
	}
}

// htm and htu are checked against the request the handler serves: its own
// method and path, even from a trusted proxy (loopback by default) that
// sends X-Forwarded-Method/-Uri or X-Original-Method/-URI, which describe
// another request (RFC 9449 §4.3 checks 8–9; issue 19, item 3). Only scheme
// and host may come from a trusted proxy.
func TestDPoPChecksTheRequestsOwnMethodAndPath(t *testing.T) {
	const base = "https://api.example.com"
	for _, names := range [][2]string{{"X-Forwarded-Method", "X-Forwarded-Uri"}, {"X-Original-Method", "X-Original-URI"}} {
		t.Run(names[0], func(t *testing.T) {
			e := newDPoPEnv(t, func(cfg *middleware.Config) { cfg.Forwarded = nil }) // the default: loopback trusted
			from := func(hdr ...string) func(*http.Request) {
				return func(r *http.Request) {
					r.RemoteAddr = "127.0.0.1:4000"
					r.Header.Set("X-Forwarded-Proto", "https")
					r.Header.Set("X-Forwarded-Host", "api.example.com")
					for i := 0; i+1 < len(hdr); i += 2 {
						r.Header.Set(hdr[i], hdr[i+1])
					}
				}
			}
			// A proof for GET /echo/a does not authorize DELETE /echo/b,
			// whatever the forwarded headers claim.
			a := serve(e.h, dpopReq{method: "DELETE", target: "http://backend/echo/b/delete-me", authz: "DPoP " + e.token,
				proofs: []string{e.proof(t, jwtgatetest.ProofOptions{Method: "GET", URL: base + "/echo/a"})},
				mutate: from(names[0], "GET", names[1], "/echo/a")})
			if a.status != http.StatusUnauthorized || !strings.Contains(a.dpopChallenge(), `error="invalid_dpop_proof"`) {
				t.Fatalf("proof for GET /echo/a on DELETE /echo/b/delete-me: %d %v", a.status, a.www)
			}
			// Nor the other way round: the request served is GET /echo/a.
			a = serve(e.h, dpopReq{method: "GET", target: "http://backend/echo/a", authz: "DPoP " + e.token,
				proofs: []string{e.proof(t, jwtgatetest.ProofOptions{Method: "DELETE", URL: base + "/echo/b"})},
				mutate: from(names[0], "DELETE", names[1], "/echo/b")})
			if a.status != http.StatusUnauthorized {
				t.Fatalf("proof for the forwarded DELETE /echo/b on GET /echo/a: %d", a.status)
			}
			// The proof for the request's own method and path passes, with
			// the trusted proxy's scheme and host.
			a = serve(e.h, dpopReq{method: "DELETE", target: "http://backend/echo/b", authz: "DPoP " + e.token,
				proofs: []string{e.proof(t, jwtgatetest.ProofOptions{Method: "DELETE", URL: base + "/echo/b"})},
				mutate: from(names[0], "GET", names[1], "/echo/a")})
			if a.status != http.StatusOK {
				t.Fatalf("proof for the request's own DELETE /echo/b: %d %v", a.status, a.www)
			}
		})
	}
}
