package cli

import (
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
)

// The README's flag-mode decision command forwards every claim header that
// its nginx, Caddy and Traefik configs copy onto the upstream request: a
// header those configs copy and the answer lacks reaches the app as the
// client sent it (Caddy's copy_headers skips a header the answer does not
// have), so the command and the configs must agree.
func TestREADMEDecisionCommandMatchesTheProxyConfigs(t *testing.T) {
	readme, err := gwtest.ReadDocs()
	if err != nil {
		t.Fatal(err)
	}
	// Continued lines joined, then the command that runs decision mode.
	joined := strings.ReplaceAll(string(readme), "\\\n", " ")
	m := regexp.MustCompile(`(?m)^    go run \./(?:examples/gateway|cmd/jwtgate) (.*-decision .*)$`).FindStringSubmatch(joined)
	if m == nil {
		t.Fatal("README has no flag-mode decision command")
	}
	args := strings.Fields(m[1])
	cfg, _, err := ParseArgs(args, io.Discard)
	if err != nil {
		t.Fatalf("README's command %q: %v", args, err)
	}
	var answered []string
	for _, r := range cfg.Routes {
		for _, h := range r.ClaimHeaders {
			answered = append(answered, strings.ToLower(h))
		}
	}
	copied := map[string]*regexp.Regexp{
		"nginx.conf":  regexp.MustCompile(`proxy_set_header (X-Jwtgate-[A-Za-z-]+)`),
		"Caddyfile":   regexp.MustCompile(`(X-Jwtgate-[A-Za-z-]+)`),
		"traefik.yml": regexp.MustCompile(`- (X-Jwtgate-[A-Za-z-]+)`),
	}
	for name, re := range copied {
		b, err := os.ReadFile("../../../gateway/testdata/behind-proxy/" + name)
		if err != nil {
			t.Fatal(err)
		}
		found := re.FindAllSubmatch(b, -1)
		if len(found) == 0 {
			t.Fatalf("%s copies no X-Jwtgate- header: the pattern is stale", name)
		}
		for _, f := range found {
			if h := strings.ToLower(string(f[1])); !slices.Contains(answered, h) {
				t.Errorf("%s copies %s, which the README's flag-mode command does not answer with (it has %v)", name, f[1], answered)
			}
		}
	}
	static, err := os.ReadFile("../../../gateway/testdata/behind-proxy/traefik-static.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), string(static)) || !strings.Contains(string(static), "aliasHeadersStrategy: delete") {
		t.Error("README.md does not contain testdata/behind-proxy/traefik-static.yml verbatim, with aliasHeadersStrategy: delete")
	}
}
