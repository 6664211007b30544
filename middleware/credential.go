package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// CredentialKind names a kind of credential a route accepts: a JWT
// verified here, an opaque token an authorization server introspects
// (RFC 7662), or an API key. Claims.Kind and VerifyEvent.Kind say which
// kind decided a request.
type CredentialKind uint8

const (
	// CredentialJWT is a compact JWS verified against the Verifier's keys.
	CredentialJWT CredentialKind = iota + 1
	// CredentialIntrospection is a token the route's Introspector answers
	// for (RFC 7662): any bearer token that is not a compact JWS.
	CredentialIntrospection
	// CredentialAPIKey is a key the route's APIKeys store knows: from
	// Config.APIKeyHeader, or a bearer token the store recognises.
	CredentialAPIKey
)

// String returns "jwt", "introspection" or "api_key" (the names
// UnmarshalText reads, and the metrics label).
func (k CredentialKind) String() string {
	switch k {
	case CredentialJWT:
		return "jwt"
	case CredentialIntrospection:
		return "introspection"
	case CredentialAPIKey:
		return "api_key"
	}
	return "CredentialKind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText returns String's name, so a config struct can hold a
// CredentialKind as YAML or JSON text.
func (k CredentialKind) MarshalText() ([]byte, error) {
	switch k {
	case CredentialJWT, CredentialIntrospection, CredentialAPIKey:
		return []byte(k.String()), nil
	}
	return nil, configErr("CredentialKind(%d)", uint8(k))
}

// UnmarshalText reads "jwt", "introspection" or "api_key".
func (k *CredentialKind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "jwt":
		*k = CredentialJWT
	case "introspection":
		*k = CredentialIntrospection
	case "api_key":
		*k = CredentialAPIKey
	default:
		return configErr("credential kind %q: want jwt, introspection or api_key", b)
	}
	return nil
}

// Introspector answers whether an opaque token is active (RFC 7662):
// package introspect's *Client, or a test double. It must be safe for
// concurrent use.
//
// Introspect returns the answer for an active token (the same
// *IntrospectionResult for every request it caches it for, so that the
// Verifier decodes it once); an error matching ErrTokenInactive when the
// authorization server says the token is not active (401); any other error
// when it cannot decide — the endpoint down, slow, answering 5xx or refusing
// the client's credentials — which the Verifier answers with 503 and
// Retry-After, never 401: the client did nothing wrong.
type Introspector interface {
	Introspect(ctx context.Context, token string) (*IntrospectionResult, error)
}

// IntrospectorAt is an Introspector's optional capability, found by type
// assertion once per route: IntrospectAt is Introspect at the Verifier's
// clock reading now, so that a cache hit reads no clock of its own (a
// clock read costs as much as the rest of a hit on some machines).
type IntrospectorAt interface {
	IntrospectAt(ctx context.Context, token string, now time.Time) (*IntrospectionResult, error)
}

// RevocationChecker is an Introspector's optional capability, found by
// type assertion: when IntrospectsJWTs reports true, a JWT that verifies on
// a route with that Introspector is introspected too, so that a revoked JWT
// is refused before it expires (ErrTokenInactive).
type RevocationChecker interface {
	IntrospectsJWTs() bool
}

// IntrospectionResult is an active token's introspection answer.
// Create it with NewIntrospectionResult; it is immutable and safe for
// concurrent use.
type IntrospectionResult struct {
	endpoint string
	raw      string
	// until (unix nanoseconds; 0: not said) is when the Introspector stops
	// reusing the answer (NewIntrospectionResultUntil).
	until int64
	memo  atomic.Pointer[credentialMemo]
}

// NewIntrospectionResult returns the answer raw (the JSON object, exactly
// as the endpoint sent it, whose "active" member is true) from endpoint.
// Its members are the token's claims (RFC 7662 §2.2: exp, nbf, iss, aud,
// sub, scope, client_id, token_type, …), checked by the Verifier as a JWT's
// are.
func NewIntrospectionResult(endpoint, raw string) *IntrospectionResult {
	return &IntrospectionResult{endpoint: endpoint, raw: raw}
}

