package jwtgatetest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Claims describes a token to mint. The zero value mints a valid token:
// every empty field gets the default named in its comment.
type Claims struct {
	// Issuer is iss. "": the issuer's URL.
	Issuer string
	// Subject is sub. "": DefaultSubject.
	Subject string
	// Audience is aud, as a string. "": IssuerOptions.Audience.
	Audience string
	// Audiences, when set, is aud as an array, replacing Audience.
	Audiences []string
	// Scopes become the space-separated scope claim (RFC 8693 §4.2). Nil:
	// no scope claim.
	Scopes []string
	// ID is jti. "": a random one, so two tokens with the same claims
	// differ.
	ID string
	// IssuedAt is iat. Zero: now (IssuerOptions.Now).
	IssuedAt time.Time
	// NotBefore is nbf. Zero: no nbf.
	NotBefore time.Time
	// ExpiresAt is exp. Zero: now + IssuerOptions.TokenTTL.
	ExpiresAt time.Time
	// Extra claims are set last, as they are: they may replace the claims
	// above with any value, valid or not ("exp": "tomorrow"), and a nil value
	// removes the claim ("exp": nil mints a token without exp).
	Extra map[string]any
}

// MintOptions shape the token's header and choose its key.
type MintOptions struct {
	// Alg picks the signing key: the issuer's active key for this
	// algorithm. "": the issuer's first algorithm.
	Alg string
	// Key, when set, signs with the issuer's key with this kid instead,
	// published or removed (a token from before a rotation). Alg is then
	// that key's.
	Key string
	// KID is the kid header. "": the signing key's kid.
	KID string
	// Type is the typ header. "": IssuerOptions.Type.
	Type string
	// Header parameters are set last: they may replace alg, kid and typ
	// with any value, and a nil value removes the parameter ("kid": nil).
	// The signature is still made with the key chosen above.
	Header map[string]any
}

// Mint returns a valid token for c, signed with the issuer's default key.
// A failure (an Extra value that does not marshal) fails t.
func (i *Issuer) Mint(t TB, c Claims) string {
	t.Helper()
	return i.MintWith(t, c, MintOptions{})
}

// MintWith is Mint with control over the header and the key.
func (i *Issuer) MintWith(t TB, c Claims, o MintOptions) string {
	t.Helper()
	tok, err := i.Sign(c, o)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return tok
}

// Sign is MintWith for callers without a TB: it returns the error.
func (i *Issuer) Sign(c Claims, o MintOptions) (string, error) {
	payload, err := json.Marshal(i.ClaimsMap(c))
	if err != nil {
		return "", fmt.Errorf("jwtgatetest: marshal claims: %w", err)
	}
	return i.sign(payload, o)
}

// ClaimsMap returns the claim set Sign would put in the token for c, for
// tests that edit it further and sign it with SignRaw.
func (i *Issuer) ClaimsMap(c Claims) map[string]any {
	now := i.now()
	m := map[string]any{
		"iss": i.url,
		"sub": DefaultSubject,
		"aud": i.opts.Audience,
		"iat": now.Unix(),
		"exp": now.Add(i.opts.TokenTTL).Unix(),
		"jti": randomHex(12),
	}
	if c.Issuer != "" {
		m["iss"] = c.Issuer
	}
	if c.Subject != "" {
		m["sub"] = c.Subject
	}
	if c.Audience != "" {
		m["aud"] = c.Audience
	}
	if c.Audiences != nil {
		m["aud"] = c.Audiences
	}
	if c.Scopes != nil {
		m["scope"] = strings.Join(c.Scopes, " ")
	}
	if c.ID != "" {
		m["jti"] = c.ID
	}
	if !c.IssuedAt.IsZero() {
		m["iat"] = c.IssuedAt.Unix()
	}
	if !c.NotBefore.IsZero() {
		m["nbf"] = c.NotBefore.Unix()
	}
	if !c.ExpiresAt.IsZero() {
		m["exp"] = c.ExpiresAt.Unix()
	}
	for name, v := range c.Extra {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

// sign builds the header for o and signs header.payload.
func (i *Issuer) sign(payload []byte, o MintOptions) (string, error) {
	k, err := i.signingKey(o)
	if err != nil {
		return "", err
	}
	h := map[string]any{"alg": k.alg, "kid": k.kid, "typ": i.opts.Type}
	if o.KID != "" {
		h["kid"] = o.KID
	}
	if o.Type != "" {
		h["typ"] = o.Type
	}
	for name, v := range o.Header {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	header, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("jwtgatetest: marshal header: %w", err)
	}
	return signWith(k, header, b64(payload))
}

func (i *Issuer) signingKey(o MintOptions) (*key, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if o.Key != "" {
		k := i.findLocked(o.Key)
		if k == nil {
			return nil, fmt.Errorf("jwtgatetest: no key %q (published or removed)", o.Key)
		}
		return k, nil
	}
	alg := o.Alg
	if alg == "" {
		alg = i.opts.Algorithms[0]
	}
	return i.activeLocked(alg)
}

// SignRaw signs exactly header and payload (JSON or not; duplicate names,
// odd spacing and all) with the issuer's active key for alg ("" for its
// first algorithm). Nothing is added: the header should name alg and kid
// itself (see KID).
func (i *Issuer) SignRaw(alg string, header, payload []byte) (string, error) {
	k, err := i.signingKey(MintOptions{Alg: alg})
	if err != nil {
		return "", err
	}
	return signWith(k, header, b64(payload))
}

// MintRaw is SignRaw for a test.
func (i *Issuer) MintRaw(t TB, alg string, header, payload []byte) string {
	t.Helper()
	tok, err := i.SignRaw(alg, header, payload)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return tok
}

// signWith signs header and the already-encoded payload segment (which
// NonCanonicalBase64 spells its own way).
func signWith(k *key, header []byte, payloadSeg string) (string, error) {
	input := b64(header) + "." + payloadSeg
	sig, err := signingMethod(k.alg).Sign(input, k.priv)
	if err != nil {
		return "", fmt.Errorf("jwtgatetest: sign with %s: %w", k.alg, err)
	}
	return input + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
