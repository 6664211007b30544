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
)

// String returns "refused", "charged", "no_key", "error" or
// "invalid_request", fit for a metric label.
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
	}
	return "unknown"
}

// Event describes one budget step of one request, for metrics and logs.
// It is passed by value to Config.Observer. Future versions may add
// fields.
//
// Tier, Model, Format, Kind, Fallback and Shadow take few values and are
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
	// Model is the WeightTable entry that priced the response ("" for
	// DefaultWeights or a custom Cost), not the raw model name.
	Model string
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
	// Decision is Check's (KindRefused) or Charge's (KindCharged) answer.
	Decision ratelimit.Decision
	// Key is the budget's key. Never a metric label.
	Key string
	// Err is the budget's error for KindError, the body's for
	// KindInvalidRequest.
	Err error
}
