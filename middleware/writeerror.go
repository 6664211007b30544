package middleware

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/jwtgate/jwtgate/ratelimit"
)

// WriteError is THE mapping from errors to HTTP answers, used by Handler and
// every adapter (through (*Verifier).WriteError), with realm "jwtgate" and a
// 5 s Retry-After for 503:
//
//	ErrTokenMissing                       401  WWW-Authenticate: Bearer realm="jwtgate"
//	ErrInvalidRequest                     400  Bearer realm, error="invalid_request"
//	ErrTokenMalformed, ErrAlgorithmNotAllowed, ErrUnknownKID, ErrSignatureInvalid,
//	ErrTokenExpired, ErrTokenNotYetValid, ErrClaimsInvalid, ErrSenderConstrained,
//	ErrTokenInactive, ErrDPoPRequired, ErrBindingMismatch   401  Bearer realm, error="invalid_token"
//	ErrDPoPProofInvalid, ErrDPoPReplayed  401  DPoP realm, algs, error="invalid_dpop_proof"
//	ErrDPoPNonce                          401  DPoP realm, algs, error="use_dpop_nonce"; DPoP-Nonce
//	ErrReplayUnavailable                  503  Retry-After
//	ErrInsufficientAuthentication         401  Bearer realm, error="insufficient_user_authentication", acr_values="…", max_age=N
//	ErrInsufficientScope                  403  Bearer realm, error="insufficient_scope", scope="…"
//	ErrPolicyDenied                       403  Bearer realm, error="access_denied"
//	ErrRateLimited                        429  Retry-After, RateLimit-Limit/-Remaining/-Reset
//	ErrBudgetExhausted                    429  the same headers, the budget's; error "budget_exhausted"
//	ErrKeysUnavailable, ErrLimiterUnavailable 503  Retry-After
//	anything else                         500
//
// With DPoP allowed on the route, a 401 carries two challenges, Bearer and
// DPoP (algs="…"), the error parameters on the scheme the request used
// (DPoP proof errors always on DPoP); with DPoP required, DPoP only.
//
// The body is small JSON, {"error":"…","error_description":"…"}, with a
// fixed description; it never echoes the token or an internal error's text.
//
// An error a Verifier hands to its Config.ErrorHandler carries that
// Verifier's Realm and RetryAfter, and WriteError answers it with them: a
// handler that counts or logs and then calls WriteError (as
// metrics.ErrorHandler does) keeps the Verifier's configuration.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if ve, ok := errors.AsType[*verifierError](err); ok {
		writeError(w, err, ve.challenge)
		return
	}
	writeError(w, err, challenge{realm: DefaultRealm, retryAfter: DefaultRetryAfter})
}

// WriteError answers a rejected request: through Config.ErrorHandler when set,
// otherwise like the package's WriteError with the configured Realm and
// RetryAfter. Adapters call this.
func (v *Verifier) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if v.cfg.ErrorHandler != nil {
		v.cfg.ErrorHandler(w, r, &verifierError{err: err, challenge: v.challenge()})
		return
	}
	writeError(w, err, v.challenge())
}

// decisionError is an error that carries a limiter's decision, for the
// RateLimit-* and Retry-After headers of a 429: *Error for the rate limit,
// and other packages' errors (a token budget's) alike.
type decisionError interface {
	error
	Decision() (ratelimit.Decision, bool)
}

// retryAfterError is an error that knows how long a client should wait
// before trying again (for example the key cache's answer for an unknown kid
// it may not refresh for yet).
type retryAfterError interface {
	error
	RetryAfter() time.Duration
}

// verifierError is a rejection on its way to a Config.ErrorHandler, with the
// settings of the Verifier that rejected it, so that there is one error
// writer and it honours the Verifier wherever it is called from. It is
// transparent: errors.Is, errors.As, Reason and Status see through it.
type verifierError struct {
	err error
	challenge
}

// challenge is what a Verifier adds to the answers it writes: its realm, its
// Retry-After guess, and for a protected resource the resource_metadata
// (and scope) parameters of every 401 and 403 (RFC 9728 §5.1).
type challenge struct {
	realm      string
	retryAfter time.Duration
	params401  string // ", resource_metadata=…, scope=…" or ""
	params403  string // ", resource_metadata=…" or ""
	// dpop is the route's DPoP mode (never DPoPDefault) and dpopAlgs its
	// proof algorithms, for the DPoP challenge (RFC 9449 §7.1).
	dpop     DPoPMode
	dpopAlgs string
}

