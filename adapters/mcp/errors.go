package jwtmcp

import (
	"errors"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/jwtgate/jwtgate/middleware"
)

var (
	errNilVerifier = errors.New("jwtmcp: nil Verifier")
	// errNoClaims: WithTokenInfo reached the SDK without claims; only a
	// handler wired outside v.Handler gets here.
	errNoClaims = &verifyError{sdk: auth.ErrInvalidToken, text: "jwtmcp: invalid token: no verified claims"}
)

// verifyError is what TokenVerifier returns. Its text is what the SDK puts
// in the response body, so it is fixed and client-safe; the jwtgate error
// behind it (with its cause, for logs) is reached by errors.Is/As only.
type verifyError struct {
	sdk  error // auth.ErrInvalidToken, auth.ErrOAuth or nil: picks the SDK's status
	text string
	err  error // jwtgate's error
}

func (e *verifyError) Error() string { return e.text }

func (e *verifyError) Unwrap() []error {
	var errs []error
	if e.sdk != nil {
		errs = append(errs, e.sdk)
	}
	if e.err != nil {
		errs = append(errs, e.err)
	}
	return errs
}

// clientError maps a Verifier error onto the SDK's three outcomes, with the
// status classes middleware.Status gives (the one status table).
func clientError(err error) error {
	desc := ""
	if e, ok := errors.AsType[*middleware.Error](err); ok {
		desc = e.Description()
	}
	switch middleware.Status(err) {
	case http.StatusUnauthorized:
		return &verifyError{sdk: auth.ErrInvalidToken, text: "jwtmcp: invalid token: " + safe(desc, "invalid token"), err: err}
	case http.StatusBadRequest:
		return &verifyError{sdk: auth.ErrOAuth, text: "jwtmcp: invalid request: " + safe(desc, "invalid request"), err: err}
	case http.StatusServiceUnavailable:
		// The SDK answers 500; the cause (which key server, why) stays
		// in the wrapped error for the server's logs.
		return &verifyError{text: "jwtmcp: token verification temporarily unavailable", err: err}
	}
	return &verifyError{text: "jwtmcp: internal error", err: err}
}

// safe keeps desc if it is short printable ASCII. jwtgate's descriptions
// are fixed strings already; this holds should one ever not be.
func safe(desc, fallback string) string {
	if desc == "" || len(desc) > 128 {
		return fallback
	}
	for i := 0; i < len(desc); i++ {
		if c := desc[i]; c < 0x20 || c > 0x7e {
			return fallback
		}
	}
	return desc
}
