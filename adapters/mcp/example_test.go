package jwtmcp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	jwtmcp "github.com/jwtgate/jwtgate/adapters/mcp"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

type bearerTransport string

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

func ExampleMiddleware() {
	idp, _ := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, Type: "at+jwt"}) // a stand-in IdP on loopback
	defer idp.Close()
	keys, _ := idp.Storage()
	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{idp.Issuer()}})

	server := mcp.NewServer(&mcp.Implementation{Name: "example", Version: "v1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		c, _ := jwtmcp.Claims(req.Extra.TokenInfo)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "you are " + c.Subject}}}, nil, nil
	})

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	// The three lines: a route for the resource, its metadata document,
	// and the SDK handler behind Middleware.
	mcpv := v.With(middleware.Route{Resource: &middleware.Resource{URI: srv.URL + "/mcp", AuthorizationServers: []string{idp.Issuer()}, AccessTokenOnly: true}})
	path, _ := mcpv.MetadataPath()
	mux.Handle(path, mcpv.MetadataHandler())
	mux.Handle("/mcp", jwtmcp.Middleware(mcpv)(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))

	resp, _ := http.Post(srv.URL+"/mcp", "application/json", nil)
	resp.Body.Close()
	fmt.Println("without a token:", resp.StatusCode)

	tok, _ := idp.Sign(jwtgatetest.Claims{Subject: "alice", Audience: srv.URL + "/mcp"}, jwtgatetest.MintOptions{})
	client := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "v1"}, nil)
	cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp", HTTPClient: &http.Client{Transport: bearerTransport(tok)}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cs.Close()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	// Output:
	// without a token: 401
	// you are alice
}
