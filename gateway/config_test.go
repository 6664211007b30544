package gateway

import (
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/gwtest"
)

const fullConfig = `
listen: 127.0.0.1:9090
issuer: https://idp.example.com
audiences: [api]
rate: 10
shutdown_timeout: 5s
routes:
  - prefix: /v1/llm
    upstream: https://llm.internal:8443/base
    scopes: [llm:use]
    audiences: [llm]
    rate: 2
    burst: 20
    weight: 10
    drop_authorization: true
    upstream_auth: {env: LLM_KEY}
    claim_headers: {sub: X-User, email: X-User-Email}
  - prefix: /
    upstream: http://app.internal:8080
`

func TestConfigFileRoundTrip(t *testing.T) {
	cfg, err := LoadFile(gwtest.WriteConfig(t, fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(gwtest.Env(map[string]string{"LLM_KEY": "sk-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if v.Listen != "127.0.0.1:9090" || v.Burst != 0 || v.ShutdownTimeout != 5*time.Second {
		t.Fatalf("top level = %+v", v)
	}
	if len(v.Routes) != 2 || v.Routes[0].Prefix != "/v1/llm" || v.Routes[1].Prefix != "/" {
		t.Fatalf("routes not sorted longest first: %+v", v.Routes)
	}
	llm, root := v.Routes[0], v.Routes[1]
	if *llm.Rate != 2 || *llm.Burst != 20 || llm.Weight != 10 || llm.Audiences[0] != "llm" ||
		llm.UpstreamAuth.Header != "Authorization" || llm.ClaimHeaders["email"] != "X-User-Email" {
		t.Errorf("llm route = %+v", llm)
	}
	// The catch-all inherits the top-level policy, burst max(1, ceil(rate)).
	if *root.Rate != 10 || *root.Burst != 10 || root.Weight != 1 || root.Audiences[0] != "api" {
		t.Errorf("root route = %+v rate=%v burst=%v", root, *root.Rate, *root.Burst)
	}
}

// Each mistake in a config file is an ErrInvalidConfig saying what is
// wrong (cli's TestBadFlags: the same for the flags).
func TestBadConfig(t *testing.T) {
	ok := "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u'}]\n"
	cases := []struct {
		name, yaml string
		want       string
	}{
		{name: "unknown key", yaml: ok + "ratelimit: 5\n", want: "field ratelimit not found"},
		{name: "not yaml", yaml: "routes: [", want: "yaml"},
		{name: "no provider", yaml: "routes: [{prefix: /, upstream: 'http://u'}]", want: "need -issuer"},
		{name: "issuer not url", yaml: "issuer: idp\nroutes: [{prefix: /, upstream: 'http://u'}]", want: "discovery needs an absolute http(s) URL"},
		{name: "no routes", yaml: "issuer: https://idp", want: "no routes"},
		{name: "bad upstream", yaml: "issuer: https://idp\nroutes: [{prefix: /, upstream: 'ftp://u'}]", want: "want an absolute http(s) URL"},
		{name: "unclean prefix", yaml: "issuer: https://idp\nroutes: [{prefix: /a/../b, upstream: 'http://u'}]", want: "clean absolute path"},
		{name: "relative prefix", yaml: "issuer: https://idp\nroutes: [{prefix: api, upstream: 'http://u'}]", want: "clean absolute path"},
		{name: "duplicate prefix", yaml: "issuer: https://idp\nroutes: [{prefix: /a, upstream: 'http://u'}, {prefix: /a, upstream: 'http://v'}]", want: "duplicate prefix"},
		{name: "reserved path", yaml: "issuer: https://idp\nroutes: [{prefix: /metrics, upstream: 'http://u'}]", want: "overlaps the gateway's own /metrics"},
		{name: "negative rate", yaml: ok + "rate: -1\n", want: "rate -1"},
		{name: "weight over burst", yaml: "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u', rate: 1, burst: 2, weight: 3}]", want: "weight 3 exceeds burst 2"},
		{name: "claim header hop-by-hop", yaml: "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u', claim_headers: {sub: Connection}}]", want: "not a header the gateway may set"},
		{name: "claim header invalid", yaml: "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u', claim_headers: {sub: 'X User'}}]", want: "not a header the gateway may set"},
		{name: "credential env unset", yaml: "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u', upstream_auth: {env: NOPE_UNSET}}]", want: "NOPE_UNSET is not set"},
		{name: "credential env missing", yaml: "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u', upstream_auth: {header: X-Key}}]", want: "needs env"},
		{name: "bad listen", yaml: ok + "listen: 8080\n", want: `listen "8080"`},
		{name: "bad redis", yaml: ok + "redis: localhost\n", want: `redis: "localhost": want host:port`},
		{name: "redis url with a password", yaml: ok + "redis: redis://app:hunter2@r:6379\n", want: "redis: the URL holds a password: name an environment variable in password_env"},
		{name: "redis password_env unset", yaml: ok + "redis: {addr: r:6379, password_env: NOPE_REDIS}\n", want: "redis: password_env: environment variable NOPE_REDIS is not set"},
		{name: "redis two shapes", yaml: ok + "redis: {addr: r:6379, cluster: [a:1]}\n", want: "redis: want one of an address, a cluster or a sentinel, not several"},
		{name: "redis bad seed", yaml: ok + "redis: {cluster: [a:1, b]}\n", want: `redis: cluster: "b": want host:port`},
		{name: "redis sentinel without master", yaml: ok + "redis: {sentinel: {addrs: [s:26379]}}\n", want: "redis: sentinel: no master name"},
		{name: "redis empty sentinel", yaml: ok + "redis: {sentinel: {}}\n", want: "redis: sentinel: want master and addrs"},
		{name: "redis password without where", yaml: ok + "redis: {password_env: P}\n", want: "redis: username, password_env or tls without an addr, cluster or sentinel"},
		{name: "redis unknown key", yaml: ok + "redis: {clusters: [a:1]}\n", want: "field clusters not found"},
		{name: "negative replicas", yaml: ok + "redis: 'r:6379'\nreplicas: -1\n", want: "replicas -1"},
		{name: "several providers need issuers", yaml: ok + "providers: [{jwks_url: 'https://b/keys'}]\n", want: "each needs an issuer"},
		{name: "duplicate provider", yaml: ok + "providers: [{issuer: 'https://idp'}]\n", want: "duplicate issuer"},
		{name: "provider without url", yaml: ok + "providers: [{issuer: 'b'}]\n", want: "discovery needs an absolute http(s) URL"},
		{name: "huge leeway", yaml: ok + "leeway: 2h\n", want: "leeway 2h0m0s"},
		{name: "leeway not a duration", yaml: ok + "leeway: soon\n", want: "yaml"},
		{name: "bad type", yaml: ok + "types: ['at jwt']\n", want: `types: "at jwt" is not a media type`},
		{name: "empty type", yaml: ok + "types: ['']\n", want: `types: "" is not a media type`},
		{name: "alg none", yaml: ok + "algorithms: [none]\n", want: `"none" is never accepted`},
		{name: "alg unknown", yaml: ok + "algorithms: [RS256, rs256]\n", want: `"rs256" is not supported (want some of RS256,`},
		{name: "empty required claim", yaml: ok + "require_claims: ['']\n", want: `require_claims: "" is not a claim name`},
		{name: "control char required claim", yaml: ok + "require_claims: [\"a\\nb\"]\n", want: `is not a claim name`},
		{name: "require_claims misspelt", yaml: ok + "required_claims: [tenant]\n", want: "field required_claims not found"},
		{name: "unknown mode", yaml: "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u', mode: auth}]", want: `mode "auth": want proxy or decision`},
		{name: "decision with upstream", yaml: "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u', mode: decision}]", want: "drop upstream"},
		{name: "decision with drop_authorization", yaml: "issuer: https://idp\nroutes: [{prefix: /, mode: decision, drop_authorization: true}]", want: "do not apply"},
		{name: "decision strip on /", yaml: "issuer: https://idp\nroutes: [{prefix: /, mode: decision, strip_prefix: true}]", want: "strip_prefix on the decision route"},
		{name: "decision unclean prefix", yaml: "issuer: https://idp\nroutes: [{prefix: /a/../b, mode: decision}]", want: "clean absolute path"},
		{name: "decision on /metrics", yaml: "issuer: https://idp\nroutes: [{prefix: /metrics, mode: decision}]", want: "overlaps the gateway's own /metrics"},
		{name: "proxy without upstream", yaml: "issuer: https://idp\nroutes: [{prefix: /, mode: proxy}]", want: "want an absolute http(s) URL"},
		{name: "bad trusted proxy", yaml: ok + "trusted_proxies: [10.0.0.0/33]\n", want: `trusted_proxies "10.0.0.0/33"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadFile(gwtest.WriteConfig(t, tc.yaml))
			if err == nil {
				_, err = cfg.Validate(gwtest.Env(nil))
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

func TestVerificationSettingsFromYAML(t *testing.T) {
	{
		file := gwtest.WriteConfig(t, "issuer: https://idp\nleeway: 0s\ntypes: [at+jwt]\nalgorithms: [EdDSA]\nrequire_claims: [tenant]\n"+
			"routes: [{prefix: /, upstream: 'http://u'}]\n")
		cfg, err := LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		v, err := cfg.Validate(nil)
		if err != nil {
			t.Fatal(err)
		}
		if v.Leeway == nil || *v.Leeway != 0 || v.Types[0] != "at+jwt" || v.Algorithms[0] != "EdDSA" || v.RequiredClaims[0] != "tenant" {
			t.Errorf("config = %+v", v)
		}
		// 0s in the file means no leeway, not the default.
		if got := middlewareLeeway(v.Leeway); got >= 0 {
			t.Errorf("leeway 0s → middleware %v, want negative (none)", got)
		}
	}
}

func TestVerificationSettingsDefaults(t *testing.T) {
	// No leeway set (cli's TestVerificationFlagsUnset: nor by the flags).
	if got := middlewareLeeway(nil); got != 0 {
		t.Errorf("no leeway set → middleware %v, want 0 (its 30s default)", got)
	}
}

func TestValidateReportsEveryMistake(t *testing.T) {
	_, err := Config{Listen: "x", Rate: -1}.Validate(gwtest.Env(nil))
	for _, want := range []string{"listen", "need -issuer", "rate -1", "no routes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
	// One mistake in each part of the config, all reported at once.
	leeway := 2 * time.Hour
	_, err = Config{
		Listen: "x", Issuer: "idp", Redis: RedisConfig{Addr: "r"}, ShutdownTimeout: -1, Leeway: &leeway, Algorithms: []string{"none"},
		Routes: []Route{
			{Prefix: "/a/../b", Upstream: "ftp://u", Weight: -1, ClaimHeaders: map[string]string{"sub": "Connection"}, UpstreamAuth: &UpstreamAuth{}},
			{Prefix: "/", Upstream: "http://u", Rate: ptr(-2.0)},
		},
	}.Validate(gwtest.Env(nil))
	for _, want := range []string{
		`listen "x"`, `issuer "idp"`, `redis: "r": want host:port`, "shutdown_timeout -1ns", "leeway 2h0m0s", `"none" is never accepted`,
		"clean absolute path", `upstream "ftp://u"`, "weight -1", `"Connection" is not a header`, "needs env", "rate -2",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
	if n := strings.Count(err.Error(), "\n"); n != 12 {
		t.Errorf("%d lines of mistakes, want 12: %v", n, err)
	}
}

func FuzzParseYAML(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte("routes: [{prefix: /, rate: .nan}]"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseYAML(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		_, _ = cfg.Validate(gwtest.Env(nil)) // must not panic
	})
}

// The example config shipped with the program must stay valid.
func TestExampleConfigIsValid(t *testing.T) {
	cfg, err := LoadFile("../examples/gateway/gateway.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(gwtest.Env(map[string]string{"LLM_API_KEY": "sk-x"}))
	if err != nil {
		t.Fatal(err)
	}
	if b := v.Routes[0].Budget; b == nil || b.Limit != 5_000_000 || b.Tenant.Limit != 200_000_000 || b.Currency != "USD" {
		t.Fatalf("budget %+v", v.Routes[0].Budget)
	}
	if len(v.Routes) != 2 || v.Routes[0].Weight != 10 || v.Routes[0].UpstreamAuth.value != "sk-x" {
		t.Fatalf("%+v", v.Routes)
	}
}

func TestProviders(t *testing.T) {
	cfg, err := LoadFile(gwtest.WriteConfig(t, `
issuer: https://a.example
providers:
  - issuer: https://b.example
    jwks_url: https://b.example/keys
routes: [{prefix: /, upstream: 'http://u'}]
`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Provider{{Issuer: "https://a.example"}, {Issuer: "https://b.example", JWKSURL: "https://b.example/keys"}}
	if len(v.Providers) != 2 || v.Providers[0] != want[0] || v.Providers[1] != want[1] {
		t.Fatalf("providers = %+v", v.Providers)
	}
	// Validating a validated config changes nothing.
	again, err := v.Validate(nil)
	if err != nil || len(again.Providers) != 2 {
		t.Fatalf("revalidate: %+v, %v", again.Providers, err)
	}
}

// LoadFileDigest names the exact bytes it decoded, also those of a file it
// refuses; a file it cannot read has no digest.
func TestLoadFileDigest(t *testing.T) {
	body := "issuer: https://idp.example\n"
	name := gwtest.WriteConfig(t, body)
	cfg, sum, err := LoadFileDigest(name)
	if err != nil || cfg.Issuer != "https://idp.example" || sum != sha256.Sum256([]byte(body)) {
		t.Fatalf("good file: %v %q %x", err, cfg.Issuer, sum)
	}
	bad := "issuer: [\n"
	if _, sum, err := LoadFileDigest(gwtest.WriteConfig(t, bad)); !errors.Is(err, ErrInvalidConfig) || sum != sha256.Sum256([]byte(bad)) {
		t.Fatalf("bad file: %v %x", err, sum)
	}
	if _, sum, err := LoadFileDigest(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, ErrInvalidConfig) || sum != ([sha256.Size]byte{}) {
		t.Fatalf("missing file: %v %x", err, sum)
	}
}
