package middleware

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/jwtgate/jwtgate/forwarded"
	"github.com/jwtgate/jwtgate/replay"
)

// DPoPMode says whether a Verifier (or a route) takes DPoP-bound tokens
// (RFC 9449).
type DPoPMode uint8

const (
	// DPoPDefault is the zero value: in Config.DPoP it means DPoPOff, in a
	// Route it keeps the Verifier's mode.
	DPoPDefault DPoPMode = iota
	// DPoPOff: "Authorization: DPoP" is another scheme and ignored, and a
	// token with cnf is refused as a bearer token (ErrSenderConstrained)
	// unless Config.AllowSenderConstrained.
	DPoPOff
	// DPoPAllowed: Bearer and DPoP are both accepted; a DPoP-bound token
	// only with the DPoP scheme and a valid proof.
	DPoPAllowed
	// DPoPRequired: only the DPoP scheme with a valid proof; a bearer
	// token is refused (ErrDPoPRequired).
	DPoPRequired
)

// String returns "default", "off", "allowed" or "required".
func (m DPoPMode) String() string {
	switch m {
	case DPoPDefault:
		return "default"
	case DPoPOff:
		return "off"
	case DPoPAllowed:
		return "allowed"
	case DPoPRequired:
		return "required"
	}
	return "DPoPMode(?)"
}

// MarshalText returns String's name ("" for DPoPDefault), so a config
// struct can hold a DPoPMode as YAML or JSON text.
func (m DPoPMode) MarshalText() ([]byte, error) {
	switch m {
	case DPoPDefault:
		return []byte{}, nil
	case DPoPOff, DPoPAllowed, DPoPRequired:
		return []byte(m.String()), nil
	}
	return nil, configErr("DPoPMode(%d)", uint8(m))
}

// UnmarshalText reads "off", "allowed", "required", or "" (or "default")
// for DPoPDefault.
func (m *DPoPMode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "", "default":
		*m = DPoPDefault
	case "off":
		*m = DPoPOff
	case "allowed":
		*m = DPoPAllowed
	case "required":
		*m = DPoPRequired
	default:
		return configErr("DPoP mode %q: want off, allowed or required", b)
	}
	return nil
}

// Defaults for DPoP.
const (
	DefaultDPoPProofMaxAge  = time.Minute
	DefaultDPoPLeeway       = 5 * time.Second
	DefaultDPoPMaxProofSize = 4 << 10
	DefaultDPoPNonceStep    = time.Minute
)

// DPoP configures proof-of-possession tokens (RFC 9449). The zero value is
// off. Every check of §4.3 is made on every request, also when the
// verified-token cache skips the access token's signature: the cache never
// vouches for a proof.
type DPoP struct {
	// Mode: DPoPDefault (the zero value) is DPoPOff.
	Mode DPoPMode
	// Algorithms is the proof alg allow-list. Empty: DefaultAlgorithms().
	// Asymmetric only: none and HS* are refused by New (a proof's key is
	// in its own header, so a symmetric alg would prove nothing).
	Algorithms []string
	// ProofMaxAge is how old a proof's iat may be. 0 means one minute.
	// A proof's jti is remembered (Replay) for this long plus Leeway.
	ProofMaxAge time.Duration
	// Leeway is the clock skew allowed for iat, both ways. 0 means 5s; a
	// negative value means none.
	Leeway time.Duration
	// MaxProofSize is the largest DPoP header accepted, in bytes, checked
	// before anything is decoded. 0 means 4 KiB.
	MaxProofSize int
	// Replay remembers proofs (jti and key thumbprint, never the proof's
	// bytes) so each is accepted once. Nil: an in-process replay.Memory
	// with its defaults, which a second replica does not share: use
	// replay/redisreplay for several replicas. A store error is 503
	// (ErrReplayUnavailable), never an accepted proof.
	Replay replay.Store
	// NonceSecret turns server nonces on (§8): a proof must carry a nonce
	// the Verifier issued, an HMAC over the current or the previous
	// NonceStep, so replicas sharing the secret need no shared state.
	// A request without one (or with a stale one) is answered 401
	// use_dpop_nonce with a fresh DPoP-Nonce header, and accepted DPoP
	// requests get a fresh DPoP-Nonce too. At least 32 bytes. Nil: no
	// nonces.
	NonceSecret []byte
	// NonceStep is how often the nonce changes; a nonce is accepted for
	// one to two steps. 0 means one minute.
	NonceStep time.Duration
}

