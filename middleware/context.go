package middleware

import "context"

type claimsKey struct{}

// ContextWithClaims returns a copy of ctx carrying c, as Handler does;
// adapters use it to put claims in a request's context.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the verified claims Handler stored in ctx, and
// false when there are none (no Handler, or an optional-auth request without
// a token).
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}
