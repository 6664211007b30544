package depcheck

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// testSupport are the internal packages only tests may import: fixtures
// that start servers, mint tokens or record failures have no place in a
// program.
var testSupport = []string{
	"github.com/jwtgate/jwtgate/internal/gwtest",
	"github.com/jwtgate/jwtgate/internal/authtest",
	"github.com/jwtgate/jwtgate/internal/adaptertest",
	"github.com/jwtgate/jwtgate/internal/proxytest",
	"github.com/jwtgate/jwtgate/internal/tbrecord",
	"github.com/jwtgate/jwtgate/internal/redistest",
}

// imports maps every package of the module to what its non-test files
// import (field "Imports") or its _test files do ("TestImports" and
// "XTestImports").
func imports(t *testing.T, fields ...string) map[string][]string {
	t.Helper()
	format := "{{.ImportPath}}"
	for _, f := range fields {
		format += "{{range ." + f + "}} {{.}}{{end}}"
	}
	out, err := exec.Command("go", "list", "-f", format, "../../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	m := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 0 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

func TestTestSupportOnlyInTests(t *testing.T) {
	for pkg, imps := range imports(t, "Imports") {
		for _, imp := range imps {
			if slices.Contains(testSupport, imp) {
				t.Errorf("%s imports %s outside its _test files", pkg, imp)
			}
		}
	}
	// The check can fail: the gateway's and its program's tests are seen
	// to import the shared fixture, and every package listed exists.
	tests := imports(t, "TestImports", "XTestImports")
	for _, pkg := range []string{"github.com/jwtgate/jwtgate/gateway", "github.com/jwtgate/jwtgate/cmd/jwtgate/cli"} {
		if !slices.Contains(tests[pkg], "github.com/jwtgate/jwtgate/internal/gwtest") {
			t.Errorf("the tests of %s do not import internal/gwtest: the check would see nothing", pkg)
		}
	}
	for _, p := range testSupport {
		if _, ok := tests[p]; !ok {
			t.Errorf("%s is not a package of the module: testSupport is stale", p)
		}
	}
}