func (d *DPoP) normalize() error {
	if d.Mode > DPoPRequired {
		return configErr("DPoP.Mode %d unknown", d.Mode)
	}
	if d.Mode == DPoPDefault {
		d.Mode = DPoPOff
	}
	if len(d.Algorithms) == 0 {
		d.Algorithms = DefaultAlgorithms()
	} else {
		d.Algorithms = append([]string(nil), d.Algorithms...)
	}
	for _, a := range d.Algorithms {
		spec := algSpecs[a]
		if spec == nil || spec.hmac {
			return configErr("DPoP.Algorithms: %q is not an asymmetric JWS algorithm", a)
		}
	}
	switch {
	case d.ProofMaxAge < 0:
		return configErr("DPoP.ProofMaxAge must not be negative")
	case d.ProofMaxAge == 0:
		d.ProofMaxAge = DefaultDPoPProofMaxAge
	}
	switch {
	case d.Leeway == 0:
		d.Leeway = DefaultDPoPLeeway
	case d.Leeway < 0:
		d.Leeway = 0
	}
	switch {
	case d.MaxProofSize < 0:
		return configErr("DPoP.MaxProofSize must not be negative")
	case d.MaxProofSize == 0:
		d.MaxProofSize = DefaultDPoPMaxProofSize
	}
	if d.NonceSecret != nil && len(d.NonceSecret) < 32 {
		return configErr("DPoP.NonceSecret is shorter than 32 bytes")
	}
	d.NonceSecret = append([]byte(nil), d.NonceSecret...)
	switch {
	case d.NonceStep < 0:
		return configErr("DPoP.NonceStep must not be negative")
	case d.NonceStep == 0:
		d.NonceStep = DefaultDPoPNonceStep
	}
	return nil
}

// dpopSpec is a normalized DPoP with what requests need built once.
type dpopSpec struct {
	algs      map[string]*algSpec
	algsParam string // for the challenge: "ES256 PS256 …"
	maxAge    time.Duration
	leeway    time.Duration
	maxSize   int
	replay    replay.Store
	nonce     *nonceSource // nil: off
}

func newDPoPSpec(d DPoP, now func() time.Time) (*dpopSpec, error) {
	s := &dpopSpec{algs: map[string]*algSpec{}, maxAge: d.ProofMaxAge, leeway: d.Leeway, maxSize: d.MaxProofSize, replay: d.Replay}
	for _, a := range d.Algorithms {
		s.algs[a] = algSpecs[a]
	}
	if s.algs["EdDSA"] != nil {
		s.algs["Ed25519"] = algSpecs["Ed25519"]
	}
	s.algsParam = strings.Join(d.Algorithms, " ")
	if s.replay == nil {
		m, err := replay.NewMemory(replay.MemoryConfig{Now: now})
		if err != nil {
			return nil, err
		}
		s.replay = m
	}
	if len(d.NonceSecret) > 0 {
		s.nonce = newNonceSource(d.NonceSecret, d.NonceStep)
	}
	return s, nil
}

// Rejections of a proof, pre-built: a flood of bad proofs allocates little.
var (
	errProofMissing  = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof missing"}
	errProofMultiple = &Error{kind: ErrDPoPProofInvalid, desc: "more than one DPoP proof"}
	errProofTooLarge = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof too large"}
	errProofShape    = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof is not a compact JWS"}
	errProofHeader   = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof header invalid"}
	errProofTyp      = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof typ is not dpop+jwt"}
	errProofAlg      = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof algorithm not allowed"}
	errProofJWK      = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof jwk missing or invalid"}
	errProofPrivate  = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof jwk has private key members"}
	errProofSig      = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof signature invalid"}
	errProofClaims   = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof claims invalid"}
	errProofHTM      = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof htm does not match the request method"}
	errProofHTU      = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof htu does not match the request URL"}
	errProofOld      = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof iat too old"}
	errProofFuture   = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof iat in the future"}
	errProofATH      = &Error{kind: ErrDPoPProofInvalid, desc: "DPoP proof ath does not match the access token"}
	errProofReplayed = &Error{kind: ErrDPoPReplayed, desc: "DPoP proof replayed"}
	errJKTMismatch   = &Error{kind: ErrBindingMismatch, desc: "DPoP proof key does not match the token's cnf.jkt"}
	errNotDPoPBound  = &Error{kind: ErrBindingMismatch, desc: "token is not DPoP-bound"}
	errDPoPRequired  = &Error{kind: ErrDPoPRequired, desc: "DPoP-bound token required"}
)

// proof is a DPoP proof JWT taken apart, signature not yet checked.
type proof struct {
	spec         *algSpec
	key          any
	jkt          string // RFC 7638 thumbprint of the header's jwk
	signingInput string
	sig          []byte
	jti, htm     string
	htu, ath     string
	nonce        string
	iat          time.Time
	hasNonce     bool
}

