package middleware

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"unsafe"
)

// ecdsaSpec is how an ES* signature is checked without golang-jwt's
// method: it hashes through a hash.Hash, turns r and s into big.Ints, and
// crypto/ecdsa's Verify turns them back into an ASN.1 signature before
// calling VerifyASN1: 14 allocations beyond VerifyASN1's own, thousands of
// instructions of a cold ES256 check. Here the sum stays on the stack and
// the DER signature is built from the same
// bytes; what is accepted is exactly what golang-jwt accepts (same length
// check, r and s as the same unsigned integers, and VerifyASN1 refuses
// zero or out-of-range values as ecdsa.Verify does).
type ecdsaSpec struct {
	size int         // bytes of r and of s: 32, 48, 66
	bits int         // the curve's size, which the key's must be (as golang-jwt checks)
	hash crypto.Hash // SHA-256, -384, -512
}

// verify checks the JWS signature sig (r ‖ s, RFC 7518 §3.4) over
// input with key.
func (e *ecdsaSpec) verify(input string, sig []byte, key *ecdsa.PublicKey) bool {
	if len(sig) != 2*e.size || key == nil || key.Curve == nil || key.Curve.Params().BitSize != e.bits {
		return false
	}
	// The hash only reads its input: no copy of the signing input, and
	// the sums on the stack (a hash.Hash would be an allocation).
	in := unsafe.Slice(unsafe.StringData(input), len(input))
	var digest []byte
	switch e.hash {
	case crypto.SHA256:
		sum := sha256.Sum256(in)
		digest = sum[:]
	case crypto.SHA384:
		sum := sha512.Sum384(in)
		digest = sum[:]
	default:
		sum := sha512.Sum512(in)
		digest = sum[:]
	}
	var der [2*(2+1+66) + 3]byte
	asn1, ok := appendECDSASignature(der[:0], sig[:e.size], sig[e.size:])
	return ok && ecdsa.VerifyASN1(key, digest, asn1)
}

// appendECDSASignature appends the DER SEQUENCE { INTEGER r, INTEGER s } of
// the big-endian unsigned r and s (at most 66 bytes each), minimally
// encoded as encoding/asn1 and crypto/ecdsa write it. A zero r or s is
// refused (false), as ecdsa.Verify refuses it.
func appendECDSASignature(dst, r, s []byte) ([]byte, bool) {
	r, s = trimZeros(r), trimZeros(s)
	if len(r) == 0 || len(s) == 0 {
		return dst, false
	}
	n := intLen(r) + intLen(s)
	dst = append(dst, 0x30)
	if n >= 0x80 {
		dst = append(dst, 0x81) // one length byte follows: n ≤ 2·(2+67)
	}
	dst = append(dst, byte(n))
	return appendInt(appendInt(dst, r), s), true
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// intLen is the DER INTEGER's size for the non-empty unsigned v without
// leading zeros: tag, length, a zero byte when v's top bit is set, v.
func intLen(v []byte) int {
	if v[0]&0x80 != 0 {
		return 3 + len(v)
	}
	return 2 + len(v)
}

func appendInt(dst, v []byte) []byte {
	if v[0]&0x80 != 0 {
		dst = append(dst, 0x02, byte(len(v)+1), 0)
	} else {
		dst = append(dst, 0x02, byte(len(v)))
	}
	return append(dst, v...)
}
