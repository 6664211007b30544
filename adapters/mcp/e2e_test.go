package jwtmcp_test

// End to end with real MCP software: a go-sdk server (two tools, streamable
// HTTP) behind jwtgate, and the go-sdk's own client, on loopback.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	jwtmcp "github.com/jwtgate/jwtgate/adapters/mcp"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type greetIn struct {
	Name string `json:"name"`
}

type greetOut struct {
	Greeting string `json:"greeting"`
}

type whoOut struct {
	Subject string `json:"subject"`
	UserID  string `json:"user_id"`
}

// newMCPServer is the MCP server under test: tools that report who called.
func newMCPServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "jwtgate-e2e", Version: "v0.0.1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "greet", Description: "greets name"}, func(_ context.Context, req *mcp.CallToolRequest, in greetIn) (*mcp.CallToolResult, greetOut, error) {
		return nil, greetOut{Greeting: "hello " + in.Name + " from " + subject(req)}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "the caller's identity"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoOut, error) {
		out := whoOut{Subject: subject(req)}
		if req.Extra != nil && req.Extra.TokenInfo != nil {
			out.UserID = req.Extra.TokenInfo.UserID
		}
		return nil, out, nil
	})
	return s
}

func subject(req *mcp.CallToolRequest) string {
	if req.Extra == nil {
		return "?"
	}
	c, ok := jwtmcp.Claims(req.Extra.TokenInfo)
	if !ok {
		return "?"
	}
	return c.Subject
}

// mounts are the three ways to put the MCP handler behind jwtgate.
var mounts = map[string]func(rv *middleware.Verifier, h http.Handler) http.Handler{
	// jwtgate's own middleware, the preferred way.
	"handler": func(rv *middleware.Verifier, h http.Handler) http.Handler {
		return rv.Handler(jwtmcp.WithTokenInfo(h))
	},
	// The SDK's middleware with jwtgate as its TokenVerifier.
	"sdk": func(rv *middleware.Verifier, h http.Handler) http.Handler {
		return auth.RequireBearerToken(jwtmcp.TokenVerifier(rv), jwtmcp.Options(rv))(h)
	},
	"require": func(rv *middleware.Verifier, h http.Handler) http.Handler {
		return jwtmcp.Middleware(rv)(h)
	},
}

type env struct {
	idp         *jwtgatetest.Issuer
	srv         *httptest.Server
	resource    string
	metadataURL string
}

func newEnv(t *testing.T, mount string) *env {
	t.Helper()
	idp := jwtgatetest.NewIssuer(t, jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}})
	v, err := middleware.New(middleware.Config{Keys: idp.Keys(t), Issuers: []string{idp.Issuer()}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{idp: idp, srv: srv, resource: srv.URL + "/mcp"}
	rv := v.With(middleware.Route{Resource: &middleware.Resource{
		URI: e.resource, AuthorizationServers: []string{idp.Issuer()}, ScopesSupported: []string{"tools"}, AccessTokenOnly: true,
	}})
	path, ok := rv.MetadataPath()
	if !ok {
		t.Fatal("route has no metadata path")
	}
	e.metadataURL, _ = rv.MetadataURL()
	mux.Handle(path, rv.MetadataHandler())
	mcpServer := newMCPServer()
	mux.Handle("/mcp", mounts[mount](rv, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpServer }, nil)))
	return e
}

// accessToken is a token minted for the resource: typ at+jwt, aud = URI.
func (e *env) accessToken(t *testing.T, sub string) string {
	return e.idp.MintWith(t, jwtgatetest.Claims{Subject: sub, Audience: e.resource, Scopes: []string{"tools"}}, jwtgatetest.MintOptions{Type: "at+jwt"})
}

// recorder adds the Authorization header (when it has a token) and keeps
// the status and challenge of every response.
type recorder struct {
	token string
	mu    sync.Mutex
	seen  []seenResponse // guarded by mu
}

type seenResponse struct {
	status int
	www    []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.token != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.seen = append(r.seen, seenResponse{resp.StatusCode, resp.Header.Values("WWW-Authenticate")})
		r.mu.Unlock()
	}
	return resp, err
}

func (r *recorder) first(t *testing.T) seenResponse {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) == 0 {
		t.Fatal("no response seen")
	}
	return r.seen[0]
}

func connect(ctx context.Context, endpoint string, hc *http.Client, oh auth.OAuthHandler) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "jwtgate-e2e-client", Version: "v0.0.1"}, nil)
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, OAuthHandler: oh, MaxRetries: -1}, nil)
}

