package exchange

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// assertionTTL is the lifetime of a private_key_jwt assertion: long
// enough for clock skew, short enough that a captured one is soon useless.
const assertionTTL = time.Minute

// form is the token request's body for subject.
func (t *Transport) form(subject string) url.Values {
	cfg := &t.cfg
	f := url.Values{}
	switch cfg.Grant {
	case GrantJWTBearer:
		f.Set("grant_type", grantTypeJWTBearer)
		f.Set("assertion", subject)
	default:
		f.Set("grant_type", grantTypeTokenExchange)
		f.Set("subject_token", subject)
		f.Set("subject_token_type", cfg.SubjectTokenType)
		if cfg.RequestedTokenType != "" {
			f.Set("requested_token_type", cfg.RequestedTokenType)
		}
	}
	if cfg.Audience != "" {
		f.Set("audience", cfg.Audience)
	}
	if cfg.Resource != "" {
		f.Set("resource", cfg.Resource)
	}
	if len(cfg.Scopes) > 0 {
		f.Set("scope", strings.Join(cfg.Scopes, " "))
	}
	return f
}

// newTokenRequest builds the POST to endpoint, with the client's
// authentication.
func (t *Transport) newTokenRequest(ctx context.Context, endpoint, subject string) (*http.Request, error) {
	f := t.form(subject)
	ca := &t.cfg.Client
	switch ca.Method {
	case AuthNone:
		if ca.ClientID != "" {
			f.Set("client_id", ca.ClientID)
		}
	case AuthClientSecretPost:
		f.Set("client_id", ca.ClientID)
		f.Set("client_secret", ca.ClientSecret)
	case AuthPrivateKeyJWT:
		a, err := t.clientAssertion(endpoint)
		if err != nil {
			return nil, err
		}
		f.Set("client_id", ca.ClientID)
		f.Set("client_assertion_type", clientAssertionType)
		f.Set("client_assertion", a)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(f.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if ca.Method == AuthClientSecretBasic {
		// RFC 6749 §2.3.1: each part form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(ca.ClientID), url.QueryEscape(ca.ClientSecret))
	}
	return req, nil
}

// clientAssertion is a private_key_jwt assertion for endpoint (RFC 7523
// §3): iss and sub the client, aud the token endpoint, a fresh jti.
func (t *Transport) clientAssertion(endpoint string) (string, error) {
	ca := &t.cfg.Client
	now := t.cfg.Now()
	var jti [16]byte
	_, _ = rand.Read(jti[:]) // never fails (crypto/rand)
	claims := jwt.MapClaims{
		"iss": ca.ClientID,
		"sub": ca.ClientID,
		"aud": endpoint,
		"jti": hex.EncodeToString(jti[:]),
		"iat": now.Unix(),
		"exp": now.Add(assertionTTL).Unix(),
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(t.assertionAlg), claims)
	if ca.KeyID != "" {
		tok.Header["kid"] = ca.KeyID
	}
	s, err := tok.SignedString(ca.PrivateKey)
	if err != nil {
		return "", fmt.Errorf("exchange: signing the client assertion: %w", err)
	}
	return s, nil
}
