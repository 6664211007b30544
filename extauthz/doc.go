// Package extauthz is Envoy's external authorization service
// (envoy.service.auth.v3.Authorization/Check, gRPC) over a jwtgate
// Verifier, for Envoy, Istio and other xDS proxies that call ext_authz.
//
// For each CheckRequest it rebuilds the HTTP request Envoy saw (method,
// host, path and query, headers; never the body), chooses the route by the
// path in its clean form (decoded once, dot segments and double slashes
// resolved; see Config.Routes) and runs the route's Verifier, which reads
// the request's view (DPoP's htm and htu) from the CheckRequest's scheme,
// host, method and path (forwarded.Describe): an https request needs an
// https proof, and forwarded headers inside the CheckRequest never count.
// A scheme other than http or https, or an unusable host, is 400. Allowed: an
// OkHttpResponse that sets every configured claim header (empty when the
// token lacks the claim), removes a client's copies and adds the
// RateLimit-* response headers. Denied: a DeniedHttpResponse with the same
// status, WWW-Authenticate, Retry-After and JSON body the middleware writes
// over HTTP, and a non-OK status (PermissionDenied; Unavailable in a 503 for
// keys that cannot be loaded, which is never an allow).
//
// The package lives apart from middleware so that grpc and go-control-plane
// stay out of what a plain middleware user links. Envoy's HTTP (non-gRPC)
// ext_authz mode is the gateway's decision mode, not this package.
//
// Quick start:
//
//	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{iss}, Audiences: []string{"api"}})
//	authz, err := extauthz.New(extauthz.Config{
//		Verifier:     v,
//		Routes:       map[string]middleware.Route{"/admin": {Scopes: []string{"admin"}}},
//		ClaimHeaders: map[string]string{"sub": "x-user", "email": "x-email"},
//	})
//	if err != nil { … }
//	srv := grpc.NewServer()
//	authz.Register(srv)
//	lis, _ := net.Listen("tcp", "127.0.0.1:9191") // Envoy's ext_authz grpc_service cluster
//	go srv.Serve(lis)
package extauthz