func (v *Verifier) challenge() challenge {
	ch := challenge{realm: v.cfg.Realm, retryAfter: v.cfg.RetryAfter, dpop: v.dpopMode, dpopAlgs: v.dpop.algsParam}
	if r := v.resource; r != nil {
		ch.params403 = ", " + r.challenge
		ch.params401 = ch.params403
		// MCP's scope challenge: what this route needs, else what the
		// resource offers, so a client knows what to ask for.
		scopes := v.route.Scopes
		if len(scopes) == 0 {
			scopes = r.ScopesSupported
		}
		if len(scopes) > 0 && scopeTokens(scopes) {
			ch.params401 += `, scope="` + strings.Join(scopes, " ") + `"`
		}
	}
	return ch
}

func (e *verifierError) Error() string { return e.err.Error() }
func (e *verifierError) Unwrap() error { return e.err }

// Status returns the HTTP status WriteError uses for err.
func Status(err error) int {
	st, _ := classify(err)
	return st
}

// classify returns the status and the RFC 6750 error code ("" for none).
func classify(err error) (int, string) {
	switch {
	case errors.Is(err, ErrTokenMissing):
		return http.StatusUnauthorized, ""
	case errors.Is(err, ErrInvalidRequest):
		return http.StatusBadRequest, "invalid_request"
	case errors.Is(err, ErrTokenMalformed), errors.Is(err, ErrAlgorithmNotAllowed),
		errors.Is(err, ErrUnknownKID), errors.Is(err, ErrSignatureInvalid),
		errors.Is(err, ErrTokenExpired), errors.Is(err, ErrTokenNotYetValid),
		errors.Is(err, ErrClaimsInvalid), errors.Is(err, ErrSenderConstrained), errors.Is(err, ErrTokenInactive),
		errors.Is(err, ErrDPoPRequired), errors.Is(err, ErrBindingMismatch):
		return http.StatusUnauthorized, "invalid_token"
	case errors.Is(err, ErrDPoPProofInvalid), errors.Is(err, ErrDPoPReplayed):
		return http.StatusUnauthorized, "invalid_dpop_proof"
	case errors.Is(err, ErrDPoPNonce):
		return http.StatusUnauthorized, "use_dpop_nonce"
	case errors.Is(err, ErrInsufficientAuthentication):
		return http.StatusUnauthorized, "insufficient_user_authentication"
	case errors.Is(err, ErrInsufficientScope):
		return http.StatusForbidden, "insufficient_scope"
	case errors.Is(err, ErrPolicyDenied):
		return http.StatusForbidden, "access_denied"
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests, "rate_limited"
	case errors.Is(err, ErrBudgetExhausted):
		return http.StatusTooManyRequests, "budget_exhausted"
	case errors.Is(err, ErrKeysUnavailable), errors.Is(err, ErrLimiterUnavailable), errors.Is(err, ErrReplayUnavailable):
		return http.StatusServiceUnavailable, "temporarily_unavailable"
	}
	return http.StatusInternalServerError, "server_error"
}

var defaultDescription = map[int]string{
	http.StatusUnauthorized:        "authentication required",
	http.StatusBadRequest:          "invalid request",
	http.StatusForbidden:           "insufficient scope",
	http.StatusTooManyRequests:     "rate limit exceeded",
	http.StatusServiceUnavailable:  "temporarily unavailable",
	http.StatusInternalServerError: "internal error",
}

