package gateway

import (
	"regexp"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
)

// Every gateway config in the documentation runs as written: each YAML
// block of README.md and docs/ that is a gateway config (it has a top-level
// routes: key) parses and validates, with any environment variable it
// names (env:, *_env:) set and any TLS, key or secret file it names
// present.
func TestEveryDocumentedConfigValidates(t *testing.T) {
	docs, err := gwtest.ReadDocs()
	if err != nil {
		t.Fatal(err)
	}
	makeDocumentedTLSFiles(t, docs) // and changes to a temporary directory
	makeDocumentedKeyFiles(t, docs)
	envRef := regexp.MustCompile(`(?m)(?:env|_env):\s*([A-Z][A-Z0-9_]*)`)
	n := 0
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(docs, -1) {
		block := string(m[1])
		if !regexp.MustCompile(`(?m)^routes:`).MatchString(block) {
			continue // another program's config (Traefik, Envoy), or a fragment
		}
		n++
		vars := map[string]string{}
		for _, v := range envRef.FindAllStringSubmatch(block, -1) {
			vars[v[1]] = strings.Repeat("x", 48) // long enough for a nonce secret
		}
		cfg, err := ParseYAML([]byte(block))
		if err == nil {
			_, err = cfg.Validate(gwtest.Env(vars))
		}
		if err != nil {
			first, _, _ := strings.Cut(strings.TrimSpace(block), "\n")
			t.Errorf("the documented config starting %q: %v", first, err)
		}
	}
	if n < 5 {
		t.Fatalf("found %d gateway configs in the docs: the pattern is stale", n)
	}
}
