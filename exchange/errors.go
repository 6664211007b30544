package exchange

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jwtgate/jwtgate/middleware"
)

var (
	// ErrInvalidConfig is wrapped by every error New returns.
	ErrInvalidConfig = errors.New("exchange: invalid configuration")
	// ErrExchange is wrapped by every error RoundTrip returns before the
	// upstream is called: the upstream saw nothing of the request.
	ErrExchange = errors.New("exchange: no upstream token")
	// ErrNoSubjectToken: the request carries no verified claims
	// (middleware.ClaimsFromContext), so there is nothing to exchange. It
	// also wraps middleware.ErrTokenMissing (401).
	ErrNoSubjectToken = errors.New("exchange: no verified subject token")
	// ErrSenderConstrained: the subject token is DPoP- or
	// certificate-bound and Config.Binding refuses such tokens. It also
	// wraps middleware.ErrSenderConstrained (401 invalid_token).
	ErrSenderConstrained = errors.New("exchange: subject token is sender-constrained and the binding says refuse")
	// ErrUnavailable: the token endpoint could not answer (5xx, 429, a
	// time-out, a network error, an unparsable answer, discovery failed,
	// or the breaker is open). WriteError answers 503 with Retry-After.
	ErrUnavailable = errors.New("exchange: token endpoint unavailable")
	// ErrDenied: the token endpoint refused the exchange (a 4xx with an
	// OAuth error such as invalid_grant or invalid_target). WriteError
	// answers 403 access_denied.
	ErrDenied = errors.New("exchange: token endpoint refused the exchange")
	// ErrClosed: the Transport is closed. It also wraps ErrUnavailable.
	ErrClosed = errors.New("exchange: transport closed")
	// ErrBadResponse is wrapped (with ErrUnavailable) by a token endpoint
	// answer that is not a usable token response.
	ErrBadResponse = errors.New("exchange: bad token response")
)

// OAuthError is a token endpoint's error answer (RFC 6749 §5.2), as
// errors.As finds it in an ErrDenied or ErrUnavailable error. Its
// description is the server's and is never sent to the client.
type OAuthError struct {
	Status      int    // the HTTP status
	Code        string // error; "" when the body had none
	Description string // error_description
}

func (e *OAuthError) Error() string {
	if e.Code == "" {
		return "exchange: token endpoint answered " + strconv.Itoa(e.Status)
	}
	return fmt.Sprintf("exchange: token endpoint answered %d %s", e.Status, e.Code)
}

// Status returns the HTTP status WriteError uses for err.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrDenied):
		return http.StatusForbidden
	case errors.Is(err, ErrNoSubjectToken), errors.Is(err, ErrSenderConstrained):
		return middleware.Status(err)
	}
	return http.StatusBadGateway
}

// WriteError answers a request whose exchange failed (a
// httputil.ReverseProxy's ErrorHandler calls it for an error wrapping
// ErrExchange): 503 with Retry-After (retryAfter; 0 means
// DefaultRetryAfter) when the token endpoint is unavailable, 403
// access_denied when it refused, the middleware's answer for a missing or
// sender-constrained token, 502 otherwise. The body is small JSON and
// never carries the token endpoint's own text.
func WriteError(w http.ResponseWriter, r *http.Request, err error, retryAfter time.Duration) {
	if retryAfter <= 0 {
		retryAfter = DefaultRetryAfter
	}
	switch st := Status(err); st {
	case http.StatusServiceUnavailable:
		secs := int((retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeJSON(w, st, "temporarily_unavailable", "upstream credential unavailable")
	case http.StatusForbidden:
		writeJSON(w, st, "access_denied", "upstream credential refused")
	case http.StatusBadGateway:
		writeJSON(w, st, "bad_gateway", "upstream credential failed")
	default:
		middleware.WriteError(w, r, err)
	}
}

func writeJSON(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// Fixed strings only: nothing to escape.
	_, _ = w.Write([]byte(`{"error":"` + code + `","error_description":"` + desc + `"}` + "\n"))
}

// WriteError is the package's WriteError with the Transport's RetryAfter.
func (t *Transport) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	WriteError(w, r, err, t.cfg.RetryAfter)
}
