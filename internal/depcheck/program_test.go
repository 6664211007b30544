package depcheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// programNames are what the gateway program exports (package cli) and the
// library must not: they moved out of package gateway with it.
var programNames = []string{"Main", "Run", "Env", "ServeEvent", "ParseArgs", "Flags", "ExitOK", "ExitFailed", "ExitUsage"}

// programImports are what only a program needs: flags, signals, the demo
// identity provider that mints tokens for anyone.
var programImports = []string{"flag", "os/signal", "github.com/jwtgate/jwtgate/internal/demo", "github.com/jwtgate/jwtgate/cmd/"}

// exportedAndImports parses dir's non-test files and returns its exported
// top-level names and the import paths of those files.
func exportedAndImports(t *testing.T, dir string) (names, imports []string) {
	t.Helper()
	files, err := filepath.Glob(dir + "/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources in %s: %v", dir, err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			imports = append(imports, p)
		}
		for _, d := range f.Decls {
			names = append(names, declNames(d)...)
		}
	}
	return names, imports
}

// declNames are the exported top-level names d declares (methods excluded).
func declNames(d ast.Decl) []string {
	var out []string
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv == nil && d.Name.IsExported() {
			out = append(out, d.Name.Name)
		}
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				if s.Name.IsExported() {
					out = append(out, s.Name.Name)
				}
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if n.IsExported() {
						out = append(out, n.Name)
					}
				}
			}
		}
	}
	return out
}

// Package gateway is the embeddable library: the program (flags, exit
// codes, signals, the demo) lives in cmd/jwtgate/cli, and none of it comes
// back: not its names, not its imports, not in what gateway links.
func TestGatewayIsALibrary(t *testing.T) {
	names, imports := exportedAndImports(t, "../../gateway")
	if !slices.Contains(names, "New") || !slices.Contains(names, "LoadFile") || !slices.Contains(imports, "net/http") {
		t.Fatalf("gateway exports %v and imports %v: the scan is stale", names, imports)
	}
	for _, n := range programNames {
		if slices.Contains(names, n) {
			t.Errorf("package gateway exports %s, which is the program's (cmd/jwtgate/cli)", n)
		}
	}
	for _, imp := range imports {
		for _, banned := range programImports {
			if imp == banned || strings.HasSuffix(banned, "/") && strings.HasPrefix(imp, banned) {
				t.Errorf("package gateway imports %s, which only the program may", imp)
			}
		}
	}
	for _, pkg := range deps(t, "../../gateway") {
		if pkg == "github.com/jwtgate/jwtgate/internal/demo" || strings.HasPrefix(pkg, "github.com/jwtgate/jwtgate/cmd/") {
			t.Errorf("package gateway links %s", pkg)
		}
	}
}

// The checks above can fail: the program's package is seen to export those
// names, to import flag, signals and the demo, and to link the demo.
func TestProgramCheckSeesTheProgram(t *testing.T) {
	names, imports := exportedAndImports(t, "../../cmd/jwtgate/cli")
	for _, n := range programNames {
		if !slices.Contains(names, n) {
			t.Errorf("cmd/jwtgate/cli does not export %s: programNames is stale", n)
		}
	}
	for _, want := range programImports[:3] {
		if !slices.Contains(imports, want) {
			t.Errorf("cmd/jwtgate/cli does not import %s: programImports is stale", want)
		}
	}
	if !slices.Contains(deps(t, "../../cmd/jwtgate"), "github.com/jwtgate/jwtgate/internal/demo") {
		t.Error("cmd/jwtgate does not link internal/demo: the deps check cannot see it")
	}
}
