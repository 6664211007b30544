// Package jwtmcp plugs jwtgate's Verifier into the MCP Go SDK
// (github.com/modelcontextprotocol/go-sdk): TokenVerifier is an
// auth.TokenVerifier for auth.RequireBearerToken, Options fills
// auth.RequireBearerTokenOptions from the route's Resource, and Require is
// the two together. An SDK user gets real verification (signature, iss,
// exp, aud bound to the resource URI, typ at+jwt) in three lines:
//
//	v, _ := middleware.New(middleware.Config{Keys: keys, Issuers: []string{iss}})
//	mcpv := v.With(middleware.Route{Resource: &middleware.Resource{URI: "https://mcp.example.com/mcp", AuthorizationServers: []string{iss}, AccessTokenOnly: true}})
//	mux.Handle("/mcp", jwtmcp.Require(mcpv, "tools:call")(mcp.NewStreamableHTTPHandler(getServer, nil)))
//	path, _ := mcpv.MetadataPath()
//	mux.Handle(path, mcpv.MetadataHandler()) // the RFC 9728 document the 401s point at
//
// Tool handlers read the verified claims from req.Extra.TokenInfo with
// Claims, and the SDK binds each session to TokenInfo.UserID (see UserID).
//
// # Prefer jwtgate's own middleware
//
// Mounting the MCP handler behind v.Handler (with v.MetadataHandler() at
// v.MetadataPath()) gives the full behaviour: RFC 6750 error codes and
// descriptions in WWW-Authenticate, resource_metadata and scope on every 401
// and 403, 400 for a token in the query string, the route's Scopes and rate
// limit (RateLimit-* headers, 429), the claims in the request context, one
// error writer for every answer. WithTokenInfo, inside v.Handler, hands the
// claims on to the SDK so it still binds sessions to users:
//
//	mux.Handle("/mcp", mcpv.Handler(jwtmcp.WithTokenInfo(mcp.NewStreamableHTTPHandler(getServer, nil))))
//
// The adapter is for code already built around the SDK's auth package. The
// SDK writes its own answers there: a 401 with a text body and a challenge
// with only resource_metadata and scope, 403 for the scopes given to
// Options, and err.Error() as the body of every rejection (which is why the
// errors TokenVerifier returns carry only fixed, client-safe text). Verify
// is what runs, so the route's audiences and Resource apply but its Scopes
// and RateLimit do not: pass the scopes to Options or Require.
//
// This is the one jwtgate package that links the MCP SDK; middleware and the
// other adapters do not (internal/depcheck checks it).
package jwtmcp