func writeError(w http.ResponseWriter, err error, ch challenge) {
	realm, retryAfter := ch.realm, ch.retryAfter
	if err == nil {
		return
	}
	status, code := classify(err)
	generic := defaultDescription[status]
	switch code {
	case "invalid_token":
		generic = "invalid token"
	case "budget_exhausted":
		generic = "token budget exhausted"
	}
	desc := generic
	var e *Error
	if errors.As(err, &e) && e.desc != "" && status != http.StatusInternalServerError {
		desc = e.desc
	}
	desc = safeDescription(desc, generic)
	h := w.Header()
	switch status {
	case http.StatusUnauthorized, http.StatusBadRequest, http.StatusForbidden:
		// One challenge per scheme the route accepts (RFC 9110 §11.6.1),
		// Bearer first; the error parameters go on the scheme the request
		// used (a DPoP error always on DPoP). Only a 401 lists the scheme
		// the request did not use.
		bearerOK := ch.dpop != DPoPRequired
		dpopOK := ch.dpop == DPoPAllowed || ch.dpop == DPoPRequired
		onDPoP := dpopOK && (!bearerOK || (e != nil && e.dpop) || dpopKind(err))
		params := ""
		if code != "" {
			params = `, error="` + code + `", error_description="` + desc + `"`
		}
		switch status {
		case http.StatusUnauthorized:
			params += ch.params401
		case http.StatusForbidden:
			params += ch.params403
		}
		if e != nil && code == "insufficient_scope" && len(e.scopes) > 0 && scopeTokens(e.scopes) {
			params += `, scope="` + strings.Join(e.scopes, " ") + `"`
		}
		if e != nil {
			params += e.challenge
		}
		bearer := `Bearer realm="` + realm + `"`
		dpop := `DPoP realm="` + realm + `", algs="` + ch.dpopAlgs + `"`
		plain := ""
		if status == http.StatusUnauthorized {
			plain = ch.params401
		}
		switch {
		case onDPoP && bearerOK && status == http.StatusUnauthorized:
			h.Set("WWW-Authenticate", bearer+plain)
			h.Add("WWW-Authenticate", dpop+params)
		case onDPoP:
			h.Set("WWW-Authenticate", dpop+params)
		case dpopOK && status == http.StatusUnauthorized:
			h.Set("WWW-Authenticate", bearer+params)
			h.Add("WWW-Authenticate", dpop+plain)
		default:
			h.Set("WWW-Authenticate", bearer+params)
		}
		if e != nil && e.nonce != "" {
			h.Set("DPoP-Nonce", e.nonce)
		}
	case http.StatusTooManyRequests:
		// Any error that knows its limiter's decision (an *Error, a token
		// budget's) fills the RateLimit-* headers from it.
		if dd, ok := errors.AsType[decisionError](err); ok {
			if d, ok := dd.Decision(); ok {
				setRateLimitHeaders(h, d, nil)
				h.Set("Retry-After", seconds(d.RetryAfter))
				break
			}
		}
		h.Set("Retry-After", "1")
	case http.StatusServiceUnavailable:
		// A key provider that knows when it can look again (an unknown kid
		// while the provider fails: the next probe) says so; otherwise the
		// configured guess.
		if ra, ok := errors.AsType[retryAfterError](err); ok && ra.RetryAfter() > 0 {
			retryAfter = ra.RetryAfter()
		}
		h.Set("Retry-After", seconds(retryAfter))
	}
	if status == http.StatusUnauthorized && code == "" {
		code = "unauthorized"
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	body := make([]byte, 0, 48+len(code)+len(desc))
	body = append(body, `{"error":`...)
	body = strconv.AppendQuote(body, code)
	body = append(body, `,"error_description":`...)
	body = strconv.AppendQuote(body, desc)
	body = append(body, "}\n"...)
	_, _ = w.Write(body)
}

// dpopKind reports an error about the DPoP proof itself, which belongs on
// the DPoP challenge whatever scheme the request used.
func dpopKind(err error) bool {
	return errors.Is(err, ErrDPoPProofInvalid) || errors.Is(err, ErrDPoPReplayed) ||
		errors.Is(err, ErrDPoPNonce) || errors.Is(err, ErrDPoPRequired)
}

// safeDescription keeps a description that goes into a quoted header
// parameter to printable ASCII without quotes or backslashes (RFC 6750 §3);
// anything else (say, an *Error built by a caller) falls back to the
// status's generic text.
func safeDescription(desc, fallback string) string {
	for i := 0; i < len(desc); i++ {
		if c := desc[i]; c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			return fallback
		}
	}
	return desc
}

// scopeTokens reports whether every scope is an RFC 6749 scope-token, so it
// can sit in a quoted header parameter as is.
func scopeTokens(scopes []string) bool {
	for _, s := range scopes {
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
				return false
			}
		}
	}
	return true
}

// The RateLimit-* names as http.Header keys them (CanonicalHeaderKey of
// "RateLimit-Limit" is "Ratelimit-Limit"), so setting them allocates no
// canonical copy per request.
const (
	hdrRateLimitLimit     = "Ratelimit-Limit"
	hdrRateLimitRemaining = "Ratelimit-Remaining"
	hdrRateLimitReset     = "Ratelimit-Reset"
)

