// Package jwkcheck holds the rules a JWK must pass before it may verify a
// signature, shared by the key cache (when it parses a fetched set) and the
// Verifier (for every key it is handed, whatever storage it came from), so
// key hygiene does not depend on where a key is stored.
package jwkcheck

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"

	"github.com/MicahParks/jwkset"
)

// sigAlgs maps each accepted JWS algorithm to the key type (and curve) it needs.
var sigAlgs = map[jwkset.ALG]struct {
	kty jwkset.KTY
	crv jwkset.CRV
}{
	jwkset.AlgRS256: {kty: jwkset.KtyRSA}, jwkset.AlgRS384: {kty: jwkset.KtyRSA}, jwkset.AlgRS512: {kty: jwkset.KtyRSA},
	jwkset.AlgPS256: {kty: jwkset.KtyRSA}, jwkset.AlgPS384: {kty: jwkset.KtyRSA}, jwkset.AlgPS512: {kty: jwkset.KtyRSA},
	jwkset.AlgES256: {jwkset.KtyEC, jwkset.CrvP256},
	jwkset.AlgES384: {jwkset.KtyEC, jwkset.CrvP384},
	jwkset.AlgES512: {jwkset.KtyEC, jwkset.CrvP521},
	jwkset.AlgEdDSA: {jwkset.KtyOKP, jwkset.CrvEd25519},
	"Ed25519":       {jwkset.KtyOKP, jwkset.CrvEd25519}, // RFC 9864's fully specified name
}

// Problem returns why jwk must not verify signatures, or "" when it may.
// It checks what holds for any algorithm: a supported key type, use and
// key_ops that permit verification, an alg that fits the key, no private
// material, a sane RSA exponent and an x5c leaf certificate that holds this
// very key. Whether the key fits a particular token's alg, and RSA sizes,
// are the caller's.
func Problem(jwk jwkset.JWK) string {
	m := jwk.Marshal()
	if reason := MarshalProblem(&m); reason != "" {
		return reason
	}
	return KeyProblem(jwk)
}

// MarshalProblem is the part of Problem that needs only the JWK's members,
// for a parser that checks them before building the key.
func MarshalProblem(m *jwkset.JWKMarshal) string {
	switch m.KTY {
	case jwkset.KtyRSA, jwkset.KtyEC:
	case jwkset.KtyOKP:
		if m.CRV != jwkset.CrvEd25519 {
			return fmt.Sprintf("unsupported OKP curve %q", Truncate(string(m.CRV)))
		}
	default:
		return fmt.Sprintf("unsupported kty %q", Truncate(string(m.KTY)))
	}
	if m.USE != "" && m.USE != jwkset.UseSig {
		return fmt.Sprintf("use %q is not sig", Truncate(string(m.USE)))
	}
	if reason := keyOpsProblem(m.KEYOPS); reason != "" {
		return reason
	}
	if m.ALG != "" {
		want, ok := sigAlgs[m.ALG]
		if !ok {
			return fmt.Sprintf("alg %q is not an accepted signature algorithm", Truncate(string(m.ALG)))
		}
		if want.kty != m.KTY || (want.crv != "" && want.crv != m.CRV) {
			return fmt.Sprintf("alg %s does not fit kty %s crv %q", m.ALG, m.KTY, Truncate(string(m.CRV)))
		}
	}
	// Private parameters next to a verification key mean the key is
	// compromised (or a signing key was stored by mistake): refuse it rather
	// than quietly use its public half.
	if m.D != "" || m.P != "" || m.Q != "" || m.DP != "" || m.DQ != "" || m.QI != "" || len(m.OTH) > 0 || m.K != "" {
		return "private key material in a public set"
	}
	return ""
}

// KeyProblem is the part of Problem that looks at the built key and its
// certificates.
func KeyProblem(jwk jwkset.JWK) string {
	key := jwk.Key()
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.E < 3 || k.E%2 == 0 {
			return "broken RSA exponent"
		}
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return "broken EC key"
		}
	case ed25519.PublicKey:
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return "private key material in a public set"
	default:
		return fmt.Sprintf("unsupported key type %T", k)
	}
	// x5c is not used to find the key, but a consumer that reads the
	// certificate must see the same key the signature is checked with
	// (RFC 7517 §4.7: the certificate's key MUST match the JWK's).
	if certs := jwk.X509().X5C; len(certs) > 0 {
		type equaler interface{ Equal(crypto.PublicKey) bool }
		if certs[0] == nil {
			return "x5c certificate missing"
		}
		if e, ok := key.(equaler); !ok || !e.Equal(certs[0].PublicKey) {
			return "x5c certificate holds a different key"
		}
	}
	return ""
}

// keyOpsProblem applies RFC 7517 §4.3: an absent key_ops permits every
// operation; a present one permits only what it lists (an empty list:
// nothing), must not repeat a value, and its values are strings (JSON null
// arrives as "").
func keyOpsProblem(ops []jwkset.KEYOPS) string {
	if ops == nil {
		return ""
	}
	verify := false
	for i, o := range ops {
		if o == "" {
			return "key_ops has an empty or null entry"
		}
		for _, p := range ops[:i] {
			if p == o {
				return "key_ops repeats a value"
			}
		}
		if o == jwkset.KeyOpsVerify {
			verify = true
		}
	}
	if !verify {
		return "key_ops lacks verify"
	}
	return ""
}

// Truncate bounds attacker-chosen strings before they reach a log line.
func Truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
