package depcheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// One name per idea: every package's configuration-error sentinel is
// ErrInvalidConfig (a former name may stay as a deprecated alias of it).
func TestOneConfigErrorName(t *testing.T) {
	def := regexp.MustCompile(`(?m)^\s*(?:var\s+)?(\w+)\s*=\s*errors\.New\("[^"]*invalid config`)
	found := 0
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "benchmarks" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range def.FindAllSubmatch(b, -1) {
			found++
			if string(m[1]) != "ErrInvalidConfig" {
				t.Errorf("%s: the configuration error is %s; call it ErrInvalidConfig", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 8 {
		t.Fatalf("found %d configuration-error sentinels: the pattern is stale", found)
	}
}
