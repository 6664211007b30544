package middleware

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"strings"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// algSpec ties a JWS alg to the golang-jwt signing method that checks it and
// to the key type (and curve) the key must have.
type algSpec struct {
	name   string
	method jwt.SigningMethod
	kty    jwkset.KTY
	crv    jwkset.CRV // EC only
	hmac   bool
	// ec, for ES*, checks the signature with crypto/ecdsa directly (see
	// ecdsaSpec); nil: method does.
	ec *ecdsaSpec
	// jwkAlg is another name a JWK's alg may carry for this algorithm:
	// RFC 9864 registers "Ed25519" as the fully specified name of the EdDSA
	// this package implements (Ed25519 only), and providers publish either.
	jwkAlg string
}

var algSpecs = map[string]*algSpec{
	"RS256":   {name: "RS256", method: jwt.SigningMethodRS256, kty: jwkset.KtyRSA},
	"RS384":   {name: "RS384", method: jwt.SigningMethodRS384, kty: jwkset.KtyRSA},
	"RS512":   {name: "RS512", method: jwt.SigningMethodRS512, kty: jwkset.KtyRSA},
	"PS256":   {name: "PS256", method: strictPSS(jwt.SigningMethodPS256), kty: jwkset.KtyRSA},
	"PS384":   {name: "PS384", method: strictPSS(jwt.SigningMethodPS384), kty: jwkset.KtyRSA},
	"PS512":   {name: "PS512", method: strictPSS(jwt.SigningMethodPS512), kty: jwkset.KtyRSA},
	"ES256":   {name: "ES256", method: jwt.SigningMethodES256, kty: jwkset.KtyEC, crv: jwkset.CrvP256, ec: &ecdsaSpec{32, 256, crypto.SHA256}},
	"ES384":   {name: "ES384", method: jwt.SigningMethodES384, kty: jwkset.KtyEC, crv: jwkset.CrvP384, ec: &ecdsaSpec{48, 384, crypto.SHA384}},
	"ES512":   {name: "ES512", method: jwt.SigningMethodES512, kty: jwkset.KtyEC, crv: jwkset.CrvP521, ec: &ecdsaSpec{66, 521, crypto.SHA512}},
	"EdDSA":   {name: "EdDSA", method: jwt.SigningMethodEdDSA, kty: jwkset.KtyOKP, crv: jwkset.CrvEd25519, jwkAlg: "Ed25519"},
	"Ed25519": {name: "Ed25519", method: jwt.SigningMethodEdDSA, kty: jwkset.KtyOKP, crv: jwkset.CrvEd25519, jwkAlg: "EdDSA"},
	"HS256":   {name: "HS256", method: jwt.SigningMethodHS256, kty: jwkset.KtyOct, hmac: true},
	"HS384":   {name: "HS384", method: jwt.SigningMethodHS384, kty: jwkset.KtyOct, hmac: true},
	"HS512":   {name: "HS512", method: jwt.SigningMethodHS512, kty: jwkset.KtyOct, hmac: true},
}

// strictPSS is golang-jwt's PS* method without its lenient VerifyOptions
// (salt length "auto"): RFC 7518 §3.5 fixes the salt length to the hash
// size, and Wycheproof's PSS vectors with other salt lengths are invalid.
func strictPSS(m *jwt.SigningMethodRSAPSS) *jwt.SigningMethodRSAPSS {
	return &jwt.SigningMethodRSAPSS{
		SigningMethodRSA: m.SigningMethodRSA,
		Options:          &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash},
	}
}

// jws is a compact JWS split and decoded, before any key is involved.
type jws struct {
	signingInput string // header.payload, exactly as received
	alg          string
	kid          string
	hasKID       bool
	typ          string
	hasTyp       bool // typ present and a string
	spec         *algSpec
	sig          []byte
}

// b64dec maps the base64url alphabet to its values and every other byte to
// 0xFF. Go's decoder silently skips '\r' and '\n'; this one accepts exactly
// the canonical unpadded encoding: alphabet only, no length ≡ 1 (mod 4), and
// zero trailing bits, so one byte string has one accepted spelling.
var b64dec = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = byte(i)
	}
	return t
}()

// decodedLen is the decoded size of a canonical unpadded base64url string,
// or -1 when no canonical string has that length.
func decodedLen(n int) int {
	if n%4 == 1 {
		return -1
	}
	return n/4*3 + (n%4*6)/8
}

// b64Decode decodes the canonical base64url src into dst (of decodedLen(len(src)))
// and reports whether src was canonical.
func b64Decode(dst []byte, src string) bool {
	var bad byte
	di := 0
	i := 0
	// Re-sliced per quantum, so that one bounds check covers four reads
	// and one three writes (a quarter of a cold check's decoding).
	for ; i+4 <= len(src) && di+3 <= len(dst); i += 4 {
		q, o := src[i:i+4], dst[di:di+3]
		a, b, c, d := b64dec[q[0]], b64dec[q[1]], b64dec[q[2]], b64dec[q[3]]
		bad |= a | b | c | d
		o[0] = a<<2 | b>>4
		o[1] = b<<4 | c>>2
		o[2] = c<<6 | d
		di += 3
	}
	switch len(src) - i {
	case 0:
	case 2:
		a, b := b64dec[src[i]], b64dec[src[i+1]]
		bad |= a | b
		if b&0x0F != 0 {
			return false
		}
		dst[di] = a<<2 | b>>4
	case 3:
		a, b, c := b64dec[src[i]], b64dec[src[i+1]], b64dec[src[i+2]]
		bad |= a | b | c
		if c&0x03 != 0 {
			return false
		}
		dst[di] = a<<2 | b>>4
		dst[di+1] = b<<4 | c>>2
	default:
		return false
	}
	// Valid values are < 64; 0xFF (invalid) sets the top bits.
	return bad&0xC0 == 0
}

