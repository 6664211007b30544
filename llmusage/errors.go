package llmusage

import (
	"errors"
	"fmt"
)

var (
	// ErrNoUsage: the response ended without the usage its format puts
	// there (a body without "usage", a stream cut before its last event,
	// or a Chat Completions stream without stream_options.include_usage).
	ErrNoUsage = errors.New("llmusage: response has no usage")
	// ErrIncomplete: a stream reported part of its usage (Anthropic's
	// message_start) but not the final count; Usage holds the part.
	ErrIncomplete = errors.New("llmusage: stream ended before its final usage")
	// ErrTooLarge: a JSON body longer than TapConfig.MaxBody, whose usage
	// was therefore not read.
	ErrTooLarge = errors.New("llmusage: response body exceeds the tap's limit")
	// ErrMalformed: the body or the usage event is not the JSON its format
	// promises.
	ErrMalformed = errors.New("llmusage: response is not valid JSON")
	// ErrInvalidUsage: a count is negative, fractional, not a number, or
	// inconsistent; the detail is a *UsageError. The usage is refused.
	ErrInvalidUsage = errors.New("llmusage: invalid usage")
	// ErrCapped: a count was above MaxTokens (or overflowed) and was
	// capped to MaxTokens; the usage is still reported (ok is true) and
	// the detail is a *UsageError.
	ErrCapped = errors.New("llmusage: usage capped")
	// ErrUnknownFormat: the tap was made for FormatUnknown.
	ErrUnknownFormat = errors.New("llmusage: unknown format")
	// ErrInvalidConfig is wrapped by NewTap's configuration errors.
	ErrInvalidConfig = errors.New("llmusage: invalid config")
	// ErrRequestTooLarge: a request body given to ParseRequest or
	// AddIncludeUsage is over the caller's bound.
	ErrRequestTooLarge = errors.New("llmusage: request body too large")
	// ErrAmbiguousRequest: a request body that upstreams read in different
	// ways, so that no reading of it is safe to charge by or to rewrite: a
	// member ParseRequest reads (model, stream, stream_options,
	// max_tokens, max_completion_tokens, max_output_tokens; include_usage
	// in stream_options) given twice or spelt in another letter case
	// ("Stream_Options": Go's encoding/json matches any case and keeps the
	// last of two, Python keeps exact names, some parsers the first), or a
	// "stream" that is not true, false or null (pydantic reads "true" and
	// 1 as true, strict parsers refuse them).
	ErrAmbiguousRequest = errors.New("llmusage: request body is ambiguous")
)

// UsageError says which usage field was refused or capped, and why.
// errors.Is(err, ErrInvalidUsage) or errors.Is(err, ErrCapped) tells which.
type UsageError struct {
	Field  string // the field's JSON name ("prompt_tokens")
	Value  string // the value as sent, cut to 32 bytes
	Reason string
	capped bool
}

func (e *UsageError) Error() string {
	kind := ErrInvalidUsage
	if e.capped {
		kind = ErrCapped
	}
	return fmt.Sprintf("%v: %s %q: %s", kind, e.Field, e.Value, e.Reason)
}

// Is makes errors.Is match ErrInvalidUsage or ErrCapped.
func (e *UsageError) Is(target error) bool {
	if e.capped {
		return target == ErrCapped
	}
	return target == ErrInvalidUsage
}
