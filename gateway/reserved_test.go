package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

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
	cfg, err := LoadFile(writeFile(t, yaml))
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
	req, err := http.NewRequest(http.MethodGet, r.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header[hdr[i]] = append(req.Header[hdr[i]], hdr[i+1])
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// spoofs are a client's attempts at the reserved headers: every spelling
// an upstream could read as X-Jwtgate-*, and a Connection header naming
// the real one (ReverseProxy then deletes by that name, after the
// Verifier).
var spoofs = []string{
	"X-Jwtgate-Subject", "spoof-canonical",
	"x-jwtgate-subject", "spoof-lower",
	"X-JWTGATE-SCOPE", "spoof-upper",
	"x_jwtgate_subject", "spoof-underscore",
	"X-Jwtgate_Scope", "spoof-mixed",
	"X-Jwtgate-Tenant", "spoof-unconfigured",
	"x_JWTGATE-role", "spoof-unconfigured-underscore",
	"Connection", "X-Jwtgate-Subject, x_jwtgate_scope",
}

// upstreamHeaders decodes the test upstream's echo.
func upstreamHeaders(t *testing.T, body string) http.Header {
	t.Helper()
	var got struct{ Headers http.Header }
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return got.Headers
}

// checkNoSpoof fails if the upstream saw any reserved header other than the
// ones in want, or any of those with another value.
func checkNoSpoof(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for name, vs := range h {
		if strings.Contains(strings.Join(vs, ","), "spoof") {
			t.Errorf("spoofed header reached the upstream: %s: %q", name, vs)
		}
		if isReserved(name) {
			if w, ok := want[name]; !ok || len(vs) != 1 || vs[0] != w {
				t.Errorf("upstream saw %s: %q, want %q", name, vs, w)
			}
		}
	}
	for name, w := range want {
		if h.Get(name) != w {
			t.Errorf("verified %s = %q at the upstream, want %q", name, h.Get(name), w)
		}
	}
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
	p, up := startIDP(t, false), startUpstream(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read", "write"}})
	t.Run("no claim headers", func(t *testing.T) {
		g := startLoaded(t, Config{Issuer: p.Issuer(), Routes: []Route{{Prefix: "/", Upstream: up.srv.URL}}})
		status, body := g.get(t, "/x", tok, spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		checkNoSpoof(t, upstreamHeaders(t, body), nil)
	})
	t.Run("claim headers", func(t *testing.T) {
		g := startLoaded(t, Config{Issuer: p.Issuer(), Routes: []Route{{Prefix: "/", Upstream: up.srv.URL,
			ClaimHeaders: map[string]string{"sub": "X-Jwtgate-Subject", "scope": "X-Jwtgate-Scope"}}}})
		status, body := g.get(t, "/x", tok, spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		checkNoSpoof(t, upstreamHeaders(t, body), map[string]string{"X-Jwtgate-Subject": "alice", "X-Jwtgate-Scope": "read write"})
		// A token without scope: the header is absent, not the client's.
		status, body = g.get(t, "/x", p.Mint(t, jwtgatetest.Claims{Subject: "bob"}), spoofs...)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		checkNoSpoof(t, upstreamHeaders(t, body), map[string]string{"X-Jwtgate-Subject": "bob"})
	})
}

func TestYAMLModeStripsReservedHeaders(t *testing.T) {
	p, up := startIDP(t, false), startUpstream(t)
	g := startYAML(t, "listen: 127.0.0.1:0\nissuer: "+p.Issuer()+"\nroutes:\n"+
		"  - {prefix: /claims/, upstream: '"+up.srv.URL+"', claim_headers: {sub: X-Jwtgate-Subject, scope: X-User-Scope}}\n"+
		"  - {prefix: /, upstream: '"+up.srv.URL+"'}\n")
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice", Scopes: []string{"read"}})
	for path, want := range map[string]map[string]string{
		"/claims/x": {"X-Jwtgate-Subject": "alice"},
		"/plain":    nil,
	} {
		status, body := g.get(t, path, tok, spoofs...)
		if status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, status, body)
		}
		h := upstreamHeaders(t, body)
		checkNoSpoof(t, h, want)
		if path == "/claims/x" && h.Get("X-User-Scope") != "read" {
			t.Errorf("claim header outside the prefix: X-User-Scope = %q", h.Get("X-User-Scope"))
		}
	}
}
