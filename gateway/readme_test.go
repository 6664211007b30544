package gateway

import (
	"regexp"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/internal/gwtest"
)

// The README's authorization example is a valid config as written.
func TestREADMEAuthorizationYAMLIsValid(t *testing.T) {
	readme, err := gwtest.ReadDocs()
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1)
	found := false
	for _, b := range blocks {
		if !strings.Contains(string(b[1]), "policy:") || !strings.Contains(string(b[1]), "acr_values:") {
			continue
		}
		found = true
		cfg, err := ParseYAML(b[1])
		if err == nil {
			_, err = cfg.Validate(gwtest.Env(nil))
		}
		if err != nil {
			t.Errorf("README's authorization block: %v\n%s", err, b[1])
		}
	}
	if !found {
		t.Fatal("README has no YAML block with policy: and acr_values:")
	}
}

// The README's MCP tool-rules example is a valid config as written.
func TestREADMEToolRulesYAMLIsValid(t *testing.T) {
	readme, err := gwtest.ReadDocs()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1) {
		if !strings.Contains(string(b[1]), "tools:") || !strings.Contains(string(b[1]), "delete_repo") {
			continue
		}
		found = true
		cfg, err := ParseYAML(b[1])
		if err == nil {
			_, err = cfg.Validate(gwtest.Env(nil))
		}
		if err != nil {
			t.Errorf("README's tool rules block: %v", err)
		}
	}
	if !found {
		t.Fatal("README has no tool-rules YAML block")
	}
}
