package gateway

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// subjectUpstream answers with the subject the gateway forwarded.
func subjectUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("sub=" + r.Header.Get("X-Jwtgate-Subject") + " authz=" + r.Header.Get("Authorization") + " key=" + r.Header.Get("X-Api-Key")))
	}))
	t.Cleanup(s.Close)
	return s
}

// credentials: [jwt, introspection, api_key] from YAML: each kind reaches
// the route's Verifier, a refused credential is not retried as another, the
// endpoint down is 503, and a key revoked from the file stops working.
func TestCredentialsFromYAML(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	as := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{ClientID: "gateway", ClientSecret: "s3cret"})
	up := subjectUpstream(t)
	key, stored := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Prefix: "jg_", Subject: "build-bot", Scopes: []string{"deploy"}})
	keyFile := jwtgatetest.APIKeyFile(t, stored)
	cfg, err := ParseYAML([]byte(`
issuer: ` + p.Issuer() + `
audiences: [api]
introspection:
  endpoint: ` + as.URL() + `
  client_id: gateway
  client_secret_env: IDP_SECRET
api_keys:
  file: ` + keyFile + `
  prefix: jg_
  header: X-Api-Key
routes:
  - prefix: /all
    upstream: ` + up.URL + `
    credentials: [jwt, api_key, introspection]
    claim_headers: {sub: X-Jwtgate-Subject}
  - prefix: /jwt
    upstream: ` + up.URL + `
    claim_headers: {sub: X-Jwtgate-Subject}
  - prefix: /deploy
    upstream: ` + up.URL + `
    credentials: [api_key]
    scopes: [deploy]
    claim_headers: {sub: X-Jwtgate-Subject}
`))
	if err != nil {
		t.Fatal(err)
	}
	g := startGatewayEnv(t, cfg, map[string]string{"IDP_SECRET": "s3cret"})
	g.waitReady(t)
	jwt := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	opaque := as.Issue(t, jwtgatetest.Claims{Subject: "bob", Issuer: p.Issuer()})
	// The upstream gets the JWT and the opaque token (its to use), never
	// an API key.
	for _, tc := range []struct{ token, hdr, want string }{
		{jwt, "", "authz=Bearer " + jwt + " key="},
		{opaque, "", "authz=Bearer " + opaque + " key="},
		{key, "", "authz= key="},
		{"", key, "authz= key="},
	} {
		var hdr []string
		if tc.hdr != "" {
			hdr = []string{"X-Api-Key", tc.hdr}
		}
		if _, body := g.get(t, "/all/x", tc.token, hdr...); !strings.HasSuffix(body, tc.want) {
			t.Errorf("upstream got %q, want …%q", body, tc.want)
		}
	}
	for _, tc := range []struct {
		path, token string
		hdr         []string
		status      int
		body        string
	}{
		{"/all/x", jwt, nil, 200, "sub=alice"},
		{"/all/x", opaque, nil, 200, "sub=bob"},
		{"/all/x", key, nil, 200, "sub=build-bot"},
		{"/all/x", "", []string{"X-Api-Key", key}, 200, "sub=build-bot"},
		{"/all/x", "jg_wrong", nil, 401, "api key not accepted"},
		{"/all/x", "never-issued", nil, 401, "token not active"},
		{"/jwt/x", opaque, nil, 401, "token"},
		{"/jwt/x", "", []string{"X-Api-Key", key}, 401, ""},
		{"/deploy/x", key, nil, 200, "sub=build-bot"},
		{"/deploy/x", jwt, nil, 401, "credential kind not accepted"},
	} {
		resp, body := g.get(t, tc.path, tc.token, tc.hdr...)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("%s %.12q %v: %d %s, want %d %q", tc.path, tc.token, tc.hdr, resp.StatusCode, body, tc.status, tc.body)
		}
	}
	if n := as.Requests(); n != 2 {
		t.Errorf("%d introspections, want 2 (bob's token once, the unknown one once; the JWT and the keys never)", n)
	}
	// The endpoint failing is the gateway's trouble: 503, never 401.
	as.SetFault(jwtgatetest.IntrospectionFault{Status: 500})
	if resp, body := g.get(t, "/all/x", "another-opaque"); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("endpoint down: %d %s", resp.StatusCode, body)
	}
	// Revoking the key in the file.
	jwtgatetest.WriteAPIKeyFile(t, keyFile)
	if err := g.cur.Load().apiKeys.Reload(); err != nil {
		t.Fatal(err)
	}
	if resp, _ := g.get(t, "/deploy/x", key); resp.StatusCode != 401 {
		t.Errorf("revoked key: %d", resp.StatusCode)
	}
	// The metrics say which kind decided.
	resp, body := g.get(t, "/metrics", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `jwtgate_credentials_total{kind="api_key",outcome="accepted"}`) ||
		!strings.Contains(body, `kind="introspection"`) || strings.Contains(body, key) {
		t.Errorf("metrics: %s", body)
	}
}

