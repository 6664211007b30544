package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/forwarded"
	"github.com/jwtgate/jwtgate/ratelimit"
)

// Defaults for the Config fields whose zero value means "the default".
const (
	DefaultMaxTokenSize     = 8 << 10
	DefaultLeeway           = 30 * time.Second
	DefaultTokenCacheSize   = 10_000
	DefaultTokenCacheMaxAge = 10 * time.Minute
	DefaultRealm            = "jwtgate"
	DefaultRetryAfter       = 5 * time.Second
	DefaultMinRSABits       = 2048
)

// DefaultAlgorithms is the allow-list used when Config.Algorithms is empty:
// every asymmetric JWS algorithm, never "none" and never HS*. "Ed25519" is
// RFC 9864's fully specified name for the EdDSA listed before it (this
// package's EdDSA is Ed25519 only), so it adds no algorithm.
func DefaultAlgorithms() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
}

// Config configures a Verifier. The zero value of every field is a safe
// default; New copies the Config, its slices and maps included, so changing
// it afterwards has no effect.
type Config struct {
	// Keys is the key set for every token: a *cache.Cache, or any
	// jwkset.Storage (tests: jwkset.NewMemoryStorage()). Exactly one of Keys,
	// KeysByIssuer and HMACSecret-only (Algorithms all HS*) must supply keys.
	Keys jwkset.Storage
	// KeysByIssuer holds one key set per issuer (for example
	// (*cache.Multi).Storages()). The token's iss picks the set; an iss that
	// is not in the map is rejected (401) before any key look-up. Its keys
	// are also the accepted issuers when Issuers is empty.
	KeysByIssuer map[string]jwkset.Storage

	// Issuers are the accepted iss values. Empty: iss is not checked (unless
	// KeysByIssuer is set, whose keys are then the accepted issuers), and New
	// logs a warning.
	Issuers []string
	// Audiences are the accepted aud values; the token's aud (a string or an
	// array) must contain one of them. Empty: aud is not checked, and New
	// logs a warning.
	Audiences []string
	// Algorithms is the alg allow-list. Empty: DefaultAlgorithms() (RS*,
	// PS*, ES*, EdDSA, Ed25519). "none" is always refused. HS256/384/512 may
	// be listed only together with HMACSecret. "EdDSA" means Ed25519 only
	// (no Ed448) and also allows tokens with alg "Ed25519", its fully
	// specified name (RFC 9864); "Ed25519" alone does not allow the
	// deprecated "EdDSA". A JWK whose alg is either name verifies both.
	Algorithms []string
	// Types is the typ allow-list (RFC 8725 §3.11): when set, the token
	// header's typ must be one of them, so a token of another kind from the
	// same issuer (an ID token, typ "JWT") is not taken for an access token
	// (RFC 9068: "at+jwt"). Compared case-insensitively, with an
	// "application/" prefix ignored on both sides when nothing else in the
	// value has a '/' (RFC 7515 §4.1.9). A missing or non-string typ is then
	// rejected (401 invalid_token, "token type not accepted"). Empty: typ is
	// not checked.
	Types []string
	// HMACSecret is the shared secret for HS* tokens. HS* tokens are verified
	// with this secret only, never with a key from a JWK Set. Nil: HS* is
	// refused. It must be at least as long as the largest listed HS* hash
	// (32 bytes for HS256).
	HMACSecret []byte
	// KIDOptional accepts tokens without a kid header. The key set must then
	// hold exactly one key usable with the token's alg. False (default): a
	// token without kid is rejected (401).
	KIDOptional bool
	// MinRSABits is the smallest RSA modulus accepted. 0 means 2048.
	MinRSABits int

	// Leeway is the clock skew allowed for exp, nbf and iat. 0 means 30s;
	// a negative value means no leeway.
	Leeway time.Duration
	// ExpOptional accepts tokens without exp. False (default): exp is
	// required.
	ExpOptional bool
	// AllowSenderConstrained accepts tokens that carry a confirmation claim
	// (cnf, RFC 7800) — bound to a DPoP key (jkt, RFC 9449) or a client
	// certificate (x5t#S256, RFC 8705) — as plain bearer tokens, without
	// any proof of possession. Only for a deployment where something in
	// front has already checked the proof. False (default): such a token
	// is refused (401 invalid_token, "token is sender-constrained";
	// RFC 9449 §7.2), so a stolen bound token does not work here.
	AllowSenderConstrained bool
	// DPoP configures DPoP-bound tokens (RFC 9449): see DPoP. The zero
	// value is off; a Route may set its own mode.
	DPoP DPoP
	// CertificateBoundTokens accepts tokens bound to a client certificate
	// (cnf["x5t#S256"], RFC 8705 §3) when the request presents that
	// certificate: from the TLS connection, or from a trusted proxy's
	// Client-Cert header (RFC 9440; see Forwarded). False (default): such
	// tokens are refused like any cnf token (ErrSenderConstrained).
	CertificateBoundTokens bool
	// Forwarded decides which forwarded headers count, for DPoP's htu and
	// the client certificate: those of trusted proxies only, and for the
	// scheme, host and certificate only. DPoP's htm and the htu's path are
	// the request's own (Resolver.View), unless a face put the request's
	// view in its context (forwarded.NewContext: a decision service's
	// original request, ext_authz's CheckRequest). Set its ExternalURL for
	// a service with one public name. Nil: loopback proxies only, scheme
	// and host from the request.
	Forwarded *forwarded.Resolver
	// RequiredClaims are claim names that must be present (any value).
	RequiredClaims []string
	// Validate is called after the signature and the registered claims
	// check out, on every request (also on a verified-token cache hit), with
	// the request's context. A non-nil error rejects the token as
	// ErrClaimsInvalid (401); its text never reaches the client. Nil: no
	// extra check.
	Validate func(ctx context.Context, c *Claims) error

	// MaxTokenSize is the largest token accepted, in bytes, checked before
	// any decoding. 0 means 8 KiB.
	MaxTokenSize int
	// CookieName, when set, also reads the token from this cookie.
	CookieName string
	// HeaderName, when set, also reads the raw token (no "Bearer ") from
	// this header.
	HeaderName string
	// AllowQuery also reads the token from the access_token query parameter
	// (RFC 6750 §2.3; discouraged: URLs end up in logs). False (default): a
	// request with access_token in its query is refused with 400.
	AllowQuery bool
	// APIKeyHeader names a header that carries an API key (for example
	// "X-Api-Key", as Anthropic's SDKs send it), read on routes whose
	// credentials include CredentialAPIKey (Route.APIKeys). A request with
	// a key there and a token elsewhere is 400. "": keys come only as
	// bearer tokens.
	APIKeyHeader string
	// DisableAuthorizationHeader stops reading "Authorization: Bearer".
	// False (default): the Authorization header is read.
	DisableAuthorizationHeader bool
	// Optional lets requests without any token through without claims; a
	// token that is present must still be valid. False (default): no token
	// is 401.
	Optional bool

	// TokenCacheSize bounds the verified-token cache. 0 means 10,000
	// entries; a negative value turns the cache off.
	TokenCacheSize int
	// TokenCacheMaxAge bounds how long a verified token is reused without
	// checking its signature again; an entry also ends at the token's exp.
	// 0 means 10 minutes. An introspected token is kept too, for the route
	// whose Introspector answered and no longer than that answer's
	// IntrospectionResult.Until.
	TokenCacheMaxAge time.Duration
	// TokenCacheDoorkeeper caches a verified token only when it is seen
	// a second time (a small table of recent tokens' hashes remembers the
	// first sighting): where most tokens are never repeated (many users,
	// short-lived tokens), the cache then stops paying for entries that
	// would never be hit and stops evicting the ones that would, at the
	// cost of one more signature check per repeated token. False
	// (default): every verified token is cached at once.
	TokenCacheDoorkeeper bool

	// ClaimHeaders forwards claims to the next handler as request headers:
	// claim name → header name. A header the client sent with the same name
	// is removed first, so clients cannot forge it. Claims that are strings,
	// numbers or booleans are forwarded as text, arrays of strings joined
	// with ","; other claims, and values with control characters (a line
	// break), are skipped. Headers the client sent under a configured name
	// in any case, or with '_' for '-', are removed. Nil: nothing is
	// forwarded.
	ClaimHeaders map[string]string

	// Resource makes every route of the Verifier an OAuth protected
	// resource (RFC 9728; an MCP server): see Resource. Validated by New.
	// Nil: none (a route may still set Route.Resource).
	Resource *Resource

	// RateLimit limits requests per verified subject after the token
	// verifies. The zero value (nil Limiter, no Tiers) means no limit.
	RateLimit RateLimit

	// Realm is the realm in WWW-Authenticate challenges. "" means "jwtgate".
	Realm string
	// RetryAfter is the Retry-After sent with 503 when keys are
	// unavailable. 0 means 5s.
	RetryAfter time.Duration
	// ErrorHandler writes the response for a rejected request. The error it
	// gets matches the package's sentinels (errors.Is) and *Error
	// (errors.As), and carries Realm and RetryAfter: passing it on to
	// WriteError answers with them. Nil: the package's writer (status,
	// WWW-Authenticate, small JSON body; see WriteError) with Realm and
	// RetryAfter.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// OnVerify is the observation seam: called once per request the
	// Verifier decides on (Handler, Authenticate, adapters), at the end of
	// authentication, with the outcome, its reason and how long
	// verification took; RequireScopes reports its own rejections too. Not
	// called by Verify. It runs on the request path: keep it fast. Nil:
	// nothing is reported.
	OnVerify func(VerifyEvent)
	// Logger receives one debug line per rejected request with the reason
	// (never the token), and from New one Warn line when iss or aud is not
	// checked (Issuers/KeysByIssuer or Audiences empty; RFC 8725 §3.9),
	// with attribute unchecked="iss", "aud" or "iss,aud". Nil:
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

// VerifyEvent describes one request the Verifier decided, for metrics and
// tracing: OnVerify gets exactly one per request, once authentication is
// over (verification, the route's audiences and scopes, the rate limit).
type VerifyEvent struct {
	// Context is the request's, so that a tracer can parent a span on it.
	Context context.Context
	// Reason is Reason(Err): "ok" when the request was let through, else
	// the stage and cause of the rejection ("expired", "signature",
	// "scope", "rate_limited", …).
	Reason string
	// Err is nil when the request was let through.
	Err error
	// Anonymous reports a request without a token that Optional let
	// through (Reason "ok", no claims).
	Anonymous bool
	// Recheck marks the event of a RequireScopes rejection: the request
	// was verified, and reported as let through, by the Verifier before;
	// no verification took place for this event. (A route's scopes set
	// with With are decided in the one event instead.)
	Recheck bool
	// Duration is the time spent extracting and verifying the token (not
	// the rate limiter or the next handler); 0 for a rejection by
	// RequireScopes, which runs after the Verifier.
	Duration time.Duration
	// CacheHit reports whether the verified-token cache answered.
	CacheHit bool
	// Alg is the token's alg once it has passed the allow-list, "" before
	// (so an attacker cannot grow a metric's label set), and for a
	// credential that is not a JWT.
	Alg string
	// Kind is the kind of credential that decided (Route.Credentials); 0
	// when none did (no credential, a request refused before).
	Kind CredentialKind
}

// RateLimit configures the limiter the Verifier calls after a token
// verifies. The zero value means no limit.
type RateLimit struct {
	// Limiter is the default limiter. Nil: no limit, except for tokens whose
	// tier (see TierClaim) has a limiter in Tiers.
	Limiter ratelimit.Limiter
	// Key names the bucket a request spends from. Nil: the verified sub,
	// falling back to "azp:"+azp, then "client_id:"+client_id
	// (DefaultRateLimitKey; prefixed so a client cannot share a user's
	// bucket), with "iss#" in front when more than one issuer is accepted,
	// since sub is unique only within its issuer. A request whose key is "" is not
	// limited (it has no verified identity to be limited by; reported to
	// OnDecision with Reason "no_key").
	Key func(c *Claims, r *http.Request) string
	// Cost is how many units a request spends. Nil: 1. Values below 1 are
	// treated as 1.
	Cost func(c *Claims, r *http.Request) int
	// TierClaim names a string claim (for example "plan") whose value picks
	// a limiter from Tiers. "": no tiers.
	TierClaim string
	// Tiers maps TierClaim values to limiters. A value not in the map (or a
	// missing claim) uses Limiter.
	Tiers map[string]ratelimit.Limiter
	// OnError decides what happens when the limiter returns an error. It
	// returns nil to let the request through, or an error to reject it.
	// Nil: the request is rejected with ErrLimiterUnavailable (503).
	OnError func(r *http.Request, err error) error
	// OnDecision is called for every limiter call (allowed, limited or
	// error), for metrics. Nil: nothing is reported.
	OnDecision func(RateLimitEvent)
}

// RateLimitEvent describes one limiter call.
type RateLimitEvent struct {
	// Context is the request's, so that a tracer can parent a span on it.
	Context context.Context
	// Reason is "allowed", "limited", "error" or "no_key".
	Reason   string
	Key      string
	Tier     string
	Cost     int
	Decision ratelimit.Decision
	Err      error
}

func (rl *RateLimit) enabled() bool {
	return rl.Limiter != nil || len(rl.Tiers) > 0
}

// ErrInvalidConfig is wrapped by every configuration error New returns
// (and by the cause of a route that With refuses).
var ErrInvalidConfig = errors.New("middleware: invalid config")

// errConfig is ErrInvalidConfig, for the package's own use.
var errConfig = ErrInvalidConfig

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errConfig}, args...)...)
}

