package introspect

import (
	"crypto"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/jwtgate/jwtgate/internal/oauthclient"
)

// Defaults for the Config fields whose zero value means "the default".
const (
	DefaultTimeout          = 5 * time.Second
	DefaultMaxAge           = 5 * time.Minute
	DefaultNegativeMaxAge   = 10 * time.Second
	DefaultMaxResponseBytes = 64 << 10
	DefaultMaxConcurrent    = 32
	DefaultMaxPending       = 1024
	DefaultBreakerFailures  = 5
	DefaultBreakerOpen      = 30 * time.Second
)

// AuthMethod is how the client authenticates to the introspection endpoint
// (RFC 7662 §2.1 requires some authentication; the names are RFC 7591's
// token_endpoint_auth_method values).
type AuthMethod uint8

const (
	// AuthDefault is client_secret_basic when a ClientSecret is set,
	// private_key_jwt when a PrivateKey is, else none.
	AuthDefault AuthMethod = iota
	// ClientSecretBasic: HTTP Basic with the form-encoded client id and
	// secret (RFC 6749 §2.3.1).
	ClientSecretBasic
	// ClientSecretPost: client_id and client_secret in the form body.
	ClientSecretPost
	// PrivateKeyJWT: a signed client assertion (RFC 7523 §2.2; OpenID
	// Connect Core §9).
	PrivateKeyJWT
	// AuthNone: no client authentication (only for an endpoint that
	// needs none, such as a test's).
	AuthNone
)

// String returns the RFC 7591 name: "client_secret_basic",
// "client_secret_post", "private_key_jwt", "none", or "" for AuthDefault.
func (m AuthMethod) String() string {
	switch {
	case m == AuthDefault:
		return ""
	case m <= AuthNone:
		return m.method().String()
	}
	return fmt.Sprintf("AuthMethod(%d)", uint8(m))
}

// method is m as the OAuth client's method (AuthDefault resolved first).
func (m AuthMethod) method() oauthclient.Method {
	switch m {
	case ClientSecretBasic:
		return oauthclient.MethodClientSecretBasic
	case ClientSecretPost:
		return oauthclient.MethodClientSecretPost
	case PrivateKeyJWT:
		return oauthclient.MethodPrivateKeyJWT
	}
	return oauthclient.MethodNone
}

// AssertionAudience says what a private_key_jwt assertion's aud is:
// AudienceIssuer (the zero value: the Issuer, RFC 10070; the Endpoint when
// no Issuer is configured) or AudienceEndpoint (the introspection
// endpoint URL, for servers that accept only the URL the assertion is
// sent to). Its text form is "issuer" or "endpoint".
type AssertionAudience = oauthclient.Audience

// The assertion audiences.
const (
	AudienceIssuer   = oauthclient.AudienceIssuer
	AudienceEndpoint = oauthclient.AudienceEndpoint
)