// NewIntrospectionResultUntil is NewIntrospectionResult for an answer the
// Introspector reuses until until (its own cache's end for the answer:
// min(exp, its max age)), on the clock of the now the Verifier passed to
// IntrospectAt. The Verifier may then answer the token from its
// verified-token cache — keyed like a JWT's, the whole token compared, the
// entry bound to this route's Introspector — until then and never later,
// without asking the Introspector (and so without hashing the token for
// its cache). A zero until, or an Introspector that is not an
// IntrospectorAt, leaves every request to the Introspector.
func NewIntrospectionResultUntil(endpoint, raw string, until time.Time) *IntrospectionResult {
	r := &IntrospectionResult{endpoint: endpoint, raw: raw}
	if !until.IsZero() {
		r.until = until.UnixNano()
	}
	return r
}

// Until returns when the Introspector stops reusing the answer (zero: it
// did not say).
func (r *IntrospectionResult) Until() time.Time {
	if r.until == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.until)
}

// Endpoint returns the introspection endpoint that answered.
func (r *IntrospectionResult) Endpoint() string { return r.endpoint }

// Raw returns the answer's JSON.
func (r *IntrospectionResult) Raw() string { return r.raw }

// APIKeyStore finds the record of an API key: package apikey's *Store, or
// a test double. It must be safe for concurrent use.
//
// LookupAPIKey returns the record for key (the same *APIKey for every
// request while the record is unchanged, so that the Verifier builds its
// claims once); an error matching ErrTokenInactive when no record matches
// (401); any other error when it cannot decide (503). It must compare in
// constant time and must never put the key in an error, a log line or a
// metric.
type APIKeyStore interface {
	LookupAPIKey(ctx context.Context, key string) (*APIKey, error)
}

// APIKeyRecognizer is an APIKeyStore's optional capability, found by type
// assertion: a bearer token that is not a JWS goes to the store only when
// RecognizesAPIKey says it has the store's shape (its prefix). A store
// without it recognises every such token.
type APIKeyRecognizer interface {
	RecognizesAPIKey(token string) bool
}

// APIKeyVersioner is an APIKeyStore's optional capability, found by type
// assertion once per route: a store that can say when its keys may have
// changed lets the Verifier answer a repeated key from its verified-token
// cache (keyed like a JWT's, the whole key kept in the entry and compared,
// the entry bound to this store) instead of asking the store again.
//
// APIKeyVersion returns a number that changes whenever a key may have been
// added, changed or revoked (a reload), and whether the store's answers may
// be reused at all: a store that asks a remote source with no change
// signal (Redis) says false, and every request goes to it. A store that is
// not a pointer gets no cache (its entries could not be compared with the
// route's store).
type APIKeyVersioner interface {
	APIKeyVersion() (version uint64, reusable bool)
}

// APIKey is what a store holds for one key: never the key, only what it
// grants. Treat it as read-only once a store hands it out.
type APIKey struct {
	// ID names the key in logs and metrics (never the key itself).
	ID string
	// Subject is the sub of the claims the key is verified as.
	Subject string
	// Scopes the key grants.
	Scopes []string
	// Tier is the key's rate-limit tier: the claim RateLimit.TierClaim
	// names ("tier" when that is empty). "": none.
	Tier string
	// ExpiresAt ends the key (401 "token expired" after it). Zero: no end.
	ExpiresAt time.Time

	memo atomic.Pointer[credentialMemo]
}

// credentialMemo is a credential's claims as one Verifier configuration
// decoded them (a store may serve several): owner is that configuration.
//
// Everything that depends only on the claims and the configuration (iss,
// aud, token_type, their shapes) is decided once, into err; what depends on
// the clock is reduced to two instants checked on every request.
type credentialMemo struct {
	owner *shared
	c     *Claims
	err   *Error
	// expAt (unix nanoseconds; 0: no exp) is exp plus the leeway: from
	// then on, errExpired.
	expAt int64
	// notBefore (unix nanoseconds; 0: none) is the later of nbf and iat
	// less the leeway: before it, notYet.
	notBefore int64
	notYet    *Error
}

