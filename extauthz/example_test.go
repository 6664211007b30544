package extauthz_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jwtgate/jwtgate/extauthz"
	"github.com/jwtgate/jwtgate/jwtgatetest"
	"github.com/jwtgate/jwtgate/middleware"
)

func ExampleNew() {
	// A test issuer without a server; use a *cache.Cache of your provider in production.
	idp, _ := jwtgatetest.Start(jwtgatetest.IssuerOptions{Algorithms: []string{"ES256"}, URL: "https://idp.example"})
	defer idp.Close()
	keys, _ := idp.Storage()
	v, _ := middleware.New(middleware.Config{
		Keys: keys, Issuers: []string{idp.Issuer()}, Audiences: []string{"api"},
		Logger: slog.New(slog.DiscardHandler),
	})
	authz, err := extauthz.New(extauthz.Config{
		Verifier:     v,
		Routes:       map[string]middleware.Route{"/admin": {Scopes: []string{"admin"}}},
		ClaimHeaders: map[string]string{"sub": "x-user"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := grpc.NewServer()
	authz.Register(srv)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, _ := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn) // what Envoy's ext_authz filter does

	tok, _ := idp.Sign(jwtgatetest.Claims{Subject: "user-1", Audience: "api", Scopes: []string{"read"}}, jwtgatetest.MintOptions{})
	for _, path := range []string{"/items", "/public/../admin"} {
		resp, _ := client.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Host: "api.example", Path: path,
				Headers: map[string]string{"authorization": "Bearer " + tok, "x-user": "root"},
			}},
		}})
		if ok := resp.GetOkResponse(); ok != nil {
			h := ok.GetHeaders()[0].GetHeader()
			fmt.Println(path, "allowed:", h.GetKey(), "=", h.GetValue())
			continue
		}
		d := resp.GetDeniedResponse()
		fmt.Println(path, "denied:", d.GetStatus().GetCode(), d.GetBody())
	}
	// Output:
	// /items allowed: x-user = user-1
	// /public/../admin denied: Forbidden {"error":"insufficient_scope","error_description":"insufficient scope"}
}
