package gateway

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's authorization example is a valid config as written.
func TestREADMEAuthorizationYAMLIsValid(t *testing.T) {
	readme, err := readDocs()
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
			_, err = cfg.Validate(env(nil))
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
	readme, err := readDocs()
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
			_, err = cfg.Validate(env(nil))
		}
		if err != nil {
			t.Errorf("README's tool rules block: %v", err)
		}
	}
	if !found {
		t.Fatal("README has no tool-rules YAML block")
	}
}

// readDocs is README.md and every page under docs/, together: the
// configs and commands the documentation shows, wherever they live.
func readDocs() ([]byte, error) {
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		return nil, err
	}
	all, err := os.ReadFile("../README.md")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		all = append(append(all, '\n'), b...)
	}
	return all, nil
}