var (
	errInactive        = &Error{kind: ErrTokenInactive, desc: "token not active"}
	errKeyRejected     = &Error{kind: ErrTokenInactive, desc: "api key not accepted"}
	errKindNotAccepted = &Error{kind: ErrTokenMalformed, desc: "credential kind not accepted"}
	errTokenType       = &Error{kind: ErrClaimsInvalid, desc: "token type not accepted"}
)

// kinds is the route's order: Credentials, or for a route without, JWT
// then whatever the route has an endpoint or a store for.
func (rt *Route) kinds() []CredentialKind {
	if len(rt.Credentials) > 0 {
		return rt.Credentials
	}
	k := []CredentialKind{CredentialJWT}
	if rt.Introspection != nil {
		k = append(k, CredentialIntrospection)
	}
	if rt.APIKeys != nil {
		k = append(k, CredentialAPIKey)
	}
	return k
}

// checkCredentials refuses an order the route cannot serve.
func checkCredentials(rt *Route) error {
	var errs []error
	for i, k := range rt.Credentials {
		if _, err := k.MarshalText(); err != nil {
			errs = append(errs, configErr("Route.Credentials: unknown kind %d", uint8(k)))
		}
		if slices.Contains(rt.Credentials[:i], k) {
			errs = append(errs, configErr("Route.Credentials lists %s twice", k))
		}
		if k == CredentialIntrospection && rt.Introspection == nil {
			errs = append(errs, configErr("Route.Credentials lists introspection but Route.Introspection is nil"))
		}
		if k == CredentialAPIKey && rt.APIKeys == nil {
			errs = append(errs, configErr("Route.Credentials lists api_key but Route.APIKeys is nil"))
		}
	}
	return errors.Join(errs...)
}

// looksLikeJWS reports whether token has a compact JWS's shape: three
// base64url segments whose header starts like a JSON object ("eyJ" is
// `{"`). The JWT kind recognises exactly these; anything else is an opaque
// token or a key.
func looksLikeJWS(token string) bool {
	return strings.HasPrefix(token, "eyJ") && strings.Count(token, ".") == 2
}

// credential says where the request's credential came from.
type credential struct {
	token  string
	keyHdr bool // from Config.APIKeyHeader: an API key, whatever it looks like
}

// verifyCredential is the first match: the first kind of the route's
// order that recognises the credential decides it, and a credential it
// refuses is never tried as another kind. now is the request's reading of
// the Verifier's clock: every check of the request, and the rate limit
// after them, use this one.
func (v *Verifier) verifyCredential(ctx context.Context, cr credential, now time.Time, alg *string) (*Claims, bool, CredentialKind, *Error) {
	if cr.keyHdr {
		c, hit, err := v.verifyAPIKey(ctx, cr.token, now)
		return c, hit, CredentialAPIKey, err
	}
	if v.jwtOnly {
		// The common route: no classification to pay for.
		c, hit, err := v.verifyAt(ctx, cr.token, now, alg)
		return c, hit, CredentialJWT, err
	}
	// cr.token's size was checked where it came in: extract for a
	// request, Verify for a caller's token.
	jws := looksLikeJWS(cr.token)
	for _, k := range v.kinds {
		switch {
		case k == CredentialJWT && jws:
			c, hit, err := v.verifyJWT(ctx, cr.token, now, alg)
			return c, hit, CredentialJWT, err
		case k == CredentialIntrospection && !jws:
			c, hit, err := v.verifyIntrospected(ctx, cr.token, now)
			return c, hit, CredentialIntrospection, err
		case k == CredentialAPIKey && !jws && v.recognizesKey(cr.token):
			c, hit, err := v.verifyAPIKey(ctx, cr.token, now)
			return c, hit, CredentialAPIKey, err
		}
	}
	if !jws && slices.Contains(v.kinds, CredentialJWT) {
		// Nothing else wants it: the JWT check says what is wrong with it
		// (the answer a JWT-only Verifier has always given). A JWS that
		// does not start "eyJ" (whitespace before its header's JSON) can
		// still verify, so revocation is checked here as well.
		c, hit, err := v.verifyJWT(ctx, cr.token, now, alg)
		return c, hit, CredentialJWT, err
	}
	return nil, false, 0, errKindNotAccepted
}

