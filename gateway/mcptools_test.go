package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// tokenTransport sends the token and remembers each answer's status and
// challenge.
type tokenTransport struct {
	token string
	mu    sync.Mutex
	seen  map[int][]string // status → a WWW-Authenticate
}

func (tt *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+tt.token)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		tt.mu.Lock()
		if tt.seen == nil {
			tt.seen = map[int][]string{}
		}
		tt.seen[resp.StatusCode] = resp.Header.Values("WWW-Authenticate")
		tt.mu.Unlock()
	}
	return resp, err
}

// routes[].resource.tools end to end: the go-sdk client through the
// gateway to a go-sdk server. A call of a tool the token lacks the scope
// for is refused with the MCP scope challenge and never reaches the
// server; a batch cannot hide one; a tool's policy applies.
func TestMCPToolRulesThroughTheGateway(t *testing.T) {
	p := gwtest.StartIDP(t, false)
	server := mcp.NewServer(&mcp.Implementation{Name: "tools", Version: "v0.0.1"}, nil)
	var mu sync.Mutex
	var called []string
	for _, name := range []string{"greet", "delete_repo", "deploy"} {
		mcp.AddTool(server, &mcp.Tool{Name: name}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
			mu.Lock()
			called = append(called, name)
			mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, struct{}{}, nil
		})
	}
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(up.Close)
	const uri = "https://mcp.example.com/mcp"
	cfg, err := ParseYAML([]byte("listen: 127.0.0.1:0\nissuer: " + p.Issuer() + "\nroutes:\n" +
		"  - prefix: /mcp\n    upstream: '" + up.URL + "'\n    resource:\n      uri: '" + uri + "'\n      tools:\n" +
		"        delete_repo: {scopes: [repo:admin]}\n" +
		"        deploy: {policy: 'claims.sub == \"release-bot\"'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, cfg, nil)
	g.waitReady(t)

	call := func(sub string, scopes []string, tool string) (error, *tokenTransport) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		tt := &tokenTransport{token: p.Mint(t, jwtgatetest.Claims{Subject: sub, Audience: uri, Scopes: scopes})}
		c := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "v0.0.1"}, nil)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.url + "/mcp", HTTPClient: &http.Client{Transport: tt}, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer cs.Close()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool})
		if err == nil && res.IsError {
			t.Fatalf("%s: tool error %+v", tool, res)
		}
		return err, tt
	}
	if err, _ := call("alice", []string{"tools"}, "greet"); err != nil {
		t.Fatalf("greet: %v", err)
	}
	err, tt := call("alice", []string{"tools"}, "delete_repo")
	if www := tt.seen[http.StatusForbidden]; err == nil || len(www) != 1 || !strings.Contains(www[0], `scope="repo:admin"`) ||
		!strings.Contains(www[0], `resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`) {
		t.Fatalf("delete_repo without the scope: %v, challenge %q", err, www)
	}
	if err, _ := call("alice", []string{"repo:admin"}, "delete_repo"); err != nil {
		t.Fatalf("delete_repo with the scope: %v", err)
	}
	if err, _ := call("alice", []string{"tools"}, "deploy"); err == nil {
		t.Fatal("deploy by alice passed the tool's policy")
	}
	if err, _ := call("release-bot", nil, "deploy"); err != nil {
		t.Fatalf("deploy by the bot: %v", err)
	}

	// A batch hiding a forbidden call behind an allowed one, raw.
	body := `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet"}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_repo"}}]`
	req, _ := http.NewRequest(http.MethodPost, g.url+"/mcp", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.Mint(t, jwtgatetest.Claims{Audience: uri}))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("batch: %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(called, []string{"greet", "delete_repo", "deploy"}) {
		t.Fatalf("the server ran %v", called)
	}
}
