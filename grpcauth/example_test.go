package grpcauth_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/jwtgate/jwtgate/grpcauth"
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
	ic, err := grpcauth.New(grpcauth.Config{
		Verifier: v,
		Methods:  map[string]middleware.Route{"/grpc.health.v1.Health/Watch": {Scopes: []string{"ops"}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := grpc.NewServer(ic.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, _ := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	ctx := context.Background()

	var trailer metadata.MD
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
	fmt.Println(status.Code(err), trailer.Get("www-authenticate"))

	tok, _ := idp.Sign(jwtgatetest.Claims{Subject: "user-1", Audience: "api"}, jwtgatetest.MintOptions{})
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)
	// Output:
	// Unauthenticated [Bearer realm="jwtgate"]
	// SERVING <nil>
}

func ExampleCode() {
	fmt.Println(grpcauth.Code(middleware.ErrTokenExpired))
	fmt.Println(grpcauth.Code(middleware.ErrInsufficientScope))
	fmt.Println(grpcauth.Code(middleware.ErrKeysUnavailable))
	// Output:
	// Unauthenticated
	// PermissionDenied
	// Unavailable
}
