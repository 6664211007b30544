package middleware

import (
	"errors"
	"slices"
	"strings"

	"github.com/jwtgate/jwtgate/ratelimit"
)

// Sentinel errors, for errors.Is. Every error the Verifier returns wraps
// exactly one of them (through *Error), and WriteError maps each to one HTTP
// answer; see docs/errors.md.
var (
	// ErrTokenMissing: the request carries no token (401, no error code).
	ErrTokenMissing = errors.New("middleware: token missing")
	// ErrInvalidRequest: more than one token, or a token where none is
	// allowed (400 invalid_request).
	ErrInvalidRequest = errors.New("middleware: invalid request")
	// ErrTokenMalformed: not a well-formed compact JWS/JWT, too large, or a
	// header the Verifier does not accept (401 invalid_token).
	ErrTokenMalformed = errors.New("middleware: token malformed")
	// ErrAlgorithmNotAllowed: the header's alg is not in the allow-list, or
	// the key cannot be used with it (401 invalid_token).
	ErrAlgorithmNotAllowed = errors.New("middleware: algorithm not allowed")
	// ErrUnknownKID: no key with the token's kid (401 invalid_token).
	ErrUnknownKID = errors.New("middleware: unknown key id")
	// ErrSignatureInvalid: the signature does not verify (401 invalid_token).
	ErrSignatureInvalid = errors.New("middleware: signature invalid")
	// ErrTokenExpired: exp is in the past, beyond the leeway (401 invalid_token).
	ErrTokenExpired = errors.New("middleware: token expired")
	// ErrTokenNotYetValid: nbf or iat is in the future, beyond the leeway
	// (401 invalid_token).
	ErrTokenNotYetValid = errors.New("middleware: token not yet valid")
	// ErrTokenInactive: the authorization server says the opaque token is
	// not active (RFC 7662: inactive, revoked, unknown), or no API key
	// matches (401 invalid_token, "token not active" / "api key not
	// accepted").
	ErrTokenInactive = errors.New("middleware: token not active")
	// ErrClaimsInvalid: iss, aud, a required claim or the Validate hook
	// rejected the token (401 invalid_token).
	ErrClaimsInvalid = errors.New("middleware: claims invalid")
	// ErrSenderConstrained: the token carries a confirmation claim (cnf,
	// RFC 7800): it is bound to a DPoP key (RFC 9449) or a client
	// certificate (RFC 8705) and must not be accepted as a bearer token
	// (401 invalid_token, "token is sender-constrained"). See
	// Config.AllowSenderConstrained.
	ErrSenderConstrained = errors.New("middleware: token is sender-constrained")
	// ErrDPoPProofInvalid: the request's DPoP proof (RFC 9449 §4.3) is
	// missing, more than one, too large, or fails a check (401,
	// WWW-Authenticate: DPoP error="invalid_dpop_proof").
	ErrDPoPProofInvalid = errors.New("middleware: DPoP proof invalid")
	// ErrDPoPReplayed: the proof's jti was already used with its key
	// within the window (RFC 9449 §11.1; 401 invalid_dpop_proof).
	ErrDPoPReplayed = errors.New("middleware: DPoP proof replayed")
	// ErrDPoPNonce: the proof lacks the server nonce or has a stale one
	// (RFC 9449 §8; 401 use_dpop_nonce, with a fresh DPoP-Nonce header).
	ErrDPoPNonce = errors.New("middleware: DPoP nonce required")
	// ErrDPoPRequired: the route requires DPoP and the token came as a
	// bearer token (401, DPoP error="invalid_token").
	ErrDPoPRequired = errors.New("middleware: DPoP required")
	// ErrBindingMismatch: the token's confirmation does not match the
	// request: the proof's key is not cnf.jkt, the DPoP scheme carries a
	// token without cnf.jkt, or the client certificate is not (or not
	// the) cnf["x5t#S256"] (401 invalid_token).
	ErrBindingMismatch = errors.New("middleware: token binding mismatch")
	// ErrReplayUnavailable: the DPoP replay store could not decide (503 +
	// Retry-After): a proof is never accepted unchecked.
	ErrReplayUnavailable = errors.New("middleware: replay store unavailable")
	// ErrInsufficientAuthentication: the token's acr or auth_time does not
	// meet the route's RequireACR or MaxAuthAge (RFC 9470; 401,
	// error="insufficient_user_authentication" with acr_values and/or
	// max_age in the challenge).
	ErrInsufficientAuthentication = errors.New("middleware: insufficient user authentication")
	// ErrInsufficientScope: the token lacks a scope the route requires
	// (403 insufficient_scope).
	ErrInsufficientScope = errors.New("middleware: insufficient scope")
	// ErrPolicyDenied: the route's Policy refused the request, or could
	// not decide it (403 access_denied, "denied by policy"); also a
	// route's Budget that has no budget to charge the request to (403,
	// "denied by budget": package budget's token without its tenant claim).
	ErrPolicyDenied = errors.New("middleware: denied by policy")
	// ErrRateLimited: the subject is over its rate (429). The *Error carries
	// the limiter's Decision.
	ErrRateLimited = errors.New("middleware: rate limited")
	// ErrBudgetExhausted: the subject's token budget (Route.Budget;
	// package budget) is spent (429 budget_exhausted, Retry-After at the
	// window's end, the budget's RateLimit-* headers): not the rate limit,
	// so that clients and dashboards can tell the two apart.
	ErrBudgetExhausted = errors.New("middleware: budget exhausted")
	// ErrKeysUnavailable: no usable key set (never loaded, or stale beyond
	// the cache's MaxStale). Infrastructure trouble, so 503 + Retry-After,
	// never 401. It also matches cache.ErrKeysUnavailable when that was the
	// cause.
	ErrKeysUnavailable = errors.New("middleware: keys unavailable")
	// ErrLimiterUnavailable: the rate limiter could not decide and the
	// configured policy did not allow the request (503 + Retry-After).
	ErrLimiterUnavailable = errors.New("middleware: rate limiter unavailable")
)

