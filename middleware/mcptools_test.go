package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// toolPolicy allows a call only for tools named in allow.
type toolPolicy struct{ allow string }

func (p toolPolicy) Allow(in PolicyRequest) error {
	if in.MCP.Tool != p.allow {
		return ErrPolicyDenied
	}
	return nil
}

// Tool rules (Resource.Tools) on an MCP route: every tools/call in the
// request, batch elements included, needs its tool's scopes and policy;
// the body reaches the server unchanged; what cannot be read is refused.
func TestMCPToolRules(t *testing.T) {
	k := keys(t)
	cfg := baseConfig(memKeys(t))
	cfg.Audiences = nil
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := mcpResource()
	res.Tools = map[string]ToolRule{
		"delete_repo": {Scopes: []string{"repo:admin"}},
		"github_*":    {Scopes: []string{"github"}},
		"github_pr":   {Scopes: []string{"github", "pr"}},
		"deploy":      {Policy: toolPolicy{allow: "nothing"}},
		"*":           {Scopes: []string{"tools"}},
	}
	var got []string
	h := v.With(Route{Resource: res}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, string(b))
	}))
	tok := func(scope string) string {
		return sign(t, jwt.SigningMethodES256, k.ec, "ec1", nil, with(goodClaims(), "aud", mcpURI, "scope", scope))
	}
	call := func(name string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + name + `","arguments":{"x":[1,{"y":2}]}}}`
	}
	post := func(token, body string) response {
		r := httptest.NewRequest(http.MethodPost, "http://api.test/mcp", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		return do(h, r)
	}
	meta := `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
	for _, tc := range []struct {
		name, scope, body string
		status            int
		www               string
	}{
		{"allowed tool", "tools", call("search"), 200, ""},
		{"tool needing a scope the token lacks", "tools", call("delete_repo"), 403, `scope="repo:admin"`},
		{"tool with its scope", "repo:admin", call("delete_repo"), 200, ""},
		{"prefix rule", "tools", call("github_issues"), 403, `scope="github"`},
		{"exact beats prefix", "github", call("github_pr"), 403, `scope="github pr"`},
		{"a name differing only in case is another tool", "repo:admin", call("DELETE_REPO"), 403, `scope="tools"`},
		{"policy on a tool", "tools repo:admin github pr", call("deploy"), 403, `error="access_denied"`},
		{"batch hiding a forbidden call behind an allowed one", "tools",
			"[" + call("search") + "," + call("delete_repo") + "]", 403, `scope="repo:admin"`},
		{"batch of allowed calls", "tools", "[" + call("search") + "," + `{"jsonrpc":"2.0","method":"notifications/initialized"}` + "]", 200, ""},
		{"other methods need no tool rule", "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 200, ""},
		{"params before method", "tools", `{"params":{"name":"delete_repo"},"method":"tools/call","id":1}`, 403, `scope="repo:admin"`},
		{"escaped member names decode as the server reads them", "tools", `{"method":"tools\/call","par\u0061ms":{"n\u0061me":"delete_repo"}}`, 403, `scope="repo:admin"`},
		{"method spelled in another case", "tools", `{"method":"tools/list","Method":"tools/call","params":{"name":"delete_repo"}}`, 400, `invalid_request`},
		{"name spelled in another case", "tools", `{"method":"tools/call","params":{"name":"search","Name":"delete_repo"}}`, 400, `invalid_request`},
		{"name twice", "tools", `{"method":"tools/call","params":{"name":"search","name":"delete_repo"}}`, 400, `invalid_request`},
		{"method twice", "tools", `{"method":"tools/list","method":"tools/call","params":{"name":"delete_repo"}}`, 400, `invalid_request`},
		{"tools/call without a name", "tools", `{"method":"tools/call","params":{}}`, 400, `invalid_request`},
		{"a name that is not a string", "tools", `{"method":"tools/call","params":{"name":["delete_repo"]}}`, 400, `invalid_request`},
		{"not JSON", "tools", `{"method":"tools/call",`, 400, `invalid_request`},
		{"trailing data", "tools", call("search") + call("delete_repo"), 400, `invalid_request`},
		{"invalid UTF-8", "tools", "{\"method\":\"tools/call\",\"params\":{\"name\":\"s\xffx\"}}", 400, `invalid_request`},
		{"empty body", "tools", "", 400, `invalid_request`},
		{"over the bound", "tools", `{"method":"tools/list","pad":"` + strings.Repeat("a", MaxMCPMessageSize) + `"}`, 400, `invalid_request`},
	} {
		got = nil
		r := post(tok(tc.scope), tc.body)
		switch {
		case r.status != tc.status || !strings.Contains(r.www+r.body, tc.www):
			t.Errorf("%s: %d %q %s", tc.name, r.status, r.www, r.body)
		case tc.status == 403 && strings.Contains(tc.www, "scope=") && !strings.Contains(r.www, meta):
			t.Errorf("%s: no resource_metadata in %q", tc.name, r.www)
		case tc.status == 200 && (len(got) != 1 || got[0] != tc.body):
			t.Errorf("%s: the server got %q", tc.name, got)
		case tc.status != 200 && len(got) != 0:
			t.Errorf("%s: refused, but the server ran", tc.name)
		}
	}
	// A GET (the SSE stream) carries no call.
	r := httptest.NewRequest(http.MethodGet, "http://api.test/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+tok(""))
	if got := do(h, r); got.status != 200 {
		t.Fatalf("GET: %d", got.status)
	}
	if v.With(Route{Resource: res}).ToolAllowed(nil, nil, "search") {
		t.Fatal("ToolAllowed without claims, for a tool with a rule")
	}
	for _, bad := range []map[string]ToolRule{{"": {}}, {"a*b": {}}, {"x": {Scopes: []string{"a b"}}}} {
		r := *mcpResource()
		r.Tools = bad
		if err := r.Validate(); err == nil {
			t.Errorf("Tools %v: no error", bad)
		}
	}
}

func FuzzParseMCP(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`,
		`[{"method":"tools/call","params":{"name":"a"}},{"method":"ping"}]`,
		`{"method":"tools/call","Method":"x"}`, `[]`, `{}`, `[1]`, `{"params":[1,{"a":[]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		calls, err := parseMCP(b)
		if err != nil {
			return
		}
		for _, c := range calls {
			if c.Method != "tools/call" && c.Tool != "" {
				t.Fatalf("a tool for %q", c.Method)
			}
		}
	})
}
