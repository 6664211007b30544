package budget

import (
	"context"
	"errors"
	"fmt"

	"github.com/jwtgate/jwtgate/ratelimit"
)

// MaxLimit bounds a budget's Limit (a million tokens a second for a
// month is 2.6e12): far above any real budget, far below overflow.
const MaxLimit = 1e15

// Budget is a token budget per key, spent in two steps around an upstream
// call: Check before (is anything left?), Charge after (what the answer
// cost). Between the two the request runs unmetered, so the request that
// crosses the line completes and is charged in full, leaving the key
// overdrawn; the next Check refuses it until the window ends. Concurrent
// requests of one key may each pass Check before any is charged: a budget
// bounds what a key spends to its Limit plus what its requests in flight
// at the crossing cost.
//
// Implementations are safe for concurrent use. The decisions are
// ratelimit.Decisions, so the RateLimit-* and Retry-After headers are the
// rate limiter's: Limit is the budget, Remaining what is left of it (0
// when overdrawn), ResetAfter and RetryAfter the time to the window's end.
//
// An error means the budget could not decide for a reason of the caller's
// (a negative cost, a Check whose context has ended); a Redis outage is
// not an error but a decision of the failure policy, with
// Decision.Degraded set. Package budget/budgettest is this contract as a
// test suite, for any implementation.
type Budget interface {
	// Check reports whether key may start a request now. It spends
	// nothing.
	Check(ctx context.Context, key string) (ratelimit.Decision, error)
	// Charge spends cost from key's budget, whatever is left, and
	// returns the state after it (Allowed: would the next Check pass).
	// A cost of 0 spends nothing. The charge is made even when ctx has
	// ended: the request it pays for has happened, and a client that
	// hangs up must not make it free.
	Charge(ctx context.Context, key string, cost int64) (ratelimit.Decision, error)
}

var (
	// ErrInvalidConfig is wrapped by every configuration error of this
	// package and redisbudget; the detail is a *ConfigError.
	ErrInvalidConfig = errors.New("budget: invalid config")
	// ErrInvalidCost is returned by Charge for a negative cost.
	ErrInvalidCost = errors.New("budget: cost must not be negative")
	// ErrExhausted is the error Handler writes for a refused request
	// (429); errors.Is(err, middleware.ErrBudgetExhausted) is true for it
	// too, so the middleware's error writer answers it.
	ErrExhausted = errors.New("budget: token budget exhausted")
)

// ConfigError says which configuration field is wrong and why.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("budget: invalid config: %s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }
