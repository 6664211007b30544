package middleware

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync/atomic"
	"time"
)

// nonceSource issues and checks stateless DPoP nonces (RFC 9449 §8): the
// nonce of step n is an HMAC of n under the secret, so every replica with
// the secret agrees without sharing state, and a nonce is good for the
// current and the previous step.
type nonceSource struct {
	secret []byte
	step   time.Duration
	cur    atomic.Pointer[stepNonce] // the latest step's nonce, so success responses cost no HMAC
}

type stepNonce struct {
	n     int64
	nonce string
}

func newNonceSource(secret []byte, step time.Duration) *nonceSource {
	return &nonceSource{secret: secret, step: step}
}

func (s *nonceSource) at(n int64) string {
	if c := s.cur.Load(); c != nil && c.n == n {
		return c.nonce
	}
	m := hmac.New(sha256.New, s.secret)
	var b [len("jwtgate dpop nonce ") + 8]byte
	copy(b[:], "jwtgate dpop nonce ")
	binary.BigEndian.PutUint64(b[len(b)-8:], uint64(n))
	m.Write(b[:])
	nonce := b64String(m.Sum(nil)[:18])
	if c := s.cur.Load(); c == nil || c.n < n {
		s.cur.Store(&stepNonce{n: n, nonce: nonce})
	}
	return nonce
}

func (s *nonceSource) stepOf(now time.Time) int64 { return now.UnixNano() / int64(s.step) }

// current returns the nonce to hand out now.
func (s *nonceSource) current(now time.Time) string { return s.at(s.stepOf(now)) }

// valid reports whether nonce is the current or the previous step's.
func (s *nonceSource) valid(nonce string, now time.Time) bool {
	n := s.stepOf(now)
	return hmac.Equal([]byte(nonce), []byte(s.at(n))) || hmac.Equal([]byte(nonce), []byte(s.at(n-1)))
}
