package jwtgatetest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Class names one kind of token a verifier must refuse.
type Class string

// The must-reject classes. Each token is otherwise valid for the issuer
// (its iss, its default audience unless BadWith says otherwise, a lifetime
// around now), so the one thing wrong is the class's.
const (
	// Expired: exp an hour ago, beyond any sane leeway. RFC 7519 §4.1.4.
	Expired Class = "expired"
	// NotYetValid: nbf an hour from now. RFC 7519 §4.1.5.
	NotYetValid Class = "not-yet-valid"
	// WrongIssuer: iss of another issuer. RFC 7519 §4.1.1, RFC 8725 §3.8.
	WrongIssuer Class = "wrong-issuer"
	// WrongAudience: aud for another service. RFC 7519 §4.1.3, RFC 8725 §3.9.
	WrongAudience Class = "wrong-audience"
	// AlgNone: an unsecured JWT, alg "none" and an empty signature.
	// RFC 7519 §6, RFC 8725 §3.1.
	AlgNone Class = "alg-none"
	// AlgConfusion: HS256 with the issuer's public key (its PEM text) as the
	// HMAC secret, under that key's kid: the classic RS256→HS256 attack.
	// RFC 8725 §2.1 and §3.1.
	AlgConfusion Class = "alg-confusion"
	// UnknownKID: signed by the issuer's key but naming a kid that is not in
	// its set. RFC 7515 §4.1.4.
	UnknownKID Class = "unknown-kid"
	// RemovedKey: signed by a key the issuer has taken out of its set. Bad
	// changes the issuer to get one: it rotates the default algorithm's key
	// and removes the old key, as the end of a real rotation does. RFC 7517
	// §5, OpenID Connect Core §10.1.1.
	RemovedKey Class = "removed-key"
	// Crit: a crit header naming an extension no verifier understands.
	// RFC 7515 §4.1.11.
	Crit Class = "crit"
	// HeaderJWK: signed by a foreign key that the header carries as jwk,
	// under the issuer's kid. RFC 7515 §4.1.3, RFC 8725 §3.10.
	HeaderJWK Class = "header-jwk"
	// HeaderJKU: signed by a foreign key, with a jku pointing elsewhere.
	// RFC 7515 §4.1.2, RFC 8725 §3.10.
	HeaderJKU Class = "header-jku"
	// HeaderX5U: signed by a foreign key, with an x5u pointing elsewhere.
	// RFC 7515 §4.1.5, RFC 8725 §3.10.
	HeaderX5U Class = "header-x5u"
	// HeaderX5C: signed by a foreign key whose self-signed certificate the
	// header carries as x5c. RFC 7515 §4.1.6, RFC 8725 §3.10.
	HeaderX5C Class = "header-x5c"
	// Oversized: validly signed, but padded by a claim to 9 KiB, beyond
	// jwtgate's default MaxTokenSize (8 KiB). No RFC sets a size: it is a
	// denial-of-service bound (RFC 8725 §3.10: don't trust received input).
	Oversized Class = "oversized"
	// DuplicateClaim: validly signed claims naming sub twice ("alice", then
	// "admin"), which two parsers may read two ways. RFC 7519 §4 (claim
	// names MUST be unique), RFC 8259 §4.
	DuplicateClaim Class = "duplicate-claim"
	// NonCanonicalBase64: the payload segment with non-zero trailing bits,
	// signed as written: a lenient decoder reads the same claims. RFC 7515
	// §2 (base64url), RFC 4648 §3.5 (canonical encoding).
	NonCanonicalBase64 Class = "non-canonical-base64"
	// ECDSAZeroSignature: an ES* token whose signature is r = s = 0, which
	// broken verifiers accept for any message (CVE-2022-21449). RFC 7518
	// §3.4, FIPS 186-5 §6.4.2 (r and s must be in [1, n-1]). Needs an ES*
	// algorithm among the issuer's.
	ECDSAZeroSignature Class = "ecdsa-zero-signature"
	// SenderConstrained: a cnf claim (a DPoP key thumbprint) presented as a
	// bearer token. RFC 7800 §3.1, RFC 9449 §7.2, RFC 8705 §3.
	SenderConstrained Class = "sender-constrained"
)