// proofTypes is the typ a proof must have (RFC 9449 §4.2).
var proofTypes = []string{"dpop+jwt"}

// parseProof checks the proof's shape, header and key and reads its claims.
// It does not verify the signature.
func (s *dpopSpec) parseProof(raw string, minRSABits int) (proof, *Error) {
	hdr, payload, sig, signingInput, err := splitJWS(raw, s.maxSize)
	if err != nil {
		if err == errTooLarge {
			return proof{}, errProofTooLarge
		}
		return proof{}, errProofShape
	}
	p := proof{signingInput: signingInput, sig: sig}
	var (
		alg, typ, jwk string
		hasAlg, crit  bool
		hasTyp, bad   bool
	)
	if !walkObject(hdr, func(name, val string) bool {
		switch name {
		case "alg":
			alg, hasAlg = jsonString(val)
			bad = !hasAlg
		case "typ":
			typ, hasTyp = jsonString(val)
		case "jwk":
			jwk = val
		case "crit", "b64":
			crit = true
		}
		return !bad
	}) || bad || !hasAlg || crit {
		return proof{}, errProofHeader
	}
	if !hasTyp || !typeAccepted(typ, proofTypes) {
		return proof{}, errProofTyp
	}
	if p.spec = s.algs[alg]; p.spec == nil {
		return proof{}, errProofAlg
	}
	if jwk == "" || jwk[0] != '{' {
		return proof{}, errProofJWK
	}
	if p.key, p.jkt, err = proofKey(jwk, p.spec, minRSABits); err != nil {
		return proof{}, err
	}
	var hasJTI, hasHTM, hasHTU, hasIAT bool
	if !walkObject(payload, func(name, val string) bool {
		ok := true
		switch name {
		case "jti":
			p.jti, ok = jsonString(val)
			hasJTI = ok && p.jti != ""
		case "htm":
			p.htm, ok = jsonString(val)
			hasHTM = ok
		case "htu":
			p.htu, ok = jsonString(val)
			hasHTU = ok
		case "iat":
			p.iat, ok = parseNumericDate(val)
			hasIAT = ok
		case "ath":
			p.ath, ok = jsonString(val)
		case "nonce":
			p.nonce, ok = jsonString(val)
			p.hasNonce = ok
		}
		return ok
	}) || !hasJTI || !hasHTM || !hasHTU || !hasIAT {
		return proof{}, errProofClaims
	}
	return p, nil
}

// privateMembers are the JWK members that carry private key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a proof's jwk must be the
// public key only (RFC 9449 §4.3 check 7).
var privateMembers = map[string]bool{"d": true, "p": true, "q": true, "dp": true, "dq": true, "qi": true, "oth": true, "k": true}