var hmacMinLen = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// normalizeTypes lower-cases a typ allow-list and drops "application/"
// prefixes, as typeAccepted compares them; an empty entry is an error.
func normalizeTypes(ts []string) ([]string, error) {
	types := make([]string, 0, len(ts))
	for _, t := range ts {
		t = strings.ToLower(mediaTypeShort(t))
		if t == "" {
			return nil, configErr("Types has an empty entry")
		}
		types = append(types, t)
	}
	return types, nil
}

// checkClaimHeaders refuses a claim → header mapping the Verifier cannot
// honour: empty names, or a header that would overwrite the credential.
func checkClaimHeaders(m map[string]string) error {
	for name, h := range m {
		if name == "" || h == "" || http.CanonicalHeaderKey(h) == "Authorization" {
			return configErr("ClaimHeaders: bad mapping %q → %q", name, h)
		}
	}
	return nil
}

// normalize fills c's defaults, copies what it shares with the caller and
// validates it, one area at a time.
func (c *Config) normalize() error {
	for _, step := range []func() error{
		c.normalizeLimits, c.normalizeAlgorithms, c.normalizeKeys,
		c.normalizeClaims, c.normalizeExtraction, c.normalizeRateLimit, c.DPoP.normalize,
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// normalizeLimits: sizes, leeway, the token cache, RSA size, realm,
// Retry-After, clock and logger.
func (c *Config) normalizeLimits() error {
	if c.MaxTokenSize < 0 {
		return configErr("MaxTokenSize must not be negative")
	}
	if c.MaxTokenSize == 0 {
		c.MaxTokenSize = DefaultMaxTokenSize
	}
	switch {
	case c.Leeway == 0:
		c.Leeway = DefaultLeeway
	case c.Leeway < 0:
		c.Leeway = 0
	}
	if c.TokenCacheSize == 0 {
		c.TokenCacheSize = DefaultTokenCacheSize
	}
	if c.TokenCacheMaxAge < 0 {
		return configErr("TokenCacheMaxAge must not be negative")
	}
	if c.TokenCacheMaxAge == 0 {
		c.TokenCacheMaxAge = DefaultTokenCacheMaxAge
	}
	if c.MinRSABits < 0 {
		return configErr("MinRSABits must not be negative")
	}
	if c.MinRSABits == 0 {
		c.MinRSABits = DefaultMinRSABits
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if strings.ContainsAny(c.Realm, "\"\\\r\n") {
		return configErr("Realm must not contain quotes, backslashes or line breaks")
	}
	if c.RetryAfter < 0 {
		return configErr("RetryAfter must not be negative")
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// normalizeAlgorithms: the alg allow-list, and the HMAC secret HS* needs.
func (c *Config) normalizeAlgorithms() error {
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms()
	} else {
		c.Algorithms = slices.Clone(c.Algorithms)
	}
	for _, a := range c.Algorithms {
		if strings.EqualFold(a, "none") {
			return configErr(`alg "none" is never accepted`)
		}
		if n, ok := hmacMinLen[a]; ok {
			if len(c.HMACSecret) == 0 {
				return configErr("%s listed without HMACSecret", a)
			}
			if len(c.HMACSecret) < n {
				return configErr("HMACSecret is shorter than %d bytes, too short for %s", n, a)
			}
			continue
		}
		if algSpecs[a] == nil {
			return configErr("unsupported algorithm %q", a)
		}
	}
	if len(c.HMACSecret) > 0 && !slices.ContainsFunc(c.Algorithms, func(a string) bool { return hmacMinLen[a] > 0 }) {
		return configErr("HMACSecret set but no HS* algorithm listed in Algorithms")
	}
	c.HMACSecret = slices.Clone(c.HMACSecret)
	return nil
}

// normalizeKeys: where keys come from, and the accepted issuers.
func (c *Config) normalizeKeys() error {
	if c.Keys != nil && len(c.KeysByIssuer) > 0 {
		return configErr("set Keys or KeysByIssuer, not both")
	}
	asym := slices.ContainsFunc(c.Algorithms, func(a string) bool { return hmacMinLen[a] == 0 })
	if asym && c.Keys == nil && len(c.KeysByIssuer) == 0 {
		return configErr("no key set: set Keys or KeysByIssuer")
	}
	for iss, s := range c.KeysByIssuer {
		if iss == "" || s == nil {
			return configErr("KeysByIssuer has an empty issuer or a nil storage")
		}
	}
	if len(c.KeysByIssuer) > 0 {
		if len(c.Issuers) == 0 {
			for iss := range c.KeysByIssuer {
				c.Issuers = append(c.Issuers, iss)
			}
		} else {
			for _, iss := range c.Issuers {
				if _, ok := c.KeysByIssuer[iss]; !ok {
					return configErr("issuer %q has no key set in KeysByIssuer", iss)
				}
			}
		}
	}
	return nil
}

// normalizeClaims: typ, aud and required claims, and the claim headers.
func (c *Config) normalizeClaims() error {
	c.Issuers = slices.Clone(c.Issuers)
	types, err := normalizeTypes(c.Types)
	if err != nil {
		return err
	}
	c.Types = types
	c.Audiences = slices.Clone(c.Audiences)
	c.RequiredClaims = slices.Clone(c.RequiredClaims)
	if len(c.RequiredClaims) > 64 {
		return configErr("more than 64 RequiredClaims")
	}
	if err := checkClaimHeaders(c.ClaimHeaders); err != nil {
		return err
	}
	return nil
}

// normalizeExtraction: where the token is read from.
func (c *Config) normalizeExtraction() error {
	if c.HeaderName != "" && http.CanonicalHeaderKey(c.HeaderName) == "Authorization" {
		return configErr("HeaderName must not be Authorization (read by default; see DisableAuthorizationHeader)")
	}
	if c.APIKeyHeader != "" {
		switch h := http.CanonicalHeaderKey(c.APIKeyHeader); {
		case h == "Authorization", h == "Cookie", h == http.CanonicalHeaderKey(c.HeaderName):
			return configErr("APIKeyHeader must not be %s", h)
		case strings.ContainsAny(h, " \t\r\n:"):
			return configErr("APIKeyHeader %q is not a header name", c.APIKeyHeader)
		}
	}
	if c.DisableAuthorizationHeader && c.HeaderName == "" && c.CookieName == "" && !c.AllowQuery {
		return configErr("DisableAuthorizationHeader leaves no place to read a token from")
	}
	return nil
}

// normalizeRateLimit: the rate limit.
func (c *Config) normalizeRateLimit() error {
	// Maps are read on every request: a caller changing its own after New
	// must neither race with requests nor change a running Verifier.
	c.KeysByIssuer = maps.Clone(c.KeysByIssuer)
	c.ClaimHeaders = maps.Clone(c.ClaimHeaders)
	c.RateLimit.Tiers = maps.Clone(c.RateLimit.Tiers)
	if c.RateLimit.TierClaim == "" && len(c.RateLimit.Tiers) > 0 {
		return configErr("RateLimit.Tiers set without RateLimit.TierClaim")
	}
	return nil
}
