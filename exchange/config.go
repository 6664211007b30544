package exchange

import (
	"crypto"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jwtgate/jwtgate/internal/headername"
	"github.com/jwtgate/jwtgate/internal/oauthclient"
	"github.com/jwtgate/jwtgate/internal/upstreamcred"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultMaxEntries      = 10_000
	DefaultTTL             = time.Minute
	DefaultExpiryMargin    = 10 * time.Second
	DefaultRetryAfter      = 5 * time.Second
	DefaultBreakerFailures = 5
	DefaultBreakerTimeout  = 30 * time.Second
	DefaultMaxBodyBytes    = 64 << 10
)

// Token types (RFC 8693 §3) for Config.SubjectTokenType and
// Config.RequestedTokenType.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// Grant type values sent as grant_type.
const (
	grantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	grantTypeJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// Grant is how the subject token is traded.
type Grant int

const (
	// GrantTokenExchange is RFC 8693: subject_token and its type,
	// audience, resource and scope.
	GrantTokenExchange Grant = iota
	// GrantJWTBearer is RFC 7523 §2.1 with the subject token as the
	// assertion (the "on-behalf-of" flow of several providers), with
	// scope, audience and resource when set.
	GrantJWTBearer
)

func (g Grant) String() string {
	switch g {
	case GrantTokenExchange:
		return "token-exchange"
	case GrantJWTBearer:
		return "jwt-bearer"
	}
	return fmt.Sprintf("Grant(%d)", int(g))
}

// MarshalText writes the grant's configuration name.
func (g Grant) MarshalText() ([]byte, error) {
	switch g {
	case GrantTokenExchange, GrantJWTBearer:
		return []byte(g.String()), nil
	}
	return nil, fmt.Errorf("%w: unknown grant %d", ErrInvalidConfig, int(g))
}

// UnmarshalText reads "token-exchange" or "jwt-bearer" ("" is
// token-exchange).
func (g *Grant) UnmarshalText(b []byte) error {
	switch string(b) {
	case "", "token-exchange":
		*g = GrantTokenExchange
	case "jwt-bearer":
		*g = GrantJWTBearer
	default:
		return fmt.Errorf("%w: grant %q: want token-exchange or jwt-bearer", ErrInvalidConfig, b)
	}
	return nil
}

// AuthMethod is how the gateway authenticates itself to the token
// endpoint (OAuth token_endpoint_auth_method).
type AuthMethod int

const (
	// AuthNone sends client_id only (a public client), or nothing when
	// ClientID is empty.
	AuthNone AuthMethod = iota
	// AuthClientSecretBasic sends ClientID and ClientSecret in HTTP Basic
	// authentication (RFC 6749 §2.3.1, form-encoded first).
	AuthClientSecretBasic
	// AuthClientSecretPost sends them as client_id and client_secret in
	// the form.
	AuthClientSecretPost
	// AuthPrivateKeyJWT sends a short-lived JWT signed with PrivateKey
	// (RFC 7523 §2.2, OpenID Connect Core §9).
	AuthPrivateKeyJWT
)

func (m AuthMethod) String() string {
	if m.valid() {
		return oauthclient.Method(m).String()
	}
	return fmt.Sprintf("AuthMethod(%d)", int(m))
}

func (m AuthMethod) valid() bool { return m >= AuthNone && m <= AuthPrivateKeyJWT }

// MarshalText writes the method's OAuth name.
func (m AuthMethod) MarshalText() ([]byte, error) {
	if m.valid() {
		return []byte(m.String()), nil
	}
	return nil, fmt.Errorf("%w: unknown client authentication %d", ErrInvalidConfig, int(m))
}

// UnmarshalText reads an OAuth token_endpoint_auth_method name ("" is
// none).
func (m *AuthMethod) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*m = AuthNone
		return nil
	}
	if om, ok := oauthclient.ParseMethod(string(b)); ok {
		*m = AuthMethod(om) // the same order: AuthNone is MethodNone
		return nil
	}
	return fmt.Errorf("%w: client authentication %q: want one of %s", ErrInvalidConfig, b, strings.Join(oauthclient.MethodNames(), ", "))
}

