package cache

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/internal/jwkcheck"
)

// minRSABits is the smallest RSA modulus accepted (NIST SP 800-131A).
const minRSABits = 2048

// SkippedKey records a key of a fetched set that the cache will not serve.
type SkippedKey struct {
	Index  int    // position in the set's "keys" array
	KID    string // the key's kid, possibly empty
	Reason string // why it was skipped
}

// parsedSet is the usable content of one JWK Set document.
type parsedSet struct {
	keys    []jwkset.JWK           // usable keys, in document order
	byKID   map[string]*jwkset.JWK // pointers: KeyRead copies the value once, not twice
	skipped []SkippedKey
	digest  [sha256.Size]byte // identifies the usable keys' content
}

// parseJWKS parses a JWK Set document and keeps the keys that can verify
// signatures. It never panics on any input. A document that is not a JWK
// Set, has more than maxKeys keys, or has no usable key is an error.
func parseJWKS(body []byte, maxKeys int) (*parsedSet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidJWKS, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the json object", ErrInvalidJWKS)
	}
	if doc.Keys == nil {
		return nil, fmt.Errorf("%w: no \"keys\" array", ErrInvalidJWKS)
	}
	if len(doc.Keys) > maxKeys {
		return nil, fmt.Errorf("%w: %d keys, limit %d", ErrTooManyKeys, len(doc.Keys), maxKeys)
	}
	ps := &parsedSet{byKID: make(map[string]*jwkset.JWK, len(doc.Keys))}
	h := sha256.New()
	// One kid may name keys of different kty (RFC 7517 §4.5: "equivalent
	// alternatives"; RFC 7520 §3 does it): all are served, KeyRead returns
	// the first and a verifier finds the one fitting its alg in KeyReadAll.
	// Two keys of one kty under one kid are ambiguous: the first wins.
	type kidKTY struct {
		kid string
		kty jwkset.KTY
	}
	seen := make(map[kidKTY]bool, len(doc.Keys))
	for i, raw := range doc.Keys {
		jwk, kid, reason := parseKey(raw)
		kk := kidKTY{kid, jwk.Marshal().KTY}
		if reason == "" && kid != "" && seen[kk] {
			reason = "duplicate kid"
		}
		if reason != "" {
			ps.skipped = append(ps.skipped, SkippedKey{Index: i, KID: truncate(kid), Reason: reason})
			continue
		}
		if kid != "" {
			seen[kk] = true
			if ps.byKID[kid] == nil {
				ps.byKID[kid] = &jwk
			}
		}
		ps.keys = append(ps.keys, jwk)
		// The digest covers the normalized public parameters, so a reformatted
		// document with the same keys keeps the same generation.
		norm, err := json.Marshal(jwk.Marshal())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidJWKS, err)
		}
		h.Write(norm)
		h.Write([]byte{0})
	}
	if len(ps.keys) == 0 {
		return nil, fmt.Errorf("%w (%d skipped)", ErrNoUsableKeys, len(ps.skipped))
	}
	h.Sum(ps.digest[:0])
	return ps, nil
}

// parseKey returns the key, its kid, and a non-empty reason when the key
// cannot be used to verify signatures.
func parseKey(raw json.RawMessage) (jwkset.JWK, string, string) {
	var m jwkset.JWKMarshal
	if err := json.Unmarshal(raw, &m); err != nil {
		return jwkset.JWK{}, "", "malformed key object"
	}
	kid := m.KID
	if reason := jwkcheck.MarshalProblem(&m); reason != "" {
		return jwkset.JWK{}, kid, reason
	}
	if m.KTY == jwkset.KtyRSA {
		// jwkset converts "e" through uint64 → int; refuse anything wider
		// than 4 bytes before that can wrap.
		e, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(m.E, "="))
		if err != nil || len(e) == 0 || len(e) > 4 {
			return jwkset.JWK{}, kid, "broken RSA exponent"
		}
	}
	jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return jwkset.JWK{}, kid, "broken key parameters: " + truncate(err.Error())
	}
	if reason := jwkcheck.KeyProblem(jwk); reason != "" {
		return jwkset.JWK{}, kid, reason
	}
	if k, ok := jwk.Key().(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
		return jwkset.JWK{}, kid, fmt.Sprintf("RSA key of %d bits is under %d", k.N.BitLen(), minRSABits)
	}
	return jwk, kid, ""
}

// truncate bounds attacker-chosen strings before they reach a log line.
func truncate(s string) string { return jwkcheck.Truncate(s) }
