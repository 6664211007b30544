package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Claims is a verified token's claim set: the registered claims typed, the
// scopes, and the whole payload raw for everything else.
//
// A *Claims handed out by the Verifier is shared (the verified-token cache
// returns the same value to every request carrying the same token): treat
// it as read-only. It is safe for concurrent reads.
type Claims struct {
	Issuer          string    // iss
	Subject         string    // sub
	Audience        []string  // aud (a string is a one-element list)
	ExpiresAt       time.Time // exp; zero when absent
	NotBefore       time.Time // nbf; zero when absent
	IssuedAt        time.Time // iat; zero when absent
	ID              string    // jti
	AuthorizedParty string    // azp
	ClientID        string    // client_id

	scopes []string
	raw    string // the payload as signed
	token  string // the compact JWS the claims were verified from (Token)
	// issKey is DefaultRateLimitKey's key with "iss#" in front, made once
	// per verified token when more than one issuer is accepted (where the
	// limiter needs it), not once per request.
	issKey string
	typ    string      // the header's typ ("" when absent or not a string), for a route's Resource
	extra  []claimText // claims the Verifier's config names, pre-rendered as text
	cnf    confirmation
	kind   CredentialKind // 0: a JWT (see Kind)
	// decoded is the payload as a map, for policies (Map); shared by
	// copies. Nil in a Claims not made by a Verifier: Map decodes each
	// time.
	decoded *atomic.Pointer[map[string]any]
}

type claimText struct{ name, text string }

// Scopes returns the token's scopes: the "scope" claim (RFC 8693's
// space-separated string, or an array of strings as some providers send)
// and the "scp" claim (an array, or a space-separated string), in that order, without duplicates. The slice is shared: don't modify it.
func (c *Claims) Scopes() []string { return c.scopes }

// HasScopes reports whether the token has every one of scopes.
func (c *Claims) HasScopes(scopes ...string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.scopes, s) {
			return false
		}
	}
	return true
}

// Token returns the compact JWS these claims were verified from, for code
// that hands the verified token on in the client's stead (package exchange
// trades it for the upstream's own token): the unverified header is never
// the input there. It is the client's bearer credential: never log it, and
// never send it where the client's token must not go. "" for Claims not
// made by a Verifier.
func (c *Claims) Token() string { return c.token }

// LogValue keeps the token and the raw payload out of log lines: a logged
// *Claims shows the registered claims only.
func (c *Claims) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("iss", c.Issuer),
		slog.String("sub", c.Subject),
		slog.Any("aud", c.Audience),
		slog.Time("exp", c.ExpiresAt),
	)
}

// Raw returns a copy of the payload's JSON exactly as signed.
func (c *Claims) Raw() json.RawMessage { return json.RawMessage(c.raw) }

// Size is the payload's length in bytes (Raw's, without the copy).
func (c *Claims) Size() int { return len(c.raw) }

// Get decodes the claim name into dst (as json.Unmarshal would) and reports
// whether the claim was present.
func (c *Claims) Get(name string, dst any) (bool, error) {
	var found string
	if !walkObject(c.raw, func(n, v string) bool {
		if n == name {
			found = v
		}
		return true
	}) {
		return false, errPayload
	}
	if found == "" {
		return false, nil
	}
	return true, json.Unmarshal([]byte(found), dst)
}

// String returns the claim name as text when it is a JSON string, number or
// boolean, and an array of strings joined with ","; ok is false when the
// claim is missing or of another kind.
func (c *Claims) String(name string) (string, bool) {
	switch name {
	case "iss":
		return c.Issuer, c.Issuer != ""
	case "sub":
		return c.Subject, c.Subject != ""
	case "azp":
		return c.AuthorizedParty, c.AuthorizedParty != ""
	case "client_id":
		return c.ClientID, c.ClientID != ""
	case "jti":
		return c.ID, c.ID != ""
	}
	for _, e := range c.extra {
		if e.name == name {
			return e.text, true
		}
	}
	var v json.RawMessage
	if ok, err := c.Get(name, &v); !ok || err != nil {
		return "", false
	}
	return rawToText(v)
}

func rawToText(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case 't', 'f':
		return string(v), true
	case '[':
		var ss []string
		if json.Unmarshal(v, &ss) != nil {
			return "", false
		}
		return strings.Join(ss, ","), true
	case 'n', '{':
		return "", false
	}
	return string(v), true // a number, as written
}

// presence records which registered claims the payload had (a zero time
// cannot tell "absent" from "1970").
type presence struct {
	iss, exp, nbf, iat bool
	cnf                bool // a confirmation claim (RFC 7800): decided per request by checkBinding, after the cache
}