// verifyJWT is the JWT kind: the signature and claims, then, in
// revocation-aware mode, the Introspector's word on a token that verified.
func (v *Verifier) verifyJWT(ctx context.Context, token string, now time.Time, alg *string) (*Claims, bool, *Error) {
	c, hit, err := v.verifyAt(ctx, token, now, alg)
	if err == nil && v.revocation {
		if err = v.checkRevoked(ctx, token); err != nil {
			c = nil
		}
	}
	return c, hit, err
}

func (v *Verifier) recognizesKey(token string) bool {
	return v.keyRecognizer == nil || v.keyRecognizer.RecognizesAPIKey(token)
}

// checkRevoked asks the route's Introspector about a JWT that verified
// (revocation-aware mode).
func (v *Verifier) checkRevoked(ctx context.Context, token string) *Error {
	_, err := v.route.Introspection.Introspect(ctx, token)
	return introspectionError(err)
}

func introspectionError(err error) *Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrTokenInactive):
		return errInactive
	}
	return &Error{kind: ErrKeysUnavailable, desc: "introspection unavailable", cause: err}
}

// verifyIntrospected decides an opaque token by the route's Introspector:
// its answer's members are checked as a JWT's claims are (exp, nbf, iat,
// iss when present, aud, required claims, token_type, Validate). A token
// the route's own Introspector answered for before is found in the
// verified-token cache (as a JWT is: a seeded hash, the whole token
// compared), until the Introspector's own reuse of the answer ends; it
// reports whether that cache answered.
func (v *Verifier) verifyIntrospected(ctx context.Context, token string, now time.Time) (*Claims, bool, *Error) {
	var h uint64
	if v.introCache {
		var e *cacheEntry
		// Bound to the Introspector (so to its endpoint): an entry another
		// route's endpoint vouched for is a miss here, and this route's
		// endpoint is asked (the oathkeeper CVE-2026-33496 pattern).
		if e, h = v.cache.get(token, now.UnixNano()); e != nil && e.intro == v.route.Introspection {
			if e.notBefore != 0 && now.UnixNano() < e.notBefore {
				return nil, true, e.notYet
			}
			if err := v.runValidate(ctx, e.claims); err != nil {
				return nil, true, err
			}
			return e.claims, true, nil
		}
	}
	var (
		res *IntrospectionResult
		err error
	)
	if v.introspectAt != nil {
		res, err = v.introspectAt.IntrospectAt(ctx, token, now)
	} else {
		res, err = v.route.Introspection.Introspect(ctx, token)
	}
	if err != nil {
		return nil, false, introspectionError(err)
	}
	if res == nil {
		return nil, false, errInactive
	}
	m := res.memo.Load()
	if m == nil || m.owner != v.shared {
		m = v.decodeCredential(res.raw, CredentialIntrospection)
		res.memo.Store(m)
	}
	c, cerr := v.checkCredentialClaims(ctx, m, now)
	if cerr != nil {
		return nil, false, cerr
	}
	if v.introCache && res.until > now.UnixNano() && v.cache.admit(h) {
		// Never past the Introspector's own reuse of the answer (so a
		// revocation is seen when it would have been), the token's exp or
		// TokenCacheMaxAge.
		until := min(res.until, now.Add(v.cfg.TokenCacheMaxAge).UnixNano())
		if m.expAt != 0 {
			until = min(until, m.expAt)
		}
		v.cache.put(h, &cacheEntry{token: token, claims: c, until: until,
			notBefore: m.notBefore, notYet: m.notYet, intro: v.route.Introspection})
	}
	return c, false, nil
}

