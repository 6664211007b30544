package grpcauth_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/jwtgate/jwtgate/grpcauth"
	"github.com/jwtgate/jwtgate/internal/tokentest"
	"github.com/jwtgate/jwtgate/middleware"
)

func ExampleNew() {
	keys, _ := tokentest.New() // a generated key in a jwkset memory storage; use a *cache.Cache in production
	v, _ := middleware.New(middleware.Config{
		Keys: keys.Storage, Issuers: []string{tokentest.Issuer}, Audiences: []string{tokentest.Audience},
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

	tok, _ := keys.Sign(tokentest.Claims(time.Now(), nil))
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
