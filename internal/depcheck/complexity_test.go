package depcheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// cyclomatic is gocyclo's count for one function: 1, plus one per if,
// for, range, case, comm clause, && and ||.
func cyclomatic(fn *ast.FuncDecl) int {
	n := 1
	ast.Inspect(fn, func(node ast.Node) bool {
		switch x := node.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			n++
		case *ast.CaseClause:
			if x.List != nil {
				n++
			}
		case *ast.CommClause:
			if x.Comm != nil {
				n++
			}
		case *ast.BinaryExpr:
			if x.Op == token.LAND || x.Op == token.LOR {
				n++
			}
		}
		return true
	})
	return n
}

// The gateway grew by accretion once (one 176-line function at complexity
// 61); no function in it or in its program (cmd/jwtgate/cli), tests
// included, is above 20 again.
func TestGatewayComplexity(t *testing.T) {
	var files []string
	for _, dir := range []string{"../../gateway", "../../cmd/jwtgate/cli"} {
		found, err := filepath.Glob(dir + "/*.go")
		if err != nil || len(found) == 0 {
			t.Fatalf("no sources in %s: %v", dir, err)
		}
		files = append(files, found...)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			checked++
			if c := cyclomatic(fn); c > 20 {
				t.Errorf("%s: %s has cyclomatic complexity %d (over 20): split it", strings.TrimPrefix(f, "../../"), fn.Name.Name, c)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("checked %d functions: the glob is stale", checked)
	}
}