// errRouteConfig marks a route With could not apply (an invalid
// Route.ClaimHeaders): not a sentinel for callers, and 500 on the wire.
var errRouteConfig = errors.New("middleware: route misconfigured")

// Error is the one typed error of this package: the sentinel (Kind), a short
// description that is safe to show to the client, and, for ErrRateLimited,
// the limiter's Decision. It never contains the token.
//
// Use errors.Is(err, ErrTokenExpired) to classify and errors.As(err, &e) to
// reach the description or the Decision. Its fields are unexported and read
// through methods: many rejections are pre-built values shared by every
// request (so refusing junk allocates nothing), and a caller that could edit
// one through errors.As would change every later response.
type Error struct {
	kind     error               // one of the package's sentinel errors
	desc     string              // short, fixed, client-safe text
	decision *ratelimit.Decision // ErrRateLimited only
	scopes   []string            // ErrInsufficientScope: the route's required scopes
	cause    error               // for logs, never for clients
	nonce    string              // ErrDPoPNonce: the DPoP-Nonce to send
	dpop     bool                // the request used the DPoP scheme: the challenge's error goes on DPoP
	// challenge holds extra challenge parameters, pre-rendered
	// (", acr_values=…, max_age=…" for ErrInsufficientAuthentication).
	challenge string
}

// Kind returns the sentinel error e wraps (ErrTokenExpired, …).
func (e *Error) Kind() error { return e.kind }

// Description returns the short, fixed, client-safe text used as
// error_description ("token expired").
func (e *Error) Description() string { return e.desc }

// Decision returns the limiter's decision for ErrRateLimited, and false for
// every other error.
func (e *Error) Decision() (ratelimit.Decision, bool) {
	if e.decision == nil {
		return ratelimit.Decision{}, false
	}
	return *e.decision, true
}