// splitJWS checks the token's shape and decodes its three segments into one
// buffer. It does not look at the header's content.
//
// The header and payload come back as one string conversion (substrings of
// it), so every claim string later is a substring too, not a copy.
func splitJWS(token string, maxSize int) (hdr, payload string, sig []byte, signingInput string, err *Error) {
	if len(token) > maxSize {
		return "", "", nil, "", errTooLarge
	}
	d1 := strings.IndexByte(token, '.')
	if d1 <= 0 {
		return "", "", nil, "", errSegments
	}
	// An empty payload is a valid JWS (RFC 7515 allows it); the claims step
	// rejects it as a JWT.
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return "", "", nil, "", errSegments
	}
	d2 += d1 + 1
	if d2+1 == len(token) || strings.IndexByte(token[d2+1:], '.') >= 0 {
		return "", "", nil, "", errSegments
	}
	h, p, s := token[:d1], token[d1+1:d2], token[d2+1:]
	hl, pl, sl := decodedLen(len(h)), decodedLen(len(p)), decodedLen(len(s))
	if hl < 0 || pl < 0 || sl < 0 {
		return "", "", nil, "", errBase64
	}
	buf := make([]byte, hl+pl+sl)
	if !b64Decode(buf[:hl], h) || !b64Decode(buf[hl:hl+pl], p) || !b64Decode(buf[hl+pl:], s) {
		return "", "", nil, "", errBase64
	}
	text := string(buf[:hl+pl])
	return text[:hl], text[hl:], buf[hl+pl:], token[:d2], nil
}

// mediaTypeShort drops an "application/" prefix (any case) when the rest has
// no '/': RFC 7515 §4.1.9 lets typ and cty omit it, so "application/at+jwt"
// and "at+jwt" name the same type.
func mediaTypeShort(t string) string {
	const app = "application/"
	if len(t) > len(app) && strings.EqualFold(t[:len(app)], app) && strings.IndexByte(t[len(app):], '/') < 0 {
		return t[len(app):]
	}
	return t
}

// typeAccepted reports whether typ is in types (already lower-case and
// shortened by Config.normalize).
func typeAccepted(typ string, types []string) bool {
	typ = mediaTypeShort(typ)
	for _, t := range types {
		if strings.EqualFold(typ, t) {
			return true
		}
	}
	return false
}

// parseJWS is the JWS-level shape and header step: canonical segments, a
// header naming an allowed alg, a kid unless configured optional. It returns
// the payload (not yet read) for the claims step.
func (v *Verifier) parseJWS(token string) (jws, string, *Error) {
	hdr, payload, sig, signingInput, err := splitJWS(token, v.cfg.MaxTokenSize)
	if err != nil {
		return jws{}, "", err
	}
	j := jws{signingInput: signingInput, sig: sig}
	if err := parseHeader(hdr, &j); err != nil {
		return jws{}, "", err
	}
	if j.spec = v.algs[j.alg]; j.spec == nil {
		return jws{}, "", errAlg
	}
	if len(v.cfg.Types) > 0 && (!j.hasTyp || !typeAccepted(j.typ, v.cfg.Types)) {
		return j, "", errTyp
	}
	if !j.hasKID && !v.cfg.KIDOptional && !j.spec.hmac {
		return j, "", errNoKID
	}
	return j, payload, nil
}

// checkSig verifies j's signature with key.
func checkSig(j *jws, key any) *Error {
	if !j.spec.verify(j.signingInput, j.sig, key) {
		return errSig
	}
	return nil
}

// verify checks sig over input with key: ES* with crypto/ecdsa (ecdsaSpec),
// every other alg through golang-jwt's signing method.
func (s *algSpec) verify(input string, sig []byte, key any) bool {
	if s.ec != nil {
		k, ok := key.(*ecdsa.PublicKey)
		return ok && s.ec.verify(input, sig, k)
	}
	return s.method.Verify(input, sig, key) == nil
}

// parseHeader reads the protected header. Keys carried in the header (jwk,
// jku, x5u, x5c) are ignored: keys only ever come from the configured
// provider. Any crit is refused, since no extension is understood, and so
// is b64 (RFC 7797 unencoded payloads).
func parseHeader(hdr string, j *jws) *Error {
	var (
		alg, crit, bad bool
	)
	ok := walkObject(hdr, func(name, val string) bool {
		switch name {
		case "alg":
			j.alg, alg = jsonString(val)
			bad = !alg
		case "kid":
			j.kid, j.hasKID = jsonString(val)
			bad = !j.hasKID
		case "typ":
			// Not an error when it is not a string: typ is only looked at
			// when Config.Types is set, and then hasTyp false rejects it.
			j.typ, j.hasTyp = jsonString(val)
		case "crit", "b64":
			crit = true
		}
		return !bad
	})
	switch {
	case !ok || bad || !alg:
		return errHeader
	case crit:
		return errCrit
	}
	return nil
}
