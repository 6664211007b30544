package middleware

import (
	"net/http"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/ratelimit"
)

// DefaultRateLimitKey is the key used when RateLimit.Key is nil: the
// verified sub as it is, else "azp:" + azp, else "client_id:" + client_id
// ("" when none is set). With more than one accepted issuer the Verifier
// prefixes it with the token's iss and "#".
//
// The fallbacks are prefixed so a client token (no sub) does not share a
// bucket with a user whose sub is the client's name; sub stays bare so
// existing buckets keep their keys, except a sub that itself starts with one
// of the three prefixes, which gets "sub:" in front: no two identities map
// to one key.
func DefaultRateLimitKey(c *Claims, _ *http.Request) string {
	switch {
	case c.Subject != "":
		if hasKeyPrefix(c.Subject) {
			return "sub:" + c.Subject
		}
		return c.Subject
	case c.AuthorizedParty != "":
		return "azp:" + c.AuthorizedParty
	case c.ClientID != "":
		return "client_id:" + c.ClientID
	}
	return ""
}

// isIssuerKey reports whether k is iss + "#" + key.
func isIssuerKey(k, iss, key string) bool {
	return len(k) == len(iss)+1+len(key) && k[:len(iss)] == iss && k[len(iss)] == '#' && k[len(iss)+1:] == key
}

func hasKeyPrefix(s string) bool {
	return strings.HasPrefix(s, "sub:") || strings.HasPrefix(s, "azp:") || strings.HasPrefix(s, "client_id:")
}

// applyLimit spends the request's cost from its key's bucket and sets the
// RateLimit-* headers; over the limit it returns ErrRateLimited with the
// Decision. When cc is not nil (Handler's request), it makes *cc, the
// claims' context Handler will pass on, and keeps the header values in it,
// so that a limited request allocates no more than an unlimited one when
// the values' text is the last answer's. now is the request's reading of
// the clock, which a limiter that takes one (ratelimit.LimiterAt) is
// given when that clock is time.Now.
func (v *Verifier) applyLimit(w http.ResponseWriter, r *http.Request, c *Claims, rl *RateLimit, cc **claimsCtx, now time.Time) *Error {
	lim := rl.Limiter
	tier, tiered := "", false
	if rl.TierClaim != "" {
		if t, ok := c.String(rl.TierClaim); ok {
			tier = t
			if l, ok := rl.Tiers[t]; ok {
				lim, tiered = l, true
			}
		}
	}
	if lim == nil {
		return nil
	}
	var key string
	if rl.Key == nil {
		key = DefaultRateLimitKey(c, r)
	} else {
		key = rl.Key(c, r)
	}
	if rl.Key == nil && key != "" && len(v.cfg.Issuers) > 1 {
		// sub is unique only within its issuer (RFC 7519 §4.1.2): one
		// issuer's "alice" must not spend another's bucket. '#' cannot
		// occur in an OIDC issuer, so the key is unambiguous. decodeClaims
		// has made it once per token; Claims made elsewhere get it here.
		if isIssuerKey(c.issKey, c.Issuer, key) {
			key = c.issKey
		} else {
			key = c.Issuer + "#" + key
		}
	}
	if key == "" {
		if rl.OnDecision != nil {
			rl.OnDecision(RateLimitEvent{Context: r.Context(), Reason: "no_key", Tier: tier})
		}
		return nil
	}
	cost := 1
	if rl.Cost != nil {
		cost = max(rl.Cost(c, r), 1)
	}
	var (
		d   ratelimit.Decision
		err error
	)
	if v.limitAt != nil && !tiered {
		d, err = v.limitAt.AllowAt(r.Context(), key, cost, now)
	} else {
		d, err = lim.Allow(r.Context(), key, cost)
	}
	if err != nil {
		if rl.OnDecision != nil {
			rl.OnDecision(RateLimitEvent{Context: r.Context(), Reason: "error", Key: key, Tier: tier, Cost: cost, Err: err})
		}
		if rl.OnError != nil {
			if herr := rl.OnError(r, err); herr == nil {
				return nil
			} else {
				return &Error{kind: ErrLimiterUnavailable, desc: "rate limiter unavailable", cause: herr}
			}
		}
		return &Error{kind: ErrLimiterUnavailable, desc: "rate limiter unavailable", cause: err}
	}
	if rl.OnDecision != nil {
		reason := "allowed"
		if !d.Allowed {
			reason = "limited"
		}
		rl.OnDecision(RateLimitEvent{Context: r.Context(), Reason: reason, Key: key, Tier: tier, Cost: cost, Decision: d})
	}
	var vals *[3]string
	if cc != nil {
		if *cc == nil {
			*cc = new(claimsCtx)
		}
		vals = &(*cc).rateLimit
	}
	setRateLimitHeadersIn(w.Header(), d, v.limitText, vals)
	if !d.Allowed {
		// A copy, so that d itself stays on the stack on the allowed path.
		limited := d
		return &Error{kind: ErrRateLimited, desc: "rate limit exceeded", decision: &limited}
	}
	return nil
}