func testCtx(t *testing.T) context.Context {
	// A bound on a hung test, not a wait: every step returns as soon as
	// the server answers.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestE2EToolsWithResourceToken(t *testing.T) {
	for mount := range mounts {
		t.Run(mount, func(t *testing.T) {
			e := newEnv(t, mount)
			ctx := testCtx(t)
			rt := &recorder{token: e.accessToken(t, "alice")}
			cs, err := connect(ctx, e.resource, &http.Client{Transport: rt}, nil)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer cs.Close()
			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"greet", "whoami"}) {
				t.Errorf("tools %v", names)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "bob"}})
			if err != nil || res.IsError {
				t.Fatalf("greet: %v %+v", err, res)
			}
			if got := toolText(res); !strings.Contains(got, "hello bob from alice") {
				t.Errorf("greet answered %s", got)
			}
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
			if err != nil || res.IsError {
				t.Fatalf("whoami: %v %+v", err, res)
			}
			if got, want := toolText(res), url.QueryEscape(e.idp.Issuer())+"#alice"; !strings.Contains(got, want) {
				t.Errorf("whoami answered %s, want user id %s", got, want)
			}
		})
	}
}

func toolText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// Without a token the client's connect fails with a 401 pointing at the
// metadata document, which names the IdP as authorization server.
func TestE2EDiscoveryFromThe401(t *testing.T) {
	for mount := range mounts {
		t.Run(mount, func(t *testing.T) {
			e := newEnv(t, mount)
			ctx := testCtx(t)
			rt := &recorder{}
			if cs, err := connect(ctx, e.resource, &http.Client{Transport: rt}, nil); err == nil {
				cs.Close()
				t.Fatal("connected without a token")
			}
			got := rt.first(t)
			if got.status != http.StatusUnauthorized {
				t.Fatalf("status %d", got.status)
			}
			metaURL := resourceMetadata(t, got.www)
			if metaURL != e.metadataURL {
				t.Errorf("resource_metadata %q, want %q", metaURL, e.metadataURL)
			}
			prm, err := oauthex.GetProtectedResourceMetadata(ctx, metaURL, e.resource, e.srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(prm.AuthorizationServers, []string{e.idp.Issuer()}) {
				t.Errorf("authorization_servers %v, want the IdP %s", prm.AuthorizationServers, e.idp.Issuer())
			}
		})
	}
}

func resourceMetadata(t *testing.T, www []string) string {
	t.Helper()
	chs, err := oauthex.ParseWWWAuthenticate(www)
	if err != nil {
		t.Fatalf("WWW-Authenticate %q: %v", www, err)
	}
	for _, ch := range chs {
		if ch.Scheme == "bearer" && ch.Params["resource_metadata"] != "" {
			return ch.Params["resource_metadata"]
		}
	}
	t.Fatalf("no resource_metadata in %q", www)
	return ""
}

// discovering is an auth.OAuthHandler, the SDK client's hook for OAuth: on
// the 401 it follows resource_metadata to the metadata document, checks the
// authorization server, and "obtains" a token for the resource from it (the
// test IdP mints it: the authorization-code flow itself is not jwtgate's).
type discovering struct {
	t     *testing.T
	idp   *jwtgatetest.Issuer
	hc    *http.Client
	mu    sync.Mutex
	token string // guarded by mu
}

func (d *discovering) TokenSource(context.Context) (oauth2.TokenSource, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.token == "" {
		return nil, nil
	}
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: d.token, TokenType: "Bearer"}), nil
}

func (d *discovering) Authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	resp.Body.Close()
	chs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return err
	}
	var metaURL string
	for _, ch := range chs {
		metaURL = cmpOr(metaURL, ch.Params["resource_metadata"])
	}
	prm, err := oauthex.GetProtectedResourceMetadata(ctx, metaURL, req.URL.String(), d.hc)
	if err != nil {
		return err
	}
	if len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != d.idp.Issuer() {
		return errors.New("unexpected authorization servers")
	}
	tok, err := d.idp.Sign(jwtgatetest.Claims{Subject: "carol", Audience: prm.Resource, Scopes: prm.ScopesSupported}, jwtgatetest.MintOptions{Type: "at+jwt"})
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.token = tok
	d.mu.Unlock()
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// The SDK client's own OAuth hook goes from the 401 to a working session.
func TestE2EClientOAuthHandlerDiscovers(t *testing.T) {
	for mount := range mounts {
		t.Run(mount, func(t *testing.T) {
			e := newEnv(t, mount)
			ctx := testCtx(t)
			d := &discovering{t: t, idp: e.idp, hc: e.srv.Client()}
			rt := &recorder{}
			cs, err := connect(ctx, e.resource, &http.Client{Transport: rt}, d)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer cs.Close()
			if got := rt.first(t); got.status != http.StatusUnauthorized {
				t.Errorf("first answer %d, want the 401 that starts discovery", got.status)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "dan"}})
			if err != nil || res.IsError || !strings.Contains(toolText(res), "from carol") {
				t.Fatalf("greet: %v %s", err, toolText(res))
			}
		})
	}
}

