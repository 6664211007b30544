package gateway

import (
	"net/http"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// running is a gateway serving on a loopback port with its key set
// loaded, for tests that send raw header names.
type running struct {
	url    string
	client *http.Client
}

// startYAML loads yaml as the config file it would be (LoadFile), serves
// the gateway as startLoaded does and returns it.
func startYAML(t *testing.T, yaml string) *running {
	t.Helper()
	cfg, err := LoadFile(gwtest.WriteConfig(t, yaml))
	if err != nil {
		t.Fatal(err)
	}
	return startLoaded(t, cfg)
}

// startLoaded serves cfg (on a free loopback port when cfg.Listen is
// empty) and returns once the key set is loaded; the test's cleanup stops
// it.
func startLoaded(t *testing.T, cfg Config) *running {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)
	return &running{url: g.url, client: g.client}
}

// get sends a GET with the token and raw headers (names sent exactly as
// given, not canonicalized) and returns the status and body.
func (r *running) get(t *testing.T, path, token string, hdr ...string) (int, string) {
	t.Helper()
	return gwtest.GetRaw(t, r.client, r.url+path, token, hdr...)
}

func TestIsReserved(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Jwtgate-Subject": true, "x_jwtgate_subject": true, "X_JWTGATE_": true, "x-jwtgate-": true,
		"X-Jwtgate": false, "X-Jwtgatex-A": false, "X-User": false, "": false,
		"\rx-jwtgate-a": false, "X\rJwtgate-A": false, "Y-Jwtgate-A": false,
	} {
		if got := isReserved(name); got != want {
			t.Errorf("isReserved(%q) = %v", name, got)
		}
	}
}

// With no claim header configured on a route, or only some, no
// client-sent X-Jwtgate-* may reach the upstream: upstreams take them as
// the gateway's word. (cli's TestFlagModeStripsReservedHeaders is the same
// through -upstream and -claim-header.)
func TestCatchAllRouteStripsReservedHeaders(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read", "write"}})
	t.Run("no claim headers", func(t *testing.T) {
		g := startLoaded(t, Config{Issuer: p.Issuer(), Routes: []Route{{Prefix: "/", Upstream: up.URL}}})
		status, body := g.get(t, "/x", tok, gwtest.Spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		gwtest.CheckNoSpoof(t, gwtest.UpstreamHeaders(t, body), ReservedHeaderPrefix, nil)
	})
	t.Run("claim headers", func(t *testing.T) {
		g := startLoaded(t, Config{Issuer: p.Issuer(), Routes: []Route{{Prefix: "/", Upstream: up.URL,
			ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject", "scope": "X-Jwtgate-Scope"}}}})
		status, body := g.get(t, "/x", tok, gwtest.Spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		gwtest.CheckNoSpoof(t, gwtest.UpstreamHeaders(t, body), ReservedHeaderPrefix, map[string]string{"X-Jwtgate-Subject": "alice", "X-Jwtgate-Scope": "read write"})
		// A token without scope: the header is absent, not the client's.
		status, body = g.get(t, "/x", p.Mint(t, jwtgatetest.Claims{Subject: "bob"}), gwtest.Spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		gwtest.CheckNoSpoof(t, gwtest.UpstreamHeaders(t, body), ReservedHeaderPrefix, map[string]string{"X-Jwtgate-Subject": "bob"})
	})
}

func TestYAMLModeStripsReservedHeaders(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	g := startYAML(t, "listen: 127.0.0.1:0\nissuer: "+p.Issuer()+"\nroutes:\n"+
		"  - {prefix: /claims/, upstream: '"+up.URL+"', claim_headers: {sub: X-Jwtgate-Subject, scope: X-User-Scope}}\n"+
		"  - {prefix: /, upstream: '"+up.URL+"'}\n")
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}})
	for path, want := range map[string]map[string]string{
		"/claims/x": {"X-Jwtgate-Subject": "alice"},
		"/plain":    nil,
	} {
		status, body := g.get(t, path, tok, gwtest.Spoofs...)
		if status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, status, body)
		}
		h := gwtest.UpstreamHeaders(t, body)
		gwtest.CheckNoSpoof(t, h, ReservedHeaderPrefix, want)
		if path == "/claims/x" && h.Get("X-User-Scope") != "read" {
			t.Errorf("claim header outside the prefix: X-User-Scope = %q", h.Get("X-User-Scope"))
		}
	}
}
