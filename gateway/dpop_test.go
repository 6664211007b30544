package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/internal/redistest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

const nonceSecret = "0123456789abcdef0123456789abcdef-test-only"

func TestDPoPBadConfig(t *testing.T) {
	ok := "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u'}]\n"
	on := ok + "dpop:\n  mode: required\n"
	cases := []struct {
		name, yaml string
		want       string
	}{
		{name: "bad mode", yaml: ok + "dpop: {mode: mandatory}\n", want: `dpop: mode "mandatory": want off, allowed or required`},
		{name: "bad route mode", yaml: "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u', dpop: sometimes}]\n", want: `route 1 ("/"): dpop "sometimes": want off, allowed or required`},
		{name: "dpop not a section", yaml: ok + "dpop: required\n", want: "yaml"},
		{name: "unknown key", yaml: on + "  nonce_secret: abc\n", want: "field nonce_secret not found"},
		{name: "alg none", yaml: on + "  algorithms: [none]\n", want: `dpop: algorithms: "none" is not an asymmetric algorithm`},
		{name: "alg hmac", yaml: on + "  algorithms: [ES256, HS256]\n", want: `"HS256" is not an asymmetric algorithm`},
		{name: "negative max age", yaml: on + "  proof_max_age: -1s\n", want: "dpop: proof_max_age -1s: want 0 (one minute) to 1h0m0s"},
		{name: "huge max age", yaml: on + "  proof_max_age: 24h\n", want: "dpop: proof_max_age 24h0m0s"},
		{name: "huge leeway", yaml: on + "  leeway: 1h\n", want: "dpop: leeway 1h0m0s: want 0 to 5m0s"},
		{name: "nonce env unset", yaml: on + "  nonce_secret_env: NOPE_UNSET\n", want: "dpop: nonce_secret_env: environment variable NOPE_UNSET is not set"},
		{name: "nonce secret short", yaml: on + "  nonce_secret_env: SHORT\n", want: "SHORT holds 5 bytes, want at least 32"},
		{name: "external url with path", yaml: on + "  external_url: https://api.example.com/v1\n", want: `dpop: external_url "https://api.example.com/v1": want scheme://host[:port]`},
		{name: "external url not http", yaml: on + "  external_url: ftp://api.example.com\n", want: "dpop: external_url"},
		{name: "bad replay", yaml: on + "  replay: disk\n", want: `dpop: replay "disk": want memory or redis`},
		{name: "redis replay without redis", yaml: on + "  replay: redis\n", want: "dpop: replay: redis needs the top-level redis address"},
		{name: "bad failure policy", yaml: on + "  replay: redis\n  replay_failure: maybe\nredis: 'r:6379'\n", want: `dpop: replay_failure "maybe": want closed, local or open`},
		{name: "failure policy for memory", yaml: on + "  replay_failure: open\n", want: "replay_failure applies to replay: redis only"},
		{name: "settings while off", yaml: ok + "dpop: {nonce_secret_env: SECRET}\n", want: "dpop: settings given but DPoP is off everywhere"},
		{name: "settings while explicitly off", yaml: ok + "dpop: {mode: off, replay: memory}\n", want: "DPoP is off everywhere"},
	}
	lookup := gwtest.Env(map[string]string{"SHORT": "short", "SECRET": nonceSecret})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadFile(gwtest.WriteConfig(t, tc.yaml))
			if err == nil {
				_, err = cfg.Validate(lookup)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// The YAML keys land where the middleware reads them; "off" unquoted stays
// the string, and a route's mode overrides the top level. (The -dpop flag:
// cli's TestDPoPFlag.)
func TestDPoPConfig(t *testing.T) {
	yaml := `
issuer: https://idp.example.com
redis: 127.0.0.1:6379
certificate_bound_tokens: true
dpop:
  mode: allowed
  algorithms: [ES256, EdDSA]
  proof_max_age: 30s
  leeway: 0s
  nonce_secret_env: DPOP_SECRET
  external_url: https://api.example.com
  replay: redis
  replay_failure: local
routes:
  - {prefix: /open, upstream: 'http://u', dpop: off}
  - {prefix: /, upstream: 'http://u', dpop: required}
`
	cfg, err := LoadFile(gwtest.WriteConfig(t, yaml))
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(gwtest.Env(map[string]string{"DPOP_SECRET": nonceSecret}))
	if err != nil {
		t.Fatal(err)
	}
	d := v.DPoP
	if d.Mode != DPoPAllowed || len(d.Algorithms) != 2 || d.ProofMaxAge != 30*time.Second || d.Leeway == nil || *d.Leeway != 0 ||
		string(d.nonceSecret) != nonceSecret || d.ExternalURL != "https://api.example.com" || d.Replay != ReplayRedis || d.ReplayFailure != "local" ||
		!v.CertificateBoundTokens {
		t.Fatalf("dpop = %+v, certificate_bound_tokens %v", d, v.CertificateBoundTokens)
	}
	modes := map[string]middleware.DPoPMode{}
	for _, r := range v.Routes {
		modes[r.Prefix] = routeDPoP(r.DPoP)
	}
	if modes["/open"] != middleware.DPoPOff || modes["/"] != middleware.DPoPRequired {
		t.Fatalf("route modes %v", modes)
	}
	if _, err := v.Validate(gwtest.Env(map[string]string{"DPOP_SECRET": nonceSecret})); err != nil {
		t.Fatalf("validating again: %v", err)
	}
}

// dpopClient sends DPoP requests to a gateway: a key, and tokens bound to it.
type dpopClient struct {
	key   *jwtgatetest.DPoPKey
	token string
}

func newDPoPClient(t testing.TB, idp *jwtgatetest.Issuer) *dpopClient {
	t.Helper()
	k := jwtgatetest.MustDPoPKey(t, "ES256")
	tok := idp.MintWith(t, jwtgatetest.Claims{Subject: "dpop-user", Extra: map[string]any{"cnf": map[string]any{"jkt": k.JKT()}}}, jwtgatetest.MintOptions{})
	return &dpopClient{key: k, token: tok}
}

// proof is a fresh proof for method and htu, bound to the client's token.
func (c *dpopClient) proof(t testing.TB, method, htu, nonce string) string {
	t.Helper()
	return c.key.MustProof(t, jwtgatetest.ProofOptions{Method: method, URL: htu, AccessToken: c.token, Nonce: nonce})
}

// do sends method path to g with "Authorization: DPoP token", the proof
// (none when empty) and further headers (name, value pairs).
func (g *gw) do(t *testing.T, method, path, auth, proof string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func wantStatus(t *testing.T, what string, resp *http.Response, body string, status int, challenge ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d: %s", what, resp.StatusCode, status, body)
	}
	wa := strings.Join(resp.Header.Values("WWW-Authenticate"), ", ")
	for _, c := range challenge {
		if !strings.Contains(wa, c) {
			t.Fatalf("%s: WWW-Authenticate %q, want it to contain %q", what, wa, c)
		}
	}
}

func TestDPoPRequiredEndToEnd(t *testing.T) {
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: idp.Issuer(), Audiences: []string{"api"},
		DPoP: DPoP{Mode: DPoPRequired},
		Routes: []Route{
			{Prefix: "/bearer/", Upstream: up.URL, DPoP: DPoPAllowed},
			{Prefix: "/", Upstream: up.URL},
		},
	}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	c := newDPoPClient(t, idp)
	bearer := idp.Mint(t, jwtgatetest.Claims{Subject: "plain"})

	p := c.proof(t, "GET", g.url+"/items", "")
	resp, body := g.do(t, "GET", "/items?page=2", "DPoP "+c.token, p)
	wantStatus(t, "valid DPoP request", resp, body, http.StatusOK)
	if !strings.Contains(body, `"path":"/items"`) {
		t.Fatalf("the upstream did not get the request: %s", body)
	}

	resp, body = g.do(t, "GET", "/items", "DPoP "+c.token, p)
	wantStatus(t, "replayed proof", resp, body, http.StatusUnauthorized, `DPoP realm="jwtgate"`, `error="invalid_dpop_proof"`)

	resp, body = g.do(t, "GET", "/items", "DPoP "+c.token, c.proof(t, "GET", g.url+"/other", ""))
	wantStatus(t, "proof for another URL", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)

	resp, body = g.do(t, "POST", "/items", "DPoP "+c.token, c.proof(t, "GET", g.url+"/items", ""))
	wantStatus(t, "proof for another method", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)

	resp, body = g.do(t, "GET", "/items", "DPoP "+c.token, "")
	wantStatus(t, "no proof", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)

	resp, body = g.do(t, "GET", "/items", "Bearer "+bearer, "")
	wantStatus(t, "bearer token where DPoP is required", resp, body, http.StatusUnauthorized, `DPoP realm="jwtgate", algs="`)
	if wa := resp.Header.Get("WWW-Authenticate"); strings.Contains(wa, "Bearer") {
		t.Fatalf("a DPoP-required route offers Bearer: %q", wa)
	}

	resp, body = g.do(t, "GET", "/items", "Bearer "+c.token, "")
	wantStatus(t, "DPoP-bound token sent as Bearer", resp, body, http.StatusUnauthorized)

	// The route that allows both: a plain bearer token passes, a bound one
	// still needs its proof.
	resp, body = g.do(t, "GET", "/bearer/x", "Bearer "+bearer, "")
	wantStatus(t, "bearer on the allowed route", resp, body, http.StatusOK)
	resp, body = g.do(t, "GET", "/bearer/x", "Bearer "+c.token, "")
	wantStatus(t, "bound token as bearer on the allowed route", resp, body, http.StatusUnauthorized, `Bearer realm="jwtgate"`, "DPoP ")
	resp, body = g.do(t, "GET", "/bearer/x", "DPoP "+c.token, c.proof(t, "GET", g.url+"/bearer/x", ""))
	wantStatus(t, "DPoP on the allowed route", resp, body, http.StatusOK)
}

// The htu is the URL the client addressed: a trusted proxy's
// X-Forwarded-Proto/-Host, or external_url; never an untrusted header.
func TestDPoPHTUBehindProxy(t *testing.T) {
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	c := newDPoPClient(t, idp)
	const ext = "https://api.example.com"
	fwd := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.example.com"}
	base := func(tune func(*Config)) Config {
		cfg := Config{
			Listen: "127.0.0.1:0", Issuer: idp.Issuer(), DPoP: DPoP{Mode: DPoPRequired},
			Routes: []Route{{Prefix: "/", Upstream: up.URL}},
		}
		tune(&cfg)
		return cfg
	}

	t.Run("trusted proxy", func(t *testing.T) {
		g := startGateway(t, base(func(*Config) {}), nil) // loopback, where the test runs, is trusted by default
		g.waitReady(t)
		resp, body := g.do(t, "GET", "/x", "DPoP "+c.token, c.proof(t, "GET", ext+"/x", ""), fwd...)
		wantStatus(t, "proof for the forwarded URL", resp, body, http.StatusOK)
		resp, body = g.do(t, "GET", "/x", "DPoP "+c.token, c.proof(t, "GET", g.url+"/x", ""), fwd...)
		wantStatus(t, "proof for the gateway's own URL", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)
	})
	t.Run("untrusted sender", func(t *testing.T) {
		g := startGateway(t, base(func(c *Config) { c.TrustedProxies = []string{} }), nil)
		g.waitReady(t)
		resp, body := g.do(t, "GET", "/x", "DPoP "+c.token, c.proof(t, "GET", ext+"/x", ""), fwd...)
		wantStatus(t, "forged forwarded headers", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)
		resp, body = g.do(t, "GET", "/x", "DPoP "+c.token, c.proof(t, "GET", g.url+"/x", ""), fwd...)
		wantStatus(t, "proof for the URL actually addressed", resp, body, http.StatusOK)
	})
	t.Run("external_url", func(t *testing.T) {
		g := startGateway(t, base(func(c *Config) { c.DPoP.ExternalURL = ext + ":443" }), nil)
		g.waitReady(t)
		evil := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example"}
		resp, body := g.do(t, "GET", "/x", "DPoP "+c.token, c.proof(t, "GET", "https://API.example.com/x?q=1", ""), evil...)
		wantStatus(t, "proof for the external URL", resp, body, http.StatusOK)
		resp, body = g.do(t, "GET", "/x", "DPoP "+c.token, c.proof(t, "GET", "https://evil.example/x", ""), evil...)
		wantStatus(t, "proof for a forwarded host", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)
	})
}

// The replay store shared through a three-master Redis Cluster: a proof
// accepted by one replica is refused by the other.
func TestDPoPReplayAcrossGatewaysThroughRedisCluster(t *testing.T) {
	rc := redistest.StartCluster(t)
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	c := newDPoPClient(t, idp)
	const ext = "https://api.example.com"
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: idp.Issuer(), Redis: RedisConfig{Cluster: rc.Addrs},
		DPoP:   DPoP{Mode: DPoPRequired, ExternalURL: ext, Replay: ReplayRedis},
		Routes: []Route{{Prefix: "/", Upstream: up.URL}},
	}
	a, b := startGateway(t, cfg, nil), startGateway(t, cfg, nil)
	a.waitReady(t)
	b.waitReady(t)
	for i := range 6 { // six proofs: random jti, so their keys almost surely land on several masters
		p := c.proof(t, "GET", ext+"/x", "")
		first, second := a, b
		if i%2 == 1 {
			first, second = b, a
		}
		resp, body := first.do(t, "GET", "/x", "DPoP "+c.token, p)
		wantStatus(t, "first use", resp, body, http.StatusOK)
		resp, body = second.do(t, "GET", "/x", "DPoP "+c.token, p)
		wantStatus(t, "replayed to the other replica", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)
	}
}

