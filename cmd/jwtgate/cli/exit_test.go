package cli

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/gwtest"
)

// The program exits 2, before listening, on a bad -dpop, a missing nonce
// secret, or -dpop in demo mode.
func TestDPoPBadFlagsExitTwo(t *testing.T) {
	yaml := gwtest.WriteConfig(t, "issuer: https://idp.example\nroutes: [{prefix: /, upstream: 'http://127.0.0.1:9'}]\ndpop: {mode: required, nonce_secret_env: JWTGATE_TEST_NONCE_UNSET}\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-issuer", "https://idp.example", "-upstream", "http://127.0.0.1:9", "-dpop", "bogus"}, `dpop: mode "bogus": want off, allowed or required`},
		{[]string{"-config", yaml}, "JWTGATE_TEST_NONCE_UNSET is not set"},
		{[]string{"-dpop", "required"}, "-dpop required: the demo's provider and curl lines use Bearer tokens"},
	} {
		var stdout, stderr gwtest.SyncBuffer
		code := Run(context.Background(), c.args, Env{Stdout: &stdout, Stderr: &stderr, LookupEnv: gwtest.Env(nil), Options: gateway.Options{Logger: quiet}})
		if code != ExitUsage || !strings.Contains(stderr.String(), c.want) || stdout.String() != "" {
			t.Errorf("%q: exit %d (want %d), stdout %q, stderr %q lacks %q", c.args, code, ExitUsage, stdout.String(), stderr.String(), c.want)
		}
	}
}

// The -tls-* flags make a tls: section, or override the file's fields one
// by one; what they name is validated like the file's.
func TestTLSFlags(t *testing.T) {
	cfg, _, err := ParseArgs([]string{"-issuer", "https://idp.example", "-upstream", "http://127.0.0.1:9",
		"-tls-cert", "a.crt", "-tls-key", "a.key", "-tls-client-ca", "ca.crt", "-tls-client-auth", "require"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (gateway.TLSConfig{CertFile: "a.crt", KeyFile: "a.key", ClientCAFile: "ca.crt", ClientAuth: gateway.ClientAuthRequire}); cfg.TLS == nil || *cfg.TLS != want {
		t.Fatalf("tls = %+v", cfg.TLS)
	}
	yaml := gwtest.WriteConfig(t, "issuer: https://idp.example\nroutes: [{prefix: /, upstream: 'http://127.0.0.1:9'}]\ntls: {cert_file: f.crt, key_file: f.key}\n")
	if cfg, _, err = ParseArgs([]string{"-config", yaml, "-tls-key", "g.key"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := (gateway.TLSConfig{CertFile: "f.crt", KeyFile: "g.key"}); cfg.TLS == nil || *cfg.TLS != want {
		t.Fatalf("tls = %+v", cfg.TLS)
	}
	if cfg, _, err = ParseArgs([]string{"-issuer", "https://idp.example", "-upstream", "http://127.0.0.1:9"}, io.Discard); err != nil || cfg.TLS != nil {
		t.Fatalf("no -tls-* flags: tls = %+v, %v", cfg.TLS, err)
	}
	var stderr gwtest.SyncBuffer
	code := Run(context.Background(), []string{"-issuer", "https://idp.example", "-upstream", "http://127.0.0.1:9", "-tls-cert", "/nonexistent.crt"},
		Env{Stdout: io.Discard, Stderr: &stderr, Options: gateway.Options{Logger: quiet}})
	if code != ExitUsage || !strings.Contains(stderr.String(), "tls: key_file is required") {
		t.Errorf("-tls-cert alone: exit %d, stderr %q", code, stderr.String())
	}
}

// A config the library refuses is exit 2 with its reason, before anything
// listens: a bad budget, a bad policy (named with its position).
func TestConfigErrorsExitTwo(t *testing.T) {
	route := func(extra string) string {
		return "issuer: https://idp.example\nroutes:\n  - {prefix: /a, upstream: 'http://u', " + extra + "}\n"
	}
	for _, c := range []struct {
		yaml string
		want []string
	}{
		{route("budget: {limit: 0, window: day}"), []string{"budget: limit 0"}},
		{route("policy: 'claims.tenant == '"), []string{`route 1 ("/a"): policy:`, "line 1, column"}},
	} {
		var stdout, stderr gwtest.SyncBuffer
		code := Run(context.Background(), []string{"-config", gwtest.WriteConfig(t, c.yaml)},
			Env{Stdout: &stdout, Stderr: &stderr, LookupEnv: gwtest.Env(nil), Options: gateway.Options{Logger: quiet}})
		if code != ExitUsage || stdout.String() != "" {
			t.Errorf("%s: exit %d, stdout %q", c.yaml, code, stdout.String())
		}
		for _, w := range c.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%s: stderr %q lacks %q", c.yaml, stderr.String(), w)
			}
		}
	}
}
