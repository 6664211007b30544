package depcheck

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/middleware"
)

// Every field of middleware.Config has a row in docs/middleware.md's
// configuration table.
func TestEveryConfigFieldDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/middleware.md")
	if err != nil {
		t.Fatal(err)
	}
	rt := reflect.TypeFor[middleware.Config]()
	for i := range rt.NumField() {
		if name := rt.Field(i).Name; !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("middleware.Config.%s is not documented in docs/middleware.md", name)
		}
	}
}
