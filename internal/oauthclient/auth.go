package oauthclient

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ClientAssertionType is RFC 7523 §2.2's client_assertion_type.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionLifetime is how long a private_key_jwt assertion is valid: long
// enough for clock skew, short enough that a captured one is soon useless.
const AssertionLifetime = time.Minute

// Method is a client authentication method (RFC 7591
// token_endpoint_auth_method).
type Method uint8

const (
	// MethodNone sends client_id alone (a public client), or nothing
	// without a client ID.
	MethodNone Method = iota
	// MethodClientSecretBasic sends the client ID and secret in HTTP Basic
	// authentication, each form-encoded first (RFC 6749 §2.3.1).
	MethodClientSecretBasic
	// MethodClientSecretPost sends them as client_id and client_secret in
	// the form.
	MethodClientSecretPost
	// MethodPrivateKeyJWT sends a short-lived JWT signed with the client's
	// private key (RFC 7523 §2.2, OpenID Connect Core §9).
	MethodPrivateKeyJWT
)

var methodNames = [...]string{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"}

// MethodNames are the methods' names, in Method order.
func MethodNames() []string { return methodNames[:] }

func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// ParseMethod reads a method's RFC 7591 name.
func ParseMethod(s string) (Method, bool) {
	for i, n := range methodNames {
		if n == s {
			return Method(i), true
		}
	}
	return 0, false
}

// Audience says what a private_key_jwt assertion's aud is.
//
// RFC 7523 §3 only requires a value that identifies the authorization
// server (the token endpoint URL "MAY" be used; OpenID Connect Core §9 says
// it "SHOULD"), so servers differ. RFC 10070 (draft-ietf-oauth-rfc7523bis)
// settles it for client authentication: the issuer identifier (RFC 8414)
// is the one value, and a server must refuse others, which closes the
// attack where an assertion made for one server is replayed at another
// whose endpoint it names. Servers written before it may accept only their
// token endpoint URL: AudienceEndpoint is for them.
type Audience uint8

const (
	// AudienceIssuer (the default) is the configured issuer identifier,
	// as RFC 10070 requires. Without a configured issuer nothing else
	// names the server, so the aud is the endpoint URL, as RFC 7523
	// allows.
	AudienceIssuer Audience = iota
	// AudienceEndpoint is the URL of the endpoint the assertion is sent to
	// (the token endpoint, or the introspection endpoint), for servers
	// that accept only that.
	AudienceEndpoint
)

func (a Audience) String() string {
	switch a {
	case AudienceIssuer:
		return "issuer"
	case AudienceEndpoint:
		return "endpoint"
	}
	return fmt.Sprintf("Audience(%d)", int(a))
}

// MarshalText writes "issuer" or "endpoint".
func (a Audience) MarshalText() ([]byte, error) {
	if a > AudienceEndpoint {
		return nil, configErr("unknown assertion audience %d", int(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText reads "issuer" or "endpoint" ("" is issuer).
func (a *Audience) UnmarshalText(b []byte) error {
	switch string(b) {
	case "", "issuer":
		*a = AudienceIssuer
	case "endpoint":
		*a = AudienceEndpoint
	default:
		return configErr("assertion audience %q: want issuer or endpoint", b)
	}
	return nil
}

// Credentials are a client's credentials at an authorization server.
type Credentials struct {
	// Method is how they are sent.
	Method Method
	// ClientID is the client_id. Required by every method but MethodNone.
	ClientID string
	// ClientSecret is the secret of the two client_secret methods.
	ClientSecret string
	// PrivateKey signs private_key_jwt assertions: *rsa.PrivateKey of 2048
	// bits or more (RS256), *ecdsa.PrivateKey on P-256, P-384 or P-521
	// (ES256, ES384, ES512), ed25519.PrivateKey (EdDSA).
	PrivateKey crypto.Signer
	// KeyID is the assertion's kid header. "" means none.
	KeyID string
	// Issuer is the authorization server's issuer identifier: the
	// assertion's aud under AudienceIssuer. "" means unknown.
	Issuer string
	// Audience chooses the assertion's aud. The zero value is
	// AudienceIssuer.
	Audience Audience
	// Now is the assertion's clock. nil means time.Now.
	Now func() time.Time
}

// Authenticator applies Credentials to requests. Create it with
// NewAuthenticator (the zero value is not usable); it is immutable and
// safe for concurrent use.
type Authenticator struct {
	c   Credentials
	alg jwt.SigningMethod // private_key_jwt only
}

// NewAuthenticator checks c: the method's secret or key present and no
// other, a key that can sign, an issuer URL when set. Errors match
// ErrInvalidConfig.
func NewAuthenticator(c Credentials) (*Authenticator, error) {
	a := &Authenticator{c: c}
	if a.c.Now == nil {
		a.c.Now = time.Now
	}
	if _, err := c.Audience.MarshalText(); err != nil {
		return nil, err
	}
	switch c.Method {
	case MethodNone:
		if c.ClientSecret != "" || c.PrivateKey != nil {
			return nil, configErr("client authentication none takes no secret and no key")
		}
	case MethodClientSecretBasic, MethodClientSecretPost:
		if c.ClientID == "" || c.ClientSecret == "" {
			return nil, configErr("%s needs a client ID and a secret", c.Method)
		}
		if c.PrivateKey != nil {
			return nil, configErr("%s takes no private key", c.Method)
		}
	case MethodPrivateKeyJWT:
		if c.ClientID == "" || c.PrivateKey == nil {
			return nil, configErr("private_key_jwt needs a client ID and a private key")
		}
		if c.ClientSecret != "" {
			return nil, configErr("private_key_jwt takes no secret")
		}
		alg, err := SigningAlg(c.PrivateKey)
		if err != nil {
			return nil, err
		}
		a.alg = jwt.GetSigningMethod(alg)
	default:
		return nil, configErr("unknown client authentication method %d", int(c.Method))
	}
	return a, nil
}

// Method returns the method the Authenticator applies.
func (a *Authenticator) Method() Method { return a.c.Method }

// Apply authenticates a form POST to endpoint: it sets req's Basic
// authentication or adds the client's parameters to form, as the method
// says. The caller encodes form into req's body afterwards.
func (a *Authenticator) Apply(req *http.Request, form url.Values, endpoint string) error {
	c := &a.c
	switch c.Method {
	case MethodNone:
		if c.ClientID != "" {
			form.Set("client_id", c.ClientID)
		}
	case MethodClientSecretBasic:
		// RFC 6749 §2.3.1: each part form-encoded before Basic's base64,
		// so a ':' in the ID or secret survives.
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	case MethodClientSecretPost:
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", c.ClientSecret)
	case MethodPrivateKeyJWT:
		s, err := a.Assertion(endpoint)
		if err != nil {
			return err
		}
		form.Set("client_id", c.ClientID)
		form.Set("client_assertion_type", ClientAssertionType)
		form.Set("client_assertion", s)
	}
	return nil
}

// Assertion signs a fresh private_key_jwt assertion for a request to
// endpoint (RFC 7523 §3): iss and sub the client ID, aud as Audience
// says, a random jti, iat now and exp AssertionLifetime later.
func (a *Authenticator) Assertion(endpoint string) (string, error) {
	c := &a.c
	if a.alg == nil {
		return "", configErr("%s signs no assertion", c.Method)
	}
	aud := endpoint
	if c.Audience == AudienceIssuer && c.Issuer != "" {
		aud = c.Issuer
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:]) // never fails (crypto/rand)
	now := c.Now()
	t := jwt.NewWithClaims(a.alg, jwt.MapClaims{
		"iss": c.ClientID,
		"sub": c.ClientID,
		"aud": aud, // one string: RFC 10070 wants no array
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]),
		"iat": now.Unix(),
		"exp": now.Add(AssertionLifetime).Unix(),
	})
	if c.KeyID != "" {
		t.Header["kid"] = c.KeyID
	}
	s, err := t.SignedString(c.PrivateKey)
	if err != nil {
		return "", fmt.Errorf("signing the client assertion: %w", err)
	}
	return s, nil
}

// SigningAlg is the JWS algorithm a private key signs assertions with:
// RS256 for RSA of 2048 bits or more, ES256/ES384/ES512 for ECDSA on
// P-256/P-384/P-521, EdDSA for Ed25519. Any other key is an error
// matching ErrInvalidConfig.
func SigningAlg(k crypto.Signer) (string, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() >= 2048 {
			return "RS256", nil
		}
		return "", configErr("private key: RSA key of %d bits: want 2048 or more", k.N.BitLen())
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
		return "", configErr("private key: ECDSA curve %s: want P-256, P-384 or P-521", curveName(k.Curve))
	case ed25519.PrivateKey:
		if len(k) == ed25519.PrivateKeySize {
			return "EdDSA", nil
		}
	}
	return "", configErr("private key %T: want RSA (2048 bits or more), ECDSA P-256/P-384/P-521 or Ed25519", k)
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "unknown"
	}
	return strings.TrimSpace(c.Params().Name)
}

// NewRequest builds an authenticated form POST to endpoint: form (which
// it may add the client's parameters to) as the
// application/x-www-form-urlencoded body, JSON accepted.
func (a *Authenticator) NewRequest(ctx context.Context, endpoint string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return nil, err
	}
	if err := a.Apply(req, form, endpoint); err != nil {
		return nil, err
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return req, nil
}