// verifyAPIKey decides an API key by the route's store. A key this
// route's store answered for before, under the store's current version, is
// found in the verified-token cache (as a JWT is: a seeded hash of the key,
// the whole key compared), never past the key's expiry or TokenCacheMaxAge;
// it reports whether that cache answered.
func (v *Verifier) verifyAPIKey(ctx context.Context, key string, now time.Time) (*Claims, bool, *Error) {
	if v.route.APIKeys == nil {
		return nil, false, errKindNotAccepted
	}
	// key's size was checked where it came in (extract, extractCredential
	// or Verify).
	var (
		h, ver  uint64
		reusing bool
	)
	if v.keyVersioner != nil {
		// The version is read before the store is asked: a reload between
		// the two leaves the entry under the older version, so it never
		// answers after the reload.
		ver, reusing = v.keyVersioner.APIKeyVersion()
	}
	if reusing {
		var e *cacheEntry
		// Bound to the store and its version: an entry another route's
		// store vouched for is a miss here, and so is one from before the
		// store last reloaded (a revoked key is refused at once).
		if e, h = v.cache.get(key, now.UnixNano()); e != nil && e.keys == v.route.APIKeys && e.keyVer == ver {
			if err := v.runValidate(ctx, e.claims); err != nil {
				return nil, true, err
			}
			return e.claims, true, nil
		}
	}
	k, err := v.route.APIKeys.LookupAPIKey(ctx, key)
	switch {
	case err != nil && errors.Is(err, ErrTokenInactive):
		return nil, false, errKeyRejected
	case err != nil:
		return nil, false, &Error{kind: ErrKeysUnavailable, desc: "api key store unavailable", cause: err}
	case k == nil:
		return nil, false, errKeyRejected
	}
	m := k.memo.Load()
	if m == nil || m.owner != v.shared {
		m = v.decodeCredential(v.apiKeyClaims(k), CredentialAPIKey)
		k.memo.Store(m)
	}
	c, cerr := v.checkCredentialClaims(ctx, m, now)
	if cerr != nil {
		return nil, false, cerr
	}
	if reusing && m.notBefore == 0 && v.cache.admit(h) {
		// Never past the key's expiry (no leeway for a key) or
		// TokenCacheMaxAge.
		until := now.Add(v.cfg.TokenCacheMaxAge).UnixNano()
		if m.expAt != 0 {
			until = min(until, m.expAt)
		}
		v.cache.put(h, &cacheEntry{token: key, claims: c, until: until, keys: v.route.APIKeys, keyVer: ver})
	}
	return c, false, nil
}

// apiKeyClaims renders a key's record as the claims it is verified as.
func (v *Verifier) apiKeyClaims(k *APIKey) string {
	doc := map[string]any{"sub": k.Subject}
	if k.ID != "" {
		doc["key_id"] = k.ID
	}
	if len(k.Scopes) > 0 {
		doc["scope"] = strings.Join(k.Scopes, " ")
	}
	if k.Tier != "" {
		name := v.cfg.RateLimit.TierClaim
		if name == "" {
			name = "tier"
		}
		doc[name] = k.Tier
	}
	if !k.ExpiresAt.IsZero() {
		doc["exp"] = k.ExpiresAt.Unix()
	}
	b, _ := json.Marshal(doc) // strings and numbers only: cannot fail
	return string(b)
}

func (v *Verifier) decodeCredential(raw string, kind CredentialKind) *credentialMemo {
	c, p, err := v.decodeClaims(raw)
	m := &credentialMemo{owner: v.shared, c: c, err: err}
	if err != nil {
		return m
	}
	c.kind = kind
	leeway := v.cfg.Leeway
	if kind == CredentialAPIKey {
		// A key's end is its own; no clock skew to allow for.
		leeway = 0
	}
	if p.exp {
		m.expAt = c.ExpiresAt.Add(leeway).UnixNano()
	}
	m.notBefore, m.notYet = notBefore(c, p, leeway)
	if kind == CredentialIntrospection {
		m.err = v.checkIntrospected(c, p)
	}
	return m
}

