package jwtgatetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// DPoPKey is a client's DPoP key (RFC 9449): it signs proofs, and its
// thumbprint (JKT) is what an access token's cnf.jkt names. Create it with
// NewDPoPKey; it is immutable and safe for concurrent use.
type DPoPKey struct {
	alg     string
	priv    crypto.Signer
	pub     map[string]any // the public JWK's members
	privJWK map[string]any // the JWK with its private members, for must-reject proofs
	jkt     string
}

// NewDPoPKey makes a fresh key for alg (ES256, ES384, ES512, RS256, RS384,
// RS512, PS256 or EdDSA). RSA keys are 2048 bits and slow to make: prefer
// ES256 or EdDSA in tests.
func NewDPoPKey(alg string) (*DPoPKey, error) {
	if signingMethod(alg) == nil {
		return nil, fmt.Errorf("jwtgatetest: unsupported DPoP algorithm %q", alg)
	}
	priv, err := generateKey(alg, true, false, 0)
	if err != nil {
		return nil, err
	}
	k := &DPoPKey{alg: alg, priv: priv}
	// The members RFC 7638 §3.2 hashes, per key type; only they go into the
	// thumbprint, in lexicographic order, without whitespace (which is what
	// encoding/json does with a map of base64url strings).
	required := map[string]string{}
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		size := (p.Curve.Params().BitSize + 7) / 8
		raw, err := p.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			return nil, fmt.Errorf("jwtgatetest: %w", err)
		}
		required = map[string]string{"kty": "EC", "crv": p.Curve.Params().Name,
			"x": b64(raw[1 : 1+size]), "y": b64(raw[1+size:])}
		d, err := p.Bytes() // the fixed-size scalar, as JWK's d wants it
		if err != nil {
			return nil, fmt.Errorf("jwtgatetest: %w", err)
		}
		k.privJWK = map[string]any{"d": b64(d)}
	case *rsa.PrivateKey:
		required = map[string]string{"kty": "RSA", "n": b64(p.N.Bytes()), "e": b64(big.NewInt(int64(p.E)).Bytes())}
		k.privJWK = map[string]any{"d": b64(p.D.Bytes()), "p": b64(p.Primes[0].Bytes()), "q": b64(p.Primes[1].Bytes())}
	case ed25519.PrivateKey:
		required = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(p.Public().(ed25519.PublicKey))}
		k.privJWK = map[string]any{"d": b64(p.Seed())}
	}
	canon, err := json.Marshal(required)
	if err != nil {
		return nil, fmt.Errorf("jwtgatetest: %w", err)
	}
	sum := sha256.Sum256(canon)
	k.jkt = b64(sum[:])
	k.pub = map[string]any{}
	for n, v := range required {
		k.pub[n] = v
	}
	for n, v := range k.pub {
		k.privJWK[n] = v
	}
	return k, nil
}

// MustDPoPKey is NewDPoPKey for a test.
func MustDPoPKey(t TB, alg string) *DPoPKey {
	t.Helper()
	k, err := NewDPoPKey(alg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return k
}

// Alg returns the key's algorithm.
func (k *DPoPKey) Alg() string { return k.alg }

// JKT returns the key's RFC 7638 JWK SHA-256 thumbprint, base64url: the
// value of an access token's cnf.jkt (use it in Claims.Extra:
// {"cnf": {"jkt": key.JKT()}}).
func (k *DPoPKey) JKT() string { return k.jkt }

// PublicJWK returns a copy of the public JWK as a JSON object.
func (k *DPoPKey) PublicJWK() map[string]any { return clone(k.pub) }

// PrivateJWK returns a copy of the JWK with its private members ("d", …),
// which a proof must never carry.
func (k *DPoPKey) PrivateJWK() map[string]any { return clone(k.privJWK) }

func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for n, v := range m {
		c[n] = v
	}
	return c
}

