package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// The verification flags reach the Verifier: each is tried through Run, in
// flag mode, against tokens that only that setting decides.
func TestVerificationFlagsEndToEnd(t *testing.T) {
	p, up := startIDP(t, false), startUpstream(t)
	base := []string{"-listen", "127.0.0.1:0", "-issuer", p.Issuer(), "-upstream", up.srv.URL}
	// 10 s past exp: within the default 30 s leeway, outside 1 s.
	expired := p.Mint(t, jwtgatetest.Claims{Subject: "a", ExpiresAt: time.Now().Add(-10 * time.Second)})
	plain := p.Mint(t, jwtgatetest.Claims{Subject: "a"}) // typ JWT, ES256, no tenant
	access := p.MintWith(t, jwtgatetest.Claims{Subject: "a", Extra: map[string]any{"tenant": "t1"}}, jwtgatetest.MintOptions{Type: "at+jwt"})

	cases := []struct {
		name  string
		flags []string
		token string
		want  int
		desc  string // in error_description when rejected
	}{
		{"default leeway admits 10s past exp", nil, expired, http.StatusOK, ""},
		{"-leeway 1s refuses 10s past exp", []string{"-leeway", "1s"}, expired, http.StatusUnauthorized, "expired"},
		{"-leeway 0 refuses 10s past exp", []string{"-leeway", "0"}, expired, http.StatusUnauthorized, "expired"},
		{"-leeway 1m admits 10s past exp", []string{"-leeway", "1m"}, expired, http.StatusOK, ""},
		{"-types at+jwt refuses typ JWT", []string{"-types", "at+jwt"}, plain, http.StatusUnauthorized, "token type not accepted"},
		{"-types at+jwt admits at+jwt", []string{"-types", "at+jwt"}, access, http.StatusOK, ""},
		{"-algorithms RS256 refuses ES256", []string{"-algorithms", "RS256,PS256"}, plain, http.StatusUnauthorized, ""},
		{"-algorithms ES256 admits ES256", []string{"-algorithms", "ES256"}, plain, http.StatusOK, ""},
		{"-require-claims refuses a token without", []string{"-require-claims", "tenant"}, plain, http.StatusUnauthorized, ""},
		{"-require-claims admits a token with", []string{"-require-claims", "tenant"}, access, http.StatusOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := runGateway(t, append(append([]string(nil), base...), c.flags...)...)
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
	p, up := startIDP(t, false), startUpstream(t)
	cfg := writeFile(t, "listen: 127.0.0.1:0\nissuer: "+p.Issuer()+"\nleeway: 1s\ntypes: [at+jwt]\nalgorithms: [ES256]\n"+
		"require_claims: [tenant]\nroutes: [{prefix: /, upstream: '"+up.srv.URL+"'}]\n")
	g := runGateway(t, "-config", cfg)
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