// AssertionAudience says what a private_key_jwt assertion's aud is:
// AudienceIssuer (the zero value: the issuer identifier, RFC 10070; the
// token endpoint URL when no Issuer is configured) or AudienceEndpoint
// (the token endpoint URL, for servers that accept only that). Its text
// form is "issuer" or "endpoint".
type AssertionAudience = oauthclient.Audience

// The assertion audiences.
const (
	AudienceIssuer   = oauthclient.AudienceIssuer
	AudienceEndpoint = oauthclient.AudienceEndpoint
)

// Binding says what happens to a sender-constrained subject token (a cnf
// claim: DPoP-bound, RFC 9449, or certificate-bound, RFC 8705). The
// exchanged token is a bearer token the gateway holds: whatever bound the
// client's token does not bind it.
type Binding int

const (
	// BindingRefuse (the default) exchanges no sender-constrained token:
	// the request fails with ErrSenderConstrained (401 invalid_token).
	BindingRefuse Binding = iota
	// BindingVerifiedAtEdge exchanges it: the Verifier in front has
	// checked the proof or the client certificate on this very request
	// (it does on every request, cache hit or not), so the binding was
	// kept up to the gateway, and the hop behind it is the gateway's.
	BindingVerifiedAtEdge
)

func (b Binding) String() string {
	switch b {
	case BindingRefuse:
		return "refuse"
	case BindingVerifiedAtEdge:
		return "verified_at_edge"
	}
	return fmt.Sprintf("Binding(%d)", int(b))
}

// MarshalText writes the binding's configuration name.
func (b Binding) MarshalText() ([]byte, error) {
	switch b {
	case BindingRefuse, BindingVerifiedAtEdge:
		return []byte(b.String()), nil
	}
	return nil, fmt.Errorf("%w: unknown binding %d", ErrInvalidConfig, int(b))
}

// UnmarshalText reads "refuse" or "verified_at_edge" ("" is refuse).
func (b *Binding) UnmarshalText(t []byte) error {
	switch string(t) {
	case "", "refuse":
		*b = BindingRefuse
	case "verified_at_edge":
		*b = BindingVerifiedAtEdge
	default:
		return fmt.Errorf("%w: binding %q: want refuse or verified_at_edge", ErrInvalidConfig, t)
	}
	return nil
}

// ClientAuth is the gateway's own credential at the token endpoint.
// Secrets come from the caller (the gateway reads them from the
// environment or a file), never from a config file.
type ClientAuth struct {
	// Method is how the credential is sent. AuthNone with a ClientID
	// sends client_id alone.
	Method AuthMethod
	// ClientID is the gateway's client_id. Required by every method but
	// AuthNone.
	ClientID string
	// ClientSecret is the secret of the two client_secret methods.
	ClientSecret string
	// PrivateKey signs the private_key_jwt assertion: an *ecdsa.PrivateKey
	// (P-256: ES256, P-384: ES384, P-521: ES512), an ed25519.PrivateKey
	// (EdDSA) or an *rsa.PrivateKey (RS256, 2048 bits at least).
	PrivateKey crypto.Signer
	// KeyID is the assertion's kid header. "" means none.
	KeyID string
	// Audience is the assertion's aud. The zero value is AudienceIssuer:
	// Config.Issuer, or the token endpoint URL when no Issuer is set.
	Audience AssertionAudience
}