// proofKey builds the public key of a proof's jwk for spec and computes its
// RFC 7638 thumbprint from the required members only.
func proofKey(jwk string, spec *algSpec, minRSABits int) (any, string, *Error) {
	m := map[string]string{}
	private, bad := false, false
	if !walkObject(jwk, func(name, val string) bool {
		if privateMembers[name] {
			private = true
		}
		switch name {
		case "kty", "crv", "x", "y", "n", "e":
			s, ok := jsonString(val)
			bad = !ok
			m[name] = s
		}
		return !bad
	}) || bad {
		return nil, "", errProofJWK
	}
	if private {
		return nil, "", errProofPrivate
	}
	if jwkset.KTY(m["kty"]) != spec.kty {
		return nil, "", errProofJWK
	}
	var (
		key   any
		canon string
	)
	switch spec.kty {
	case jwkset.KtyEC:
		if jwkset.CRV(m["crv"]) != spec.crv {
			return nil, "", errProofJWK
		}
		curve := map[jwkset.CRV]elliptic.Curve{jwkset.CrvP256: elliptic.P256(), jwkset.CrvP384: elliptic.P384(), jwkset.CrvP521: elliptic.P521()}[spec.crv]
		size := (curve.Params().BitSize + 7) / 8
		x, okx := b64Bytes(m["x"])
		y, oky := b64Bytes(m["y"])
		if !okx || !oky || len(x) != size || len(y) != size {
			return nil, "", errProofJWK
		}
		pt := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
		if err != nil {
			return nil, "", errProofJWK
		}
		key = pub
		canon = `{"crv":"` + m["crv"] + `","kty":"EC","x":"` + m["x"] + `","y":"` + m["y"] + `"}`
	case jwkset.KtyRSA:
		n, okn := b64Bytes(m["n"])
		e, oke := b64Bytes(m["e"])
		if !okn || !oke || len(e) == 0 || len(e) > 4 || len(n) == 0 || n[0] == 0 {
			return nil, "", errProofJWK
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < minRSABits || pub.E < 3 || pub.E&1 == 0 {
			return nil, "", errProofJWK
		}
		key = pub
		canon = `{"e":"` + m["e"] + `","kty":"RSA","n":"` + m["n"] + `"}`
	case jwkset.KtyOKP:
		x, ok := b64Bytes(m["x"])
		if jwkset.CRV(m["crv"]) != jwkset.CrvEd25519 || !ok || len(x) != ed25519.PublicKeySize {
			return nil, "", errProofJWK
		}
		key = ed25519.PublicKey(x)
		canon = `{"crv":"Ed25519","kty":"OKP","x":"` + m["x"] + `"}`
	default:
		return nil, "", errProofJWK
	}
	sum := sha256.Sum256([]byte(canon))
	return key, b64String(sum[:]), nil
}

// b64Bytes decodes canonical unpadded base64url (one spelling per value,
// so the thumbprint computed from the member as sent is the key's).
func b64Bytes(s string) ([]byte, bool) {
	n := decodedLen(len(s))
	if n < 0 {
		return nil, false
	}
	b := make([]byte, n)
	return b, b64Decode(b, s)
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// b64String encodes unpadded base64url.
func b64String(b []byte) string {
	out := make([]byte, 0, (len(b)*8+5)/6)
	for i := 0; i < len(b); i += 3 {
		var v uint32
		n := min(3, len(b)-i)
		for j := range n {
			v |= uint32(b[i+j]) << (16 - 8*j)
		}
		for j := range n + 1 {
			out = append(out, b64Alphabet[(v>>(18-6*j))&0x3F])
		}
	}
	return string(out)
}

// ath returns base64url(SHA-256(token)) (RFC 9449 §4.2).
func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64String(sum[:])
}

// checkProof makes every check of RFC 9449 §4.3 on the request's DPoP
// header for the access token token bound to jkt, then the nonce and the
// replay store. It returns the proof key's thumbprint.
func (v *Verifier) checkProof(r *http.Request, token, jkt string) *Error {
	s := v.dpop
	vals := r.Header["Dpop"]
	switch {
	case len(vals) == 0:
		return errProofMissing
	case len(vals) > 1:
		return errProofMultiple
	}
	raw := vals[0]
	// Size first: junk of any size costs one comparison.
	if len(raw) > s.maxSize {
		return errProofTooLarge
	}
	if strings.IndexByte(raw, ',') >= 0 {
		return errProofMultiple
	}
	p, err := s.parseProof(raw, v.cfg.MinRSABits)
	if err != nil {
		return err
	}
	if !p.spec.verify(p.signingInput, p.sig, p.key) {
		return errProofSig
	}
	view := v.fw.View(r)
	if p.htm != view.Method {
		return errProofHTM
	}
	want, ok := normalizeHTU(view.URL())
	if got, ok2 := normalizeHTU(p.htu); !ok || !ok2 || got != want {
		return errProofHTU
	}
	now := v.cfg.Now()
	if p.iat.After(now.Add(s.leeway)) {
		return errProofFuture
	}
	if p.iat.Before(now.Add(-s.maxAge - s.leeway)) {
		return errProofOld
	}
	if p.ath == "" || p.ath != ath(token) {
		return errProofATH
	}
	if p.jkt != jkt {
		return errJKTMismatch
	}
	if s.nonce != nil && (!p.hasNonce || !s.nonce.valid(p.nonce, now)) {
		return &Error{kind: ErrDPoPNonce, desc: "DPoP nonce required", nonce: s.nonce.current(now)}
	}
	// Last, once everything else holds: a proof that fails a check above
	// does not burn its jti. Keyed by key and jti, never by the proof's
	// bytes: a re-encoded or re-signed (ECDSA s → n−s) proof is the same
	// proof.
	jtiSum := sha256.Sum256([]byte(p.jti))
	ttl := p.iat.Add(s.maxAge + s.leeway + time.Second).Sub(now)
	fresh, serr := s.replay.Add(r.Context(), p.jkt+":"+b64String(jtiSum[:]), ttl)
	switch {
	case serr != nil:
		return &Error{kind: ErrReplayUnavailable, desc: "temporarily unavailable", cause: serr}
	case !fresh:
		return errProofReplayed
	}
	return nil
}

// resolver returns cfg.Forwarded, or the loopback-only default.
func resolver(cfg *Config) *forwarded.Resolver {
	if cfg.Forwarded != nil {
		return cfg.Forwarded
	}
	r, _ := forwarded.New(forwarded.Config{}) // the zero Config cannot fail
	return r
}
