package budget

import (
	"context"

	"github.com/jwtgate/jwtgate/llmusage"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// Kind classifies an Event.
type Kind uint8

const (
	// KindRefused: Check found the budget spent; the request got 429 and
	// the upstream was not called (in shadow mode it went on; Shadow is
	// set).
	KindRefused Kind = iota + 1
	// KindCharged: the response's cost was charged. Fallback says when
	// it was an estimate rather than the upstream's usage.
	KindCharged
	// KindNoKey: no claims or an empty key; the request went on without
	// a budget.
	KindNoKey
	// KindError: the budget returned an error (Check: the request got
	// 503; Charge: the charge was lost). Err says why.
	KindError
	// KindInvalidRequest: the request body the Handler had to read
	// (IncludeUsage, Fallback.UseMaxTokens) is one upstreams read in
	// different ways (llmusage.ErrAmbiguousRequest, in Err): the request
	// got 400 and the upstream was not called (in shadow mode it went on
	// untouched; Shadow is set).
	KindInvalidRequest
	// KindNoTenant: the token has no tenant claim (Config.TenantClaim) on
	// a route with tenant budgets: the request got 403 (in shadow mode it
	// went on, charged to its subject and the route; Shadow is set).
	KindNoTenant
)

// String returns "refused", "charged", "no_key", "error",
// "invalid_request" or "no_tenant", fit for a metric label.
func (k Kind) String() string {
	switch k {
	case KindRefused:
		return "refused"
	case KindCharged:
		return "charged"
	case KindNoKey:
		return "no_key"
	case KindError:
		return "error"
	case KindInvalidRequest:
		return "invalid_request"
	case KindNoTenant:
		return "no_tenant"
	}
	return "unknown"
}

// Event describes one budget step of one request, for metrics and logs.
// It is passed by value to Config.Observer. Future versions may add
// fields.
//
// Tier, Level, Model, Format, Kind, Fallback, UnknownModel and Shadow take few values and are
// meant as metric labels; Usage's counts as "tokens charged by kind"
// (input, output, cached input, cache write). Key is the subject the
// budget is kept for: unbounded, never a label, for debug logs only.
type Event struct {
	// Context is the request's, so that a tracer can parent a span on it.
	Context context.Context
	Kind    Kind
	// Tier is the TierClaim value when it picked a budget from Tiers, ""
	// for the default budget (so a token cannot mint label values).
	Tier string
	// Level is the budget a KindRefused, KindError or KindNoTenant event
	// is about (subject, tenant or route).
	Level Level
	// Model is the WeightTable or PriceTable entry that priced the
	// response ("" for DefaultWeights, a custom Cost or a price table's
	// Fallback), not the raw model name.
	Model string
	// UnknownModel reports a response priced with the PriceTable's
	// Fallback because no entry matched its model: count it, and add the
	// model to the table.
	UnknownModel bool
	// Format is the upstream format read.
	Format llmusage.Format
	// Shadow reports that the Handler is in shadow mode: a KindRefused
	// event's request went on to the upstream.
	Shadow bool
	// Fallback is "" when the upstream's usage was charged, else why an
	// estimate was: "no_usage", "incomplete", "too_large", "malformed",
	// "invalid_usage", "unknown_format", "encoded", "no_response",
	// "upstream_error" (an error answer after the client left) or
	// "client_gone" (the client left first). An error answer (400 and up)
	// and a call with no usage concept are not fallbacks: see
	// Config.ErrorCost and NoUsageCost.
	Fallback string
	// UpstreamError is the status of an upstream error answer without
	// usage, charged Config.ErrorCost instead of the fallback; 0 otherwise.
	UpstreamError int
	// Usage is what the upstream reported (for a fallback, what it
	// reported before the stream was cut, often nothing).
	Usage llmusage.Usage
	// Capped reports that a count in Usage was capped at
	// llmusage.MaxTokens.
	Capped bool
	// Cost is what was charged.
	Cost int64
	// Decision is Check's (KindRefused: the refusing level's) or Charge's
	// (KindCharged: the subject's) answer.
	Decision ratelimit.Decision
	// Budgets are Charge's answers of every level charged (KindCharged),
	// subject first.
	Budgets []LevelDecision
	// Key is the budget's key. Never a metric label.
	Key string
	// Err is the budget's error for KindError, the body's for
	// KindInvalidRequest.
	Err error
}