// Config configures a Transport. New copies it; every zero field but the
// ones marked required means its documented default.
type Config struct {
	// TokenEndpoint is the token endpoint's URL: https, or http on a
	// loopback host (or with AllowInsecureHTTP). Set it, Issuer, or both.
	TokenEndpoint string
	// Issuer is the authorization server's issuer identifier. Without
	// TokenEndpoint, the token endpoint is the token_endpoint of its
	// metadata (RFC 8414's /.well-known/oauth-authorization-server, then
	// OpenID Connect's /.well-known/openid-configuration; the document's
	// issuer must equal Issuer), fetched on the first exchange and kept.
	// With TokenEndpoint, nothing is fetched. Either way it is the
	// private_key_jwt assertion's aud (ClientAuth.Audience). "" means
	// TokenEndpoint alone.
	Issuer string
	// Grant is the grant used. The zero value is GrantTokenExchange.
	Grant Grant
	// Audience is sent as audience (the upstream's logical name). Set it,
	// Resource, or both; at least one is required.
	Audience string
	// Resource is sent as resource (the upstream's URI, RFC 8707).
	Resource string
	// Scopes are sent as scope, space-separated. Empty means no scope
	// parameter.
	Scopes []string
	// SubjectTokenType is the subject_token_type of a token exchange. ""
	// means TokenTypeAccessToken.
	SubjectTokenType string
	// RequestedTokenType is sent as requested_token_type when set. ""
	// means none (the server's default, an access token).
	RequestedTokenType string
	// Client authenticates the gateway to the token endpoint.
	Client ClientAuth
	// Binding decides sender-constrained subject tokens. The zero value
	// refuses them.
	Binding Binding

	// Header is where the exchanged token goes on the upstream request.
	// "" means Authorization.
	Header string
	// Scheme is put before the token with a space. "" means "Bearer" when
	// Header is Authorization, nothing otherwise.
	Scheme string

	// Next sends the upstream request once its credential is set.
	// nil means http.DefaultTransport.
	Next http.RoundTripper
	// HTTPClient calls the token endpoint (and the discovery document).
	// nil means a client of its own whose idle connections Close closes.
	// Redirects are never followed: a token endpoint that redirects is
	// unavailable.
	HTTPClient *http.Client
	// AllowInsecureHTTP allows a plain-http token endpoint on a
	// non-loopback host. false means https only (the client's secret and
	// the subject token travel there).
	AllowInsecureHTTP bool
	// Timeout bounds one exchange (or the discovery fetch), body
	// included; a request's own context bounds its wait for it. 0 means
	// 10s.
	Timeout time.Duration
	// MaxBodyBytes bounds a token endpoint response. 0 means 64 KiB.
	MaxBodyBytes int64

	// MaxEntries bounds the exchanged-token cache; the least recently used
	// entry goes first. 0 means 10000; negative means no cache (every
	// request exchanges, concurrent ones still share one call).
	MaxEntries int
	// DefaultTTL is how long a token whose response has no expires_in is
	// kept (never past the subject token's exp). 0 means 1m.
	DefaultTTL time.Duration
	// ExpiryMargin: an exchanged token is dropped from the cache this long
	// before it (or the subject token) expires, so that it does not expire
	// on its way upstream. 0 means 10s.
	ExpiryMargin time.Duration

	// BreakerFailures is how many consecutive failed exchanges (5xx, 429,
	// time-outs, network errors, unparsable answers; not refusals) open
	// the circuit breaker, which then fails exchanges at once for
	// BreakerTimeout. 0 means 5.
	BreakerFailures int
	// BreakerTimeout is how long the breaker stays open before one trial
	// exchange. 0 means 30s.
	BreakerTimeout time.Duration
	// RetryAfter is the Retry-After of a 503 (WriteError). 0 means 5s.
	RetryAfter time.Duration

	// Now is the clock of cache expiry and of private_key_jwt assertions.
	// nil means time.Now.
	Now func() time.Time
	// Logger receives failed exchanges (never a token). nil means
	// slog.Default().
	Logger *slog.Logger
	// OnExchange is called after every call to the token endpoint (not
	// for cache hits), from the goroutine that made it. nil means nothing
	// is called.
	OnExchange func(Event)
}

// Event describes one call to the token endpoint.
type Event struct {
	// Status is the token endpoint's HTTP status; 0 when none arrived
	// (time-out, network error, breaker open).
	Status int
	// Err is nil for a token, else an error wrapping ErrUnavailable or
	// ErrDenied.
	Err error
	// Duration is how long the call took.
	Duration time.Duration
	// Coalesced is how many requests waited for this call beside the
	// one that started it.
	Coalesced int
}

