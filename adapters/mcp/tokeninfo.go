package jwtmcp

import (
	"net/url"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/jwtgate/jwtgate/middleware"
)

// ClaimsKey is the auth.TokenInfo.Extra key holding the verified
// *middleware.Claims. Read it with Claims rather than by hand.
const ClaimsKey = "jwtgate.claims"

// TokenInfo describes verified claims the way the SDK wants them: Scopes
// from c.Scopes() (a copy), Expiration c.ExpiresAt (zero without exp),
// UserID from UserID, and c itself in Extra under ClaimsKey.
func TokenInfo(c *middleware.Claims) *auth.TokenInfo {
	if c == nil {
		return nil
	}
	return &auth.TokenInfo{
		Scopes:     slices.Clone(c.Scopes()),
		Expiration: c.ExpiresAt,
		UserID:     UserID(c),
		Extra:      map[string]any{ClaimsKey: c},
	}
}

// UserID identifies the token's subject across issuers: the query-escaped
// iss, "#", then sub as it is. QueryEscape turns any "#" in iss into "%23",
// so the first "#" always separates the two and no (iss, sub) pair can
// collide with another: "https://a#b" + "c" and "https://a" + "b#c" differ.
// The SDK binds each streamable-HTTP session to it. Tokens of one issuer
// without sub share one UserID ("iss#"). "" for nil.
func UserID(c *middleware.Claims) string {
	if c == nil {
		return ""
	}
	return url.QueryEscape(c.Issuer) + "#" + c.Subject
}

// Claims returns the claims TokenInfo stored in ti (a tool handler's
// req.Extra.TokenInfo).
func Claims(ti *auth.TokenInfo) (*middleware.Claims, bool) {
	if ti == nil {
		return nil, false
	}
	c, ok := ti.Extra[ClaimsKey].(*middleware.Claims)
	return c, ok && c != nil
}