// Rejection documents one Class: what it violates and how jwtgate refuses
// it.
type Rejection struct {
	Class Class
	// RFC names the sections the token violates.
	RFC string
	// Why is one line on what is wrong with the token.
	Why string
	// Error is the name of the github.com/jwtgate/jwtgate/middleware
	// sentinel jwtgate's Verifier returns for it with a default Config
	// whose Issuers and Audiences match the issuer ("ErrTokenExpired").
	// A name, not the value, so that this package does not import
	// middleware (whose own tests import this package).
	Error string
}

// MustReject returns every must-reject class with its reference, in a
// fresh slice. Tests range over it:
//
//	for _, r := range jwtgatetest.MustReject() {
//		tok := idp.Bad(t, r.Class)
//		…
//	}
func MustReject() []Rejection {
	return []Rejection{
		{Expired, "RFC 7519 §4.1.4", "exp is an hour in the past", "ErrTokenExpired"},
		{NotYetValid, "RFC 7519 §4.1.5", "nbf is an hour in the future", "ErrTokenNotYetValid"},
		{WrongIssuer, "RFC 7519 §4.1.1, RFC 8725 §3.8", "iss is another issuer", "ErrClaimsInvalid"},
		{WrongAudience, "RFC 7519 §4.1.3, RFC 8725 §3.9", "aud is another service", "ErrClaimsInvalid"},
		// jwtgate refuses the empty signature segment before reading alg.
		{AlgNone, "RFC 7519 §6, RFC 8725 §3.1", `alg "none", no signature`, "ErrTokenMalformed"},
		{AlgConfusion, "RFC 8725 §2.1, §3.1", "HS256 keyed with the issuer's public key", "ErrAlgorithmNotAllowed"},
		{UnknownKID, "RFC 7515 §4.1.4", "kid is not in the key set", "ErrUnknownKID"},
		{RemovedKey, "RFC 7517 §5, OpenID Connect Core §10.1.1", "signed by a key removed after rotation", "ErrUnknownKID"},
		{Crit, "RFC 7515 §4.1.11", "crit names an extension nobody understands", "ErrTokenMalformed"},
		// Header keys are never used, so the foreign signature fails
		// against the issuer's key of that kid.
		{HeaderJWK, "RFC 7515 §4.1.3, RFC 8725 §3.10", "signed by the key embedded as jwk", "ErrSignatureInvalid"},
		{HeaderJKU, "RFC 7515 §4.1.2, RFC 8725 §3.10", "jku points at a foreign key set", "ErrSignatureInvalid"},
		{HeaderX5U, "RFC 7515 §4.1.5, RFC 8725 §3.10", "x5u points at a foreign certificate", "ErrSignatureInvalid"},
		{HeaderX5C, "RFC 7515 §4.1.6, RFC 8725 §3.10", "signed by the key of the embedded x5c certificate", "ErrSignatureInvalid"},
		{Oversized, "RFC 8725 §3.10 (no RFC size limit)", "9 KiB, beyond the 8 KiB default limit", "ErrTokenMalformed"},
		{DuplicateClaim, "RFC 7519 §4, RFC 8259 §4", "sub appears twice", "ErrTokenMalformed"},
		{NonCanonicalBase64, "RFC 7515 §2, RFC 4648 §3.5", "payload segment has non-zero trailing bits", "ErrTokenMalformed"},
		{ECDSAZeroSignature, "RFC 7518 §3.4, FIPS 186-5 §6.4.2", "ECDSA signature r = s = 0", "ErrSignatureInvalid"},
		{SenderConstrained, "RFC 7800 §3.1, RFC 9449 §7.2", "cnf-bound token used as a bearer token", "ErrSenderConstrained"},
	}
}

// Bad returns a token of class c (see the constants), based on a default
// Claims. An unknown class, or one the issuer cannot make (ECDSAZeroSignature
// without an ES* algorithm), fails t.
func (i *Issuer) Bad(t TB, c Class) string {
	t.Helper()
	return i.BadWith(t, c, Claims{})
}

// BadWith is Bad based on claims (set Audience to your verifier's), for
// tests without the issuer's defaults. The class's fault is applied on top,
// so for WrongAudience, claims' audience is replaced.
func (i *Issuer) BadWith(t TB, c Class, claims Claims) string {
	t.Helper()
	tok, err := i.BadToken(c, claims)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return tok
}