func TestCredentialsConfigRefused(t *testing.T) {
	for yaml, want := range map[string]string{
		"routes:\n  - {prefix: /a, upstream: 'http://u', credentials: [introspection]}\n":                                                                    "introspection needs the top-level introspection",
		"routes:\n  - {prefix: /a, upstream: 'http://u', credentials: [api_key]}\n":                                                                          "api_key needs the top-level api_keys",
		"routes:\n  - {prefix: /a, upstream: 'http://u', credentials: [jwt, jwt]}\n":                                                                         "listed twice",
		"routes:\n  - {prefix: /a, upstream: 'http://u', credentials: [basic]}\n":                                                                            "is not jwt, introspection or api_key",
		"credentials: [saml]\nroutes:\n  - {prefix: /a, upstream: 'http://u'}\n":                                                                             "credentials",
		"api_keys: {prefix: jg_}\nroutes:\n  - {prefix: /a, upstream: 'http://u'}\n":                                                                         "set file, env or redis",
		"api_keys: {redis: true}\nroutes:\n  - {prefix: /a, upstream: 'http://u'}\n":                                                                         "needs the top-level redis",
		"introspection: {endpoint: 'http://idp.example/i'}\nroutes:\n  - {prefix: /a, upstream: 'http://u'}\n":                                               "https",
		"introspection: {endpoint: 'https://idp.example/i', client_secret_env: NOPE}\nroutes:\n  - {prefix: /a, upstream: 'http://u'}\n":                     "NOPE is not set",
		"introspection: {endpoint: 'https://idp.example/i', auth_method: mtls}\nroutes:\n  - {prefix: /a, upstream: 'http://u'}\n":                           "auth_method",
		"introspection: {endpoint: 'https://idp.example/i', client_id: gw, auth_method: private_key_jwt}\nroutes:\n  - {prefix: /a, upstream: 'http://u'}\n": "private_key_jwt needs",
		"introspection: {endpoint: 'https://idp.example/i', assertion_audience: aud}\nroutes:\n  - {prefix: /a, upstream: 'http://u'}\n":                     "assertion_audience \"aud\"",
	} {
		cfg, err := ParseYAML([]byte("issuer: https://idp.example\n" + yaml))
		if err == nil {
			_, err = cfg.Validate(gwtest.Env(nil))
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
	}
}

// Providers' own introspection endpoints, one cache: a route bound to
// provider B never accepts a token only A's endpoint knows, even though A's
// answer is in the cache both share (the oathkeeper CVE-2026-33496
// pattern).
func TestRouteBoundToOneProvidersEndpoint(t *testing.T) {
	pa, pb := gwtest.StartIDP(t, false), gwtest.StartIDP(t, false)
	asA := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{})
	asB := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{})
	up := subjectUpstream(t)
	cfg, err := ParseYAML([]byte(`
audiences: [api]
providers:
  - issuer: ` + pa.Issuer() + `
    introspection: {endpoint: '` + asA.URL() + `'}
  - issuer: ` + pb.Issuer() + `
    introspection: {endpoint: '` + asB.URL() + `'}
routes:
  - {prefix: /a, upstream: '` + up.URL + `', credentials: [introspection], introspection_issuer: '` + pa.Issuer() + `', claim_headers: {sub: X-Jwtgate-Subject}}
  - {prefix: /b, upstream: '` + up.URL + `', credentials: [introspection], introspection_issuer: '` + pb.Issuer() + `', claim_headers: {sub: X-Jwtgate-Subject}}
`))
	if err != nil {
		t.Fatal(err)
	}
	g := startGatewayEnv(t, cfg, nil)
	tok := asA.Issue(t, jwtgatetest.Claims{Subject: "alice", Issuer: pa.Issuer()})
	// Twice: the second is answered by the verified-token cache, which
	// must not answer for route B either.
	for range 2 {
		if resp, body := g.get(t, "/a/x", tok); resp.StatusCode != 200 || !strings.HasPrefix(body, "sub=alice") {
			t.Fatalf("route A: %d %s", resp.StatusCode, body)
		}
	}
	if resp, body := g.get(t, "/b/x", tok); resp.StatusCode != 401 || !strings.Contains(body, "token not active") {
		t.Errorf("route B took A's token: %d %s", resp.StatusCode, body)
	}
	if asB.Requests() != 1 || asA.Requests() != 1 {
		t.Errorf("A asked %d times, B %d: want 1 each", asA.Requests(), asB.Requests())
	}
	// A token both endpoints know, as different subjects: each route gets
	// its own endpoint's answer, from the cache too.
	both := asA.Issue(t, jwtgatetest.Claims{Subject: "alice", Issuer: pa.Issuer()})
	asB.SetAnswer(both, []byte(`{"active":true,"sub":"bob","aud":"api","iss":"`+pb.Issuer()+`"}`))
	for _, step := range []struct{ path, sub string }{{"/a/x", "alice"}, {"/a/x", "alice"}, {"/b/x", "bob"}, {"/b/x", "bob"}, {"/a/x", "alice"}} {
		if resp, body := g.get(t, step.path, both); resp.StatusCode != 200 || !strings.HasPrefix(body, "sub="+step.sub) {
			t.Errorf("%s: %d %s, want sub=%s", step.path, resp.StatusCode, body, step.sub)
		}
	}
	// Two endpoints and a route that names none: which one is ambiguous.
	cfg.Routes = append(cfg.Routes, Route{Prefix: "/c", Upstream: up.URL, Credentials: []string{"introspection"}})
	if _, err := cfg.Validate(gwtest.Env(nil)); err == nil || !strings.Contains(err.Error(), "set introspection_issuer") {
		t.Errorf("ambiguous route: %v", err)
	}
}