// MarshalText returns String's name.
func (m AuthMethod) MarshalText() ([]byte, error) {
	if m > AuthNone {
		return nil, fmt.Errorf("%w: AuthMethod(%d)", ErrInvalidConfig, uint8(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText reads the names String returns.
func (m *AuthMethod) UnmarshalText(b []byte) error {
	for c := AuthDefault; c <= AuthNone; c++ {
		if string(b) == c.String() {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("%w: auth method %q: want client_secret_basic, client_secret_post, private_key_jwt or none", ErrInvalidConfig, b)
}

// Config configures a Client. The zero value of every field but Endpoint or
// Issuer is a safe default.
type Config struct {
	// Endpoint is the introspection endpoint URL: https, or http on a
	// loopback host only.
	Endpoint string
	// Issuer, when Endpoint is empty, is the authorization server whose
	// metadata names the endpoint (introspection_endpoint, RFC 8414 at
	// /.well-known/oauth-authorization-server, then OpenID discovery; the
	// document's issuer must equal Issuer), found on first use and then
	// kept. A private_key_jwt assertion's aud is the Issuer when set, else
	// the Endpoint (AssertionAudience).
	Issuer string

	// ClientID identifies this gateway to the endpoint.
	ClientID string
	// ClientSecret for client_secret_basic and client_secret_post. Read it
	// from the environment or a file (Secret), never from a config file.
	ClientSecret string
	// PrivateKey signs private_key_jwt assertions: an *rsa.PrivateKey of
	// 2048 bits or more (RS256), an *ecdsa.PrivateKey on P-256, P-384 or
	// P-521 (ES256, ES384, ES512) or an ed25519.PrivateKey (EdDSA).
	// ParsePrivateKey reads a PEM file's.
	PrivateKey crypto.Signer
	// KeyID is the assertion header's kid. "": none.
	KeyID string
	// AssertionAudience is the private_key_jwt assertion's aud. The zero
	// value is AudienceIssuer: the Issuer, or the Endpoint without one.
	AssertionAudience AssertionAudience
	// AuthMethod: see AuthDefault.
	AuthMethod AuthMethod

	// HTTPClient makes the calls. Nil: a client with Timeout and no
	// redirects followed.
	HTTPClient *http.Client
	// Timeout bounds each call to the endpoint. 0 means 5s.
	Timeout time.Duration
	// MaxAge bounds how long an active answer is reused; it also ends at
	// the answer's exp. 0 means 5 minutes. A revoked token is refused
	// after at most MaxAge (a Verifier's verified-token cache keeps the
	// answer no longer: IntrospectionResult.Until).
	MaxAge time.Duration
	// NegativeMaxAge is how long an inactive answer is reused. 0 means 10
	// seconds; negative: inactive answers are not cached.
	NegativeMaxAge time.Duration
	// CacheSize bounds the Client's own cache (when Cache is nil). 0
	// means DefaultCacheSize.
	CacheSize int
	// Cache, when not nil, is a cache shared with other Clients (it keys
	// answers by endpoint, so sharing never mixes them). Nil: the Client's
	// own.
	Cache *Cache
	// MaxResponseBytes bounds an answer's body. 0 means 64 KiB.
	MaxResponseBytes int64
	// MaxConcurrent bounds the calls in flight to the endpoint. 0 means 32.
	MaxConcurrent int
	// MaxPending bounds the distinct tokens waiting for an answer; beyond
	// it a look-up is ErrUnavailable at once (503). 0 means 1024.
	MaxPending int
	// BreakerFailures consecutive failed calls open the breaker; while it
	// is open every look-up that misses the cache is ErrUnavailable at
	// once. 0 means 5.
	BreakerFailures uint32
	// BreakerOpen is how long the breaker stays open before it lets one
	// call try. 0 means 30s.
	BreakerOpen time.Duration

	// IntrospectJWTs makes the client a middleware.RevocationChecker: a JWT
	// that verifies on a route with this client is introspected too (and
	// cached the same way), so a revoked JWT is refused before its exp.
	IntrospectJWTs bool

	// OnIntrospect is called once per Introspect call, with its outcome,
	// for metrics (never the token). Nil: nothing is reported. A request
	// a Verifier answers from its verified-token cache makes no call (its
	// VerifyEvent says CacheHit).
	OnIntrospect func(Event)
	// Logger receives a Warn line per failed call (never the token). Nil:
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil: time.Now, or the reading a Verifier passes
	// (IntrospectAt). Set, it wins over that reading, and answers carry no
	// Until: the Verifier's clock may be another, so every request comes
	// to the Client.
	Now func() time.Time
}

// Event describes one Introspect call.
type Event struct {
	// Endpoint is the endpoint asked ("" before discovery found it).
	Endpoint string
	// Result is "hit" (an active answer from the cache), "negative_hit",
	// "active", "inactive" or "error".
	Result string
	// Duration is how long the call took.
	Duration time.Duration
	// Err is set when Result is "error".
	Err error
}

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// normalize checks c, fills its defaults, and returns the client's
// authentication.
func (c *Config) normalize() (*oauthclient.Authenticator, error) {
	if c.Endpoint == "" && c.Issuer == "" {
		return nil, configErr("set Endpoint or Issuer")
	}
	if c.Endpoint != "" {
		if err := oauthclient.CheckEndpoint(c.Endpoint, false); err != nil {
			return nil, configErr("Endpoint: %w", err)
		}
	}
	if c.Issuer != "" {
		if err := oauthclient.CheckIssuer(c.Issuer, false); err != nil {
			return nil, configErr("Issuer: %w", err)
		}
	}
	if c.AuthMethod == AuthDefault {
		switch {
		case c.ClientSecret != "":
			c.AuthMethod = ClientSecretBasic
		case c.PrivateKey != nil:
			c.AuthMethod = PrivateKeyJWT
		default:
			c.AuthMethod = AuthNone
		}
	}
	if c.AuthMethod > AuthNone {
		return nil, configErr("AuthMethod(%d)", uint8(c.AuthMethod))
	}
	auth, err := oauthclient.NewAuthenticator(oauthclient.Credentials{Method: c.AuthMethod.method(), ClientID: c.ClientID,
		ClientSecret: c.ClientSecret, PrivateKey: c.PrivateKey, KeyID: c.KeyID, Issuer: c.Issuer, Audience: c.AssertionAudience,
		Now: c.Now})
	if err != nil {
		return nil, configErr("%w", err)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"Timeout", &c.Timeout, DefaultTimeout}, {"MaxAge", &c.MaxAge, DefaultMaxAge}, {"BreakerOpen", &c.BreakerOpen, DefaultBreakerOpen}} {
		if *d.v < 0 {
			return nil, configErr("%s must not be negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.NegativeMaxAge == 0 {
		c.NegativeMaxAge = DefaultNegativeMaxAge
	}
	if c.MaxResponseBytes < 0 || c.MaxConcurrent < 0 || c.MaxPending < 0 || c.CacheSize < 0 {
		return nil, configErr("sizes must not be negative")
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			Timeout: c.Timeout,
			// A redirect would carry the token elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return auth, nil
}

// Secret reads a client secret from the environment variable env or from
// the file file (exactly one of them set), without a trailing line break:
// for loaders that must keep secrets out of config files.
func Secret(env, file string) (string, error) {
	s, err := oauthclient.Secret(os.LookupEnv, env, file)
	if err != nil {
		return "", configErr("%w", err)
	}
	return s, nil
}