// withDefaults validates cfg and fills its defaults.
func (cfg Config) withDefaults() (Config, error) {
	bad := func(format string, a ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...)
	}
	switch {
	case cfg.TokenEndpoint == "" && cfg.Issuer == "":
		return bad("set TokenEndpoint or Issuer")
	case cfg.Audience == "" && cfg.Resource == "":
		return bad("set Audience, Resource or both (the upstream the token is for)")
	}
	if cfg.TokenEndpoint != "" {
		if err := oauthclient.CheckEndpoint(cfg.TokenEndpoint, cfg.AllowInsecureHTTP); err != nil {
			return bad("TokenEndpoint: %w", err)
		}
	}
	if cfg.Issuer != "" {
		if err := oauthclient.CheckIssuer(cfg.Issuer, cfg.AllowInsecureHTTP); err != nil {
			return bad("Issuer: %w", err)
		}
	}
	if cfg.Resource != "" {
		if u, err := url.Parse(cfg.Resource); err != nil || !u.IsAbs() || u.Fragment != "" {
			return bad("Resource %q is not an absolute URI without a fragment", cfg.Resource)
		}
	}
	for _, s := range cfg.Scopes {
		if !scopeToken(s) {
			return bad("scope %q is not a scope token", s)
		}
	}
	if _, err := cfg.Grant.MarshalText(); err != nil {
		return Config{}, err
	}
	if _, err := cfg.Binding.MarshalText(); err != nil {
		return Config{}, err
	}
	if cfg.SubjectTokenType == "" {
		cfg.SubjectTokenType = TokenTypeAccessToken
	}
	cfg.Header, cfg.Scheme = upstreamcred.Defaults(cfg.Header, cfg.Scheme)
	if !headername.ValidName(cfg.Header) {
		return bad("Header %q is not a header name", cfg.Header)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &cfg.Timeout, DefaultTimeout},
		{"DefaultTTL", &cfg.DefaultTTL, DefaultTTL},
		{"ExpiryMargin", &cfg.ExpiryMargin, DefaultExpiryMargin},
		{"BreakerTimeout", &cfg.BreakerTimeout, DefaultBreakerTimeout},
		{"RetryAfter", &cfg.RetryAfter, DefaultRetryAfter},
	} {
		if *d.v < 0 {
			return bad("%s %v must not be negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	switch {
	case cfg.MaxEntries == 0:
		cfg.MaxEntries = DefaultMaxEntries
	case cfg.MaxEntries < 0:
		cfg.MaxEntries = 0
	}
	if cfg.BreakerFailures < 0 {
		return bad("BreakerFailures %d must not be negative", cfg.BreakerFailures)
	}
	if cfg.BreakerFailures == 0 {
		cfg.BreakerFailures = DefaultBreakerFailures
	}
	if cfg.MaxBodyBytes < 0 {
		return bad("MaxBodyBytes %d must not be negative", cfg.MaxBodyBytes)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Next == nil {
		cfg.Next = http.DefaultTransport
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Scopes = append([]string(nil), cfg.Scopes...)
	return cfg, nil
}

// authenticator is the client's authentication at the token endpoint.
func (cfg *Config) authenticator() (*oauthclient.Authenticator, error) {
	c := cfg.Client
	if !c.Method.valid() {
		return nil, fmt.Errorf("%w: client authentication: unknown method %d", ErrInvalidConfig, int(c.Method))
	}
	a, err := oauthclient.NewAuthenticator(oauthclient.Credentials{Method: oauthclient.Method(c.Method), ClientID: c.ClientID,
		ClientSecret: c.ClientSecret, PrivateKey: c.PrivateKey, KeyID: c.KeyID, Issuer: cfg.Issuer, Audience: c.Audience, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("%w: client authentication: %w", ErrInvalidConfig, err)
	}
	return a, nil
}

// scopeToken reports whether s is a scope-token (RFC 6749 §3.3).
func scopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}