// Two replicas behind one public name share the replay store in Redis: a
// proof accepted by one is refused by the other. With memory stores it is
// not, which is why replay: redis exists.
func TestDPoPReplayAcrossGatewaysThroughRedis(t *testing.T) {
	rs := redistest.Start(t)
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	c := newDPoPClient(t, idp)
	const ext = "https://api.example.com"
	cfg := func(replay, policy string) Config {
		return Config{
			Listen: "127.0.0.1:0", Issuer: idp.Issuer(), Redis: RedisConfig{Addr: rs.Addr},
			DPoP:   DPoP{Mode: DPoPRequired, ExternalURL: ext, Replay: replay, ReplayFailure: policy},
			Routes: []Route{{Prefix: "/", Upstream: up.URL}},
		}
	}
	a, b := startGateway(t, cfg(ReplayRedis, ""), nil), startGateway(t, cfg(ReplayRedis, ""), nil)
	a.waitReady(t)
	b.waitReady(t)
	p := c.proof(t, "GET", ext+"/x", "")
	resp, body := a.do(t, "GET", "/x", "DPoP "+c.token, p)
	wantStatus(t, "first use on replica a", resp, body, http.StatusOK)
	resp, body = b.do(t, "GET", "/x", "DPoP "+c.token, p)
	wantStatus(t, "replayed to replica b", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)
	malleated, err := jwtgatetest.MalleateECDSA(p)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = b.do(t, "GET", "/x", "DPoP "+c.token, malleated)
	wantStatus(t, "re-signed (s → n−s) and replayed to replica b", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)
	resp, body = b.do(t, "GET", "/x", "DPoP "+c.token, c.proof(t, "GET", ext+"/x", ""))
	wantStatus(t, "a fresh proof on replica b", resp, body, http.StatusOK)

	m1, m2 := startGateway(t, cfg(ReplayMemory, ""), nil), startGateway(t, cfg(ReplayMemory, ""), nil)
	m1.waitReady(t)
	m2.waitReady(t)
	p = c.proof(t, "GET", ext+"/x", "")
	for _, g := range []*gw{m1, m2} {
		resp, body = g.do(t, "GET", "/x", "DPoP "+c.token, p)
		wantStatus(t, "memory replay stores are per replica", resp, body, http.StatusOK)
	}

	// Redis down: closed refuses with 503 (never an unchecked proof),
	// local still refuses a replay to the same replica.
	local := startGateway(t, cfg(ReplayRedis, "local"), nil)
	local.waitReady(t)
	rs.Stop()
	resp, body = a.do(t, "GET", "/x", "DPoP "+c.token, c.proof(t, "GET", ext+"/x", ""))
	wantStatus(t, "redis down, replay_failure closed", resp, body, http.StatusServiceUnavailable)
	p = c.proof(t, "GET", ext+"/x", "")
	resp, body = local.do(t, "GET", "/x", "DPoP "+c.token, p)
	wantStatus(t, "redis down, replay_failure local", resp, body, http.StatusOK)
	resp, body = local.do(t, "GET", "/x", "DPoP "+c.token, p)
	wantStatus(t, "redis down, replay_failure local, replayed", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)
}