// Scopes returns the scopes the route requires, for ErrInsufficientScope
// (WriteError names them in the challenge's scope attribute, RFC 6750 §3).
// The slice is a copy.
func (e *Error) Scopes() []string { return slices.Clone(e.scopes) }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.kind.Error())
	if e.desc != "" && !strings.HasSuffix(e.kind.Error(), e.desc) {
		b.WriteString(": ")
		b.WriteString(e.desc)
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

// Is makes errors.Is(err, e.Kind()) true.
func (e *Error) Is(target error) bool { return target == e.kind }

// Unwrap returns the cause (for logs; its text never reaches a client), so
// errors.Is also matches it (for example cache.ErrKeysUnavailable behind
// ErrKeysUnavailable).
func (e *Error) Unwrap() error { return e.cause }

// Reason returns a short, stable, low-cardinality label for err, for metrics
// and logs: "ok" for nil, then "missing", "invalid_request", "malformed",
// "alg", "unknown_kid", "signature", "expired", "not_yet_valid", "inactive", "claims",
// "sender_constrained", "dpop_proof", "dpop_replay", "dpop_nonce",
// "dpop_required", "binding_mismatch", "replay_unavailable", "step_up", "scope", "policy", "rate_limited",
// "budget_exhausted", "keys_unavailable", "limiter_unavailable" or "other".
func Reason(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrTokenMissing):
		return "missing"
	case errors.Is(err, ErrInvalidRequest):
		return "invalid_request"
	case errors.Is(err, ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, ErrAlgorithmNotAllowed):
		return "alg"
	case errors.Is(err, ErrUnknownKID):
		return "unknown_kid"
	case errors.Is(err, ErrSignatureInvalid):
		return "signature"
	case errors.Is(err, ErrTokenExpired):
		return "expired"
	case errors.Is(err, ErrTokenNotYetValid):
		return "not_yet_valid"
	case errors.Is(err, ErrTokenInactive):
		return "inactive"
	case errors.Is(err, ErrClaimsInvalid):
		return "claims"
	case errors.Is(err, ErrSenderConstrained):
		return "sender_constrained"
	case errors.Is(err, ErrDPoPProofInvalid):
		return "dpop_proof"
	case errors.Is(err, ErrDPoPReplayed):
		return "dpop_replay"
	case errors.Is(err, ErrDPoPNonce):
		return "dpop_nonce"
	case errors.Is(err, ErrDPoPRequired):
		return "dpop_required"
	case errors.Is(err, ErrBindingMismatch):
		return "binding_mismatch"
	case errors.Is(err, ErrReplayUnavailable):
		return "replay_unavailable"
	case errors.Is(err, ErrInsufficientAuthentication):
		return "step_up"
	case errors.Is(err, ErrInsufficientScope):
		return "scope"
	case errors.Is(err, ErrPolicyDenied):
		return "policy"
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, ErrBudgetExhausted):
		return "budget_exhausted"
	case errors.Is(err, ErrKeysUnavailable):
		return "keys_unavailable"
	case errors.Is(err, ErrLimiterUnavailable):
		return "limiter_unavailable"
	}
	return "other"
}

// Pre-built rejections for the cheapest, most attacker-repeatable failures,
// so that refusing junk (for example a 1 MB header) allocates nothing.
var (
	errTooLarge          = &Error{kind: ErrTokenMalformed, desc: "token too large"}
	errSegments          = &Error{kind: ErrTokenMalformed, desc: "token is not a compact JWS"}
	errBase64            = &Error{kind: ErrTokenMalformed, desc: "token is not canonical base64url"}
	errHeader            = &Error{kind: ErrTokenMalformed, desc: "token header invalid"}
	errCrit              = &Error{kind: ErrTokenMalformed, desc: "token header has unsupported critical parameters"}
	errAlg               = &Error{kind: ErrAlgorithmNotAllowed, desc: "algorithm not allowed"}
	errNoKID             = &Error{kind: ErrTokenMalformed, desc: "token header has no kid"}
	errTyp               = &Error{kind: ErrTokenMalformed, desc: "token type not accepted"}
	errPayload           = &Error{kind: ErrTokenMalformed, desc: "token payload is not a JSON claims object"}
	errSig               = &Error{kind: ErrSignatureInvalid, desc: "signature invalid"}
	errUnknownKID        = &Error{kind: ErrUnknownKID, desc: "unknown key id"}
	errKeyUnusable       = &Error{kind: ErrAlgorithmNotAllowed, desc: "key not usable with this algorithm"}
	errExpired           = &Error{kind: ErrTokenExpired, desc: "token expired"}
	errNotYet            = &Error{kind: ErrTokenNotYetValid, desc: "token not yet valid"}
	errIssuedFuture      = &Error{kind: ErrTokenNotYetValid, desc: "token issued in the future"}
	errNoExp             = &Error{kind: ErrClaimsInvalid, desc: "token has no exp"}
	errSenderConstrained = &Error{kind: ErrSenderConstrained, desc: "token is sender-constrained"}
	errIssuer            = &Error{kind: ErrClaimsInvalid, desc: "issuer not accepted"}
	errAudience          = &Error{kind: ErrClaimsInvalid, desc: "audience not accepted"}
	errRequired          = &Error{kind: ErrClaimsInvalid, desc: "required claim missing"}
	errMissing           = &Error{kind: ErrTokenMissing}
	errMultiple          = &Error{kind: ErrInvalidRequest, desc: "more than one token in the request"}
	errQuery             = &Error{kind: ErrInvalidRequest, desc: "token not allowed in the query"}
	errEmptyBearer       = &Error{kind: ErrInvalidRequest, desc: "empty bearer token"}
	errKeysNotReady      = &Error{kind: ErrKeysUnavailable, desc: "keys unavailable"}
)
