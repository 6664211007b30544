package gateway

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

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
	cfg, opts, err := ParseArgs([]string{"-config", writeFile(t, fullConfig), "-burst", "30"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Demo {
		t.Error("a config file must not mean demo mode")
	}
	v, err := cfg.Validate(env(map[string]string{"LLM_KEY": "sk-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if v.Listen != "127.0.0.1:9090" || v.Burst != 30 || v.ShutdownTimeout != 5*time.Second {
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
	// The catch-all inherits the top-level policy; -burst overrode the file.
	if *root.Rate != 10 || *root.Burst != 30 || root.Weight != 1 || root.Audiences[0] != "api" {
		t.Errorf("root route = %+v rate=%v burst=%v", root, *root.Rate, *root.Burst)
	}
}

func TestFlagsAlone(t *testing.T) {
	cfg, opts, err := ParseArgs([]string{"-upstream", "http://127.0.0.1:9", "-issuer", "https://idp", "-audience", "a, b", "-rate", "2.5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Demo || opts.ListenSet || v.Listen != DefaultListen {
		t.Errorf("opts %+v listen %q", opts, v.Listen)
	}
	if len(v.Routes) != 1 || v.Routes[0].Upstream != "http://127.0.0.1:9" || *v.Routes[0].Burst != 3 ||
		strings.Join(v.Routes[0].Audiences, "|") != "a|b" {
		t.Errorf("route = %+v", v.Routes)
	}
}

func TestNoFlagsIsDemo(t *testing.T) {
	for _, args := range [][]string{nil, {"-listen", "127.0.0.1:0"}, {"-rate", "5"}} {
		_, opts, err := ParseArgs(args, io.Discard)
		if err != nil || !opts.Demo {
			t.Errorf("ParseArgs(%q) = %+v, %v; want demo", args, opts, err)
		}
	}
}

func TestHelpIsNotAConfigError(t *testing.T) {
	_, _, err := ParseArgs([]string{"-h"}, io.Discard)
	if !errors.Is(err, flag.ErrHelp) || errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	ok := "issuer: https://idp\nroutes: [{prefix: /, upstream: 'http://u'}]\n"
	cases := []struct {
		name, yaml string
		args       []string
		want       string
	}{
		{name: "unknown flag", args: []string{"-nope"}, want: "flag provided but not defined"},
		{name: "stray argument", args: []string{"-upstream", "http://u", "extra"}, want: `unexpected argument "extra"`},
		{name: "bad rate flag", args: []string{"-rate", "fast"}, want: "invalid value"},
		{name: "missing file", args: []string{"-config", "/nonexistent/gw.yaml"}, want: "no such file"},
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
		{name: "bad redis", yaml: ok + "redis: localhost\n", want: `redis "localhost"`},
		{name: "upstream flag twice", yaml: ok, args: []string{"-upstream", "http://v"}, want: "already has"},
		{name: "several providers need issuers", yaml: ok + "providers: [{jwks_url: 'https://b/keys'}]\n", want: "each needs an issuer"},
		{name: "duplicate provider", yaml: ok + "providers: [{issuer: 'https://idp'}]\n", want: "duplicate issuer"},
		{name: "provider without url", yaml: ok + "providers: [{issuer: 'b'}]\n", want: "discovery needs an absolute http(s) URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.yaml != "" {
				args = append([]string{"-config", writeFile(t, tc.yaml)}, args...)
			}
			cfg, _, err := ParseArgs(args, io.Discard)
			if err == nil {
				_, err = cfg.Validate(env(nil))
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryMistake(t *testing.T) {
	_, err := Config{Listen: "x", Rate: -1}.Validate(env(nil))
	for _, want := range []string{"listen", "need -issuer", "rate -1", "no routes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
}

func FuzzParseYAML(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte("routes: [{prefix: /, rate: .nan}]"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseYAML(b)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		_, _ = cfg.Validate(env(nil)) // must not panic
	})
}

// The example config shipped with the program must stay valid.
func TestExampleConfigIsValid(t *testing.T) {
	cfg, _, err := ParseArgs([]string{"-config", "../../examples/gateway/gateway.example.yaml"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(env(map[string]string{"LLM_API_KEY": "sk-x"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Routes) != 2 || v.Routes[0].Weight != 10 || v.Routes[0].UpstreamAuth.value != "sk-x" {
		t.Fatalf("%+v", v.Routes)
	}
}

func TestProviders(t *testing.T) {
	cfg, _, err := ParseArgs([]string{"-config", writeFile(t, `
issuer: https://a.example
providers:
  - issuer: https://b.example
    jwks_url: https://b.example/keys
routes: [{prefix: /, upstream: 'http://u'}]
`)}, io.Discard)
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
