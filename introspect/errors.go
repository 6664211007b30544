package introspect

import "errors"

// Sentinel errors, for errors.Is. Every error Introspect returns for a token
// it could not decide wraps ErrUnavailable (the middleware answers 503 with
// Retry-After, never 401); an inactive token is middleware.ErrTokenInactive.
var (
	// ErrInvalidConfig wraps every configuration error New returns.
	ErrInvalidConfig = errors.New("introspect: invalid config")
	// ErrUnavailable: the endpoint could not decide — down, slow, 5xx, it
	// refused the client's credentials, an unreadable answer, the breaker
	// open, or too many look-ups pending.
	ErrUnavailable = errors.New("introspect: endpoint unavailable")
	// ErrMalformedResponse: the answer is not one JSON object with unique
	// member names, or it is larger than MaxResponseBytes, or its exp is not
	// a number. It also wraps ErrUnavailable: the endpoint misbehaved, the
	// client did nothing wrong.
	ErrMalformedResponse = errors.New("introspect: malformed response")
	// ErrClientRejected: the endpoint answered 401 or 403, so it refuses
	// this gateway's client credentials (wraps ErrUnavailable).
	ErrClientRejected = errors.New("introspect: client credentials rejected")
	// ErrClosed: Introspect after Close (wraps ErrUnavailable).
	ErrClosed = errors.New("introspect: client closed")
)

// unavailable marks err as ErrUnavailable too.
type unavailable struct{ err error }

func (u unavailable) Error() string { return u.err.Error() }
func (u unavailable) Unwrap() []error {
	return []error{u.err, ErrUnavailable}
}
