package cases

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/labstack/echo/v4"

	"github.com/jwtgate/jwtgate/benchmarks/fixture"
)

var errBadSignature = errors.New("cases: bad signature")

// newCryptoFloor is the physical floor: decode the signature, hash the
// signing input and run the stdlib verify with the key already in hand. No
// header or claims parsing, no key look-up, no HTTP.
func newCryptoFloor(_ context.Context, fx *fixture.Fixture, alg string, _ Options) (*Instance, error) {
	var verify func(hash, sig []byte) bool
	switch pub := fx.Public(alg).(type) {
	case *rsa.PublicKey:
		verify = func(hash, sig []byte) bool {
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, hash, sig) == nil
		}
	case *ecdsa.PublicKey:
		// VerifyASN1 on a DER signature built in a stack buffer: the
		// cheapest stdlib path (ecdsa.Verify would add big.Int conversions).
		verify = func(hash, sig []byte) bool {
			if len(sig) != 64 {
				return false
			}
			var buf [72]byte
			return ecdsa.VerifyASN1(pub, hash, derSignature(buf[:0], sig[:32], sig[32:]))
		}
	case ed25519.PublicKey:
		return &Instance{Verify: func(tok string) (string, error) {
			i := strings.LastIndexByte(tok, '.')
			if i < 0 {
				return "", errBadSignature
			}
			var buf [128]byte
			n, err := base64.RawURLEncoding.Decode(buf[:], []byte(tok[i+1:]))
			if err != nil || !ed25519.Verify(pub, []byte(tok[:i]), buf[:n]) {
				return "", errBadSignature
			}
			return "", nil
		}}, nil
	default:
		return nil, fmt.Errorf("cases: no key for %q", alg)
	}
	return &Instance{Verify: func(tok string) (string, error) {
		i := strings.LastIndexByte(tok, '.')
		if i < 0 {
			return "", errBadSignature
		}
		var buf [512]byte
		n, err := base64.RawURLEncoding.Decode(buf[:], []byte(tok[i+1:]))
		if err != nil {
			return "", errBadSignature
		}
		h := sha256.Sum256([]byte(tok[:i]))
		if !verify(h[:], buf[:n]) {
			return "", errBadSignature
		}
		return "", nil
	}}, nil
}

// derSignature appends the ASN.1 DER SEQUENCE { INTEGER r, INTEGER s } of
// the fixed-width big-endian r and s (each at most 32 bytes, so every
// length fits one byte).
func derSignature(dst, r, s []byte) []byte {
	integer := func(dst, v []byte) []byte {
		for len(v) > 1 && v[0] == 0 {
			v = v[1:]
		}
		n := len(v)
		if v[0]&0x80 != 0 {
			n++
		}
		dst = append(dst, 0x02, byte(n))
		if n > len(v) {
			dst = append(dst, 0)
		}
		return append(dst, v...)
	}
	dst = append(dst, 0x30, 0)
	dst = integer(dst, r)
	dst = integer(dst, s)
	dst[1] = byte(len(dst) - 2)
	return dst
}

// The no-JWT floors: the framework routes the request, reads the header and
// answers, doing no verification. The difference between a case and the
// floor of its framework is the JWT work.

func newNetHTTPFloor(context.Context, *fixture.Fixture, string, Options) (*Instance, error) {
	return &Instance{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := bearer(r); !ok {
			unauthorized(w)
			return
		}
		writeSub(w, fixture.Subject)
	})}, nil
}

func newGinFloor(context.Context, *fixture.Fixture, string, Options) (*Instance, error) {
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.GET("/", func(c *gin.Context) {
		if _, ok := bearer(c.Request); !ok {
			c.Status(http.StatusUnauthorized)
			return
		}
		c.String(http.StatusOK, fixture.Subject)
	})
	return &Instance{Handler: g}, nil
}

func newEchoFloor(context.Context, *fixture.Fixture, string, Options) (*Instance, error) {
	e := echo.New()
	e.GET("/", func(c echo.Context) error {
		if _, ok := bearer(c.Request()); !ok {
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.String(http.StatusOK, fixture.Subject)
	})
	return &Instance{Handler: e}, nil
}
