// Package grpcauth puts a jwtgate Verifier in front of a gRPC server as
// unary and stream server interceptors.
//
// The token comes from the "authorization" metadata ("Bearer <token>"); two
// values are refused as an invalid request, as two Authorization headers
// are over HTTP. Each call is checked by the Verifier's own Authenticate, so
// scopes, the verified-token cache and the rate limit apply exactly as they
// do over HTTP, and its rejection is mapped through middleware.Status (see
// Code): Unauthenticated with the RFC 6750 challenge in the trailer
// "www-authenticate", PermissionDenied, ResourceExhausted with
// "retry-after" and "ratelimit-*", Unavailable, InvalidArgument. Status
// messages are the fixed descriptions the HTTP answer uses; they never
// contain the token.
//
// The package lives apart from middleware so that grpc stays out of what a
// plain middleware user links.
//
// Quick start:
//
//	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{iss}, Audiences: []string{"orders"}})
//	ic, err := grpcauth.New(grpcauth.Config{
//		Verifier: v,
//		Methods: map[string]middleware.Route{
//			"/shop.Orders/Cancel": {Scopes: []string{"orders:write"}},
//			"/shop.Admin/":        {Scopes: []string{"admin"}}, // the whole service
//		},
//		Skip: func(m string) bool { return strings.HasPrefix(m, "/grpc.health.v1.Health/") },
//	})
//	if err != nil { … }
//	srv := grpc.NewServer(ic.ServerOptions()...)
//
//	// in a handler
//	c, ok := middleware.ClaimsFromContext(ctx)
package grpcauth
