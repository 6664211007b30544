package gateway

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var updateRef = flag.Bool("update-reference", false, "rewrite docs/configuration.md from the schema")

// schemaStruct is one YAML-tagged struct of the config schema.
type schemaStruct struct {
	name, doc string
	fields    []schemaField
}

type schemaField struct {
	key, goType, doc string
}

// readSchema reads every exported struct of the package's sources that
// has YAML keys, with the doc comments of the struct and its fields.
func readSchema(t *testing.T) map[string]schemaStruct {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	out := map[string]schemaStruct{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok || !ts.Name.IsExported() {
					continue
				}
				s := schemaStruct{name: ts.Name.Name, doc: oneParagraph(gd.Doc.Text())}
				for _, fld := range st.Fields.List {
					if fld.Tag == nil || len(fld.Names) == 0 {
						continue
					}
					key, _, _ := strings.Cut(reflect.StructTag(strings.Trim(fld.Tag.Value, "`")).Get("yaml"), ",")
					if key == "" || key == "-" {
						continue
					}
					for range fld.Names {
						s.fields = append(s.fields, schemaField{key: key, goType: exprString(fld.Type), doc: oneParagraph(fld.Doc.Text())})
					}
				}
				if len(s.fields) > 0 {
					out[s.name] = s
				}
			}
		}
	}
	return out
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.StarExpr:
		return exprString(x.X)
	case *ast.ArrayType:
		return "[]" + exprString(x.Elt)
	case *ast.MapType:
		return "map[" + exprString(x.Key) + "]" + exprString(x.Value)
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	}
	return "?"
}

// oneParagraph joins a doc comment's lines, for a table cell.
func oneParagraph(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// renderReference writes the reference: Config first, then every struct
// it reaches, each once, in the order first met.
func renderReference(schema map[string]schemaStruct) string {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Every key of the gateway's YAML config file (`-config FILE`), generated from the schema's own\n")
	b.WriteString("doc comments (`gateway/config.go` and the files beside it); `TestConfigurationReferenceIsCurrent`\n")
	b.WriteString("fails when the two disagree (`go test ./gateway -run TestConfigurationReferenceIsCurrent\n")
	b.WriteString("-update-reference` rewrites this page). Flags override the top-level keys: see docs/gateway.md.\n")
	seen := map[string]bool{}
	queue := []string{"Config"}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		s, ok := schema[name]
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		fmt.Fprintf(&b, "\n## %s\n\n", name)
		if s.doc != "" {
			b.WriteString(s.doc + "\n\n")
		}
		b.WriteString("| key | type | meaning |\n|---|---|---|\n")
		for _, f := range s.fields {
			typ := f.goType
			for _, part := range strings.FieldsFunc(typ, func(r rune) bool { return r == '[' || r == ']' }) {
				if _, nested := schema[part]; nested && !seen[part] && !slices.Contains(queue, part) {
					queue = append(queue, part)
				}
				if _, nested := schema[part]; nested {
					typ = strings.Replace(typ, part, "["+part+"](#"+strings.ToLower(part)+")", 1)
				}
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.key, typ, f.doc)
		}
	}
	return b.String()
}

// The configuration reference is generated from the schema, and current.
func TestConfigurationReferenceIsCurrent(t *testing.T) {
	schema := readSchema(t)
	for _, want := range []string{"Config", "Route", "Provider", "Resource", "RouteBudget", "DPoP"} {
		if _, ok := schema[want]; !ok {
			t.Fatalf("the schema reader found no %s: it is stale", want)
		}
	}
	got := renderReference(schema)
	const path = "../docs/configuration.md"
	if *updateRef {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(have) != got {
		t.Fatalf("%s is not what the schema says: run go test ./gateway -run TestConfigurationReferenceIsCurrent -update-reference", path)
	}
	// Every key of every reachable struct is in it.
	for _, s := range schema {
		for _, f := range s.fields {
			if !strings.Contains(got, "| `"+f.key+"` |") {
				t.Errorf("%s.%s (%s) is missing from the reference", s.name, f.key, f.key)
			}
		}
	}
}
