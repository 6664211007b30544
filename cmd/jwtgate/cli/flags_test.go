package cli

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/gwtest"
)

func TestFlagsAlone(t *testing.T) {
	cfg, opts, err := ParseArgs([]string{"-upstream", "http://127.0.0.1:9", "-issuer", "https://idp", "-audience", "a, b", "-rate", "2.5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Demo || opts.ListenSet || v.Listen != gateway.DefaultListen {
		t.Errorf("opts %+v listen %q", opts, v.Listen)
	}
	if len(v.Routes) != 1 || v.Routes[0].Upstream != "http://127.0.0.1:9" || *v.Routes[0].Burst != 3 ||
		strings.Join(v.Routes[0].Audiences, "|") != "a|b" {
		t.Errorf("route = %+v", v.Routes)
	}
}

// -decision and -decision-path are the README's flags for the whole
// gateway as a decision service.
func TestDecisionFlags(t *testing.T) {
	cfg, opts, err := ParseArgs([]string{"-issuer", "https://idp", "-decision", "-decision-path", "/_jwtgate",
		"-claim-header", "sub=X-Jwtgate-Subject", "-trusted-proxies", "10.0.0.0/8, 192.0.2.1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Demo || len(v.Routes) != 2 {
		t.Fatalf("opts %+v routes %+v", opts, v.Routes)
	}
	dp, root := v.Routes[0], v.Routes[1]
	if dp.Prefix != "/_jwtgate" || dp.Mode != gateway.ModeDecision || !dp.StripPrefix || dp.Upstream != "" {
		t.Errorf("-decision-path route = %+v", dp)
	}
	if root.Prefix != "/" || root.Mode != gateway.ModeDecision || root.ClaimHeaders["sub"] != "X-Jwtgate-Subject" {
		t.Errorf("-decision route = %+v", root)
	}
	if strings.Join(v.TrustedProxies, "|") != "10.0.0.0/8|192.0.2.1" {
		t.Errorf("trusted proxies = %q", v.TrustedProxies)
	}
	cfg, _, err = ParseArgs([]string{"-issuer", "https://idp", "-decision", "-trusted-proxies", "none"}, io.Discard)
	if err != nil || cfg.TrustedProxies == nil || len(cfg.TrustedProxies) != 0 {
		t.Errorf("-trusted-proxies none = %#v, %v", cfg.TrustedProxies, err)
	}
}

// -replicas reaches the config next to -redis (the Redis limiter's outage
// share; its behaviour is tested in package ratelimit).
func TestReplicasFlag(t *testing.T) {
	cfg, _, err := ParseArgs([]string{"-upstream", "http://127.0.0.1:9", "-issuer", "https://idp", "-redis", "127.0.0.1:6379", "-replicas", "3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Replicas != 3 || v.Redis.Addr != "127.0.0.1:6379" {
		t.Fatalf("replicas %d redis %q", v.Replicas, v.Redis.Addr)
	}
}

// -redis takes a URL, and replaces where Redis is but keeps the file's
// username, password_env and tls.
func TestRedisFlagOverridesWhereNotWho(t *testing.T) {
	file := gwtest.WriteConfig(t, "issuer: https://idp\nredis: {cluster: [10.0.0.1:7000], username: app, password_env: REDIS_PW, tls: {server_name: r.internal}}\n")
	cfg, _, err := ParseArgs([]string{"-config", file, "-upstream", "http://127.0.0.1:9", "-redis", "rediss://r.internal:6380/1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := gateway.RedisConfig{Addr: "rediss://r.internal:6380/1", Username: "app", PasswordEnv: "REDIS_PW", TLS: &gateway.RedisTLS{ServerName: "r.internal"}}
	if !reflect.DeepEqual(cfg.Redis, want) {
		t.Fatalf("redis %+v, want %+v", cfg.Redis, want)
	}
	if _, err := cfg.Validate(gwtest.Env(map[string]string{"REDIS_PW": "pw"})); err != nil {
		t.Fatal(err)
	}
}

func TestNoFlagsIsDemo(t *testing.T) {
	for _, args := range [][]string{nil, {"-listen", "127.0.0.1:0"}, {"-listen", "localhost:0"}, {"-listen", "[::1]:0"}, {"-rate", "5"}, {"-demo"}} {
		_, opts, err := ParseArgs(args, io.Discard)
		if err != nil || !opts.Demo {
			t.Errorf("ParseArgs(%q) = %+v, %v; want demo", args, opts, err)
		}
	}
}

func TestHelpIsNotAConfigError(t *testing.T) {
	_, _, err := ParseArgs([]string{"-h"}, io.Discard)
	if !errors.Is(err, flag.ErrHelp) || errors.Is(err, gateway.ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
}

func TestVerificationSettingsFromFlags(t *testing.T) {
	{
		cfg, _, err := ParseArgs([]string{
			"-upstream", "http://u", "-issuer", "https://idp",
			"-leeway", "5s", "-types", "at+jwt, application/at+jwt", "-algorithms", "ES256,RS256",
			"-require-claims", "tenant,azp", "-claim-header", "sub=X-Jwtgate-Subject", "-claim-header", " scope = X-Jwtgate-Scope ",
		}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		v, err := cfg.Validate(nil)
		if err != nil {
			t.Fatal(err)
		}
		if v.Leeway == nil || *v.Leeway != 5*time.Second || strings.Join(v.Types, "|") != "at+jwt|application/at+jwt" ||
			strings.Join(v.Algorithms, "|") != "ES256|RS256" || strings.Join(v.RequiredClaims, "|") != "tenant|azp" {
			t.Errorf("config = %+v", v)
		}
		ch := v.Routes[0].ClaimHeaders
		if len(ch) != 2 || ch["sub"] != "X-Jwtgate-Subject" || ch["scope"] != "X-Jwtgate-Scope" {
			t.Errorf("claim headers = %v", ch)
		}
	}
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

// A config file and a flag: the flag overrides the file's field.
func TestConfigFileAndFlags(t *testing.T) {
	cfg, opts, err := ParseArgs([]string{"-config", gwtest.WriteConfig(t, fullConfig), "-burst", "30"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Demo {
		t.Error("a config file must not mean demo mode")
	}
	v, err := cfg.Validate(gwtest.Env(map[string]string{"LLM_KEY": "sk-1"}))
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

// Each mistake in the flags, alone or over a config file, is an
// gateway.ErrInvalidConfig saying what is wrong.
func TestBadFlags(t *testing.T) {
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
		{name: "replicas without redis", args: []string{"-upstream", "http://u", "-issuer", "https://idp", "-replicas", "2"}, want: "replicas 2 without redis"},
		{name: "upstream flag twice", yaml: ok, args: []string{"-upstream", "http://v"}, want: "already has"},
		{name: "claim header no equals", args: []string{"-upstream", "http://u", "-claim-header", "sub"}, want: "want CLAIM=HEADER"},
		{name: "claim header no claim", args: []string{"-upstream", "http://u", "-claim-header", "=X-Sub"}, want: "want CLAIM=HEADER"},
		{name: "claim header no header", args: []string{"-upstream", "http://u", "-claim-header", "sub="}, want: "want CLAIM=HEADER"},
		{name: "claim header hop-by-hop flag", args: []string{"-upstream", "http://u", "-claim-header", "sub=Connection"}, want: "not a header the gateway may set"},
		{name: "claim header bad name flag", args: []string{"-upstream", "http://u", "-claim-header", "sub=X_Sub"}, want: "not a header the gateway may set"},
		{name: "claim header twice", args: []string{"-upstream", "http://u", "-claim-header", "sub=X-A", "-claim-header", "sub=X-B"}, want: `claim "sub" is already forwarded as X-A`},
		{name: "claim header without upstream", yaml: ok, args: []string{"-claim-header", "sub=X-A"}, want: "-claim-header applies to the route of -upstream"},
		{name: "bad leeway flag", args: []string{"-leeway", "soon"}, want: "invalid value"},
		{name: "negative leeway flag", args: []string{"-upstream", "http://u", "-issuer", "https://idp", "-leeway", "-1s"}, want: "leeway -1s: want 0 to 1h0m0s"},
		{name: "empty types flag", args: []string{"-types", " , "}, want: `-types " , ": want a comma-separated list`},
		{name: "empty algorithms flag", args: []string{"-algorithms", ""}, want: "-algorithms"},
		{name: "empty require-claims flag", args: []string{"-require-claims", ","}, want: "-require-claims"},
		{name: "alg hmac", args: []string{"-upstream", "http://u", "-issuer", "https://idp", "-algorithms", "RS256,HS256"}, want: `"HS256" needs a shared secret`},
		{name: "bad trusted proxy flag", args: []string{"-issuer", "https://idp", "-decision", "-trusted-proxies", "10.0.0.1,proxy.local"}, want: `trusted_proxies "proxy.local"`},
		{name: "empty trusted proxies flag", args: []string{"-issuer", "https://idp", "-decision", "-trusted-proxies", " , "}, want: "-trusted-proxies"},
		{name: "decision and upstream", args: []string{"-issuer", "https://idp", "-decision", "-upstream", "http://u"}, want: "drop -upstream"},
		{name: "decision and route /", yaml: ok, args: []string{"-decision"}, want: `-decision adds the route "/"`},
		{name: "decision path /", args: []string{"-issuer", "https://idp", "-decision", "-decision-path", "/"}, want: "-decision-path"},
		{name: "decision path unclean", args: []string{"-issuer", "https://idp", "-decision", "-decision-path", "/a/../b"}, want: "-decision-path"},
		{name: "decision path trailing slash", args: []string{"-issuer", "https://idp", "-decision", "-decision-path", "/auth/"}, want: "-decision-path"},
		{name: "decision path taken", yaml: ok, args: []string{"-decision-path", "/"}, want: "-decision-path"},
		{name: "decision without provider", args: []string{"-decision"}, want: "need -issuer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.yaml != "" {
				args = append([]string{"-config", gwtest.WriteConfig(t, tc.yaml)}, args...)
			}
			cfg, _, err := ParseArgs(args, io.Discard)
			if err == nil {
				_, err = cfg.Validate(gwtest.Env(nil))
			}
			if !errors.Is(err, gateway.ErrInvalidConfig) {
				t.Fatalf("err = %v, want gateway.ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// Flags override a config file's verification settings.
func TestVerificationFlagsOverrideYAML(t *testing.T) {
	file := gwtest.WriteConfig(t, "issuer: https://idp\nleeway: 0s\ntypes: [at+jwt]\nalgorithms: [EdDSA]\nrequire_claims: [tenant]\n"+
		"routes: [{prefix: /, upstream: 'http://u'}]\n")
	cfg, _, err := ParseArgs([]string{"-config", file, "-leeway", "2s", "-types", "jwt", "-algorithms", "PS256", "-require-claims", "azp"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.Leeway != 2*time.Second || cfg.Types[0] != "jwt" || cfg.Algorithms[0] != "PS256" || cfg.RequiredClaims[0] != "azp" {
		t.Errorf("flags did not override: %+v", cfg)
	}
}

// Flags not given leave the verification settings unset.
func TestVerificationFlagsUnset(t *testing.T) {
	cfg, _, err := ParseArgs([]string{"-upstream", "http://u", "-issuer", "https://idp"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Leeway != nil || cfg.Types != nil || cfg.Algorithms != nil || cfg.RequiredClaims != nil || cfg.Routes[0].ClaimHeaders != nil {
		t.Errorf("unset flags changed the config: %+v", cfg)
	}
}

// -dpop sets the top-level DPoP mode; a bad one is an ErrInvalidConfig
// naming it.
func TestDPoPFlag(t *testing.T) {
	cfg, _, err := ParseArgs([]string{"-issuer", "https://idp", "-upstream", "http://u", "-dpop", "required"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := cfg.Validate(nil); err != nil || v.DPoP.Mode != gateway.DPoPRequired {
		t.Fatalf("-dpop required: mode %q, err %v", v.DPoP.Mode, err)
	}
	cfg, _, err = ParseArgs([]string{"-issuer", "https://idp", "-upstream", "http://u", "-dpop", "yes"}, io.Discard)
	if err == nil {
		_, err = cfg.Validate(nil)
	}
	if !errors.Is(err, gateway.ErrInvalidConfig) || !strings.Contains(err.Error(), `dpop: mode "yes"`) {
		t.Fatalf("-dpop yes: %v", err)
	}
}