func TestE2ERefused(t *testing.T) {
	for mount := range mounts {
		t.Run(mount, func(t *testing.T) {
			e := newEnv(t, mount)
			good := e.accessToken(t, "alice")
			for _, c := range []struct {
				name     string
				token    string // in the Authorization header
				query    string // appended to the endpoint
				status   int
				wantCode string // RFC 6750 error code, jwtgate's own answers only
			}{
				{name: "token for another resource", status: 401, wantCode: "invalid_token",
					token: e.idp.MintWith(t, jwtgatetest.Claims{Subject: "alice", Audience: e.srv.URL + "/other"}, jwtgatetest.MintOptions{Type: "at+jwt"})},
				{name: "resource URI with a trailing slash", status: 401, wantCode: "invalid_token",
					token: e.idp.MintWith(t, jwtgatetest.Claims{Subject: "alice", Audience: e.resource + "/"}, jwtgatetest.MintOptions{Type: "at+jwt"})},
				{name: "ID token (typ JWT)", status: 401, wantCode: "invalid_token",
					token: e.idp.MintWith(t, jwtgatetest.Claims{Subject: "alice", Audience: e.resource}, jwtgatetest.MintOptions{Type: "JWT"})},
				{name: "expired", status: 401, wantCode: "invalid_token", token: e.idp.Bad(t, jwtgatetest.Expired)},
				{name: "query token beside the header", status: 400, wantCode: "invalid_request", token: good, query: "?access_token=" + good},
				{name: "query token only", status: map[string]int{"sdk": 401}[mount], wantCode: "invalid_request", query: "?access_token=" + good},
			} {
				if c.status == 0 {
					c.status = 400
				}
				t.Run(c.name, func(t *testing.T) {
					ctx := testCtx(t)
					rt := &recorder{token: c.token}
					if cs, err := connect(ctx, e.resource+c.query, &http.Client{Transport: rt}, nil); err == nil {
						cs.Close()
						t.Fatal("connected")
					}
					got := rt.first(t)
					if got.status != c.status {
						t.Fatalf("status %d, want %d (%q)", got.status, c.status, got.www)
					}
					if c.status == 401 && resourceMetadata(t, got.www) != e.metadataURL {
						t.Errorf("401 without this resource's metadata URL: %q", got.www)
					}
					// jwtgate writes RFC 6750 codes; the SDK's own 401 has none.
					if mount != "sdk" && !(mount == "require" && c.status == 401) {
						if !strings.Contains(strings.Join(got.www, ","), `error="`+c.wantCode+`"`) {
							t.Errorf("WWW-Authenticate %q lacks error=%q", got.www, c.wantCode)
						}
					}
				})
			}
		})
	}
}

// The SDK binds a session to the UserID that opened it; jwtgate's UserID
// keeps that working behind both jwtgate's Handler (through WithTokenInfo)
// and the SDK's middleware.
func TestE2ESessionBoundToUser(t *testing.T) {
	for mount := range mounts {
		t.Run(mount, func(t *testing.T) {
			e := newEnv(t, mount)
			ctx := testCtx(t)
			cs, err := connect(ctx, e.resource, &http.Client{Transport: &recorder{token: e.accessToken(t, "alice")}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if cs.ID() == "" {
				// A pass without a session would prove nothing.
				t.Fatal("the negotiated protocol has no session id: the binding cannot be tested")
			}
			for sub, want := range map[string]int{"mallory": http.StatusForbidden, "alice": http.StatusOK} {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.resource, strings.NewReader(`{"jsonrpc":"2.0","id":99,"method":"tools/list"}`))
				req.Header.Set("Authorization", "Bearer "+e.accessToken(t, sub))
				req.Header.Set("Mcp-Session-Id", cs.ID())
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("%s on alice's session: %d, want %d", sub, resp.StatusCode, want)
				}
			}
		})
	}
}