func TestDPoPNonce(t *testing.T) {
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	cfg := Config{
		Listen: "127.0.0.1:0", Issuer: idp.Issuer(),
		DPoP:   DPoP{Mode: DPoPRequired, NonceSecretEnv: "DPOP_NONCE_SECRET"},
		Routes: []Route{{Prefix: "/", Upstream: up.URL}},
	}
	// startGateway's environment has UP_KEY only: the secret is missing.
	if _, err := cfg.Validate(gwtest.Env(nil)); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "DPOP_NONCE_SECRET is not set") {
		t.Fatalf("without the secret: %v", err)
	}
	g := startGatewayEnv(t, cfg, map[string]string{"DPOP_NONCE_SECRET": nonceSecret})
	g.waitReady(t)
	c := newDPoPClient(t, idp)

	resp, body := g.do(t, "GET", "/x", "DPoP "+c.token, c.proof(t, "GET", g.url+"/x", ""))
	wantStatus(t, "no nonce", resp, body, http.StatusUnauthorized, `error="use_dpop_nonce"`)
	nonce := resp.Header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	resp, body = g.do(t, "GET", "/x", "DPoP "+c.token, c.proof(t, "GET", g.url+"/x", "stale-or-made-up"))
	wantStatus(t, "made-up nonce", resp, body, http.StatusUnauthorized, `error="use_dpop_nonce"`)
	resp, body = g.do(t, "GET", "/x", "DPoP "+c.token, c.proof(t, "GET", g.url+"/x", nonce))
	wantStatus(t, "with the server's nonce", resp, body, http.StatusOK)
	if resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatal("a successful DPoP response without a fresh DPoP-Nonce")
	}
}