// ProofOptions describe one DPoP proof. The zero value of each field gets
// the default named in its comment; Header and Claims then replace any
// member with any value, and a nil value removes it.
type ProofOptions struct {
	// Method is htm. "": GET.
	Method string
	// URL is htu, used as given (no normalisation: tests choose).
	URL string
	// AccessToken, when set, adds ath: base64url(SHA-256(AccessToken)).
	AccessToken string
	// Nonce, when set, is the nonce claim.
	Nonce string
	// IAT is iat. Zero: time.Now().
	IAT time.Time
	// JTI is jti. "": a random one.
	JTI string
	// Header members set last (typ, alg, jwk…).
	Header map[string]any
	// Claims set last (htm, htu, iat, jti, ath, nonce…).
	Claims map[string]any
}

// Proof returns a signed DPoP proof (RFC 9449 §4.2): header typ dpop+jwt,
// alg, and the public jwk; claims jti, htm, htu, iat and, when set, ath
// and nonce.
func (k *DPoPKey) Proof(o ProofOptions) (string, error) {
	hdr := map[string]any{"typ": "dpop+jwt", "alg": k.alg, "jwk": k.PublicJWK()}
	if o.Method == "" {
		o.Method = "GET"
	}
	if o.IAT.IsZero() {
		o.IAT = time.Now()
	}
	if o.JTI == "" {
		o.JTI = randomHex(16)
	}
	claims := map[string]any{"jti": o.JTI, "htm": o.Method, "htu": o.URL, "iat": o.IAT.Unix()}
	if o.AccessToken != "" {
		claims["ath"] = ATH(o.AccessToken)
	}
	if o.Nonce != "" {
		claims["nonce"] = o.Nonce
	}
	for _, set := range [...]struct{ dst, src map[string]any }{{hdr, o.Header}, {claims, o.Claims}} {
		for n, v := range set.src {
			if v == nil {
				delete(set.dst, n)
			} else {
				set.dst[n] = v
			}
		}
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		return "", fmt.Errorf("jwtgatetest: marshal proof header: %w", err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwtgatetest: marshal proof claims: %w", err)
	}
	return signWith(&key{alg: k.alg, priv: k.priv}, h, b64(p))
}

// MustProof is Proof for a test.
func (k *DPoPKey) MustProof(t TB, o ProofOptions) string {
	t.Helper()
	p, err := k.Proof(o)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// ATH returns base64url(SHA-256(token)), a proof's ath for token.
func ATH(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64(sum[:])
}

// CertThumbprint returns base64url(SHA-256(der)), an mTLS-bound token's
// cnf["x5t#S256"] for the certificate der (RFC 8705 §3.1).
func CertThumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return b64(sum[:])
}

// MalleateECDSA returns the same ES256/384/512 JWS with its signature's s
// replaced by n − s: a different string that verifies just as well (ECDSA
// signatures are malleable), for testing that a replay check is not keyed
// by the proof's bytes.
func MalleateECDSA(jws string) (string, error) {
	i := strings.LastIndexByte(jws, '.')
	if i < 0 {
		return "", fmt.Errorf("jwtgatetest: not a compact JWS")
	}
	sig, err := b64dec(jws[i+1:])
	if err != nil {
		return "", err
	}
	var n *big.Int
	switch len(sig) {
	case 64:
		n = curveOrder("P-256")
	case 96:
		n = curveOrder("P-384")
	case 132:
		n = curveOrder("P-521")
	default:
		return "", fmt.Errorf("jwtgatetest: not an ECDSA signature (%d bytes)", len(sig))
	}
	half := len(sig) / 2
	s := new(big.Int).SetBytes(sig[half:])
	s.Sub(n, s)
	s.FillBytes(sig[half:])
	return jws[:i+1] + b64(sig), nil
}

func curveOrder(name string) *big.Int {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		if c.Params().Name == name {
			return c.Params().N
		}
	}
	return nil
}

func b64dec(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("jwtgatetest: %w", err)
	}
	return b, nil
}