// An introspection without endpoint finds it from the top-level issuer's
// metadata (RFC 8414).
func TestIntrospectionEndpointDiscoveredFromTopLevelIssuer(t *testing.T) {
	as := jwtgatetest.NewIntrospectionServer(t, jwtgatetest.IntrospectionOptions{ClientID: "gw", ClientSecret: "s3cret"})
	up := subjectUpstream(t)
	cfg, err := ParseYAML([]byte(`
issuer: ` + as.Issuer() + `
audiences: [api]
credentials: [jwt, introspection]
introspection: {client_id: gw, client_secret_file: '` + writeSecret(t, "s3cret\n") + `', auth_method: client_secret_post}
routes:
  - {prefix: /, upstream: '` + up.URL + `', claim_headers: {sub: X-Jwtgate-Subject}}
`))
	if err != nil {
		t.Fatal(err)
	}
	// Validating twice gives the same config (the issuer recorded once).
	v1, err := cfg.Validate(gwtest.Env(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := startGatewayEnv(t, v1, nil)
	tok := as.Issue(t, jwtgatetest.Claims{Subject: "bob"})
	if resp, body := g.get(t, "/x", tok); resp.StatusCode != 200 || !strings.HasPrefix(body, "sub=bob") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if f := as.LastForm(); f.Get("client_secret") != "s3cret" {
		t.Errorf("form %v", f)
	}
}

func writeSecret(t *testing.T, s string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(name, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// api_keys.env: the keys come from the environment Options.LookupEnv reads.
func TestAPIKeysFromEnvironment(t *testing.T) {
	up := subjectUpstream(t)
	key, line := jwtgatetest.NewAPIKey(t, jwtgatetest.APIKey{Subject: "env-bot"})
	cfg, err := ParseYAML([]byte(`
issuer: https://idp.example
api_keys: {env: JWTGATE_KEYS}
routes:
  - {prefix: /, upstream: '` + up.URL + `', credentials: [api_key], claim_headers: {sub: X-Jwtgate-Subject}}
`))
	if err != nil {
		t.Fatal(err)
	}
	g := startGatewayEnv(t, cfg, map[string]string{"JWTGATE_KEYS": line + "\n"})
	if resp, body := g.get(t, "/x", key); resp.StatusCode != 200 || !strings.HasPrefix(body, "sub=env-bot") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if _, err := cfg.Validate(gwtest.Env(map[string]string{"JWTGATE_KEYS": "not a record"})); err == nil || !strings.Contains(err.Error(), "JWTGATE_KEYS") {
		t.Errorf("bad records: %v", err)
	}
	g2 := startGatewayEnv(t, cfg, map[string]string{"JWTGATE_KEYS": "# none yet\n"})
	if resp, _ := g2.get(t, "/x", key); resp.StatusCode != 401 {
		t.Errorf("no keys: %d", resp.StatusCode)
	}
}
