package jwtmcp_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	jwtmcp "github.com/jwtgate/jwtgate/adapters/mcp"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

// Tool rules end to end with the go-sdk client and server: tools/list
// offers only what the token may call (FilterTools), and a call of a tool
// the token lacks the scope for is refused with the MCP scope challenge
// (403 insufficient_scope, the tool's scope, resource_metadata) before the
// SDK runs it.
func TestE2EToolRules(t *testing.T) {
	for _, mount := range []string{"require", "handler"} {
		t.Run(mount, func(t *testing.T) {
			idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
			v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			resource := srv.URL + "/mcp"
			rv := v.With(middleware.Route{Resource: &middleware.Resource{
				URI: resource, AuthorizationServers: []string{idp.Issuer()},
				Tools: map[string]middleware.ToolRule{"whoami": {Scopes: []string{"admin"}}},
			}})
			server := newMCPServer()
			server.AddReceivingMiddleware(jwtmcp.FilterTools(rv))
			mux.Handle("/mcp", mounts[mount](rv, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))

			for _, tc := range []struct {
				scopes []string
				tools  []string
			}{
				{[]string{"tools"}, []string{"greet"}},
				{[]string{"tools", "admin"}, []string{"greet", "whoami"}},
			} {
				ctx := testCtx(t)
				tok := idp.MintWith(t, jwtgatetest.Claims{Subject: "alice", Audience: resource, Scopes: tc.scopes}, jwtgatetest.MintOptions{Type: "at+jwt"})
				rt := &recorder{token: tok}
				cs, err := connect(ctx, resource, &http.Client{Transport: rt}, nil)
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				list, err := cs.ListTools(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, tool := range list.Tools {
					names = append(names, tool.Name)
				}
				slices.Sort(names)
				if !slices.Equal(names, tc.tools) {
					t.Errorf("scopes %v: tools/list offers %v, want %v", tc.scopes, names, tc.tools)
				}
				if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "bob"}}); err != nil || res.IsError {
					t.Errorf("scopes %v: greet: %v", tc.scopes, err)
				}
				// Last: the SDK's client ends the session on a 403.
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
				allowed := slices.Contains(tc.scopes, "admin")
				switch {
				case allowed && (err != nil || res.IsError):
					t.Errorf("scopes %v: whoami: %v %+v", tc.scopes, err, res)
				case !allowed && err == nil:
					t.Errorf("scopes %v: whoami was called: %+v", tc.scopes, res)
				case !allowed:
					last := rt.firstWith(t, http.StatusForbidden)
					if last.status != http.StatusForbidden || len(last.www) != 1 ||
						!strings.Contains(last.www[0], `error="insufficient_scope"`) || !strings.Contains(last.www[0], `scope="admin"`) ||
						!strings.Contains(last.www[0], `resource_metadata=`) {
						t.Errorf("scopes %v: whoami refused with %d %q", tc.scopes, last.status, last.www)
					}
				}
				cs.Close()
			}
		})
	}
}

// firstWith returns the first response seen with status.
func (r *recorder) firstWith(t *testing.T, status int) seenResponse {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.seen {
		if s.status == status {
			return s
		}
	}
	t.Fatalf("no %d among %+v", status, r.seen)
	return seenResponse{}
}
