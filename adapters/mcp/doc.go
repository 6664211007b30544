// Package jwtmcp plugs jwtgate's Verifier into the MCP Go SDK
// (github.com/modelcontextprotocol/go-sdk). Require puts an MCP server
// behind the Verifier's whole verdict — the same answer as every other face
// of jwtgate: signature, iss, exp, aud bound to the resource URI, typ
// at+jwt, the route's scopes, DPoP or certificate binding, rate limit and
// budget, RFC 6750 answers with resource_metadata and scope on every 401 and
// 403 — and hands the verified claims to the SDK as its auth.TokenInfo:
//
//	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{iss}})
//	mcpv := v.With(middleware.Route{Resource: &middleware.Resource{URI: "https://mcp.example.com/mcp", AuthorizationServers: []string{iss}, AccessTokenOnly: true}})
//	mux.Handle("/mcp", jwtmcp.Middleware(mcpv, "tools:call")(mcp.NewStreamableHTTPHandler(getServer, nil)))
//	path, _ := mcpv.MetadataPath()
//	mux.Handle(path, mcpv.MetadataHandler()) // the RFC 9728 document the 401s point at
//
// Require is mcpv.Handler(WithTokenInfo(next)) with the scopes added; tool
// handlers read the verified claims from req.Extra.TokenInfo with Claims,
// and the SDK binds each session to TokenInfo.UserID (see UserID).
//
// # The SDK's own auth middleware
//
// For code already built around the SDK's auth package, TokenVerifier is an
// auth.TokenVerifier for auth.RequireBearerToken and Options fills
// auth.RequireBearerTokenOptions from the route's Resource. The SDK writes
// its own answers there: a 401 with a text body and a challenge with only
// resource_metadata and scope, 403 for the scopes given to Options, and
// err.Error() as the body of every rejection (which is why the errors
// TokenVerifier returns carry only fixed, client-safe text). Verify is what
// runs, so the route's audiences and Resource apply but not its rate limit,
// budget or binding; pass the scopes to Options.
//
// This is the one jwtgate package that links the MCP SDK; middleware and the
// other adapters do not (internal/depcheck checks it).
package jwtmcp
