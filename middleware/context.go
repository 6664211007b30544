package middleware

import (
	"context"
	"fmt"
)

type claimsKey struct{}

// budgetKey finds a BudgetCarrier's value (BudgetCarried).
type budgetKey struct{}

// ContextWithClaims returns a copy of ctx carrying c, as Handler does;
// adapters use it to put claims in a request's context.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// claimsCtx is what ContextWithClaims makes, with room for the request's
// RateLimit-* header values and a BudgetCarrier's value, so that Handler
// makes them all in one allocation.
type claimsCtx struct {
	context.Context
	c         *Claims
	rateLimit [3]string // see setRateLimitHeadersIn
	budget    any       // see BudgetCarrier
}

func (c *claimsCtx) Value(key any) any {
	switch key {
	case claimsKey{}:
		return c.c
	case budgetKey{}:
		return c.budget
	}
	return c.Context.Value(key)
}

func (c *claimsCtx) String() string {
	return fmt.Sprint(c.Context) + ".WithValue(middleware.claimsKey, *middleware.Claims)"
}

// ClaimsFromContext returns the verified claims Handler stored in ctx, and
// false when there are none (no Handler, or an optional-auth request without
// a token).
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}