// parseNumericDate reads a JSON number of seconds since the epoch
// (RFC 7519 §2: fractions allowed).
func parseNumericDate(v string) (time.Time, bool) {
	if v == "" || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return time.Time{}, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > 1<<40 {
			return time.Time{}, false
		}
		return time.Unix(n, 0), true
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// decodeClaims reads the payload (already a string, so every string claim
// is a substring of it), checks RequiredClaims and pre-renders the claims the
// config names (ClaimHeaders, TierClaim).
func (v *Verifier) decodeClaims(payload string) (*Claims, presence, *Error) {
	c := &Claims{raw: payload, decoded: new(atomic.Pointer[map[string]any])}
	var (
		p        presence
		required uint64 // bit i: RequiredClaims[i] seen
		bad      bool
		scope    []string
		scp      []string
	)
	str := func(val string, dst *string) {
		s, ok := jsonString(val)
		if !ok {
			bad = true
		}
		*dst = s
	}
	date := func(val string, dst *time.Time, set *bool) {
		t, ok := parseNumericDate(val)
		if !ok {
			bad = true
		}
		*dst, *set = t, true
	}
	ok := walkObject(payload, func(name, val string) bool {
		switch name {
		case "iss":
			str(val, &c.Issuer)
			p.iss = true
		case "sub":
			str(val, &c.Subject)
		case "aud":
			l, ok := jsonStringList(val)
			bad = bad || !ok
			c.Audience = l
		case "exp":
			date(val, &c.ExpiresAt, &p.exp)
		case "nbf":
			date(val, &c.NotBefore, &p.nbf)
		case "iat":
			date(val, &c.IssuedAt, &p.iat)
		case "jti":
			str(val, &c.ID)
		case "azp":
			str(val, &c.AuthorizedParty)
		case "client_id":
			str(val, &c.ClientID)
		case "scope":
			// RFC 8693's scope is a space-separated string, but some
			// providers emit an array of strings, as others do for scp:
			// both names are read in both shapes, any other is refused.
			if s, ok := jsonString(val); ok {
				c.scopes = strings.Fields(s)
				break
			}
			l, ok := jsonStringList(val)
			bad = bad || !ok
			scope = l
		case "scp":
			l, ok := jsonStringList(val)
			bad = bad || !ok
			scp = l
		case "cnf":
			p.cnf = true
			c.cnf = parseConfirmation(val)
		}
		for i, r := range v.cfg.RequiredClaims {
			if r == name && i < 64 {
				required |= 1 << i
			}
		}
		for _, x := range v.extraNames {
			if x == name {
				if s, ok := rawToText(json.RawMessage(val)); ok {
					c.extra = append(c.extra, claimText{name, s})
				}
			}
		}
		return !bad
	})
	if !ok || bad {
		return nil, p, errPayload
	}
	if n := len(v.cfg.RequiredClaims); n > 0 && required != (uint64(1)<<n)-1 {
		return nil, p, errRequired
	}
	for _, list := range [2][]string{scope, scp} {
		for _, l := range list {
			for _, s := range strings.Fields(l) {
				if !slices.Contains(c.scopes, s) {
					c.scopes = append(c.scopes, s)
				}
			}
		}
	}
	if len(v.cfg.Issuers) > 1 {
		if key := DefaultRateLimitKey(c, nil); key != "" {
			c.issKey = c.Issuer + "#" + key
		}
	}
	return c, p, nil
}

func (v *Verifier) checkClaims(c *Claims, p presence, now time.Time) *Error {
	leeway := v.cfg.Leeway
	if p.exp {
		if !now.Before(c.ExpiresAt.Add(leeway)) {
			return errExpired
		}
	} else if !v.cfg.ExpOptional {
		return errNoExp
	}
	if p.nbf && now.Add(leeway).Before(c.NotBefore) {
		return errNotYet
	}
	if p.iat && now.Add(leeway).Before(c.IssuedAt) {
		return errIssuedFuture
	}
	if v.issuers != nil {
		if _, ok := v.issuers[c.Issuer]; !ok || !p.iss {
			return errIssuer
		}
	}
	if len(v.cfg.Audiences) > 0 && !anyAudience(c.Audience, v.cfg.Audiences) {
		return errAudience
	}
	return nil
}

// notBefore returns the instant (unix nanoseconds, 0 for none) before which
// a cached token must be refused again, and the error to refuse it with:
// the later of nbf and iat, less the leeway, as checkClaims would judge it.
func notBefore(c *Claims, p presence, leeway time.Duration) (int64, *Error) {
	var (
		at  int64
		err *Error
	)
	if p.nbf {
		at, err = c.NotBefore.Add(-leeway).UnixNano(), errNotYet
	}
	if p.iat {
		if t := c.IssuedAt.Add(-leeway).UnixNano(); err == nil || t > at {
			at, err = t, errIssuedFuture
		}
	}
	return at, err
}

// anyAudience reports whether the token's aud holds one of accepted,
// compared exactly (RFC 7519 §4.1.3: a case-sensitive string; no
// normalisation, so a trailing slash is another audience).
func anyAudience(aud, accepted []string) bool {
	for _, a := range aud {
		if slices.Contains(accepted, a) {
			return true
		}
	}
	return false
}

func (v *Verifier) runValidate(ctx context.Context, c *Claims) *Error {
	if v.cfg.Validate == nil {
		return nil
	}
	if err := v.cfg.Validate(ctx, c); err != nil {
		return &Error{kind: ErrClaimsInvalid, desc: "token rejected", cause: err}
	}
	return nil
}