// rateLimitValues is one answer's three RateLimit-* values and their
// digits, in one allocation (they were nine: a slice per header, a string
// per number and a canonical copy per name). It also records which
// remaining and reset it rendered, so that limitText can keep it for the
// next answer with the same two.
type rateLimitValues struct {
	vals      [3]string
	remaining int          // the rendered Remaining (never below 0)
	reset     int64        // the rendered Reset, in seconds
	rem, res  string       // their text, apart from vals, which the header map shares
	digits    [3 * 20]byte // three int64s in decimal
}

// limitText remembers one limit rendered in decimal: a route's limit is
// the same on every request, so its digits need not be made again. The
// first limit a route renders is kept (a route with tiers renders the
// others each time), so it never allocates after the first request.
//
// It also keeps the last answer's Remaining and Reset text: a subject well
// under its limit has a full bucket again by its next request, so answer
// after answer says burst − cost and the same reset, and rendering two
// numbers each time was a fifth of what a limit added to a request. The
// zero value is ready; safe for concurrent use.
type limitText struct {
	p    atomic.Pointer[renderedInt]
	last atomic.Pointer[rateLimitValues] // never written after it is stored
}

type renderedInt struct {
	n int
	s string
}

// get returns n's decimal, if it is the one kept.
func (t *limitText) get(n int) (string, bool) {
	if t == nil {
		return "", false
	}
	if r := t.p.Load(); r != nil && r.n == n {
		return r.s, true
	}
	return "", false
}

// keep keeps n's decimal s unless a limit is kept already.
func (t *limitText) keep(n int, s string) {
	if t != nil && t.p.Load() == nil {
		t.p.CompareAndSwap(nil, &renderedInt{n: n, s: strings.Clone(s)})
	}
}

// setRateLimitHeaders sets RateLimit-Limit, -Remaining and -Reset from d,
// as h.Set would, replacing any value there. lt, when not nil, keeps the
// route's limit and the last remaining and reset rendered.
func setRateLimitHeaders(h http.Header, d ratelimit.Decision, lt *limitText) {
	setRateLimitHeadersIn(h, d, lt, nil)
}

// setRateLimitHeadersIn is setRateLimitHeaders with the three values'
// slices in vals when it is not nil and the text is the last answer's; vals
// must be this answer's alone.
func setRateLimitHeadersIn(h http.Header, d ratelimit.Decision, lt *limitText, vals *[3]string) {
	remaining, reset := max(d.Remaining, 0), resetSeconds(d.ResetAfter)
	limit, kept := lt.get(d.Limit)
	if kept {
		if last := lt.last.Load(); last != nil && last.remaining == remaining && last.reset == reset {
			// Only the three slices are new: a handler may write into
			// h[k][0], which must not reach another answer.
			if vals == nil {
				vals = new([3]string)
			}
			*vals = [3]string{limit, last.rem, last.res}
			h[hdrRateLimitLimit] = vals[0:1:1]
			h[hdrRateLimitRemaining] = vals[1:2:2]
			h[hdrRateLimitReset] = vals[2:3:3]
			return
		}
	}
	rv := new(rateLimitValues)
	b := rv.digits[:0]
	if !kept {
		b = strconv.AppendInt(b, int64(d.Limit), 10)
	}
	nLimit := len(b)
	b = strconv.AppendInt(b, int64(remaining), 10)
	nRemaining := len(b)
	b = strconv.AppendInt(b, reset, 10)
	// b is rv.digits (60 bytes hold three int64s), written once here and
	// never again: a string over it is immutable, as strings must be.
	all := unsafe.String(&rv.digits[0], len(b))
	if !kept {
		limit = all[:nLimit]
		lt.keep(d.Limit, limit)
	}
	rv.remaining, rv.reset = remaining, reset
	rv.rem, rv.res = all[nLimit:nRemaining], all[nRemaining:]
	rv.vals = [3]string{limit, rv.rem, rv.res}
	h[hdrRateLimitLimit] = rv.vals[0:1:1]
	h[hdrRateLimitRemaining] = rv.vals[1:2:2]
	h[hdrRateLimitReset] = rv.vals[2:3:3]
	if kept {
		// Kept only beside a kept limit: a tiered route's other limits
		// would otherwise replace it on every answer.
		lt.last.Store(rv)
	}
}

// seconds renders d as whole seconds, rounded up, never below 1 for a
// positive d (Retry-After: 0 would invite an immediate retry).
func seconds(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// resetSeconds is seconds(d) as a number.
func resetSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