// BadToken is BadWith for callers without a TB.
func (i *Issuer) BadToken(c Class, claims Claims) (string, error) {
	now := i.now()
	withExtra := func(extra map[string]any) Claims {
		cl := claims
		cl.Extra = make(map[string]any, len(claims.Extra)+len(extra))
		for k, v := range claims.Extra {
			cl.Extra[k] = v
		}
		for k, v := range extra {
			cl.Extra[k] = v
		}
		return cl
	}
	alg := i.opts.Algorithms[0]
	switch c {
	case Expired:
		claims.IssuedAt, claims.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
		return i.Sign(claims, MintOptions{})
	case NotYetValid:
		claims.NotBefore, claims.ExpiresAt = now.Add(time.Hour), now.Add(2*time.Hour)
		return i.Sign(claims, MintOptions{})
	case WrongIssuer:
		claims.Issuer = "https://wrong-issuer.invalid"
		return i.Sign(claims, MintOptions{})
	case WrongAudience:
		claims.Audience, claims.Audiences = "wrong-audience.invalid", nil
		return i.Sign(claims, MintOptions{})
	case AlgNone:
		kid, err := i.KID(alg)
		if err != nil {
			return "", err
		}
		h, _ := json.Marshal(map[string]any{"alg": "none", "kid": kid, "typ": i.opts.Type})
		p, err := json.Marshal(i.ClaimsMap(claims))
		if err != nil {
			return "", fmt.Errorf("jwtgatetest: marshal claims: %w", err)
		}
		return b64(h) + "." + b64(p) + ".", nil
	case AlgConfusion:
		return i.algConfusion(claims)
	case UnknownKID:
		return i.Sign(claims, MintOptions{KID: "unknown-" + randomHex(6)})
	case RemovedKey:
		old, err := i.KID(alg)
		if err != nil {
			return "", err
		}
		if err := i.Rotate(alg); err != nil {
			return "", err
		}
		if err := i.Remove(old); err != nil {
			return "", err
		}
		return i.Sign(claims, MintOptions{Key: old})
	case Crit:
		return i.Sign(claims, MintOptions{Header: map[string]any{
			"crit": []string{"urn:jwtgatetest:unknown"}, "urn:jwtgatetest:unknown": true,
		}})
	case HeaderJWK, HeaderJKU, HeaderX5U, HeaderX5C:
		return i.foreign(c, alg, claims)
	case Oversized:
		tok, err := i.Sign(withExtra(map[string]any{"padding": ""}), MintOptions{})
		if err != nil {
			return "", err
		}
		// Base64 grows the padding by 4/3: aim at 9 KiB in total.
		pad := (9<<10 - len(tok)) * 3 / 4
		return i.Sign(withExtra(map[string]any{"padding": strings.Repeat("x", max(pad, 0)+8)}), MintOptions{})
	case DuplicateClaim:
		return i.duplicateClaim(alg, claims)
	case NonCanonicalBase64:
		return i.nonCanonical(alg, claims)
	case ECDSAZeroSignature:
		return i.zeroSignature(claims)
	case SenderConstrained:
		sum := sha256.Sum256([]byte("a DPoP key the caller does not hold"))
		return i.Sign(withExtra(map[string]any{"cnf": map[string]any{"jkt": base64.RawURLEncoding.EncodeToString(sum[:])}}), MintOptions{})
	}
	return "", fmt.Errorf("jwtgatetest: unknown must-reject class %q", c)
}

