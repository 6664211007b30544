package jwtmcp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/jwtgate/jwtgate/middleware"
)

// TokenVerifier returns an auth.TokenVerifier that checks the token with
// v.Verify: everything the Verifier checks, plus the route's audiences and
// Resource (aud must hold the resource URI exactly, typ at+jwt with
// AccessTokenOnly). Not the route's Scopes or RateLimit, which need the
// request's answer: give the scopes to Options.
//
// When the SDK hands it the request, a request jwtgate would refuse as
// malformed (a token in the query string on a resource route, two tokens)
// is refused here too, with an error wrapping auth.ErrOAuth (400).
//
// Errors: a rejected token wraps auth.ErrInvalidToken (401), a bad request
// auth.ErrOAuth (400); keys unavailable and anything else wrap neither (the
// SDK answers 500). Each also wraps jwtgate's *middleware.Error, for
// errors.Is/As and logs, but its text is only the fixed client-safe
// description, since the SDK writes err.Error() into the response body.
// A nil v yields a verifier that refuses every token (500).
func TokenVerifier(v *middleware.Verifier) auth.TokenVerifier {
	return func(ctx context.Context, token string, req *http.Request) (*auth.TokenInfo, error) {
		if v == nil {
			return nil, errNilVerifier
		}
		if req != nil {
			// The SDK reads only the Authorization header; jwtgate also
			// refuses what sits beside it (query tokens, a second token).
			if _, err := v.Extract(req); errors.Is(err, middleware.ErrInvalidRequest) {
				return nil, clientError(err)
			}
		}
		c, err := v.Verify(ctx, token)
		if err != nil {
			return nil, clientError(err)
		}
		return TokenInfo(c), nil
	}
}

// Options returns the SDK options for a route verified by TokenVerifier(v):
// ResourceMetadataURL is v.MetadataURL() ("" when the route has no
// Resource), Scopes are scopes (the SDK answers 403 without them).
//
// Expiry is jwtgate's to judge: Verify already applied exp (required unless
// Config.ExpOptional) with Config.Leeway, so AllowMissingExpiration is set
// and ClockSkew is middleware.DefaultLeeway, which keeps the SDK's second
// look from refusing what a default Verifier accepted. (With a larger
// Leeway the SDK is the stricter of the two.)
func Options(v *middleware.Verifier, scopes ...string) *auth.RequireBearerTokenOptions {
	o := &auth.RequireBearerTokenOptions{
		Scopes:                 slices.Clone(scopes),
		AllowMissingExpiration: true,
		ClockSkew:              middleware.DefaultLeeway,
	}
	if v != nil {
		o.ResourceMetadataURL, _ = v.MetadataURL()
		// The route's own scopes too: TokenVerifier's Verify does not
		// apply them, so they would otherwise go unchecked.
		for _, s := range v.Scopes() {
			if !slices.Contains(o.Scopes, s) {
				o.Scopes = append(o.Scopes, s)
			}
		}
	}
	return o
}

// Require puts an MCP server handler behind v's whole verdict — the token,
// the route's audiences, Resource, scopes (and scopes, added here), DPoP or
// certificate binding, rate limit and budget — answered by v.WriteError
// exactly as every other face answers (a 401 or 403 carries the route's
// resource_metadata and scope, MCP's scope challenge), and hands the
// verified claims on to the SDK as its auth.TokenInfo (WithTokenInfo), so
// sessions are bound to their user and tool handlers see
// req.Extra.TokenInfo. A nil v answers every request 500.
//
// TokenVerifier with auth.RequireBearerToken is the SDK's own way in; it
// checks the token only (v.Verify), not the rate limit, budget or binding.
func Require(v *middleware.Verifier, scopes ...string) func(http.Handler) http.Handler {
	if v == nil {
		return func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, errNilVerifier.Error(), http.StatusInternalServerError)
			})
		}
	}
	if len(scopes) > 0 {
		v = v.With(middleware.Route{Scopes: scopes})
	}
	return func(next http.Handler) http.Handler {
		return v.Handler(WithTokenInfo(next))
	}
}

// WithTokenInfo is for an MCP handler behind jwtgate's own v.Handler: it
// hands the verified claims in the request's context on to the SDK as its
// auth.TokenInfo (the SDK keeps that context key to itself, so this goes
// through auth.RequireBearerToken with a verifier that only reads the
// context). The SDK then binds each session to the UserID that opened it
// (another user presenting the session id gets 403) and tool handlers see
// req.Extra.TokenInfo. A request without claims (Config.Optional) passes
// on untouched.
//
// The token must be in the Authorization header, where the MCP spec puts
// it: the SDK refuses a request without one (401).
func WithTokenInfo(next http.Handler) http.Handler {
	if next == nil {
		next = http.NotFoundHandler()
	}
	sdk := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		c, ok := middleware.ClaimsFromContext(ctx)
		if !ok {
			return nil, errNoClaims
		}
		return TokenInfo(c), nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true, ClockSkew: middleware.DefaultLeeway})(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := middleware.ClaimsFromContext(r.Context()); !ok {
			next.ServeHTTP(w, r)
			return
		}
		sdk.ServeHTTP(w, r)
	})
}

// FilterTools is server middleware (mcp.Server.AddReceivingMiddleware) for
// a server behind Require or v.Handler + WithTokenInfo on the route v: it
// removes from every tools/list answer the tools the caller's token may not
// call under the route's Resource.Tools rules, so a client is not offered
// what it would be refused. (The calls themselves are refused before the
// SDK sees them, by the Verifier.) A request without claims lists nothing
// that has a rule.
func FilterTools(v *middleware.Verifier) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			list, ok := res.(*mcp.ListToolsResult)
			if err != nil || method != "tools/list" || !ok || v == nil {
				return res, err
			}
			var c *middleware.Claims
			r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/"}, Header: http.Header{}}
			if extra := req.GetExtra(); extra != nil {
				c, _ = Claims(extra.TokenInfo)
				if extra.Header != nil {
					r.Header = extra.Header
				}
			}
			r = r.WithContext(ctx)
			kept := make([]*mcp.Tool, 0, len(list.Tools))
			for _, tool := range list.Tools {
				if tool != nil && v.ToolAllowed(r, c, tool.Name) {
					kept = append(kept, tool)
				}
			}
			filtered := *list
			filtered.Tools = kept
			return &filtered, nil
		}
	}
}
