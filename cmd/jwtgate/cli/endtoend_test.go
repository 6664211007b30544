package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// The verification flags reach the Verifier: each is tried through Run, in
// flag mode, against tokens that only that setting decides.
func TestVerificationFlagsEndToEnd(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	base := []string{"-listen", "127.0.0.1:0", "-issuer", p.Issuer(), "-upstream", up.URL}
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

// The program traces when OTEL_EXPORTER_OTLP_ENDPOINT is set: spans reach
// an OTLP/HTTP collector.
func TestRunExportsTracesOverOTLP(t *testing.T) {
	got := make(chan struct{}, 1)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			select {
			case got <- struct{}{}:
			default:
			}
		}
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "10")
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	r := runGateway(t, "-listen", "127.0.0.1:0", "-issuer", p.Issuer(), "-audience", "api", "-upstream", up.URL)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Audience: "api"})
	if code, body := r.get(t, "/x", tok); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no spans reached the collector")
	}
}