// checkIntrospected decides what an introspection answer's claims say
// whatever the time: iss (when present) and aud as for a JWT, token_type
// (when present) an access token's.
func (v *Verifier) checkIntrospected(c *Claims, p presence) *Error {
	var tt string
	if ok, err := c.Get("token_type", &tt); err != nil {
		return errPayload
	} else if ok {
		if !accessTokenType(tt) {
			return errTokenType
		}
		// A route's Types compare with token_type, as with a JWT's typ.
		c.typ = tt
	}
	if v.issuers != nil && p.iss {
		if _, ok := v.issuers[c.Issuer]; !ok {
			return errIssuer
		}
	}
	if len(v.cfg.Audiences) > 0 && !anyAudience(c.Audience, v.cfg.Audiences) {
		return errAudience
	}
	return nil
}

// accessTokenType reports whether an introspection answer's token_type
// names an access token: a refresh token (or an ID token) introspected as
// active must not pass for one.
func accessTokenType(tt string) bool {
	switch strings.ToLower(tt) {
	case "bearer", "dpop", "access_token", "urn:ietf:params:oauth:token-type:access_token", "n_a":
		return true
	}
	return false
}

// checkCredentialClaims checks a decoded credential on every request, as
// checkClaims does a JWT's: what the memo decided once, then exp (absent
// is fine: the endpoint or the store vouches for the credential now), nbf
// and iat against the clock (now, or a reading of its own when now is
// zero and the memo has instants to check), then Validate.
func (v *Verifier) checkCredentialClaims(ctx context.Context, m *credentialMemo, at time.Time) (*Claims, *Error) {
	if m.err != nil {
		return nil, m.err
	}
	if m.expAt != 0 || m.notBefore != 0 {
		if at.IsZero() {
			at = v.cfg.Now()
		}
		now := at.UnixNano()
		if m.expAt != 0 && now >= m.expAt {
			return nil, errExpired
		}
		if m.notBefore != 0 && now < m.notBefore {
			return nil, m.notYet
		}
	}
	if err := v.runValidate(ctx, m.c); err != nil {
		return nil, err
	}
	return m.c, nil
}

// extractCredential is extract with the route's API-key header: a key
// there is an API key whatever it looks like; a request with a key there
// and a token elsewhere carries two credentials (400).
func (v *Verifier) extractCredential(r *http.Request) (credential, bool, *Error) {
	var vals []string
	if v.keyHeader != "" {
		vals = r.Header.Values(v.keyHeader)
	}
	if len(vals) == 0 {
		t, dpop, err := v.extract(r)
		return credential{token: t}, dpop, err
	}
	if len(vals) > 1 {
		return credential{}, false, errMultiple
	}
	if _, _, err := v.extract(r); err != errMissing {
		if err == nil {
			err = errMultiple
		}
		return credential{}, false, err
	}
	if v.dpopMode == DPoPRequired {
		// A key proves no possession: a route that requires DPoP refuses
		// it as it refuses any bearer credential.
		return credential{}, false, errDPoPRequired
	}
	k := strings.TrimSpace(vals[0])
	if k == "" {
		return credential{}, false, errEmptyBearer
	}
	if len(k) > v.cfg.MaxTokenSize {
		// The one size check an API key meets: neither verifyAPIKey nor
		// the store checks again.
		return credential{}, false, errTooLarge
	}
	return credential{token: k, keyHdr: true}, false, nil
}

// Kind returns which kind of credential the claims come from: CredentialJWT
// for a verified JWT (and for Claims not made by a Verifier),
// CredentialIntrospection or CredentialAPIKey.
func (c *Claims) Kind() CredentialKind {
	if c.kind == 0 {
		return CredentialJWT
	}
	return c.kind
}

// APIKeyHeader returns the header the route reads API keys from
// (Config.APIKeyHeader when the route takes API keys), or "": for faces
// that build the request the Verifier reads (gRPC metadata) and must carry
// that header over.
func (v *Verifier) APIKeyHeader() string { return v.keyHeader }