func (i *Issuer) algConfusion(claims Claims) (string, error) {
	i.mu.Lock()
	k, err := i.activeLocked(i.opts.Algorithms[0])
	i.mu.Unlock()
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		return "", fmt.Errorf("jwtgatetest: encode public key: %w", err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	h, _ := json.Marshal(map[string]any{"alg": "HS256", "kid": k.kid, "typ": i.opts.Type})
	p, err := json.Marshal(i.ClaimsMap(claims))
	if err != nil {
		return "", fmt.Errorf("jwtgatetest: marshal claims: %w", err)
	}
	input := b64(h) + "." + b64(p)
	sig, err := jwt.SigningMethodHS256.Sign(input, secret)
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// foreign signs claims with a key the issuer never published, under the
// issuer's kid, and puts the key (or a pointer to it) in the header.
func (i *Issuer) foreign(c Class, alg string, claims Claims) (string, error) {
	i.mu.Lock()
	k, err := i.activeLocked(alg)
	i.mu.Unlock()
	if err != nil {
		return "", err
	}
	priv, err := generateKey(alg, false, true, 0)
	if err != nil {
		return "", err
	}
	fk := &key{alg: alg, kid: k.kid, priv: priv}
	h := map[string]any{"alg": alg, "kid": k.kid, "typ": i.opts.Type}
	switch c {
	case HeaderJWK:
		j, err := publicJWK(priv, alg, k.kid)
		if err != nil {
			return "", err
		}
		h["jwk"] = j.Marshal()
	case HeaderJKU:
		h["jku"] = "https://attacker.invalid/jwks.json"
	case HeaderX5U:
		h["x5u"] = "https://attacker.invalid/cert.pem"
	case HeaderX5C:
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: i.url},
			NotBefore:    i.now().Add(-time.Hour),
			NotAfter:     i.now().Add(24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
		if err != nil {
			return "", fmt.Errorf("jwtgatetest: self-signed certificate: %w", err)
		}
		h["x5c"] = []string{base64.StdEncoding.EncodeToString(der)}
	}
	header, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("jwtgatetest: marshal header: %w", err)
	}
	payload, err := json.Marshal(i.ClaimsMap(claims))
	if err != nil {
		return "", fmt.Errorf("jwtgatetest: marshal claims: %w", err)
	}
	return signWith(fk, header, b64(payload))
}

func (i *Issuer) header(alg string) ([]byte, error) {
	kid, err := i.KID(alg)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"alg": alg, "kid": kid, "typ": i.opts.Type})
}

// duplicateClaim writes sub twice by hand: encoding/json cannot.
func (i *Issuer) duplicateClaim(alg string, claims Claims) (string, error) {
	m := i.ClaimsMap(claims)
	delete(m, "sub")
	p, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("jwtgatetest: marshal claims: %w", err)
	}
	first := claims.Subject
	if first == "" {
		first = DefaultSubject
	}
	dup := fmt.Sprintf(`{"sub":%q,"sub":"admin",`, first) + string(p[1:])
	h, err := i.header(alg)
	if err != nil {
		return "", err
	}
	return i.SignRaw(alg, h, []byte(dup))
}

// nonCanonical spells the payload segment with non-zero trailing bits and
// signs that spelling, so only the encoding is wrong.
func (i *Issuer) nonCanonical(alg string, claims Claims) (string, error) {
	p, err := json.Marshal(i.ClaimsMap(claims))
	if err != nil {
		return "", fmt.Errorf("jwtgatetest: marshal claims: %w", err)
	}
	if len(p)%3 == 0 {
		p = append(p, ' ') // JSON allows trailing white space; 3 bytes leave no spare bits
	}
	seg := []byte(b64(p))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	seg[len(seg)-1] = alphabet[last|1] // the lowest bit is always a spare one
	h, err := i.header(alg)
	if err != nil {
		return "", err
	}
	i.mu.Lock()
	k, err := i.activeLocked(alg)
	i.mu.Unlock()
	if err != nil {
		return "", err
	}
	return signWith(k, h, string(seg))
}

// zeroSignature signs with the issuer's first ES* algorithm's kid and a
// signature of zeros (r = s = 0, each the curve's size).
func (i *Issuer) zeroSignature(claims Claims) (string, error) {
	size := map[string]int{"ES256": 64, "ES384": 96, "ES512": 132}
	for _, alg := range i.opts.Algorithms {
		n, ok := size[alg]
		if !ok {
			continue
		}
		h, err := i.header(alg)
		if err != nil {
			return "", err
		}
		p, err := json.Marshal(i.ClaimsMap(claims))
		if err != nil {
			return "", fmt.Errorf("jwtgatetest: marshal claims: %w", err)
		}
		return b64(h) + "." + b64(p) + "." + b64(make([]byte, n)), nil
	}
	return "", fmt.Errorf("jwtgatetest: %s needs an ES256, ES384 or ES512 key; the issuer has %v", ECDSAZeroSignature, i.opts.Algorithms)
}
