package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// jwks_file: keys from a file on disk verify tokens; a file that turns
// invalid keeps the last good set (tokens still pass) and /readyz says what
// went wrong; a missing file at start is a config error.
func TestJWKSFile(t *testing.T) {
	p, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	resp, err := http.Get(p.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	set, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, set, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Listen: "127.0.0.1:0", Issuer: p.Issuer(), JWKSFile: path, Routes: []Route{{Prefix: "/", Upstream: up.URL}}}
	refreshed := make(chan cache.RefreshEvent, 16)
	g := startGateway(t, cfg, func(c *cache.Config) {
		c.FileCheckInterval = 50 * time.Millisecond
		c.Observer.OnRefresh = gwtest.Chain(c.Observer.OnRefresh, func(e cache.RefreshEvent) { refreshed <- e })
	})
	g.waitReady(t)
	tok := p.Mint(t, jwtgatetest.Claims{Subject: "alice"})
	if resp, body := g.get(t, "/x", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("a token checked against the file's keys: %d %s", resp.StatusCode, body)
	}

	if err := os.WriteFile(path, []byte(`{"keys": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	for e := range refreshed { // the re-read of the broken file
		if e.Outcome == cache.OutcomeFailed {
			break
		}
	}
	if resp, body := g.get(t, "/x", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("the last good set was dropped: %d %s", resp.StatusCode, body)
	}
	_, body := g.get(t, "/readyz", "")
	var rz struct {
		Providers []ProviderStatus `json:"providers"`
	}
	if err := json.Unmarshal([]byte(body), &rz); err != nil || len(rz.Providers) != 1 || rz.Providers[0].LastError == "" ||
		!strings.HasPrefix(rz.Providers[0].JWKSURL, "file://") {
		t.Fatalf("/readyz: %v %s", err, body)
	}

	for yaml, want := range map[string]string{
		"jwks_file: /nonexistent/jwks.json\n":                           "jwks_file",
		"jwks_file: " + path + "\njwks_url: https://idp.example/jwks\n": "not both",
	} {
		c, err := ParseYAML([]byte("issuer: https://idp.example\n" + yaml + "routes: [{prefix: /, upstream: 'http://u'}]\n"))
		if err == nil {
			_, err = c.Validate(nil)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", yaml, err)
		}
	}
}
