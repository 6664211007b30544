package grpcauth_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/jwtgate/jwtgate/grpcauth"
	"github.com/jwtgate/jwtgate/internal/authtest"
	"github.com/jwtgate/jwtgate/middleware"
)

// BenchmarkUnary is one allowed call through the unary interceptor (token
// from metadata, request built, Authenticate, claims in context), beside
// Verifier.Verify of the same token: the difference is what the gRPC glue
// costs. Both hit the verified-token cache after the first iteration.
func BenchmarkUnary(b *testing.B) {
	idp := authtest.NewIssuer(b)
	tok := idp.Mint(b, authtest.Claims(nil))
	v := authtest.NewVerifier(b, idp, middleware.Config{})
	ic, err := grpcauth.New(grpcauth.Config{Verifier: v, Methods: map[string]middleware.Route{"/test.Who/Am": {Scopes: []string{"read"}}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
	info := &grpc.UnaryServerInfo{FullMethod: "/test.Who/Am"}
	handler := func(ctx context.Context, _ any) (any, error) {
		if _, ok := middleware.ClaimsFromContext(ctx); !ok {
			b.Fatal("no claims")
		}
		return nil, nil
	}
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UnaryServerInterceptor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ic.UnaryServerInterceptor(ctx, nil, info, handler); err != nil {
				b.Fatal(err)
			}
		}
	})
}
