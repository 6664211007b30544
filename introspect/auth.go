package introspect

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// assertionType is RFC 7523 §2.2's client_assertion_type.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime bounds a client assertion: one call's worth.
const assertionLifetime = time.Minute

func signingMethod(k crypto.Signer) (jwt.SigningMethod, error) {
	alg, err := keyAlg(k)
	if err != nil {
		return nil, err
	}
	return jwt.GetSigningMethod(alg), nil
}

// authenticate adds the client's credentials to form and req, as
// cfg.AuthMethod says.
func (c *Client) authenticate(req *http.Request, form url.Values, endpoint string) error {
	switch c.cfg.AuthMethod {
	case ClientSecretBasic:
		// RFC 6749 §2.3.1: both form-encoded before Basic's base64.
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	case ClientSecretPost:
		form.Set("client_id", c.cfg.ClientID)
		form.Set("client_secret", c.cfg.ClientSecret)
	case PrivateKeyJWT:
		a, err := c.assertion(endpoint)
		if err != nil {
			return err
		}
		form.Set("client_id", c.cfg.ClientID)
		form.Set("client_assertion_type", assertionType)
		form.Set("client_assertion", a)
	}
	return nil
}

// assertion signs a fresh client assertion (RFC 7523 §3): iss and sub the
// client id, aud the issuer (or the endpoint), a random jti, one minute.
func (c *Client) assertion(endpoint string) (string, error) {
	aud := c.cfg.Issuer
	if aud == "" {
		aud = endpoint
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	now := c.cfg.Now()
	t := jwt.NewWithClaims(c.method, jwt.RegisteredClaims{
		Issuer:    c.cfg.ClientID,
		Subject:   c.cfg.ClientID,
		Audience:  jwt.ClaimStrings{aud},
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
	})
	if c.cfg.KeyID != "" {
		t.Header["kid"] = c.cfg.KeyID
	}
	return t.SignedString(c.cfg.PrivateKey)
}

// ParsePrivateKey reads a PEM private key (PKCS #8, PKCS #1 RSA or SEC 1
// EC) for Config.PrivateKey.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, configErr("private key: no PEM block")
	}
	var (
		k   any
		err error
	)
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, configErr("private key: %v", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, configErr("private key: %T cannot sign", k)
	}
	if _, err := keyAlg(s); err != nil {
		return nil, err
	}
	return s, nil
}
