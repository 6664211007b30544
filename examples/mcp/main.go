// Command mcp shows jwtgate in front of an MCP server built with the MCP Go
// SDK: the server's one tool is served at /mcp, a protected resource (RFC
// 9728) that accepts only access tokens (typ at+jwt) issued for it, and its
// metadata document is served at the well-known URL every 401 points to.
//
//	go run ./examples/mcp                                  # with an embedded demo identity provider
//	go run ./examples/mcp -sdk                             # the SDK's own auth middleware (jwtmcp.TokenVerifier) instead of jwtmcp.Middleware
//	go run ./examples/mcp -issuer https://idp.example.com -resource https://mcp.example.com/mcp
//
// It prints curl lines to try. Ctrl-C stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	jwtmcp "github.com/jwtgate/jwtgate/adapters/mcp"
	"github.com/jwtgate/jwtgate/cache"
	"github.com/jwtgate/jwtgate/internal/demo"
	"github.com/jwtgate/jwtgate/internal/serve"
	"github.com/jwtgate/jwtgate/middleware"
)

type greetIn struct {
	Name string `json:"name" jsonschema:"who to greet"`
}

type greetOut struct {
	Greeting string `json:"greeting"`
}

func main() {
	issuer := flag.String("issuer", "", "OIDC issuer whose tokens to accept (default: an embedded demo provider)")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	resource := flag.String("resource", "", "the resource URI clients use, the aud tokens must carry (default: http://<listen address>/mcp)")
	sdk := flag.Bool("sdk", false, "verify with the SDK's own auth.RequireBearerToken and jwtmcp.TokenVerifier instead of jwtmcp.Require")
	flag.Parse()
	if err := run(*issuer, *listen, *resource, *sdk); err != nil {
		log.Fatal(err)
	}
}

func run(issuer, listen, resource string, sdk bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var idp *demo.Local
	if issuer == "" {
		var err error
		if idp, err = demo.StartLocal(demo.ProviderConfig{}); err != nil {
			return err
		}
		defer idp.Close()
		issuer = idp.Issuer()
	}
	keys, err := cache.New(ctx, cache.Config{Issuer: issuer})
	if err != nil {
		return err
	}
	defer keys.Close()
	// Listen first: the resource URI (and so the audience) names the port.
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	defer ln.Close() // after Until has closed it, a no-op
	if resource == "" {
		resource = "http://" + ln.Addr().String() + "/mcp"
	}
	v, err := middleware.New(middleware.Config{Keys: keys, Issuers: []string{issuer}, Audiences: []string{resource}})
	if err != nil {
		return err
	}
	mcpv := v.With(middleware.Route{Resource: &middleware.Resource{
		URI:                  resource,
		AuthorizationServers: []string{issuer},
		ScopesSupported:      []string{"tools"},
		Name:                 "jwtgate example MCP server",
		AccessTokenOnly:      true,
	}})
	metaPath, ok := mcpv.MetadataPath()
	if !ok {
		// With refused the Resource (it logged why); every request would be 500.
		return fmt.Errorf("resource %q refused", resource)
	}

	server := mcp.NewServer(&mcp.Implementation{Name: "jwtgate-example", Version: "v1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "greet", Description: "greets someone, signed by the caller"}, func(_ context.Context, req *mcp.CallToolRequest, in greetIn) (*mcp.CallToolResult, greetOut, error) {
		who := "someone"
		if c, ok := jwtmcp.Claims(req.Extra.TokenInfo); ok {
			who = c.Subject
		}
		return nil, greetOut{Greeting: fmt.Sprintf("hello %s, from %s", in.Name, who)}, nil
	})
	// Stateless with JSON answers, so a single curl can call the tool.
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})

	mux := http.NewServeMux()
	mux.Handle(metaPath, mcpv.MetadataHandler())
	if sdk {
		mux.Handle("/mcp", auth.RequireBearerToken(jwtmcp.TokenVerifier(mcpv), jwtmcp.Options(mcpv))(mcpHandler))
	} else {
		mux.Handle("/mcp", jwtmcp.Middleware(mcpv)(mcpHandler))
	}

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := keys.WaitReady(wctx); err != nil {
		log.Printf("keys not loaded yet (requests get 503 until they are): %v", err)
	}
	cancel()
	metaURL, _ := mcpv.MetadataURL()
	printTry(idp, resource, metaURL)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return serve.Until(ctx, srv, ln, 10*time.Second, nil)
}

func printTry(idp *demo.Local, resource, metaURL string) {
	fmt.Printf("MCP server at %s\n", resource)
	fmt.Printf("\nmetadata document:\n  curl %s\n", metaURL)
	fmt.Printf("\n401 pointing at it:\n  curl -i -X POST %s\n", resource)
	if idp == nil {
		return
	}
	tok, err := idp.Mint(demo.Token{Subject: "alice", Audience: []string{resource}, Scope: "tools", Type: "at+jwt"})
	if err != nil {
		log.Printf("mint: %v", err)
		return
	}
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"bob"}}}`
	fmt.Printf("\ncall the tool:\n  curl -H \"Authorization: Bearer %s\" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '%s' %s\n", tok, call, resource)
	fmt.Printf("\n(MCP clients: endpoint %s, the token above)\n", resource)
}
