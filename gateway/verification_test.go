package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// The verification settings reach the Verifier: each is tried against
// tokens that only that setting decides. (cli's
// TestVerificationFlagsEndToEnd: the same through the flags.)
func TestVerificationSettingsEndToEnd(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	// 10 s past exp: within the default 30 s leeway, outside 1 s.
	expired := p.Mint(t, jwtgatetest.Claims{Subject: "a", ExpiresAt: time.Now().Add(-10 * time.Second)})
	plain := p.Mint(t, jwtgatetest.Claims{Subject: "a"}) // typ JWT, ES256, no tenant
	access := p.MintWith(t, jwtgatetest.Claims{Subject: "a", Extra: map[string]any{"tenant": "t1"}}, jwtgatetest.MintOptions{Type: "at+jwt"})

	cases := []struct {
		name  string
		set   func(*Config)
		token string
		want  int
		desc  string // in error_description when rejected
	}{
		{"default leeway admits 10s past exp", func(*Config) {}, expired, http.StatusOK, ""},
		{"leeway 1s refuses 10s past exp", func(c *Config) { c.Leeway = ptr(time.Second) }, expired, http.StatusUnauthorized, "expired"},
		{"leeway 0 refuses 10s past exp", func(c *Config) { c.Leeway = ptr(time.Duration(0)) }, expired, http.StatusUnauthorized, "expired"},
		{"leeway 1m admits 10s past exp", func(c *Config) { c.Leeway = ptr(time.Minute) }, expired, http.StatusOK, ""},
		{"types at+jwt refuses typ JWT", func(c *Config) { c.Types = []string{"at+jwt"} }, plain, http.StatusUnauthorized, "token type not accepted"},
		{"types at+jwt admits at+jwt", func(c *Config) { c.Types = []string{"at+jwt"} }, access, http.StatusOK, ""},
		{"algorithms RS256 refuses ES256", func(c *Config) { c.Algorithms = []string{"RS256", "PS256"} }, plain, http.StatusUnauthorized, ""},
		{"algorithms ES256 admits ES256", func(c *Config) { c.Algorithms = []string{"ES256"} }, plain, http.StatusOK, ""},
		{"require_claims refuses a token without", func(c *Config) { c.RequiredClaims = []string{"tenant"} }, plain, http.StatusUnauthorized, ""},
		{"require_claims admits a token with", func(c *Config) { c.RequiredClaims = []string{"tenant"} }, access, http.StatusOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Issuer: p.Issuer(), Routes: []Route{{Prefix: "/", Upstream: up.URL}}}
			c.set(&cfg)
			g := startLoaded(t, cfg)
			status, body := g.get(t, "/x", c.token)
			if status != c.want {
				t.Fatalf("status %d, want %d: %s", status, c.want, body)
			}
			if c.want != http.StatusOK && (!strings.Contains(body, `"invalid_token"`) || !strings.Contains(body, c.desc)) {
				t.Errorf("body %s, want invalid_token %q", body, c.desc)
			}
		})
	}
}

// The YAML keys reach the Verifier too.
func TestVerificationKeysEndToEnd(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startYAML(t, "listen: 127.0.0.1:0\nissuer: "+p.Issuer()+"\nleeway: 1s\ntypes: [at+jwt]\nalgorithms: [ES256]\n"+
		"require_claims: [tenant]\nroutes: [{prefix: /, upstream: '"+up.URL+"'}]\n")
	at := jwtgatetest.MintOptions{Type: "at+jwt"}
	for _, c := range []struct {
		name string
		tok  jwtgatetest.Claims
		opts jwtgatetest.MintOptions
		want int
	}{
		{"all satisfied", jwtgatetest.Claims{Subject: "a", Extra: map[string]any{"tenant": "t"}}, at, http.StatusOK},
		{"10s past exp", jwtgatetest.Claims{Subject: "a", Extra: map[string]any{"tenant": "t"}, ExpiresAt: time.Now().Add(-10 * time.Second)}, at, http.StatusUnauthorized},
		{"typ JWT", jwtgatetest.Claims{Subject: "a", Extra: map[string]any{"tenant": "t"}}, jwtgatetest.MintOptions{}, http.StatusUnauthorized},
		{"no tenant", jwtgatetest.Claims{Subject: "a"}, at, http.StatusUnauthorized},
	} {
		if status, body := g.get(t, "/x", p.MintWith(t, c.tok, c.opts)); status != c.want {
			t.Errorf("%s: status %d, want %d: %s", c.name, status, c.want, body)
		}
	}
}