// startGatewayEnv is startGateway with the environment vars (startGateway
// has UP_KEY only), served by an httptest.Server.
func startGatewayEnv(t *testing.T, cfg Config, vars map[string]string) *gw {
	t.Helper()
	tr, cacheTr := &http.Transport{}, &http.Transport{}
	g, err := New(context.Background(), cfg, Options{
		Logger: quiet, Transport: tr, HTTPClient: &http.Client{Transport: cacheTr}, LookupEnv: gwtest.Env(vars),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(func() {
		srv.Close()
		g.Close()
		tr.CloseIdleConnections()
		cacheTr.CloseIdleConnections()
	})
	return &gw{Gateway: g, url: srv.URL, client: srv.Client()}
}

// A DPoP request decided through a forward-auth sub-request: the proof's
// htm and htu are the original request's, from the trusted proxy's
// headers, not the sub-request's.
func TestDPoPDecision(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	g := newDecisionGateway(t, idp.Issuer(), func(c *Config) { c.DPoP.Mode = DPoPRequired })
	waitReady(t, g)
	c := newDPoPClient(t, idp)
	orig := []string{
		"X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com",
		"X-Forwarded-Uri", "/items?page=2", "X-Forwarded-Method", "POST",
		"Authorization", "DPoP " + c.token,
	}
	send := func(remote, proof string) *httptest.ResponseRecorder {
		return subRequest(g.Handler(), remote, "GET", "/_jwtgate", "", append(orig, "DPoP", proof)...)
	}
	if rec := send(fromProxy, c.proof(t, "POST", "https://app.example.com/items", "")); rec.Code != http.StatusOK {
		t.Fatalf("proof for the original request: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if rec := send(fromProxy, c.proof(t, "GET", "http://example.com/_jwtgate", "")); rec.Code != http.StatusUnauthorized ||
		!strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_dpop_proof"`) {
		t.Fatalf("proof for the sub-request: %d %v", rec.Code, rec.Header())
	}
	// From an outsider the headers are ignored: its proof for the
	// "original" it names does not pass.
	if rec := send(fromOutsider, c.proof(t, "POST", "https://app.example.com/items", "")); rec.Code != http.StatusUnauthorized {
		t.Fatalf("forged original from an outsider: %d", rec.Code)
	}
}

// On a proxy route htm and htu are the request's own method and path,
// which is what is proxied: a trusted peer's (loopback by default)
// X-Forwarded-Method/-Uri or X-Original-Method/-URI never stand in for them
// (issue 19, item 3: a proof for GET /echo/a let DELETE /echo/b/delete-me
// through). Scheme and host may still come from the trusted proxy.
func TestDPoPProxyRouteChecksTheProxiedRequest(t *testing.T) {
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startGateway(t, Config{
		Listen: "127.0.0.1:0", Issuer: idp.Issuer(), DPoP: DPoP{Mode: DPoPRequired},
		Routes: []Route{{Prefix: "/echo/", Upstream: up.URL}},
	}, nil)
	g.waitReady(t)
	c := newDPoPClient(t, idp)
	const ext = "https://api.example.com"
	host := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.example.com"}
	for _, names := range [][2]string{{"X-Forwarded-Method", "X-Forwarded-Uri"}, {"X-Original-Method", "X-Original-URI"}} {
		claim := func(method, uri string) []string { return append([]string{names[0], method, names[1], uri}, host...) }

		resp, body := g.do(t, "DELETE", "/echo/b/delete-me", "DPoP "+c.token, c.proof(t, "GET", ext+"/echo/a", ""), claim("GET", "/echo/a")...)
		wantStatus(t, names[1]+": proof for GET /echo/a on DELETE /echo/b/delete-me", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)
		if strings.Contains(body, `"path"`) {
			t.Fatalf("the DELETE reached the upstream: %s", body)
		}
		resp, body = g.do(t, "GET", "/echo/a", "DPoP "+c.token, c.proof(t, "DELETE", ext+"/echo/b", ""), claim("DELETE", "/echo/b")...)
		wantStatus(t, names[1]+": proof for the forwarded DELETE /echo/b on GET /echo/a", resp, body, http.StatusUnauthorized, `error="invalid_dpop_proof"`)

		resp, body = g.do(t, "DELETE", "/echo/b", "DPoP "+c.token, c.proof(t, "DELETE", ext+"/echo/b", ""), claim("GET", "/echo/a")...)
		wantStatus(t, names[1]+": proof for the request's own DELETE /echo/b", resp, body, http.StatusOK)
		if !strings.Contains(body, `"path":"/echo/b"`) {
			t.Fatalf("the upstream did not get /echo/b: %s", body)
		}
	}
}

// Decision mode checks the proof against the original request: for Envoy's
// HTTP ext_authz, the path appended to the decision route's prefix and the
// sub-request's method.
func TestDPoPDecisionEnvoyAppendedPath(t *testing.T) {
	idp := gwtest.StartIDP(t, false)
	g := newDecisionGateway(t, idp.Issuer(), func(c *Config) { c.DPoP.Mode = DPoPRequired })
	waitReady(t, g)
	c := newDPoPClient(t, idp)
	send := func(proof string) *httptest.ResponseRecorder {
		return subRequest(g.Handler(), fromProxy, "PUT", "/_jwtgate/items/7?x=1", "",
			"Authorization", "DPoP "+c.token, "DPoP", proof, "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com")
	}
	if rec := send(c.proof(t, "PUT", "https://app.example.com/items/7", "")); rec.Code != http.StatusOK {
		t.Fatalf("proof for the original PUT /items/7: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if rec := send(c.proof(t, "PUT", "https://app.example.com/_jwtgate/items/7", "")); rec.Code != http.StatusUnauthorized {
		t.Fatalf("proof for the sub-request's own path: %d", rec.Code)
	}
}

// certificate_bound_tokens: a cnf["x5t#S256"] token passes with its
// certificate in a trusted proxy's Client-Cert (RFC 9440), not without.
func TestCertificateBoundTokensThroughGateway(t *testing.T) {
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	der := selfSignedCert(t)
	tok := idp.Mint(t, jwtgatetest.Claims{Subject: "mtls", Extra: map[string]any{"cnf": map[string]any{"x5t#S256": jwtgatetest.CertThumbprint(der)}}})
	clientCert := ":" + base64.StdEncoding.EncodeToString(der) + ":"
	for _, bound := range []bool{true, false} {
		cfg := Config{
			Listen: "127.0.0.1:0", Issuer: idp.Issuer(), CertificateBoundTokens: bound,
			Routes: []Route{{Prefix: "/", Upstream: up.URL}},
		}
		g := startGateway(t, cfg, nil)
		g.waitReady(t)
		want := http.StatusUnauthorized
		if bound {
			want = http.StatusOK
		}
		resp, body := g.get(t, "/x", tok, "Client-Cert", clientCert)
		wantStatus(t, "with the certificate", resp, body, want)
		resp, body = g.get(t, "/x", tok)
		wantStatus(t, "without the certificate", resp, body, http.StatusUnauthorized)
	}
}

func selfSignedCert(t testing.TB) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// BenchmarkDPoPVsBearer times a DPoP request (a fresh proof each time:
// parse, signature, htu, replay store) beside a Bearer request on the same
// route, alternating in one loop so both see the same machine state; the
// proofs are made outside the timed part. Both tokens are verified-token
// cache hits after the first request, so the difference is the proof's
// cost. It reports each one's ns and dpop/bearer.
func BenchmarkDPoPVsBearer(b *testing.B) {
	idp := gwtest.StartIDP(b, false)
	g := benchGateway(b, Config{
		Issuer: idp.Issuer(), Audiences: []string{"api"}, DPoP: DPoP{Mode: DPoPAllowed},
		Routes: []Route{{Prefix: "/api/", Upstream: "http://upstream.invalid", ClaimHeaders: map[string]string{"sub": "X-User"}, DropAuthorization: true}},
	})
	c := newDPoPClient(b, idp)
	bearerReq := httptest.NewRequest(http.MethodGet, "/api/items", nil)
	bearerReq.Header.Set("Authorization", "Bearer "+idp.Mint(b, jwtgatetest.Claims{Subject: "bench"}))
	dpopReq := httptest.NewRequest(http.MethodGet, "/api/items", nil)
	dpopReq.Header.Set("Authorization", "DPoP "+c.token)
	h := g.Handler()
	var bearerNs, dpopNs time.Duration
	b.ReportAllocs()
	for b.Loop() {
		// A fresh jti each time: the replay store refuses a second use.
		dpopReq.Header.Set("DPoP", c.proof(b, "GET", "http://example.com/api/items", ""))
		t0 := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, bearerReq)
		t1 := time.Now()
		drec := httptest.NewRecorder()
		h.ServeHTTP(drec, dpopReq)
		t2 := time.Now()
		bearerNs += t1.Sub(t0)
		dpopNs += t2.Sub(t1)
		if rec.Code != http.StatusOK || drec.Code != http.StatusOK {
			b.Fatalf("bearer %d, dpop %d: %s", rec.Code, drec.Code, drec.Body)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(bearerNs)/n, "ns/bearer")
	b.ReportMetric(float64(dpopNs)/n, "ns/dpop")
	b.ReportMetric(float64(dpopNs)/float64(bearerNs), "dpop/bearer")
}

// The README's gateway DPoP config is testdata/dpop.yaml verbatim, and valid.
func TestREADMEHasTheDPoPConfig(t *testing.T) {
	b, err := os.ReadFile("testdata/dpop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := gwtest.ReadDocs()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), string(b)) {
		t.Error("README.md does not contain testdata/dpop.yaml verbatim: copy it there again")
	}
	cfg, err := ParseYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Validate(gwtest.Env(map[string]string{"JWTGATE_DPOP_NONCE_SECRET": nonceSecret})); err != nil {
		t.Fatal(err)
	}
}

// drop_authorization drops the DPoP proof with the token: the upstream of
// a DPoP request sees neither, and still gets the verified claim header.
func TestDropAuthorizationDropsTheProof(t *testing.T) {
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startGateway(t, Config{
		Listen: "127.0.0.1:0", Issuer: idp.Issuer(), Audiences: []string{"api"},
		DPoP: DPoP{Mode: DPoPAllowed},
		Routes: []Route{{Prefix: "/", Upstream: up.URL, DropAuthorization: true,
			ClaimHeaders: map[string]string{"sub": "X-User"}}},
	}, nil)
	g.waitReady(t)
	c := newDPoPClient(t, idp)
	resp, body := g.do(t, "GET", "/items", "DPoP "+c.token, c.proof(t, "GET", g.url+"/items", ""))
	wantStatus(t, "DPoP request", resp, body, http.StatusOK)
	var got struct {
		Headers http.Header `json:"headers"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, h := range []string{"Authorization", "DPoP"} {
		if v := got.Headers.Values(h); len(v) > 0 {
			t.Errorf("the upstream got %s: %q", h, v)
		}
	}
	if got.Headers.Get("X-User") == "" {
		t.Errorf("the upstream got no X-User: %v", got.Headers)
	}
}
